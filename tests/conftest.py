"""Shared fixtures: the project's real exercise, real submissions, real child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.exercise import Exercise, find_exercise
from grader.grading import Options, grade
from grader.result import GradeResult

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions" / "ex2"


@pytest.fixture(scope="session")
def ex2() -> Exercise:
    return find_exercise("ex2", start=ROOT)


@pytest.fixture(scope="session")
def grade_file(ex2: Exercise):
    """Grade a submission with hidden tests, CPU + meta, as an instructor would; memoised per path."""
    cache: dict[tuple[Path, bool], GradeResult] = {}

    def run(path: Path, *, hidden: bool = True) -> GradeResult:
        key = (path, hidden)
        if key not in cache:
            cache[key] = grade(ex2, path, Options(devices=["cpu", "meta"], hidden=hidden))
        return cache[key]

    return run


@dataclass
class CliRun:
    code: int
    out: str
    result: dict[str, Any] | None


@pytest.fixture
def cli(tmp_path: Path):
    """Run `grade ...` as a user would, in a subprocess; parse --json when it was written."""

    def run(
        *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 300
    ) -> CliRun:
        out_json = tmp_path / f"result-{len(list(tmp_path.iterdir()))}.json"
        argv = [sys.executable, "-m", "grader", *args]
        if args and args[0] not in ("build",) and "--json" not in args:
            argv += ["--json", str(out_json)]
        proc = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        )
        result = json.loads(out_json.read_text()) if out_json.is_file() else None
        return CliRun(proc.returncode, proc.stdout + proc.stderr, result)

    return run


def scores_by_tag(result: GradeResult) -> dict[str, tuple[float, float]]:
    """spec name -> (score, max) over the tests tagged with it."""
    out: dict[str, tuple[float, float]] = {}
    for t in result.tests:
        for tag in t.tags:
            s, m = out.get(tag, (0.0, 0.0))
            out[tag] = (s + t.score, m + t.max_score)
    return out
