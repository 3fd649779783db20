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
