"""GitHub Actions: annotations at the student's functions, a step summary, Classroom's payload.

GitHub Classroom's `autograding-grading-reporter` reads, for each runner id it is given, the
environment variable `<ID>_RESULTS`: base64 of a JSON object with `version`, `status`
("pass"/"fail"/"error"), `max_score` and `tests` (each `name`, `status`, `message`, `score`);
the points it posts are the sum of the tests' scores.
"""

import base64
import json
from typing import Any

from grader.reports import markdown
from grader.result import GradeResult, Status


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(result: GradeResult, *, file: str) -> list[str]:
    """One `::error` workflow command per failed test, at the graded function's definition."""
    lines = []
    if result.error:
        lines.append(
            f"::error file={_escape_property(file)},title={_escape_property('could not grade')}::{_escape_data(result.error)}"
        )
    for t in result.tests:
        if t.status is Status.passed or result.error:
            continue
        function = t.tags[0] if t.tags else ""
        where = f"file={_escape_property(file)}"
        line = result.definitions.get(function)
        if line:
            where += f",line={line}"
        title = f"{t.name} ({t.score:g}/{t.max_score:g})"
        message = f"{function}: {t.reason}" if function else t.reason
        lines.append(f"::error {where},title={_escape_property(title)}::{_escape_data(message)}")
    return lines


def step_summary(result: GradeResult) -> str:
    text = markdown.render(result)
    if not result.hidden_run:
        text += (
            "\n> **Hidden tests will be run at the deadline.** This score covers the public tests only "
            f"({result.graded_max_score:g} of {result.max_score:g} points).\n"
        )
    return text


def classroom_payload(result: GradeResult) -> dict[str, Any]:
    tests = [
        {
            "name": t.name,
            "status": "pass" if t.status is Status.passed else "fail",
            "message": t.reason or t.description,
            "score": t.score,
            "max_score": t.max_score,
            "test_code": f"{t.part}: {', '.join(t.tags)}",
            "filename": "",
            "line_no": 0,
            "execution_time": "",
        }
        for t in result.tests
    ]
    status = (
        "error"
        if result.error_kind == "unreadable"
        else ("pass" if all(t["status"] == "pass" for t in tests) else "fail")
    )
    # max_score is the whole exercise's: with hidden tests still to come, 60/100 is not mistaken for full marks
    return {"version": 1, "status": status, "max_score": result.max_score, "tests": tests}


def classroom_output(result: GradeResult) -> str:
    """The value of the step output `result`: base64 of the payload's compact JSON."""
    data = json.dumps(classroom_payload(result), separators=(",", ":")).encode()
    return base64.b64encode(data).decode("ascii")
