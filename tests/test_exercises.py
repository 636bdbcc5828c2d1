"""The course's exercise checks pass the reference solutions, fail wrong answers with a reason,
and say 'not attempted yet' for an answer that returns None."""

import numpy as np
import pytest

from heatmapping import exercises


@pytest.mark.parametrize("check, solution", [
    (exercises.check_zplus_dense, exercises.solution_zplus_dense),
    (exercises.check_alpha_beta, exercises.solution_alpha_beta),
    (exercises.check_continuity_constant, exercises.solution_continuity_constant),
], ids=["zplus", "alpha-beta", "continuity"])
def test_the_reference_solution_passes_and_an_empty_answer_is_not_attempted(check, solution, capsys):
    assert check(solution) is True
    assert "PASS" in capsys.readouterr().out
    assert check(lambda *args: None) is None
    assert "not attempted yet" in capsys.readouterr().out


def test_common_mistakes_fail_with_a_reason(capsys):
    # all weights instead of the positive ones: LRP-0, not z+
    assert exercises.check_zplus_dense(lambda a, W, R: a * ((R / (a @ W)) @ W.T)) is False
    # beta added instead of subtracted
    assert exercises.check_alpha_beta(
        lambda a, W, R, al, be: exercises.solution_alpha_beta(a, W, R, al, -be)) is False
    # the squared distance in the denominator
    assert exercises.check_continuity_constant(
        lambda fn, A, B: float(np.max(np.abs(fn(A) - fn(B)).sum(1) / ((A - B) ** 2).sum(1)))) is False
    out = capsys.readouterr().out
    assert out.count("FAIL: differs from the library by up to") >= 3
    assert exercises.check_zplus_dense(lambda a, W, R: np.zeros(3)) is False
    assert "FAIL: expected shape (3, 6), got (3,)" in capsys.readouterr().out
