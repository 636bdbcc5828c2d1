"""A large batch is explained in blocks of samples (bounded memory, issue 15): the result is the
one of the whole batch at once, with per-sample targets and filters cut to each block."""

import numpy as np
import pytest

from heatmapping import explain, lrp as lrp_module, models, parallel
from heatmapping.data import load_mnist5k

NET = models.load_model("cnn").astype(np.float64)
X = models.inputs_for(NET, load_mnist5k()[0][:70])          # more than the 64 that never split


def whole(method=explain.lrp, **kw):
    """``method`` of the whole batch at once: one block on one core."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel, "available_cores", lambda: 1)
        mp.setattr(lrp_module, "BLOCK_BYTES", 2**40)
        assert lrp_module.block_size(NET, X) >= len(X)
        return method(NET, X, **kw)


@pytest.fixture(params=[1, 3], ids=["1 core", "3 cores"])
def blocks_of_8(request, monkeypatch):
    """Blocks of 8 samples, run on 1 core or shared among 3 threads."""
    per_sample = sum(a.nbytes for a in NET.activations(X[:1]))
    monkeypatch.setattr(lrp_module, "BLOCK_BYTES", 8 * per_sample)
    monkeypatch.setattr(parallel, "available_cores", lambda: request.param)
    assert lrp_module.block_size(NET, X) == 8


@pytest.mark.parametrize("kw", [
    {}, {"target": 3}, {"target": np.arange(70) % 10}, {"target": list(np.arange(70) % 10)},
    {"target": np.random.default_rng(0).uniform(0, 1, (70, 10))}, {"rules": "epsilon"},
    {"filters": {3: np.random.default_rng(1).integers(0, 2, (70, 10, 1, 1)).astype(float)}},
    {"filters": {3: np.eye(10)[:1, :, None, None]}},
], ids=["predicted", "one-class", "class-per-sample", "list-of-classes", "float-target", "epsilon",
        "per-sample-filter", "one-filter-for-all"])
def test_blocks_give_the_relevance_of_the_whole_batch(kw, blocks_of_8):
    expected = whole(**kw)
    np.testing.assert_allclose(explain.lrp(NET, X, **kw), expected, rtol=1e-12, atol=1e-12)


def test_blocks_join_every_layer_and_the_ledger(blocks_of_8):
    expected = whole(return_layers=True)
    got = explain.lrp(NET, X, return_layers=True)
    assert len(got.R) == len(expected.R) and len(got.ledger) == len(expected.ledger)
    for r, e in zip(got.R, expected.R):
        np.testing.assert_allclose(r, e, rtol=1e-12, atol=1e-12)
    for g, e in zip(got.ledger, expected.ledger):
        assert (g.index, g.layer, g.rule) == (e.index, e.layer, e.rule)
        for field in ("relevance_out", "relevance_in", "bias", "stabilizer"):
            np.testing.assert_allclose(getattr(g, field), getattr(e, field), rtol=1e-12, atol=1e-12)
    # the last sample's table (the stabilizer column may differ by rounding, ~1e-15)
    assert [row.split()[:3] for row in got.table(69).splitlines()] == \
        [row.split()[:3] for row in expected.table(69).splitlines()]


@pytest.mark.parametrize("method", [explain.sensitivity, explain.simple_taylor, explain.deconvolution,
                                    explain.guided_backprop], ids=lambda f: f.__name__)
def test_gradient_methods_in_blocks_give_the_result_of_the_whole_batch(method, blocks_of_8):
    target = np.arange(70) % 10
    expected = whole(method, target=target)
    np.testing.assert_allclose(method(NET, X, target=target), expected, rtol=1e-12, atol=1e-12)
