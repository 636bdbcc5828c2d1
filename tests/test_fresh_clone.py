"""The README's two commands on a fresh clone: no ../shared beside it, no HEATMAPPING_DATA,
no network.  A copy of the project in an empty temporary folder runs the Python part of each
command: the tour (in quick mode, to keep the suite short) and, of the test suite, the tests
that read the MNIST test set, which is what differs on a fresh clone (they must be skipped,
with the reason shown, unless HEATMAPPING_REQUIRE_MNIST=1 requires them)."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import PROJECT
from test_tour import Page

#: never copied: environments, caches, build products, and a tour written at the root
IGNORED = {".venv", ".git", "__pycache__", ".hypothesis", ".pytest_cache", "build", "dist"}

MNIST_TESTS = ["tests/test_models.py", "tests/test_data.py::test_load_mnist_reads_the_real_test_set_bit_exactly",
               "tests/test_cli.py::test_evaluate_prints_the_accuracy_line"]


def ignore(folder, names):
    root = os.path.samefile(folder, PROJECT)
    return [n for n in names if n in IGNORED or n.endswith(".egg-info") or (root and n == "tour")]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(the copy's folder, its environment): the project alone in an empty folder."""
    copy = tmp_path_factory.mktemp("fresh") / "heatmapping"
    shutil.copytree(PROJECT, copy, ignore=ignore)
    env = {k: v for k, v in os.environ.items()
           if k not in ("HEATMAPPING_DATA", "HEATMAPPING_REQUIRE_MNIST", "PYTHONPATH")}
    assert not (copy.parent / "shared").exists()
    return copy, env


def run(fresh, *args, **env):
    copy, base = fresh
    return subprocess.run([sys.executable, *args], cwd=copy, env=base | env, capture_output=True,
                          text=True, timeout=600)


def test_the_copy_imports_its_own_package(fresh):
    done = run(fresh, "-c", "import heatmapping; print(heatmapping.__file__)")
    assert done.stdout.strip() == str(fresh[0] / "heatmapping" / "__init__.py"), done.stdout


def test_the_main_job_writes_the_tour_on_a_fresh_clone(fresh):
    done = run(fresh, "-m", "heatmapping", "tour", "--out", "tour", "--quick")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "the embedded digits" in done.stdout, "without MNIST the tour uses the embedded digits"
    page = Page()
    page.feed((fresh[0] / "tour" / "index.html").read_text(encoding="utf-8"))
    assert page.sections == ["sec3", "sec4", "sec5", "sec6", "sec7", "sec8"]
    for images in page.images.values():
        for src in images:
            assert (fresh[0] / "tour" / src).read_bytes()[:4] == b"\x89PNG", src


def test_the_mnist_tests_are_skipped_with_their_reason_on_a_fresh_clone(fresh):
    done = run(fresh, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MNIST_TESTS)
    assert done.returncode == 0, done.stdout[-3000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) >= 3 and all("MNIST test set was not found" in s for s in skipped), done.stdout


def test_the_mnist_tests_fail_when_required_and_missing(fresh):
    done = run(fresh, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MNIST_TESTS,
               HEATMAPPING_REQUIRE_MNIST="1")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "HEATMAPPING_REQUIRE_MNIST=1 requires it" in done.stdout
