"""The course (tutorials/NN_*.py): every script is a notebook in jupytext's percent format with
prose in markdown cells, reads no __file__ and no command line, and runs top to bottom as a
notebook in quick mode, saving its figures.  What each one shows is checked in
test_course_sections.py."""

import re
import struct

import pytest

from conftest import COURSE


def test_the_course_covers_the_paper_in_its_order():
    numbers = [int(p.name[:2]) for p in COURSE]
    assert numbers == list(range(1, len(COURSE) + 1)), [p.name for p in COURSE]
    assert len(COURSE) >= 8


@pytest.mark.parametrize("script", COURSE, ids=[p.name for p in COURSE])
def test_a_course_script_is_notebook_ready(script):
    text = script.read_text()
    assert "__file__" not in text and "argparse" not in text, f"{script.name}: a kernel has neither"
    small = re.findall(r"fontsize=([0-8])\b", text)
    assert not small, f"{script.name}: fonts below 9 pt ({small})"
    markdown = re.findall(r"^# %% \[markdown\]", text, re.M)
    code = re.findall(r"^# %%(?! \[markdown\])", text, re.M)
    assert len(markdown) >= 5 and len(code) >= 5, f"{script.name}: {len(markdown)} markdown cells"


@pytest.mark.parametrize("script", COURSE, ids=[p.name for p in COURSE])
def test_a_course_script_runs_as_a_notebook_and_saves_its_figures(script, course):
    run = course(script.name)
    figures = sorted((run.folder / "figures").glob("*.png"))
    assert figures, f"{script.name} saved no figure"
    shown = sum(out.get("output_type") == "display_data" for cell in run.notebook.cells
                for out in cell.get("outputs", []))
    assert shown == len(figures), f"{script.name}: {len(figures)} figures saved, {shown} shown inline"
    for figure in figures:
        width = struct.unpack(">I", figure.read_bytes()[16:20])[0]          # the PNG header's
        assert width <= 1650, f"{figure.name} is {width} px wide (at most about 1600)"
    assert run.text.strip(), f"{script.name} printed nothing"
    kinds = [cell.cell_type for cell in run.notebook.cells]
    assert kinds.count("markdown") >= 5 and kinds[0] == "markdown", \
        f"{script.name}: jupytext made {kinds.count('markdown')} markdown cells"


def test_tutorials_readme_lists_every_part_with_its_runtime():
    from conftest import PROJECT
    table = (PROJECT / "tutorials" / "README.md").read_text()
    for script in COURSE:
        row = re.search(rf"^\| `{re.escape(script.name)}` \|.*\| ([\d.]+ s|\d+ min [\d.]+ s) \| "
                        rf"([\d.]+ s) \|$", table, re.M)
        assert row, f"tutorials/README.md has no row with runtimes for {script.name}"
