"""Benchmark: how fast the explanations are, with every ratio measured in the same run.

``python -m heatmapping bench`` explains 256 digits with the shipped CNN and MLP and prints,
for float32 and float64: the forward time, the gradient time, the LRP time (deep Taylor and
epsilon presets), LRP/forward, and the speedup of the vectorized LRP over a slow per-neuron
version written as the paper's Eq. (2) and Table 2 read (a Python loop over the neurons of
each layer).  It also prints the FLOP rate of the CNN's forward pass next to that of a plain
1024x1024 BLAS matrix product, measured in the same run.  Times are the best of 10 runs.

Then, in float32 with the CNN (medians of a few runs):

* one ``lrp`` call over many digits (the 10,000 MNIST test digits if found, else the 5,000
  embedded ones) against the same digits in batches of 256: time per digit and peak memory;
* pixel-flipping with the heatmap recomputed after every removal (Sec. 7.2, the paper's
  procedure, 4x4 patches) of 1,024 of those digits, deep Taylor and epsilon, in batches of
  at most 512 shared among as many processes as there are cores: digits per second;
* one training epoch of the Gaussian RBM and of the VAE (Sec. 3) on the 5,000 embedded digits;
* with ``busy=True``, forward and LRP while another process keeps one core busy, and the
  ratio busy / quiet (what a shared machine costs).

Absolute times depend on what else runs on the machine: the header prints the load average.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
import tracemalloc

import numpy as np

from . import data, decoder, metrics, models, parallel, rbm
from .explain import gradient
from .layers import Conv2d, Linear
from .lrp import lrp, resolve_rules, top_relevance
from .rules import ZBox, ZPlus

__all__ = ["best_time", "median_time", "page_faults", "peak_memory", "forward_flops",
           "matmul_flop_rate", "lrp_per_neuron", "one_call_vs_batches", "flipping_rate",
           "epoch_times", "busy_vs_quiet", "run"]


def _times(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def best_time(fn, repeat: int = 10) -> float:
    """The shortest of ``repeat`` wall-clock times of ``fn()``, in seconds."""
    return min(_times(fn, repeat))


def median_time(fn, repeat: int = 5) -> float:
    """The median of ``repeat`` wall-clock times of ``fn()``, in seconds: steadier than the
    best time when other processes share the cores."""
    return float(np.median(_times(fn, repeat)))


def page_faults(fn, repeat: int = 3) -> float | None:
    """Minor page faults per call of ``fn()`` (None where the platform does not count them).

    A call that needs more memory than the C library keeps after the previous call gets
    fresh pages from the system, each one zeroed on first touch: this is what makes the
    same computation slower in one process than in another."""
    try:
        import resource
    except ImportError:                                  # not on Windows
        return None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeat):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeat


def peak_memory(fn) -> int:
    """Peak bytes allocated during one call of ``fn()`` (Python objects and NumPy arrays,
    which NumPy reports to ``tracemalloc``), above what was allocated before it."""
    running = tracemalloc.is_tracing()
    if not running:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if not running:
            tracemalloc.stop()


def forward_flops(net, x) -> int:
    """Multiply-adds x 2 of the convolutions and dense layers of one forward pass over ``x``."""
    flops, A = 0, net.activations(x)
    for layer, out in zip(net.layers, A[1:]):
        if isinstance(layer, Conv2d):
            flops += 2 * out.size * layer.W[0].size
        elif isinstance(layer, Linear):
            flops += 2 * out.size * layer.W.shape[0]
    return flops


def matmul_flop_rate(dtype, n: int = 1024) -> float:
    """FLOP/s of an n x n BLAS matrix product in ``dtype``."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    return 2 * n ** 3 / best_time(lambda: a @ b)


def _dense(layer, input_shape):
    """The layer's matrix (D_in, D_out), found by applying it to basis vectors."""
    D = int(np.prod(input_shape))
    zero = layer.forward(np.zeros((1, *input_shape))).reshape(-1)
    return layer.forward(np.eye(D).reshape(D, *input_shape)).reshape(D, -1) - zero


