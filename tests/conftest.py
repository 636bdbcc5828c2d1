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


COURSE = sorted((PROJECT / "tutorials").glob("[0-9][0-9]_*.py"))


class Notebook:
    """A course script executed as a notebook: its folder, the text its cells printed, and
    the notebook itself."""

    def __init__(self, folder: Path, text: str, notebook):
        self.folder, self.text, self.notebook = folder, text, notebook


def execute_as_notebook(script: Path, folder: Path) -> Notebook:
    """Convert ``script`` with jupytext and execute it as a notebook in a fresh kernel, working
    directory ``folder``, in quick mode, figures in ``folder / "figures"``."""
    import jupytext
    import nbclient
    notebook = jupytext.read(script)
    client = nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    env = dict(os.environ, HEATMAPPING_QUICK="1", HEATMAPPING_OUT=str(folder / "figures"))
    client.execute(env=env)
    text = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    return Notebook(folder, text, notebook)


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """``course(name)``: the course script ``tutorials/name`` executed as a notebook in quick
    mode, at most once per test session."""
    done = {}

    def run(name: str) -> Notebook:
        if name not in done:
            folder = tmp_path_factory.mktemp(name.removesuffix(".py"))
            done[name] = execute_as_notebook(PROJECT / "tutorials" / name, folder)
        return done[name]
    return run


def line(text: str, pattern: str):
    """The match of ``pattern`` in a notebook's printed ``text`` (multi-line mode); fails
    saying which line was missing."""
    found = re.search(pattern, text, re.M)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return found


def number(pattern: str, text: str, group: int = 1) -> float:
    """The float that group ``group`` of ``pattern`` captures in ``text``."""
    return float(line(text, pattern).group(group))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def fill_disk(monkeypatch):
    """Call it to make the disk "full": every file written through ``heatmapping.files`` from
    then on fails with ENOSPC after its first 100 bytes (to check that the old file survives)."""
    import heatmapping.files as files

    class FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written + len(data) > 100:
                raise OSError(28, "No space left on device")
            self.written += len(data)
            return self.f.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def fill():
        real_fdopen = files.os.fdopen
        monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    return fill
