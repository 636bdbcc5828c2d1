"""Work over many samples on several cores: threads within one pass, processes over a data set.

BLAS spreads a large product over the cores, but a convolutional network's forward and
relevance passes are many small products and element-wise steps, which run on one core.
Cutting the samples into groups and giving each group to its own thread or process uses every
core, and the groups' results are those of the whole batch: each sample is computed on its
own (BLAS may round a sample differently when other samples share its product, at float32's
last digits).

* Threads (:func:`run_in_threads`, :func:`in_blocks`, :func:`in_groups`) serve one pass over
  a batch (``Sequential.forward``, the blocks of ``lrp``): NumPy releases the GIL in the
  products and copies.
* Processes (:func:`run`) serve work over a whole data set (``metrics.evaluate_selectivity``),
  where the interpreter's own work between NumPy calls adds up.  Each worker is a fork of the
  caller: it sees the network, the data and the explanation functions as they are, without
  copying or pickling them, and sends back only its result.

Processes are forked on Linux only: Windows has no ``fork``, and on macOS the system's
libraries (Accelerate, which NumPy may use for BLAS) are not safe to use in a forked child.
There the groups run one after the other in the caller, with the same results for work that
draws no random numbers.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import threading
import traceback
from typing import Callable, Mapping, Sequence

import numpy as np

from . import checks

__all__ = ["split", "run", "run_in_threads", "in_blocks", "in_groups", "rows", "available_cores",
           "GROUP_SAMPLES"]

#: ``in_groups`` gives each thread at least this many samples: below, a thread's start and
#: join (about 0.1 ms) outweigh what it saves
GROUP_SAMPLES = 32


def available_cores() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                        # not on Linux
        return os.cpu_count() or 1


def split(n_items: int, workers: int) -> list[range]:
    """``range(n_items)`` cut into at most ``workers`` contiguous groups whose sizes differ by
    at most one (no empty group)."""
    n_items = checks.integer(n_items, "n_items", low=0)
    workers = checks.integer(workers, "workers", low=1)
    groups = min(workers, n_items) or 1
    size, extra = divmod(n_items, groups)
    bounds = [0]
    for g in range(groups):
        bounds.append(bounds[-1] + size + (g < extra))
    return [range(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


def run(fn: Callable, parts: Sequence) -> list:
    """``[fn(part) for part in parts]``, each part after the first in a forked process of its
    own, the first in the caller.

    A worker's exception is raised again in the caller, caused by the worker's traceback.
    Results and exceptions travel by pickle; ``fn`` and what it reads do not.  Workers run
    with the caller's BLAS thread setting: for as many workers as cores, set
    ``OPENBLAS_NUM_THREADS=1`` (or the like) before starting Python.
    """
    fn = checks.function(fn, "fn")
    parts = list(parts)
    if len(parts) <= 1 or not sys.platform.startswith("linux"):
        return [fn(part) for part in parts]
    context = multiprocessing.get_context("fork")
    workers = []
    try:
        for part in parts[1:]:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_work, args=(fn, part, send), daemon=True)
            workers.append((process, receive))    # closed in ``finally``, started or not
            try:
                process.start()
            finally:
                send.close()                      # the worker holds the sending end
        results = [fn(parts[0])]
        # receive before joining: a worker blocks in send until its result is read
        for process, receive in workers:
            try:
                outcome, value, trace = receive.recv()
            except EOFError:                      # killed, or ended by os._exit in fn
                process.join()
                raise RuntimeError(f"a worker process ended without a result "
                                   f"(exit code {process.exitcode})") from None
            process.join()
            if outcome == "error":
                raise value from _WorkerTraceback(trace)
            results.append(value)
        return results
    finally:
        for process, receive in workers:
            receive.close()
            if process.is_alive():
                process.terminate()
            if process.pid is not None:
                process.join()


class _WorkerTraceback(Exception):
    """The traceback of an exception raised in a worker process, as its text (a traceback
    object does not cross processes): the cause of the exception raised again in the
    caller."""

    def __str__(self):
        return "raised in a worker process:\n" + self.args[0]


def run_in_threads(fn: Callable, parts: Sequence) -> list:
    """``[fn(part) for part in parts]``, each part after the first in a thread of its own, the
    first in the caller; the first exception of any part is raised once all have ended.

    For work that spends its time in NumPy calls that release the GIL (BLAS products, copies
    of large arrays): the convolutions run their blocks of samples so (``layers.Conv2d``).
    """
    parts = list(parts)
    if len(parts) <= 1:
        return [fn(part) for part in parts]
    results, errors = [None] * len(parts), [None] * len(parts)

    def work(i):
        try:
            results[i] = fn(parts[i])
        except BaseException as error:           # raised again in the caller
            errors[i] = error
    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, len(parts))]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def rows(value, start: int, stop: int, n: int):
    """The rows start:stop of a per-sample argument (an array whose first axis has the batch's
    n samples, or a mapping of such arrays, e.g. filters); anything else (None, a class index,
    a mask for all samples) as it is."""
    if isinstance(value, Mapping):
        return {k: rows(v, start, stop, n) for k, v in value.items()}
    if np.ndim(value) >= 1 and len(value) == n and n > 1:
        return np.asarray(value)[start:stop]
    return value


def in_blocks(fn: Callable, x, block: int, *, threads: int = 1, **per_sample) -> list:
    """``fn(x[i:i + block], **arguments)`` for each block of a large batch, with each
    per-sample argument cut to the block's rows (:func:`rows`): the list of results.

    The blocks are shared among ``threads`` threads (``net.threads``), each running its share
    one block after the other (NumPy releases the GIL in the products and copies): LRP of 256
    digits with the reference CNN 1.2-1.6x faster in two threads on two cores (two processes:
    1.7-1.9x; the difference is the interpreter lock, which each NumPy call takes to start)."""
    pieces = [range(i, min(i + block, len(x))) for i in range(0, len(x), block)]
    return _in_pieces(fn, x, pieces, threads, per_sample)


def in_groups(fn: Callable, x, threads: int):
    """``fn(x)`` for a batch ``x`` (N, ...) whose samples ``fn`` maps independently: the batch
    cut into at most ``threads`` groups of samples (each at least ``GROUP_SAMPLES``), the
    groups run in threads, the results joined along the first axis.

    A network's forward pass runs so (``Sequential.threads``): its layers spend their time in
    NumPy calls that release the GIL, and two groups on two cores ran the reference CNN's
    forward of 256 digits 1.3-1.7x faster than one.  Run Python under ``taskset -c 0`` to
    keep it on one core.
    """
    groups = split(len(x), max(1, min(threads, len(x) // GROUP_SAMPLES)))
    if len(groups) == 1:
        return fn(x)
    return np.concatenate(_in_pieces(fn, x, groups, len(groups), {}))


def _in_pieces(fn: Callable, x, pieces: list[range], threads: int, per_sample: dict) -> list:
    """``fn`` of each piece (a range of samples) of ``x``, per-sample arguments cut to it; the
    pieces shared among ``threads`` threads in contiguous groups, the results in order."""
    n = len(x)

    def run(group):
        return [fn(x[p.start:p.stop], **{k: rows(v, p.start, p.stop, n) for k, v in per_sample.items()})
                for p in (pieces[i] for i in group)]
    return [result for part in run_in_threads(run, split(len(pieces), threads)) for result in part]


def _work(fn: Callable, part, send) -> None:
    """A worker's life: compute fn(part), send ("ok", result, "") or ("error", exception,
    traceback text)."""
    try:
        message = ("ok", fn(part), "")
    except BaseException as error:               # KeyboardInterrupt too: the caller decides
        message = ("error", error, traceback.format_exc())
    try:
        # an exception must also be rebuilt on the other side: one whose __init__ takes
        # other arguments than its args cannot, and would fail in the caller's recv
        if message[0] == "error":
            pickle.loads(pickle.dumps(message[1]))
        send.send(message)
    except Exception as error:                   # unpicklable, or not rebuilt from a pickle
        what = "result" if message[0] == "ok" else f"exception {message[1]!r}"
        send.send(("error", RuntimeError(f"a worker's {what} could not be sent back: {error}"),
                   message[2]))
    send.close()