def lrp_per_neuron(net, x, *, dense=None):
    """Deep-Taylor LRP written neuron by neuron: the slow reference of the benchmark.

    For every linear-type layer and every output neuron k, its relevance R_k is shared among
    the inputs j by the z+ rule, a_j w_jk^+ / sum_j a_j w_jk^+ (Eq. 2), or on the first layer
    by the zB rule, (x_j w_jk - l w_jk^+ - h w_jk^-) / sum_j (...) with [l, h] = [-1, 1]
    (Table 2).  ``dense`` may hold the layers' matrices, computed once.
    """
    rules = resolve_rules(net, "deep_taylor")
    A = net.activations(x)
    R = top_relevance(A[-1], None).reshape(len(x), -1)
    for i in reversed(range(len(net.layers))):
        layer = net.layers[i]
        if not layer.linear:
            continue
        W = dense[i] if dense is not None else _dense(layer, A[i].shape[1:])
        a = A[i].reshape(len(x), -1)
        R_in = np.zeros_like(a)
        for n in range(len(x)):
            for k in np.flatnonzero(R[n]):
                w = W[:, k]
                if isinstance(rules[i], ZBox):
                    contrib = a[n] * w + np.maximum(w, 0) - np.minimum(w, 0)   # l = -1, h = 1
                else:
                    assert isinstance(rules[i], ZPlus)
                    contrib = a[n] * np.maximum(w, 0)
                z = contrib.sum()
                if z != 0:
                    R_in[n] += contrib / z * R[n, k]
        R = R_in
    return R.reshape(x.shape)


def one_call_vs_batches(net, x, *, batch: int = 256, repeat: int = 3) -> dict:
    """Deep-Taylor LRP of all of ``x`` in one call against the same in batches of ``batch``:
    median times (s) and peak memory (bytes) of each, and the time ratio one call / batches
    (the same digits, so it is also the ratio per digit)."""
    def batched():
        return np.concatenate([lrp(net, x[i:i + batch]) for i in range(0, len(x), batch)])
    one = functools.partial(lrp, net, x)
    t_one, t_batched = median_time(one, repeat), median_time(batched, repeat)
    return dict(digits=len(x), batch=batch, one_call=t_one, batched=t_batched,
                ratio=t_one / t_batched, peak_one_call=peak_memory(one),
                peak_batched=peak_memory(batched))


def flipping_rate(net, x, *, rules="deep_taylor", workers: int = 1) -> float:
    """Digits per second of pixel-flipping with the heatmap recomputed after every removal
    of a 4x4 patch (Sec. 7.2), over all of ``x`` in batches of at most 512 shared among
    ``workers`` processes (``metrics.evaluate_selectivity(..., recompute=True)``)."""
    explain = {rules: functools.partial(lrp, net, rules=rules)}
    start = time.perf_counter()
    metrics.evaluate_selectivity(net, x, explain, patch=(4, 4), recompute=True, batch_size=None,
                                 workers=workers, progress=False)
    return len(x) / (time.perf_counter() - start)


def epoch_times(images: np.ndarray) -> dict:
    """Seconds of one training epoch of ``rbm.GaussianRBM`` and of ``decoder.VAE`` (their
    default hyper-parameters, in float32 as the shipped models were trained) on ``images``
    (uint8 digits)."""
    X = data.to_input(images).reshape(len(images), -1)
    times = {}
    for name, model in (("RBM", rbm.GaussianRBM(n_epochs=1, dtype="float32", verbose=False)),
                        ("VAE", decoder.VAE(n_epochs=1, dtype="float32", verbose=False))):
        start = time.perf_counter()
        model.fit(X)
        times[name] = time.perf_counter() - start
    return times


def _spin(ready, go, stop) -> None:
    """Keep one core busy while ``go`` is set, until ``stop`` is set: the load of the
    ``busy_vs_quiet`` measurement (a top-level function, so that it can run in a process).
    Sets ``ready`` once started."""
    ready.set()
    while not stop.is_set():
        if go.wait(0.05):
            x = 0
            while go.is_set():
                for _ in range(10_000):
                    x += 1


