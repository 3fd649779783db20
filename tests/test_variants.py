"""Exercise 2's input variants: every value a test judges is drawn from the run's seed.

The instructor's grade judges a submission on inputs drawn from a secret seed, against golden values
recorded from the reference at that seed, never those of `golden.json` (seed 0) that students hold.
These tests record the real exercise at seed 0 and at a variant seed S and show that

(a) every check not marked constant expects, at S, a value that seed 0's golden value does not
    pass (judged as the judge judges it: same comparison, same tolerances), so replaying a value a
    student has seen fails; the tests and their checks are the same under both seeds; and every
    test has a check that is not constant;
(b) the reference and a correct solution written differently score 100/100 at S;
(c) a submission with one bug loses points at S on its function only, for bugs whose detection
    depends on drawn inputs (large logits, a last batch smaller than the others).

Real runs: one recording per seed (S's is the grade's own cached variant) and a few grades.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SUBMISSIONS, scores_by_tag

from grader import golden
from grader.compare import compare
from grader.exercise import Exercise, find_exercise
from grader.grading import Options, grade
from grader.result import GradeResult, Status

pytestmark = pytest.mark.slow

# a variant seed of the size `grader.variants` draws (at most 2**47 + 1); 0 is the public one
SEED = 70_368_764_438_867


@cache
def _exercise() -> Exercise:
    return find_exercise("ex2", start=ROOT)


@cache
def _seed_zero() -> dict[str, golden.GoldenSet]:
    """Both groups recorded afresh at seed 0 (the public ones are what `golden.json` holds)."""
    documents = golden.record_groups(_exercise(), ["public", "hidden"], seed=0)
    return {
        group: golden.parse(document, f"{group} at seed 0") for group, document in documents.items()
    }


@cache
def _seed_variant() -> dict[str, golden.GoldenSet]:
    """Both groups at SEED: the golden values the instructor's grade of that variant uses."""
    return {s.group: s for s in golden.variant(_exercise(), SEED)}


@cache
def _graded(path: Path) -> GradeResult:
    return grade(_exercise(), path, Options(devices=["cpu", "meta"], hidden=True, seed=SEED))


@cache
def _properties() -> dict[str, Any]:
    from grader.judge import load_properties

    return load_properties(_exercise().properties_paths())


def _tolerances(rule: dict[str, Any]) -> tuple[float, float]:
    tol = _exercise().config.tolerance
    return (
        tol.rtol if rule.get("rtol") is None else rule["rtol"],
        tol.atol if rule.get("atol") is None else rule["atol"],
    )


def _drawn(rule: dict[str, Any]) -> bool:
    """Whether a check's expected value must change with the seed."""
    return rule.get("rule") == "property" or (
        rule.get("rule") == "equal" and not rule.get("constant")
    )


@pytest.mark.parametrize("group", ["public", "hidden"])
def test_every_test_checks_the_same_things_under_every_seed(group):
    zero, variant = _seed_zero()[group], _seed_variant()[group]
    assert list(variant.tests) == list(zero.tests)
    for key, test in zero.tests.items():
        other = variant.tests[key]
        assert (other.points, other.tags, other.doc) == (test.points, test.tags, test.doc), key
        shape = [{k: v for k, v in c.items() if k not in ("v", "wrong")} for c in test.checks]
        assert [
            {k: v for k, v in c.items() if k not in ("v", "wrong")} for c in other.checks
        ] == shape, key


@pytest.mark.parametrize("group", ["public", "hidden"])
def test_every_test_has_a_check_drawn_from_the_seed(group):
    undrawn = [
        key
        for key, test in _seed_zero()[group].tests.items()
        if not any(_drawn(c) for c in test.checks)
    ]
    assert undrawn == []


@pytest.mark.parametrize("group", ["public", "hidden"])
def test_a_value_recorded_at_seed_zero_fails_every_drawn_check_of_a_variant(group):
    zero, variant = _seed_zero()[group], _seed_variant()[group]
    replayable = []
    drawn = 0
    for key, test in variant.tests.items():
        for i, rule in enumerate(test.checks):
            if not _drawn(rule):
                continue
            drawn += 1
            seen = zero.tests[key].expected(i)  # what a student holds for seed 0 (or could record)
            if rule["rule"] == "property":
                fn = _properties()[rule["property"]]
                passed, _ = fn(seen, seed=SEED)
                assert fn(test.expected(i), seed=SEED)[0], (
                    f"{key}: the reference's own value fails {rule['property']} at {SEED}"
                )
            else:
                rtol, atol = _tolerances(rule)
                passed = compare(test.expected(i), seen, rtol=rtol, atol=atol) is None
            if passed:
                replayable.append(f"{key}: check {i + 1} ({rule.get('name', '')})")
    assert drawn > len(variant.tests)
    assert replayable == []


@pytest.mark.parametrize(
    "path",
    [ROOT / "reference/ex2/solution.py", SUBMISSIONS / "alternative.py"],
    ids=["reference", "alternative"],
)
def test_correct_solutions_score_full_marks_on_a_variant(path):
    result = _graded(path)
    assert [(t.name, t.reason) for t in result.tests if t.status is Status.failed] == []
    assert (result.score, result.max_score, result.hidden_run) == (100, 100, True)


BUGS = ["bug_softmax.py", "bug_minibatches.py"]


@pytest.mark.parametrize("name", BUGS, ids=[Path(n).stem for n in BUGS])
def test_single_bug_loses_points_on_its_function_only_on_a_variant(name):
    path = SUBMISSIONS / name
    function = re.search(r"Single bug: (\w+)", path.read_text()).group(1)
    result = _graded(path)
    lost = [t for t in result.tests if t.status is Status.failed]
    assert lost, f"{name}: the bug in {function} went unnoticed at seed {SEED}"
    # a test that calls the function (and says so with `uses`) may lose points too, naming it
    own_or_named = [function in t.tags or f"may come from `{function}`" in t.reason for t in lost]
    assert all(own_or_named), [(t.name, t.tags, t.reason) for t in lost]
    score, maximum = scores_by_tag(result)[function]
    assert score < maximum
    assert result.score == 100 - sum(t.max_score for t in lost)


def test_threads_finding_no_course_secret_agree_on_one(tmp_path, monkeypatch):
    """A fresh clone's first batch: every grading thread finds no secret at once; one is made, and
    every thread reads the whole of it (not an error, not a half-written file)."""
    import threading

    from grader.variants import course_secret, secret_path

    monkeypatch.delenv("GRADER_SECRET", raising=False)
    (tmp_path / "reference" / "ex2").mkdir(parents=True)
    exercise = Exercise("ex2", tmp_path / "ex2", tmp_path / "reference" / "ex2")
    start = threading.Barrier(8)
    found: list[bytes | BaseException] = []

    def read() -> None:
        start.wait()
        try:
            found.append(course_secret(exercise))
        except BaseException as exc:  # noqa: BLE001 - what the test reports
            found.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and len(set(found)) == 1, found
    assert found[0] == secret_path(exercise).read_text(encoding="utf-8").strip().encode()
    assert len(found[0]) == 64
    assert sorted(p.name for p in (tmp_path / "reference").iterdir()) == [".grader-secret", "ex2"]
