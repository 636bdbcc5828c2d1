"""Work in forked worker processes (``heatmapping.parallel``): the groups, the results in
order, errors carried back, and pixel-flipping over a data set that does not depend on the
number of workers."""

import functools
import os
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heatmapping import explain, metrics, parallel
from heatmapping.models import load_model

FORK = pytest.mark.skipif(not sys.platform.startswith("linux"),
                          reason="worker processes are forked on Linux only: the groups run in the caller")


@given(n=st.integers(0, 200), workers=st.integers(1, 12))
def test_split_cuts_the_items_into_contiguous_groups_of_near_equal_size(n, workers):
    groups = parallel.split(n, workers)
    assert [i for g in groups for i in g] == list(range(n))
    assert len(groups) == max(1, min(n, workers))
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1 and (n == 0 or min(sizes) >= 1)


@FORK
def test_run_returns_the_results_in_order_each_part_from_its_own_process():
    pids = parallel.run(lambda part: (part, os.getpid()), [0, 1, 2])
    assert [p for p, _ in pids] == [0, 1, 2]
    assert pids[0][1] == os.getpid() and len({pid for _, pid in pids}) == 3


@FORK
def test_a_workers_exception_is_raised_in_the_caller_with_its_traceback():
    def fail_in_a_worker(part):
        if part == 1:
            raise ValueError("part 1 is bad")
        return part
    with pytest.raises(ValueError, match="part 1 is bad") as caught:
        parallel.run(fail_in_a_worker, [0, 1])
    assert "fail_in_a_worker" in str(caught.value.__cause__), "the worker's traceback is lost"


class NeedsTwoArguments(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


@FORK
def test_an_exception_that_cannot_be_rebuilt_still_reaches_the_caller_by_name():
    def fail(part):
        if part:
            raise NeedsTwoArguments(1, 2)
    with pytest.raises(RuntimeError, match="NeedsTwoArguments.*could not be sent back") as caught:
        parallel.run(fail, [0, 1])
    assert "raise NeedsTwoArguments" in str(caught.value.__cause__)


@FORK
def test_a_worker_that_dies_without_a_result_is_an_error():
    with pytest.raises(RuntimeError, match="ended without a result .exit code 3"):
        parallel.run(lambda part: os._exit(3) if part else part, [0, 1])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="workers"):
        parallel.split(5, 0)
    with pytest.raises(TypeError, match="fn"):
        parallel.run(3, [1])
    with pytest.raises(ValueError, match="workers"):
        metrics.evaluate_selectivity(load_model("cnn"), np.zeros((2, 28, 28), np.uint8),
                                     {"x": lambda x, target=None: x}, workers=0)


@FORK
def test_pixel_flipping_over_a_data_set_is_the_same_in_one_or_three_workers(capfd):
    from heatmapping.data import load_mnist5k
    net = load_model("cnn")
    images = load_mnist5k()[0][:40]
    methods = {"deep_taylor": functools.partial(explain.lrp, net),
               "sensitivity": functools.partial(explain.sensitivity, net)}
    kw = dict(recompute=True, batch_size=8, removal="uniform", rng=np.random.default_rng(1))
    one = metrics.evaluate_selectivity(net, images, methods, workers=1, **kw)
    kw["rng"] = np.random.default_rng(1)
    three = metrics.evaluate_selectivity(net, images, methods, workers=3, **kw)
    for name in methods:
        np.testing.assert_array_equal(three[name].curves, one[name].curves, err_msg=name)
        np.testing.assert_array_equal(three[name].probabilities, one[name].probabilities)
    err = capfd.readouterr().err          # the workers write to the same file descriptor
    assert "deep_taylor [uniform]: worker 3/3, 8/8 samples" in err, err
    assert "deep_taylor [uniform]: 40/40 samples" in err, err


def test_run_in_threads_returns_in_order_and_raises_a_threads_error():
    import threading
    together = threading.Barrier(3, timeout=30)       # broken unless all 3 run at once

    def meet(part):
        together.wait()
        return part, threading.get_ident()
    got = parallel.run_in_threads(meet, [0, 1, 2])
    assert [p for p, _ in got] == [0, 1, 2]
    assert got[0][1] == threading.get_ident() and len({t for _, t in got}) == 3

    def fail(part):
        if part == 2:
            raise KeyError("part 2")
        return part
    with pytest.raises(KeyError, match="part 2"):
        parallel.run_in_threads(fail, [0, 1, 2])


@pytest.mark.parametrize("cores, n, groups", [(1, 500, 1), (2, 63, 1), (2, 64, 2), (4, 100, 3), (4, 500, 4)])
def test_in_groups_gives_each_thread_a_group_of_at_least_group_samples(cores, n, groups):
    sizes = []
    x = np.arange(n * 2.0).reshape(n, 2)

    def double(xs):
        sizes.append(len(xs))
        return 2 * xs
    np.testing.assert_array_equal(parallel.in_groups(double, x, cores), 2 * x)
    assert len(sizes) == groups and sum(sizes) == n and min(sizes) >= min(n, parallel.GROUP_SAMPLES)


def test_a_network_forward_in_groups_is_the_forward_of_the_whole_batch(monkeypatch):
    from heatmapping.data import load_mnist5k
    from heatmapping.models import inputs_for
    net = load_model("cnn").astype(np.float64)
    x = inputs_for(net, load_mnist5k()[0][:100])
    monkeypatch.setattr(parallel, "available_cores", lambda: 1)
    whole = net.forward(x)
    monkeypatch.setattr(parallel, "available_cores", lambda: 3)
    np.testing.assert_array_equal(net.forward(x), whole)


def test_only_a_network_of_known_per_sample_layers_with_convolutions_uses_threads(monkeypatch):
    from heatmapping.layers import Multiply, ReLU
    from heatmapping.network import Sequential
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    cnn = load_model("cnn")
    assert cnn.threads == 2 and load_model("mlp").threads == 1

    class Probe(ReLU):
        """A user's layer that keeps what it saw: it must see the whole batch."""
        def forward(self, a):
            self.seen = len(a)
            return super().forward(a)
    probe = Probe()
    x = np.zeros((100, *cnn.input_shape), dtype=np.float32)
    for extra in (probe, Multiply(np.ones((100, 1, 1, 1), dtype=np.float32))):
        net = Sequential([extra] + cnn.layers, input_shape=cnn.input_shape)
        assert net.threads == 1
        assert net.forward(x).shape == (100, 10)
    assert probe.seen == 100


def test_off_linux_the_parts_run_in_the_caller(monkeypatch):
    monkeypatch.setattr(parallel.sys, "platform", "darwin")
    assert parallel.run(lambda part: (part, os.getpid()), [0, 1]) == [(0, os.getpid()), (1, os.getpid())]


@FORK
def test_the_random_baseline_does_not_depend_on_the_workers_and_batches_get_their_own_noise(rng):
    from heatmapping.data import load_mnist5k
    net = load_model("cnn")
    images = load_mnist5k()[0][:32]
    runs = [metrics.evaluate_selectivity(net, images, {"random": metrics.random_relevance(
                rng=np.random.default_rng(7))}, batch_size=8, workers=w, recompute=True,
                progress=False)["random"] for w in (1, 4)]
    np.testing.assert_array_equal(runs[0].curves, runs[1].curves)
    explain_fn = metrics.random_relevance(rng=np.random.default_rng(7))
    x = rng.uniform(-1, 1, (2, 3, 4))
    np.testing.assert_array_equal(explain_fn(x), explain_fn(x.copy()))
    assert not np.array_equal(explain_fn(x), explain_fn(x[::-1])), "another batch, other noise"
