"""Exercise 2 end to end: real submissions graded in the sandboxed child, verdicts asserted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS, scores_by_tag

from grader.result import Status

BUGS = sorted(SUBMISSIONS.glob("bug_*.py"))


def bug_function(path: Path) -> str:
    m = re.search(r"Single bug: (\w+)", path.read_text())
    assert m, f"{path.name} must say which function it breaks"
    return m.group(1)


def test_reference_scores_full_marks(grade_file):
    result = grade_file(ROOT / "reference/ex2/solution.py")
    failed = [(t.name, t.reason) for t in result.tests if t.status is Status.failed]
    assert failed == []
    assert (result.score, result.max_score, result.hidden_run) == (100, 100, True)
    assert [p.score for p in result.parts] == [20, 20, 20, 20, 20]


@pytest.mark.parametrize("stub", ["ex2.py", "ex2.ipynb"])
def test_untouched_stubs_score_zero_and_say_what_to_do(grade_file, stub):
    result = grade_file(ROOT / "exercises/ex2" / stub)
    assert result.score == 0
    assert all(t.status is Status.failed for t in result.tests)
    relu = next(t for t in result.tests if "relu" in t.tags and t.visibility == "visible")
    assert relu.reason.startswith("NotImplementedError: relu:")


def test_alternative_correct_solution_scores_full_marks(grade_file):
    result = grade_file(SUBMISSIONS / "alternative.py")
    assert [(t.name, t.reason) for t in result.tests if t.status is Status.failed] == []
    assert result.score == 100


@pytest.mark.parametrize("path", BUGS, ids=[p.stem for p in BUGS])
def test_single_bug_loses_points_on_its_function_only(grade_file, path):
    function = bug_function(path)
    result = grade_file(path)
    lost = [t for t in result.tests if t.status is Status.failed]
    assert lost, f"{path.name}: the bug in {function} went unnoticed"
    # a test that calls the function (and says so with `uses`) may lose points too, naming it
    own_or_named = [function in t.tags or f"may come from `{function}`" in t.reason for t in lost]
    assert all(own_or_named), [(t.name, t.tags, t.reason) for t in lost]
    score, maximum = scores_by_tag(result)[function]
    assert score < maximum
    assert result.score == 100 - sum(t.max_score for t in lost)


def test_forbidden_call_is_named(grade_file):
    result = grade_file(SUBMISSIONS / "bug_relu.py")
    relu_tests = [t for t in result.tests if t.tags[0] == "relu"]
    assert relu_tests and all(t.status is Status.failed for t in relu_tests)
    assert all(
        t.reason == "uses torch.relu (bug_relu.py, line 93), which this exercise forbids here"
        for t in relu_tests
    )
    assert [t.name for t in result.tests if t.status is Status.failed] == [
        t.name for t in relu_tests
    ]


def test_a_function_that_changes_torchs_global_state_costs_nobody_else(grade_file):
    """gd_step leaves grad mode off: before each test torch's global state is put back."""
    result = grade_file(SUBMISSIONS / "cascade_gd_step_leaves_grad_mode_off.py")
    others = [
        (t.name, t.reason)
        for t in result.tests
        if t.status is Status.failed and "gd_step" not in t.tags
    ]
    assert others == []


def test_missing_half_fails_only_the_missing_names(grade_file, ex2):
    result = grade_file(SUBMISSIONS / "missing_half.py")
    by_part = {p.name: p.score for p in result.parts}
    assert by_part == {"Tensors": 20, "Autograd": 20, "Models": 0, "Losses": 0, "Training": 0}
    mlp = next(t for t in result.tests if t.tags[0] == "MLP")
    assert "does not define `MLP`" in mlp.reason


def test_syntax_error_is_a_result_not_a_crash(grade_file):
    result = grade_file(SUBMISSIONS / "syntax_error.py")
    assert result.score == 0
    assert re.search(r"does not compile: syntax_error\.py, line \d+: SyntaxError", result.error)
    assert all(t.reason == result.error for t in result.tests)


def test_hidden_failures_never_show_expected_values(grade_file):
    result = grade_file(SUBMISSIONS / "bug_softmax.py")
    hidden = [t for t in result.tests if t.visibility == "hidden" and t.status is Status.failed]
    assert hidden
    for t in hidden:
        assert "(expected" not in t.reason and "expected 0" not in t.reason, t.reason
        assert len(t.reason) <= 240
