"""Every tutorial runs top to bottom from another working directory, saves its figures, and
prints the claims of its section as measured (the checks below parse what it printed)."""

import re
import subprocess
import sys

import pytest

from conftest import PROJECT

TUTORIALS = {
    "figure6_continuity.py": ["figure6_continuity.png"],
    "figure7_translation.py": ["figure7_translation.png"],
}


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """What each tutorial printed, running each at most once per test session."""
    outputs = {}

    def run(script):
        if script not in outputs:
            out_dir = tmp_path_factory.mktemp(script.removesuffix(".py"))
            done = subprocess.run([sys.executable, str(PROJECT / "tutorials" / script),
                                   "--out-dir", str(out_dir)],
                                  cwd=out_dir, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, \
                f"{script} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            outputs[script] = (out_dir, done.stdout)
        return outputs[script]
    return run


def number(pattern, text):
    found = re.search(pattern, text, re.M)
    assert found, f"no match for {pattern!r} in:\n{text}"
    return float(found.group(1))


@pytest.mark.parametrize("script", TUTORIALS)
def test_tutorial_runs_and_saves_its_figures(script, printed):
    out_dir, out = printed(script)
    for figure in TUTORIALS[script]:
        assert (out_dir / figure).read_bytes()[:4] == b"\x89PNG", f"{script} did not save {figure}"
    assert out.strip(), f"{script} printed nothing"


def test_figure6_only_lrp_keeps_a_bounded_continuity_constant(printed):
    _, out = printed("figure6_continuity.py")
    factors = dict(re.findall(r"(sensitivity|simple Taylor|deep Taylor LRP) ([\d.]+)",
                              re.search(r"^factor by which .*$", out, re.M).group(0)))
    assert float(factors["deep Taylor LRP"]) == pytest.approx(1.0, abs=0.01), out
    assert float(factors["sensitivity"]) == pytest.approx(2.0, abs=0.05), out
    assert float(factors["simple Taylor"]) == pytest.approx(2.0, abs=0.05), out
    assert "deep Taylor LRP: bounded" in out and "sensitivity: unbounded" in out, out


def test_figure7_lrp_varies_least_along_the_moving_digit(printed):
    _, out = printed("figure7_translation.py")
    assert "lowest continuity: deep Taylor LRP" in out, out
    assert "lowest relative continuity: deep Taylor LRP" in out, out
