"""`grade` as students and CI run it: exit codes, messages, the JSON result, the working copy."""

from __future__ import annotations

import shutil

from conftest import ROOT, SUBMISSIONS


def test_public_only_says_what_was_not_graded(cli):
    run = cli("ex2", str(ROOT / "reference/ex2/solution.py"), "--public-only")
    assert run.code == 0
    assert "hidden tests not run: 40 of 100 points not graded" in run.out
    assert run.result["score"] == 60 and run.result["max_score"] == 100
    assert run.result["extra_data"]["hidden_tests_run"] is False
    assert all(not t["hidden"] for t in run.result["tests"])


def test_json_has_gradescope_shape(cli):
    run = cli("ex2", str(SUBMISSIONS / "bug_mse_loss.py"))
    assert run.code == 0
    data = run.result
    assert set(data) >= {"score", "max_score", "tests"}
    assert data["score"] == sum(t["score"] for t in data["tests"])
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "tags", "output", "visibility"}
        assert t["status"] in ("passed", "failed")
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert failed and all("mse_loss" in t["tags"] for t in failed)
    assert all(t["output"] for t in failed)


def test_fail_under_sets_exit_code(cli):
    assert (
        cli("ex2", str(ROOT / "exercises/ex2/ex2.py"), "--public-only", "--fail-under", "50").code
        == 1
    )
    assert (
        cli(
            "ex2", str(ROOT / "reference/ex2/solution.py"), "--public-only", "--fail-under", "60"
        ).code
        == 0
    )


def test_missing_file_is_one_line_and_exit_3(cli):
    run = cli("ex2", "no/such/ex2.py")
    assert run.code == 3
    assert "no such file or folder: no/such/ex2.py" in run.out
    assert "Traceback" not in run.out


def test_unknown_exercise_lists_known_ones(cli):
    run = cli("ex9")
    assert run.code == 2  # a bad command line
    assert "no exercise named 'ex9' (known: ex2)" in run.out


def test_file_given_without_exercise_gets_a_hint(cli):
    run = cli("ex2.py")
    assert run.code == 2
    assert "grade ex2 ex2.py" in run.out


def test_notebook_that_is_not_json_gets_a_zero_result(cli, tmp_path):
    bad = tmp_path / "ex2.ipynb"
    bad.write_text('{"cells": [ {"cell_type": "code", "sour')
    run = cli("ex2", str(bad))
    assert run.code == 3
    assert "is not a readable notebook: invalid JSON" in run.out
    assert run.result["score"] == 0 and len(run.result["tests"]) > 10
    assert "Traceback" not in run.out


def test_grade_without_path_grades_the_working_copy(cli, tmp_path):
    shutil.copy(SUBMISSIONS / "alternative.py", tmp_path / "ex2.py")
    run = cli("ex2", "--public-only", cwd=tmp_path, env={"GRADER_ROOT": str(ROOT)})
    assert run.code == 0
    assert run.result["score"] == 60
    assert "ex2.py" in run.out


def test_help_lists_options(cli):
    run = cli("--help")
    assert run.code == 0
    for option in ("--device", "--json", "--fail-under", "--public-only", "--timeout"):
        assert option in run.out