def busy_vs_quiet(fns: dict, *, repeat: int = 5) -> dict:
    """Median time of each ``fns[name]()`` with the machine as it is ('quiet') and while a
    second process spins on one core ('busy'), the two measured in turn, ``repeat`` times
    each.  Returns {name: (quiet seconds, busy seconds)}."""
    # a fresh interpreter ('spawn'): forking a process whose BLAS threads are running is unsafe
    context = multiprocessing.get_context("spawn")
    ready, go, stop = context.Event(), context.Event(), context.Event()
    spinner = context.Process(target=_spin, args=(ready, go, stop), daemon=True)
    spinner.start()
    if not ready.wait(timeout=60):                   # its start-up must not load the quiet runs
        spinner.terminate()
        raise RuntimeError("busy_vs_quiet: the spinning process did not start within 60 s")
    times = {name: ([], []) for name in fns}
    try:
        for _ in range(repeat):
            for busy in (False, True):
                if busy:
                    go.set()
                    time.sleep(0.05)                         # let the spinner get the core
                for name, fn in fns.items():
                    start = time.perf_counter()
                    fn()
                    times[name][busy].append(time.perf_counter() - start)
                go.clear()
    finally:
        stop.set()
        go.clear()
        spinner.join(timeout=5)
        if spinner.is_alive():
            spinner.terminate()
    return {name: (float(np.median(q)), float(np.median(b))) for name, (q, b) in times.items()}


