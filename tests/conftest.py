"""Shared test set-up: hypothesis profiles and the location of the real MNIST test set.

Profiles: ``default`` (fast, for development) and ``ci`` (thorough, what .ci/run selects
with HYPOTHESIS_PROFILE=ci).  Choose one with ``--hypothesis-profile`` or the variable.

The tests that read the 10,000-digit MNIST test set are skipped, with the reason in pytest's
summary, where it cannot be found (a fresh clone has no ``../shared``); with
``HEATMAPPING_REQUIRE_MNIST=1`` (what .ci/run sets) they fail instead, so CI runs them all.
"""

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from heatmapping.data import find_mnist

settings.register_profile("default", max_examples=60, deadline=None)
# derandomize: CI explores the same 2,000 examples per law on every run, so a red build is
# reproducible; the default profile keeps drawing new examples during development
settings.register_profile("ci", max_examples=2000, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PROJECT = Path(__file__).resolve().parents[1]


MISSING_MNIST = ("the MNIST test set was not found (set HEATMAPPING_DATA to a folder holding "
                 "it, e.g. after 'python -m heatmapping download --folder DIR')")


def require_mnist() -> Path:
    """The folder of the real MNIST test set ($HEATMAPPING_DATA, or ../shared/data/mnist beside
    the project: the package's own search, ``data.find_mnist``); skips the calling test where it
    is missing, or fails it when HEATMAPPING_REQUIRE_MNIST=1."""
    folder = find_mnist()
    if folder is None:
        if os.environ.get("HEATMAPPING_REQUIRE_MNIST") == "1":
            pytest.fail(f"{MISSING_MNIST}, and HEATMAPPING_REQUIRE_MNIST=1 requires it")
        pytest.skip(MISSING_MNIST)
    return folder


@pytest.fixture(scope="session")
def mnist_folder() -> Path:
    """The real MNIST test set's folder; see :func:`require_mnist`."""
    return require_mnist()


def data_readme_row(name: str) -> str:
    """The row of ``data/README.md``'s tables that describes the shipped file ``name``."""
    row = re.search(rf"^\| `{re.escape(name)}` \|.*$", (PROJECT / "data" / "README.md").read_text(),
                    re.M)
    assert row, f"data/README.md has no table row for {name}"
    return row.group(0)


def assert_matches_data_readme(name: str) -> None:
    """The shipped file ``data/name`` has the SHA-256 that data/README.md gives for it."""
    expected = re.search(r"`([0-9a-f]{64})`", data_readme_row(name)).group(1)
    actual = hashlib.sha256((PROJECT / "data" / name).read_bytes()).hexdigest()
    assert actual == expected, f"data/{name} does not match data/README.md: retrained?"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
