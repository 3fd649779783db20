"""Feedback that names the mistake: the catalogue's known-wrong values, how a function computes,
and hints that a failure may come from another graded function."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader import golden
from grader.build import golden_drift
from grader.exercise import Exercise
from grader.grading import Options, grade
from grader.result import GradeResult, Status

# a few entries of a catalogue (reference/EXERCISE/mistakes.toml), for a copy of Exercise 2
CATALOGUE = """
[[mistake]]
id = "softmax-dim0"
function = "softmax"
says = "softmax over dim 0 instead of the last dimension"
find = "    shifted = z - z.amax(dim=dim, keepdim=True)"
replace = "    dim = 0\\n    shifted = z - z.amax(dim=dim, keepdim=True)"

[[mistake]]
id = "mse-mean-all"
function = "mse_loss"
says = "the mean over all elements instead of over the samples"
find = "((pred - target) ** 2).sum() / pred.shape[0]"
replace = "((pred - target) ** 2).mean()"

[[mistake]]
id = "softmax-no-shift"
function = "softmax"
says = "exp of the raw logits, which overflows for large ones"
find = "shifted = z - z.amax(dim=dim, keepdim=True)"
replace = "shifted = z"
named = false
"""


def _copy(tmp: Path, catalogue: str) -> Exercise:
    for part in ("exercises", "reference"):
        shutil.copytree(
            ROOT / part / "ex2", tmp / part / "ex2", ignore=shutil.ignore_patterns(".golden-cache")
        )
    (tmp / "reference/ex2/mistakes.toml").write_text(catalogue)
    return Exercise("ex2", tmp / "exercises/ex2", tmp / "reference/ex2")


@pytest.fixture(scope="module")
def catalogued(tmp_path_factory: pytest.TempPathFactory) -> Exercise:
    """A copy of Exercise 2 with a catalogue, its seed-0 golden values recorded (public and hidden)."""
    exercise = _copy(tmp_path_factory.mktemp("catalogued"), CATALOGUE)
    documents = golden.record_groups(exercise, ["public", "hidden"], seed=0)
    golden.write(documents["public"], exercise.public_golden_path)
    golden.write(documents["hidden"], golden.hidden_cache_path(exercise))
    return exercise


def _grade(exercise: Exercise, path: Path) -> GradeResult:
    return grade(exercise, path, Options(devices=["cpu", "meta"], seed=0))


def _failed(result: GradeResult) -> dict[str, str]:
    return {t.name: t.reason for t in result.tests if t.status is Status.failed}


@pytest.mark.slow
def test_recording_keeps_each_named_mistakes_values_beside_the_golden_ones(catalogued):
    public = json.loads(catalogued.public_golden_path.read_text())["tests"]
    checks = public["public/test_public.py::test_softmax"]["checks"]
    assert [w["id"] for w in checks[1].get("wrong", [])] == ["softmax-dim0"]  # each row of a matrix
    assert "wrong" not in checks[0]  # a vector: over dim 0 is right there
    hidden = golden.hidden(catalogued).tests
    named = {w["id"] for t in hidden.values() for c in t.checks for w in c.get("wrong", [])}
    assert named == {"softmax-dim0", "mse-mean-all"}  # `named = false` stays out of feedback
    assert not any("meta" in key and c.get("wrong") for key, t in hidden.items() for c in t.checks)


@pytest.mark.slow
def test_a_known_mistake_is_named_and_hidden_tests_name_it_without_a_value(catalogued):
    failed = _failed(_grade(catalogued, SUBMISSIONS / "bug_softmax_dim0.py"))
    says = "looks like softmax over dim 0 instead of the last dimension"
    assert failed["test_softmax"].startswith(f"each row of a matrix: {says} (")
    assert "expected" in failed["test_softmax"]  # public, seed 0: the values are the student's own
    hidden = failed["test_softmax_dim_and_devices"]
    assert hidden == f"dim=1: {says}"  # no value, no position, no "expected"
    assert failed["test_softmax_large_logits"].endswith(says)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [ROOT / "reference/ex2/solution.py", SUBMISSIONS / "alternative.py"],
    ids=lambda p: p.name,
)
def test_right_solutions_keep_full_marks_and_name_nothing(catalogued, path):
    result = _grade(catalogued, path)
    assert result.score == result.max_score == 100
    assert not any(t.reason for t in result.tests)
    assert not any(f.startswith("how") for f in result.flags)


@pytest.mark.slow
def test_another_bug_in_the_same_function_is_not_given_a_name(catalogued):
    failed = _failed(_grade(catalogued, SUBMISSIONS / "bug_softmax.py"))  # no max subtracted
    assert failed and not any("looks like" in reason for reason in failed.values())


def test_the_catalogue_is_part_of_the_golden_values_version(tmp_path):
    exercise = _copy(tmp_path, CATALOGUE)
    before = exercise.version(hidden=True)
    path = exercise.reference_dir / "mistakes.toml"
    path.write_text(CATALOGUE.replace("dim 0 instead", "dim zero instead"))
    assert exercise.version(hidden=True) != before
    path.unlink()
    assert exercise.version(hidden=True) not in (before, "")


@pytest.mark.slow
def test_build_check_sees_a_changed_catalogue(catalogued, tmp_path):
    fresh = json.loads(catalogued.public_golden_path.read_text())
    assert golden_drift(catalogued.public_golden_path, fresh) == ""
    check = fresh["tests"]["public/test_public.py::test_softmax"]["checks"][1]
    check["wrong"][0]["says"] = "something else"
    assert golden_drift(catalogued.public_golden_path, fresh).endswith("named mistakes changed")
    del check["wrong"]
    assert golden_drift(catalogued.public_golden_path, fresh).endswith("named mistakes changed")


# -- how, not only what ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_python_loop_over_the_rows_costs_the_vectorised_tests(ex2):
    result = _grade(ex2, SUBMISSIONS / "bug_batched_affine_loop.py")
    failed = _failed(result)
    assert set(failed) == {
        "test_batched_affine",
        "test_batched_affine_devices",
        "test_batched_affine_float64",
    }
    assert failed["test_batched_affine"].startswith(
        "loops in Python: a for loop (bug_batched_affine_loop.py, line 84)"
    )
    assert "how: not vectorised" in result.flags
    assert result.score == 97.5


@pytest.mark.slow
def test_a_gradient_computed_by_hand_costs_the_autograd_tests(ex2):
    failed = _failed(_grade(ex2, SUBMISSIONS / "bug_grad_f_by_hand.py"))
    assert set(failed) == {"test_grad_f", "test_grad_f_more_points"}
    assert all(
        r.startswith("computes the gradient by hand: autograd never ran") for r in failed.values()
    )


# -- dependency hints ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_failure_names_the_failing_function_it_may_come_from(ex2):
    failed = _failed(_grade(ex2, SUBMISSIONS / "cascade_minibatches.py"))
    train = [name for name in failed if name.startswith("test_train")]
    assert "test_train" in train and len(train) >= 4
    hint = "; may come from `minibatches`, which fails its own tests"
    assert all(failed[name].endswith(hint) for name in train)
    assert not any("may come from" in failed[name] for name in failed if name not in train)


@pytest.mark.slow
def test_no_hint_where_the_used_function_passes_its_own_tests(ex2):
    failed = _failed(_grade(ex2, SUBMISSIONS / "bug_train.py"))
    assert any(name.startswith("test_train") for name in failed)
    assert not any("may come from" in reason for reason in failed.values())


@pytest.mark.slow
def test_a_variant_records_mistakes_only_for_functions_a_student_fails(catalogued):
    """In a warm worker (a batch, watch mode) a variant is recorded without the mistakes' values;
    the first student who fails a function has them recorded for it, and is told the mistake."""
    from grader.grading import run_limits, secret_folders
    from grader.pool import WarmWorker
    from grader.sandbox import Sandbox
    from grader.variants import variant_for

    wrong = SUBMISSIONS / "bug_softmax_dim0.py"
    options = Options(devices=["cpu", "meta"])
    worker = WarmWorker(
        Sandbox(hide=secret_folders(catalogued, wrong, options)), run_limits(catalogued, options)
    )
    seed = variant_for(catalogued, "anna").seed
    hidden_path = golden.variant_cache_path(catalogued, "hidden", seed)

    def recorded() -> tuple[list[str], set[str]]:
        document = json.loads(hidden_path.read_text())
        named = {
            w["id"]
            for t in document["tests"].values()
            for c in t["checks"]
            for w in c.get("wrong", [])
        }
        return document["mistakes_of"], named

    try:
        right = grade(
            catalogued,
            ROOT / "reference/ex2/solution.py",
            Options(devices=["cpu", "meta"], worker=worker, student="anna"),
        )
        assert right.score == 100 and right.variant is not None
        assert recorded() == ([], set())  # nobody failed anything yet: no mistake was run
        failed = _failed(
            grade(
                catalogued, wrong, Options(devices=["cpu", "meta"], worker=worker, student="anna")
            )
        )
    finally:
        worker.close()
    says = "looks like softmax over dim 0 instead of the last dimension"
    assert failed["test_softmax_dim_and_devices"] == f"dim=1: {says}"
    assert recorded() == (["softmax"], {"softmax-dim0"})  # mse_loss's mistake: not needed yet


@pytest.mark.slow
def test_a_grade_stands_when_recording_its_mistakes_fails(catalogued, monkeypatch):
    """Naming a mistake is a hint: a worker lost while its values are recorded costs no grade."""
    from grader.pool import WorkerGone

    def gone(*args, **kwargs):
        raise WorkerGone("the warm worker did not fork")

    monkeypatch.setattr(golden, "add_mistakes", gone)
    result = grade(
        catalogued,
        SUBMISSIONS / "bug_softmax_dim0.py",
        Options(devices=["cpu", "meta"], student="ben"),
    )
    assert result.variant is not None and not result.error
    assert 0 < result.score < 100
    assert "test_softmax_dim_and_devices" in _failed(result)


@pytest.mark.slow
def test_recording_mistakes_on_demand_runs_every_mistake_and_no_reference_test(catalogued):
    """The reference's own tests are known already (the job skips them, restarts or not); each
    named mistake of the functions asked for runs through its function's tests."""
    from grader.judge import instances

    named = golden.mutants(catalogued, catalogued.solution_path.read_text(encoding="utf-8"))
    sets = [golden.public(catalogued), golden.hidden(catalogued)]
    known = [i for g in sets for key in g.tests for i, _ in instances(key, golden.RECORD_DEVICES)]
    obs = golden._reference_run(catalogued, ["public", "hidden"], 7, named, None, skip=known)
    ran = {run_id.split("/")[1] for run_id in obs.tests if run_id.startswith("~mistake/")}
    assert ran == {"softmax-dim0", "mse-mean-all"}
    assert all(run_id.startswith("~mistake/") for run_id in obs.tests)
