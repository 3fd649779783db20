"""Gradescope's `results.json` shape, with a few extra fields of our own."""

from __future__ import annotations

import json
from typing import Any

from grader.result import GradeResult, TestResult


def _test(t: TestResult) -> dict[str, Any]:
    output = t.reason if t.status == "failed" else ""
    if t.where:
        output += f" ({t.where})"
    return {
        "name": t.name,
        "name_format": "text",
        "score": t.score,
        "max_score": t.max_score,
        "status": t.status.value,
        "tags": t.tags,
        "output": output.strip(),
        # Gradescope shows a hidden test to the student once the due date has passed
        "visibility": "after_due_date" if t.visibility.value == "hidden" else "visible",
        "hidden": t.visibility.value == "hidden",
        "part": t.part,
        "description": t.description,
    }


def to_dict(result: GradeResult) -> dict[str, Any]:
    lines = []
    if result.error:
        lines.append(f"Could not grade the submission: {result.error}")
    if not result.hidden_run:
        lines.append(
            f"Hidden tests not run: {result.not_graded:g} of {result.max_score:g} points not graded."
        )
    lines += [f"{e.label}: {e.error}" for e in result.load_errors]
    return {
        "score": result.score,
        "max_score": result.max_score,
        "output": "\n".join(lines),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [_test(t) for t in result.tests],
        "extra_data": {
            "exercise": result.exercise,
            "hidden_tests_run": result.hidden_run,
            "not_graded": result.not_graded,
            "parts": [p.model_dump() for p in result.parts],
            "load_errors": [e.model_dump() for e in result.load_errors],
            "error": result.error,
            "devices": result.devices,
            "protections": result.protections,
            "flags": result.flags,
            "variant": result.variant,
            "duration_s": result.duration_s,
        },
    }


def render(result: GradeResult) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"


def before_due_date(data: dict[str, Any]) -> dict[str, Any]:
    """results.json as Gradescope should show it to a student from the first submission on.

    Gradescope shows a test marked `after_due_date` only once the due date has passed, but a
    top-level `score` as it is: one that counts the hidden tests would tell their points at once.
    Without it Gradescope adds up the tests itself, and its visibility rules apply to them. The
    grade is the same sum; what the hidden tests hold is said in `output`, not shown as a number.
    """
    tests = data.get("tests", [])
    later = [t for t in tests if t.get("visibility", "visible") != "visible"]
    if not later:
        return data
    out = {k: v for k, v in data.items() if k != "score"}
    points = sum(t.get("max_score", 0) for t in later)
    public = [t for t in tests if t not in later]
    note = (
        f"Public tests: {sum(t.get('score', 0) for t in public):g} of "
        f"{sum(t.get('max_score', 0) for t in public):g} points. {len(later)} hidden tests "
        f"({points:g} points) count towards the grade and are shown after the due date."
    )
    out["output"] = "\n".join(x for x in (data.get("output", ""), note) if x)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.reports.gradescope results.json`: rewrite it for students, in place
    (the Gradescope bundle's run_autograder calls it after grading)."""
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m grader.reports.gradescope RESULTS_JSON", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: not a results.json ({exc})", file=sys.stderr)
        return 3
    path.write_text(json.dumps(before_due_date(data), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
