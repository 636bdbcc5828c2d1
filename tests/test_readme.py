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


def test_readme_python_examples_run():
    for block in re.findall(r"```python\n(.*?)\n```", (PROJECT / "README.md").read_text(), re.S):
        exec(compile(block, "README.md", "exec"), {})
