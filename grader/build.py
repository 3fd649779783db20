"""`grade build`: regenerate what students receive from the reference, or check it has not drifted."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from grader import golden
from grader._exceptions import ConfigError
from grader.compare import compare
from grader.exercise import CONFIG_NAME, Exercise
from grader.stubs import strip_solution, stub_notebook
from grader.wire import decode


def expected_files(exercise: Exercise) -> dict[Path, str]:
    """Generated file -> the text it must hold (everything but the golden values)."""
    if exercise.reference_dir is None:
        raise ConfigError(f"{exercise.name}: building needs reference/{exercise.name}")
    module = exercise.config.module
    stub = strip_solution(
        exercise.solution_path.read_text(encoding="utf-8"), filename=str(exercise.solution_path)
    )
    return {
        exercise.public_dir / f"{module}.py": stub,
        exercise.public_dir / f"{module}.ipynb": stub_notebook(stub, name=module),
        exercise.public_dir / CONFIG_NAME: (exercise.reference_dir / CONFIG_NAME).read_text(
            encoding="utf-8"
        ),
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_untouched_stub(exercise: Exercise, path: Path) -> bool:
    try:
        stubs = json.loads(exercise.public_golden_path.read_text(encoding="utf-8")).get("stubs", {})
        # by suffix, not name: a class download renames the stub (hana.py, Anna_ex2.ipynb)
        stub = f"{exercise.config.module}{path.suffix}"
        return stubs.get(stub) == _digest(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def build(exercise: Exercise, *, check: bool, console: Console) -> int:
    files = expected_files(exercise)
    stale = [
        p for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text
    ]
    with console.status("recording every test under two seeds from the reference …"):
        first = golden.record_groups(exercise, ["public", "hidden"], seed=0)
        second = golden.record_groups(exercise, ["public", "hidden"], seed=SECOND_SEED)
    replayable = [
        problem for group in first for problem in replayable_checks(first[group], second[group])
    ]
    if replayable:
        for problem in replayable[:20]:
            console.print(f"[red]replayable:[/] {problem}")
        console.print(
            f"[red]{exercise.name}: {len(replayable)} checks expect the same value whatever the seed; draw their "
            "inputs from the `seed` fixture, or mark a value that is constant on purpose with check(..., constant=True)[/]"
        )
        return 1
    document = first["public"]
    document["stubs"] = {
        p.name: _digest(t) for p, t in files.items() if p.suffix in (".py", ".ipynb")
    }
    drift = golden_drift(exercise.public_golden_path, document)
    if check:
        for p in stale:
            console.print(f"[red]out of date:[/] {p} (run `grade build {exercise.name}`)")
        if drift:
            console.print(f"[red]out of date:[/] {exercise.public_golden_path}: {drift}")
        if stale or drift:
            return 1
        console.print(
            f"[green]{exercise.name}: stubs, config and public golden values are up to date[/]"
        )
        return 0
    for p in stale:
        p.write_text(files[p], encoding="utf-8")
        console.print(f"wrote {p}")
    if drift:
        golden.write(document, exercise.public_golden_path)
        console.print(f"wrote {exercise.public_golden_path} ({len(document['tests'])} tests)")
    if not stale and not drift:
        console.print(f"{exercise.name}: already up to date")
    shutil.rmtree(exercise.public_dir / "__pycache__", ignore_errors=True)
    return 0


SECOND_SEED = 7_919  # any seed but 0: the values a check expects must differ from seed 0's


def replayable_checks(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """Checks whose golden value is the same under two seeds, unless marked constant: a submission
    could replay them from the public golden values without computing anything."""
    problems = []
    for key, test in first["tests"].items():
        other = second["tests"].get(key)
        if other is None or len(other["checks"]) != len(test["checks"]):
            problems.append(
                f"{key}: its checks change with the seed (draw them the same way for every seed)"
            )
            continue
        for i, (a, b) in enumerate(zip(test["checks"], other["checks"], strict=True)):
            if a.get("rule") != "equal" or a.get("constant") or '"meta"' in json.dumps(a.get("v")):
                continue
            if compare(decode(a["v"]), decode(b["v"]), rtol=0.0, atol=0.0) is None:
                problems.append(
                    f"{key}: check {i + 1}{' (' + a['name'] + ')' if a.get('name') else ''}"
                )
    return problems


def golden_drift(path: Path, fresh: dict[str, Any]) -> str:
    """'' when the stored golden values match a fresh recording (within tolerance), else why not."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "missing or unreadable"
    for key in ("version", "stubs"):
        if stored.get(key) != fresh.get(key):
            return f"{key} changed"
    old, new = stored.get("tests", {}), fresh["tests"]
    if set(old) != set(new):
        return f"tests differ: {sorted(set(old) ^ set(new))[:5]}"
    for key, test in new.items():
        why = _test_drift(old[key], test)
        if why:
            return f"{key}: {why}"
    return ""


def _without(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}


def _test_drift(before: dict[str, Any], test: dict[str, Any]) -> str:
    """'' when one test's stored record matches the fresh one, else what changed."""
    if _without(before, "checks") != _without(test, "checks"):
        return "points, tags or description changed"
    if len(before["checks"]) != len(test["checks"]):
        return "number of checks changed"
    for a, b in zip(before["checks"], test["checks"], strict=True):
        why = _check_drift(a, b)
        if why:
            return why
    return ""


def _check_drift(a: dict[str, Any], b: dict[str, Any]) -> str:
    """'' when a check's rules, named mistakes and golden values (within tolerance) match."""
    if _without(a, "v", "wrong") != _without(b, "v", "wrong"):
        return "check rules changed"
    old_wrong, new_wrong = a.get("wrong", []), b.get("wrong", [])
    if [(w["id"], w["says"]) for w in old_wrong] != [(w["id"], w["says"]) for w in new_wrong]:
        return "named mistakes changed"
    pairs = [(a["v"], b["v"])]
    pairs += [(w["v"], n["v"]) for w, n in zip(old_wrong, new_wrong, strict=True)]
    for old_value, new_value in pairs:
        if compare(decode(old_value), decode(new_value), rtol=1e-6, atol=1e-7) is not None:
            return "golden values changed"
    return ""
