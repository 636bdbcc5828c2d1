"""README.md and .ci/run agree: CI runs exactly the README's test command."""

import re

from conftest import PROJECT


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (PROJECT / "README.md").read_text(), re.S)


def test_readme_gives_two_setup_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert len(commands) >= 2
    main_job, tests = commands[0], commands[1]
    assert "heatmapping tour" in main_job and "pytest" in tests
    ci = (PROJECT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                      # the examples may write files: not here
    for block in re.findall(r"```python\n(.*?)\n```", (PROJECT / "README.md").read_text(), re.S):
        exec(compile(block, "README.md", "exec"), {})


def test_the_map_of_the_paper_names_functions_and_course_parts_that_exist():
    import importlib
    text = (PROJECT / "README.md").read_text()
    table = text[text.index("### A map of the paper"):]
    rows = re.findall(r"^\| (Sec\. [^|]+) \|[^|]*(?:\\\|[^|]*)*\| ([^|]+) \| (\S+) \|$", table, re.M)
    assert len(rows) >= 20, rows
    for section, package, part in rows:
        for name in re.findall(r"`([\w.]+)(?:\([^`]*\))?`", package):
            module, _, attribute = name.rpartition(".")
            target = importlib.import_module(f"heatmapping.{module}") if module[:1].islower() \
                else getattr(importlib.import_module("heatmapping.layers"), module)
            assert hasattr(target, attribute), f"{section}: {name} does not exist"
        if part != "-":
            assert list((PROJECT / "tutorials").glob(f"{part}_*.py")), f"{section}: no course part {part}"
