"""Shared test set-up: hypothesis profiles and the location of the real MNIST test set.

Profiles: ``default`` (fast, for development) and ``ci`` (thorough, what .ci/run selects
with HYPOTHESIS_PROFILE=ci).  Choose one with ``--hypothesis-profile`` or the variable.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=60, deadline=None)
# derandomize: CI explores the same 2,000 examples per law on every run, so a red build is
# reproducible; the default profile keeps drawing new examples during development
settings.register_profile("ci", max_examples=2000, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PROJECT = Path(__file__).resolve().parents[1]


def shared_mnist() -> Path | None:
    """The real MNIST test set: $HEATMAPPING_DATA, or ../shared/data/mnist beside the project."""
    for folder in (os.environ.get("HEATMAPPING_DATA"), PROJECT.parent / "shared" / "data" / "mnist"):
        if folder and (Path(folder) / "t10k-images-idx3-ubyte.gz").exists():
            return Path(folder)
    return None


@pytest.fixture
def mnist_folder() -> Path:
    folder = shared_mnist()
    if folder is None:
        pytest.fail("the real MNIST test set was not found: set HEATMAPPING_DATA or put it "
                    "at ../shared/data/mnist beside the project")
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
