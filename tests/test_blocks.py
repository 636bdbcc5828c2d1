"""A large batch is explained in blocks of samples (bounded memory, issue 15): the result is the
one of the whole batch at once, with per-sample targets and filters cut to each block."""

import numpy as np
import pytest

from heatmapping import explain, lrp as lrp_module, models
from heatmapping.data import load_mnist5k

NET = models.load_model("cnn").astype(np.float64)
X = models.inputs_for(NET, load_mnist5k()[0][:70])          # more than the 64 that never split


def whole(**kw):
    """lrp of the whole batch at once (the default block is larger than 70 samples)."""
    assert lrp_module.block_size(NET, X) >= len(X)
    return explain.lrp(NET, X, **kw)


@pytest.mark.parametrize("kw", [
    {}, {"target": 3}, {"target": np.arange(70) % 10}, {"target": list(np.arange(70) % 10)},
    {"target": np.random.default_rng(0).uniform(0, 1, (70, 10))}, {"rules": "epsilon"},
    {"filters": {3: np.random.default_rng(1).integers(0, 2, (70, 10, 1, 1)).astype(float)}},
    {"filters": {3: np.eye(10)[:1, :, None, None]}},
], ids=["predicted", "one-class", "class-per-sample", "list-of-classes", "float-target", "epsilon",
        "per-sample-filter", "one-filter-for-all"])
def test_blocks_give_the_relevance_of_the_whole_batch(kw, monkeypatch):
    expected = whole(**kw)
    per_sample = sum(a.nbytes for a in NET.activations(X[:1]))
    monkeypatch.setattr(lrp_module, "BLOCK_BYTES", 8 * per_sample)
    assert lrp_module.block_size(NET, X) == 8
    np.testing.assert_allclose(explain.lrp(NET, X, **kw), expected, rtol=1e-12, atol=1e-12)


def test_blocks_join_every_layer_and_the_ledger(monkeypatch):
    expected = whole(return_layers=True)
    per_sample = sum(a.nbytes for a in NET.activations(X[:1]))
    monkeypatch.setattr(lrp_module, "BLOCK_BYTES", 8 * per_sample)
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
def test_gradient_methods_in_blocks_give_the_result_of_the_whole_batch(method, monkeypatch):
    target = np.arange(70) % 10
    expected = method(NET, X, target=target)
    per_sample = sum(a.nbytes for a in NET.activations(X[:1]))
    monkeypatch.setattr(lrp_module, "BLOCK_BYTES", 8 * per_sample)
    np.testing.assert_allclose(method(NET, X, target=target), expected, rtol=1e-12, atol=1e-12)
