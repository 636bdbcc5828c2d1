"""The benchmark's helpers run and return what they promise; no test here checks a time."""

import re

import numpy as np
import pytest

from heatmapping import bench, models
from heatmapping.__main__ import main


@pytest.fixture(scope="module")
def cnn_and_digits():
    net = models.load_model("cnn").astype(np.float32)
    images = np.random.default_rng(0).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    return net, models.inputs_for(net, images, dtype=np.float32)


def test_peak_memory_counts_the_arrays_a_call_allocates():
    peak = bench.peak_memory(lambda: np.ones(1_000_000))           # 8 MB of float64
    assert 8_000_000 <= peak < 9_000_000, f"peak {peak:,} bytes for an 8,000,000-byte array"


def test_one_call_vs_batches_reports_both_ways_over_the_same_digits(cnn_and_digits):
    net, x = cnn_and_digits
    m = bench.one_call_vs_batches(net, x, batch=4, repeat=1)
    assert (m["digits"], m["batch"]) == (6, 4)
    assert m["one_call"] > 0 and m["batched"] > 0 and m["ratio"] == m["one_call"] / m["batched"]
    assert m["peak_one_call"] > 0 and m["peak_batched"] > 0


def test_flipping_rate_is_a_positive_number_of_digits_per_second(cnn_and_digits):
    net, x = cnn_and_digits
    assert bench.flipping_rate(net, x[:2]) > 0 and bench.flipping_rate(net, x[:4], workers=2) > 0


def test_busy_vs_quiet_times_each_function_in_both_states():
    times = bench.busy_vs_quiet({"sum": lambda: np.ones(10_000).sum()}, repeat=2)
    quiet, busy = times["sum"]
    assert quiet > 0 and busy > 0


def test_bench_quick_busy_prints_every_measurement(capsys):
    assert main(["bench", "-n", "4", "--dtype", "float32", "--quick", "--busy"]) == 0
    out = capsys.readouterr().out
    assert "BLAS 1024x1024 matmul" in out and out.count("LRP/forward") == 2 and "(epsilon" in out, \
        "forward / LRP lines missing"
    assert "% of the matmul rate" in out and "speedup over per-neuron LRP" in out
    assert re.search(r"one call [\d.]+ s \(peak [\d,]+ MB\), batches of \d+ [\d.]+ s", out), \
        "the one-call vs batches line is missing"
    assert re.search(r"one call / batches per digit [\d.]+", out)
    assert re.search(r"pixel-flipping.*processes: deep_taylor [\d,]+ digits/s \(10,000 digits in "
                     r"[\d,]+ s\), epsilon [\d,]+ digits/s", out), "pixel-flipping rates missing"
    assert re.search(r"RBM [\d.]+ s, VAE [\d.]+ s", out), "RBM / VAE epoch times missing"
    assert len(re.findall(r"busy/quiet [\d.]+", out)) == 2, "busy / quiet ratios missing"