def run(images: np.ndarray, *, source: str, dtypes=("float32", "float64"),
        oracle_samples: int = 2, folder=None, quick: bool = False, busy: bool = False) -> dict:
    """Time forward, gradient and LRP of both shipped models on ``images`` (uint8 digits),
    then the float32 measurements of the module docstring (``folder``: where to look for the
    MNIST test set, see ``data.find_mnist``).  ``quick``: fewer runs and digits (for tests);
    ``busy``: also the busy / quiet ratios.  Returns {"models": one dict per model and dtype,
    "cnn_float32": the other measurements}."""
    repeat = 3 if quick else 10
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{len(images)} digits from {source}; best of {repeat} runs "
          f"(load average {load:.2f} on {os.cpu_count()} cores before the run)\n")
    rows = []
    for dtype in dtypes:
        rate = matmul_flop_rate(dtype)
        print(f"[{dtype}] BLAS 1024x1024 matmul: {rate / 1e9:.1f} GFLOP/s")
        for name in ("cnn", "mlp"):
            net = models.load_model(name).astype(dtype)
            x = models.inputs_for(net, images, dtype=dtype)
            t_forward = best_time(lambda: net.forward(x), repeat)
            t_gradient = best_time(lambda: gradient(net, x), repeat)
            t_lrp = best_time(lambda: lrp(net, x, rules="deep_taylor"), repeat)
            t_eps = best_time(lambda: lrp(net, x, rules="epsilon"), repeat)
            faults = {"forward": page_faults(lambda: net.forward(x)),
                      "LRP": page_faults(lambda: lrp(net, x, rules="deep_taylor"))}
            # the oracle in float64 on a few digits, its matrices built beforehand (not timed)
            net64, x64 = net.astype(np.float64), x[:oracle_samples].astype(np.float64)
            A = net64.activations(x64)
            dense = {i: _dense(l, A[i].shape[1:]) for i, l in enumerate(net64.layers) if l.linear}
            start = time.perf_counter()
            R_oracle = lrp_per_neuron(net64, x64, dense=dense)
            t_oracle = time.perf_counter() - start
            t_oracle_all = t_oracle / oracle_samples * len(x)
            agree = np.abs(R_oracle - lrp(net64, x64, rules="deep_taylor")).max()
            flops = forward_flops(net, x)
            row = dict(model=name, dtype=dtype, forward=t_forward, gradient=t_gradient, lrp=t_lrp,
                       lrp_epsilon=t_eps, lrp_over_forward=t_lrp / t_forward,
                       lrp_epsilon_over_forward=t_eps / t_forward,
                       oracle_speedup=t_oracle_all / t_lrp,
                       forward_gflops=flops / t_forward / 1e9, matmul_gflops=rate / 1e9,
                       oracle_max_difference=float(agree),
                       page_faults_forward=faults["forward"], page_faults_lrp=faults["LRP"])
            rows.append(row)
            print(f"  {name}: forward {t_forward * 1e3:7.1f} ms   gradient {t_gradient * 1e3:7.1f} ms   "
                  f"LRP {t_lrp * 1e3:7.1f} ms (epsilon {t_eps * 1e3:.1f} ms)   "
                  f"LRP/forward {row['lrp_over_forward']:.2f} "
                  f"(epsilon {row['lrp_epsilon_over_forward']:.2f})")
            print(f"         speedup over per-neuron LRP {row['oracle_speedup']:,.0f}x "
                  f"(oracle timed on {oracle_samples} digits, max difference {agree:.1e})")
            print(f"         forward: {row['forward_gflops']:.1f} GFLOP/s = "
                  f"{100 * row['forward_gflops'] / row['matmul_gflops']:.1f}% of the matmul rate")
            if None not in faults.values():
                print(f"         page faults per call: forward {faults['forward']:,.0f}, "
                      f"LRP {faults['LRP']:,.0f}")
        print()

    net = models.load_model("cnn").astype(np.float32)
    runs = 1 if quick else 3
    many, _, many_source = data.load_test_digits(folder, verbose=False)
    many = many[:64] if quick else many
    batch = 16 if quick else 256
    m = one_call_vs_batches(net, models.inputs_for(net, many, dtype=np.float32), batch=batch,
                            repeat=runs)
    print(f"[float32, CNN, median of {runs}] deep-Taylor LRP of {m['digits']:,} digits from "
          f"{many_source}: "
          f"one call {m['one_call']:.2f} s (peak {m['peak_one_call'] / 2**20:,.0f} MB), "
          f"batches of {batch} {m['batched']:.2f} s (peak {m['peak_batched'] / 2**20:,.0f} MB); "
          f"one call / batches per digit {m['ratio']:.2f}")
    flipped = models.inputs_for(net, many[:16 if quick else 1024], dtype=np.float32)
    cores = parallel.available_cores()
    rates = {rules: flipping_rate(net, flipped, rules=rules, workers=cores)
             for rules in ("deep_taylor", "epsilon")}
    print(f"  pixel-flipping, heatmap recomputed after each 4x4 patch (64 steps), "
          f"{len(flipped):,} of those digits, {cores} processes: " + ", ".join(
              f"{rules} {rate:,.0f} digits/s (10,000 digits in {1e4 / rate:.0f} s)"
              for rules, rate in rates.items()))
    rate = rates["deep_taylor"]
    train = data.load_mnist5k()[0][:500 if quick else None]
    epochs = epoch_times(train)
    print(f"  one epoch on {len(train):,} digits: RBM {epochs['RBM']:.2f} s, "
          f"VAE {epochs['VAE']:.2f} s")
    more = dict(**{f"many_{k}": v for k, v in m.items()}, flipping_digits_per_second=rate,
                **{f"epoch_{k}": v for k, v in epochs.items()})

    if busy:
        x = models.inputs_for(net, images, dtype=np.float32)
        ratios = busy_vs_quiet({"forward": lambda: net.forward(x), "LRP": lambda: lrp(net, x)},
                               repeat=3 if quick else 7)
        print(f"\n[float32, CNN, {len(x)} digits] while another process keeps one core busy "
              f"(medians, measured in turn with the quiet runs):")
        for name, (quiet, loaded) in ratios.items():
            print(f"  {name}: quiet {quiet * 1e3:.1f} ms, busy {loaded * 1e3:.1f} ms, "
                  f"busy/quiet {loaded / quiet:.2f}")
            more[f"busy_over_quiet_{name}"] = loaded / quiet
    return {"models": rows, "cnn_float32": more}
