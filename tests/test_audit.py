"""`grade audit`: mutants of the reference graded through the real CLI, in a subprocess.

A small audit of Exercise 2 (about ten mutants picked with `--only`) checks the numbers and the
JSON: mistakes the hidden tests must catch, declared-equivalent edits that must survive, a generic
edit, and a mistake in `minibatches` whose cost shows in `train`'s tests (a cascade, reported as a
declared dependency where the test says it uses `minibatches`). A second audit runs on a copy of
the exercise whose catalogue holds one mistake the tests miss, to see `--fail-under` fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from grader.audit.mutants import mutants_of
from grader.exercise import Exercise

CAUGHT = [
    "relu-clamp-max",
    "to-float32-in-place",  # an input that is not float32 shows the in-place conversion
    "kl-divergence-device-cpu",  # caught by the meta run
    "grad-of-no-allow-unused",  # a point fn does not use
    "train-loss-weighted-by-batch-size",  # N not divisible by the batch size
    "gd-step-grad-mode-left-off",  # no other function pays for it: global state is reset
]
EQUIVALENT = ["relu-abs-trick", "mse-loss-len"]
CASCADE = "minibatches-drop-last"


def _audit(*args: str, cwd: Path = ROOT, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", "audit", "ex2", "--jobs", "2", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **{k: v for k, v in os.environ.items() if k != "GRADER_ROOT"},
            "COLUMNS": "200",
            "NO_COLOR": "1",
        },
    )


@pytest.mark.slow
def test_small_audit_numbers_and_json(ex2: Exercise, tmp_path: Path) -> None:
    mutants, _dropped = mutants_of(ex2)
    generic = next(m for m in mutants if m.generic and m.id.startswith("mean-sum:mse_loss:"))
    ids = [*CAUGHT, *EQUIVALENT, CASCADE, generic.id]
    out = tmp_path / "audit.json"
    proc = _audit(*(f"--only={i}" for i in ids), "--json", str(out), "--fail-under", "100")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())

    assert doc["mutants"] == len(ids)
    assert doc["equivalent"] == len(EQUIVALENT)
    assert doc["killed"] == len(ids) - len(EQUIVALENT)
    assert doc["survived"] == []
    assert doc["equivalent_caught"] == []
    assert doc["errors"] == []
    outcomes = {o["id"]: o for o in doc["outcomes"]}
    assert set(outcomes) == set(ids)
    for i in [*CAUGHT, CASCADE, generic.id]:
        assert outcomes[i]["caught"], i
        assert all(t["message"] for t in outcomes[i]["tests"]), i  # each lost test says why
    for i in EQUIVALENT:
        assert not outcomes[i]["caught"] and outcomes[i]["tests"] == [], i
    assert outcomes[generic.id]["generic"] and outcomes[generic.id]["function"] == "mse_loss"

    # the only cascade: minibatches' mistake costs train's tests, which call it
    assert [c["id"] for c in doc["cascades"]] == [CASCADE]
    (cascade,) = doc["cascades"]
    assert cascade["function"] == "minibatches" and cascade["mistake"]
    assert cascade["tests"] and all("test_train" in t["test"] for t in cascade["tests"])
    assert all(t["uses"] for t in cascade["tests"])  # train's tests say they use minibatches

    # the terminal report: a table per function and the totals
    text = proc.stdout
    assert "Mutants of the reference, by function" in text
    assert (
        f"{len(ids) - len(EQUIVALENT)} of {len(ids) - len(EQUIVALENT)} non-equivalent caught"
        in text
    )
    assert "minibatches-drop-last in minibatches cost" in text


@pytest.mark.slow
def test_fail_under_counts_a_mistake_the_tests_miss(tmp_path: Path) -> None:
    """A copy of the exercise whose catalogue has one mistake the hidden tests cannot see (an
    undeclared equivalent edit): 1 of 2 caught, below --fail-under 60, so the exit status is 1."""
    for folder in ("exercises/ex2", "reference/ex2"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns(".golden-cache")
        )
    (tmp_path / "reference/ex2/mistakes.toml").write_text(
        '[[mistake]]\nid = "relu-clamp-max"\nfunction = "relu"\nsays = "keeps the negative part"\n'
        'find = "x.clamp(min=0)"\nreplace = "x.clamp(max=0)"\n\n'
        '[[mistake]]\nid = "relu-abs"\nfunction = "relu"\nsays = "(x + |x|) / 2"\n'
        'find = "x.clamp(min=0)"\nreplace = "(x + x.abs()) / 2"\n',
        encoding="utf-8",
    )
    out = tmp_path / "audit.json"
    proc = _audit(
        "--no-generic", "--function", "relu", "--json", str(out), "--fail-under", "60", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert (doc["mutants"], doc["equivalent"], doc["killed"]) == (2, 0, 1)
    assert [s["id"] for s in doc["survived"]] == ["relu-abs"]
    assert "survived relu-abs" in proc.stdout

    bad = _audit("--only", "no-such-mutant", cwd=tmp_path)
    assert bad.returncode == 3 and "no mutant with the id 'no-such-mutant'" in bad.stderr
    assert "Traceback" not in bad.stderr
    usage = _audit("--jobs", "0", cwd=tmp_path)
    assert usage.returncode == 2 and "--jobs must be at least 1" in usage.stderr


def test_mutants_of_exercise_2(ex2: Exercise) -> None:
    """The catalogue and the generic operators give Exercise 2 well over 150 mutants; generic
    edits land in code only, and one that a catalogue entry also makes is graded once, as it."""
    mutants, dropped = mutants_of(ex2)
    catalogue = [m for m in mutants if not m.generic]
    generic = [m for m in mutants if m.generic]
    assert len(mutants) >= 150 and len(catalogue) >= 80
    assert len({m.id for m in mutants}) == len(mutants)
    assert len({m.source for m in mutants}) == len(mutants)  # no two the same
    reference = ex2.solution_path.read_text(encoding="utf-8")
    functions = {f for part in ex2.config.parts for f in part.functions}
    assert {m.function for m in catalogue} == functions  # a mistake for every graded function
    operators = {m.id.split(":")[0] for m in generic}
    assert operators == {"device", "dims", "mean-sum", "in-place", "off-by-one", "detach", "dtype"}
    for m in generic:
        op, function, line = m.id.split(":")
        assert function in functions and int(line.split(".")[0]) == m.line
        assert m.source != reference and m.before != m.after
        assert '"' not in m.before or m.before.split('"')[1::2] == m.after.split('"')[1::2]
    # a generic edit also in the catalogue: graded once, under the catalogue's (equivalent) id
    same = [d.id for d in dropped if d.why == "same as hinge-loss-mask-in-place"]
    assert len(same) == 1 and same[0].startswith("in-place:hinge_loss:")
    assert next(m for m in mutants if m.id == "hinge-loss-mask-in-place").equivalent
