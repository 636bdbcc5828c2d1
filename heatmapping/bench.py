"""Benchmark: how fast the explanations are, with every ratio measured in the same run.

``python -m heatmapping bench`` explains 256 digits with the shipped CNN and MLP and prints,
for float32 and float64: the forward time, the gradient time, the LRP time (deep Taylor
preset), LRP/forward, and the speedup of the vectorized LRP over a slow per-neuron version
written as the paper's Eq. (2) and Table 2 read (a Python loop over the neurons of each
layer).  It also prints the FLOP rate of the CNN's forward pass next to that of a plain
1024x1024 BLAS matrix product, measured in the same run.  Times are the best of 10 runs.
"""

from __future__ import annotations

import time

import numpy as np

from . import models
from .explain import gradient
from .layers import Conv2d, Linear
from .lrp import lrp, resolve_rules, top_relevance
from .rules import ZBox, ZPlus

__all__ = ["best_time", "page_faults", "forward_flops", "matmul_flop_rate", "lrp_per_neuron", "run"]


def best_time(fn, repeat: int = 10) -> float:
    """The shortest of ``repeat`` wall-clock times of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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


def run(images: np.ndarray, *, source: str, dtypes=("float32", "float64"),
        oracle_samples: int = 2) -> list[dict]:
    """Time forward, gradient and LRP of both shipped models on ``images`` (uint8 digits)."""
    print(f"{len(images)} digits from {source}; best of 10 runs\n")
    rows = []
    for dtype in dtypes:
        rate = matmul_flop_rate(dtype)
        print(f"[{dtype}] BLAS 1024x1024 matmul: {rate / 1e9:.1f} GFLOP/s")
        for name in ("cnn", "mlp"):
            net = models.load_model(name).astype(dtype)
            x = models.inputs_for(net, images, dtype=dtype)
            t_forward = best_time(lambda: net.forward(x))
            t_gradient = best_time(lambda: gradient(net, x))
            t_lrp = best_time(lambda: lrp(net, x, rules="deep_taylor"))
            faults = {"forward": page_faults(lambda: net.forward(x)),
                      "LRP": page_faults(lambda: lrp(net, x, rules="deep_taylor"))}
            # the oracle in float64 on a few digits, its matrices built beforehand (not timed)
            net64, x64 = net.astype(np.float64), x[:oracle_samples].astype(np.float64)
            A = net64.activations(x64)
            dense = {i: _dense(l, A[i].shape[1:]) for i, l in enumerate(net64.layers) if l.linear}
            t_oracle = best_time(lambda: lrp_per_neuron(net64, x64, dense=dense), repeat=1)
            t_oracle_all = t_oracle / oracle_samples * len(x)
            agree = np.abs(lrp_per_neuron(net64, x64, dense=dense)
                           - lrp(net64, x64, rules="deep_taylor")).max()
            flops = forward_flops(net, x)
            row = dict(model=name, dtype=dtype, forward=t_forward, gradient=t_gradient, lrp=t_lrp,
                       lrp_over_forward=t_lrp / t_forward, oracle_speedup=t_oracle_all / t_lrp,
                       forward_gflops=flops / t_forward / 1e9, matmul_gflops=rate / 1e9,
                       oracle_max_difference=float(agree),
                       page_faults_forward=faults["forward"], page_faults_lrp=faults["LRP"])
            rows.append(row)
            print(f"  {name}: forward {t_forward * 1e3:7.1f} ms   gradient {t_gradient * 1e3:7.1f} ms   "
                  f"LRP {t_lrp * 1e3:7.1f} ms   LRP/forward {row['lrp_over_forward']:.2f}   "
                  f"speedup over per-neuron LRP {row['oracle_speedup']:,.0f}x "
                  f"(oracle timed on {oracle_samples} digits, max difference {agree:.1e})")
            print(f"         forward: {row['forward_gflops']:.1f} GFLOP/s = "
                  f"{100 * row['forward_gflops'] / row['matmul_gflops']:.1f}% of the matmul rate")
            if None not in faults.values():
                print(f"         page faults per call: forward {faults['forward']:,.0f}, "
                      f"LRP {faults['LRP']:,.0f}")
        print()
    return rows
