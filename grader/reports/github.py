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
from grader.result import GradeResult, Status, TestResult


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations of a step; the rest are lost


def annotations(result: GradeResult, *, file: str) -> list[str]:
    """One `::error` workflow command per failing function, at its definition; at most 10 in all
    (the last one names the functions left over, which the step summary lists)."""
    if result.error:
        return [
            f"::error file={_escape_property(file)},title={_escape_property('could not grade')}::{_escape_data(result.error)}"
        ]
    failing: dict[str, list[TestResult]] = {}
    for t in result.tests:
        if t.status is not Status.passed:
            failing.setdefault(t.tags[0] if t.tags else "", []).append(t)
    lines = []
    functions = list(failing.items())
    shown = functions if len(functions) <= MAX_ANNOTATIONS else functions[: MAX_ANNOTATIONS - 1]
    for function, tests in shown:
        where = f"file={_escape_property(file)}"
        line = result.definitions.get(function)
        if line:
            where += f",line={line}"
        lost = sum(t.max_score - t.score for t in tests)
        first = tests[0]
        if len(tests) == 1:
            title = f"{first.name} ({first.score:g}/{first.max_score:g})"
        else:
            title = f"{function or 'tests'}: {len(tests)} tests fail (-{lost:g} points)"
        reason = first.reason if len(tests) == 1 else f"{first.name}: {first.reason}"
        if len(tests) > 1:
            others = ", ".join(t.name for t in tests[1:])
            reason += f" (also failing: {others})"
        message = f"{function}: {reason}" if function else reason
        lines.append(f"::error {where},title={_escape_property(title)}::{_escape_data(message)}")
    rest = functions[len(shown) :]
    if rest:
        names = ", ".join(function or "other tests" for function, _ in rest)
        lost = sum(t.max_score - t.score for _, tests in rest for t in tests)
        lines.append(
            f"::error file={_escape_property(file)},"
            f"title={_escape_property(f'{len(rest)} more functions fail (-{lost:g} points)')}::"
            + _escape_data(f"{names}: see the job's summary for each test")
        )
    return lines


def step_summary(result: GradeResult) -> str:
    text = markdown.render(result)
    if not result.hidden_run:
        text += (
            f"\n> **This score covers the public tests only: {result.score:g} of "
            f"{result.graded_max_score:g} points.** Your final grade adds the hidden tests "
            f"({result.not_graded:g} more points), which run at the deadline.\n"
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
    # what can be graded now: before the deadline only the public tests run, and Classroom shows
    # score/max_score as the grade so far (the step summary says the hidden tests come on top)
    return {"version": 1, "status": status, "max_score": result.graded_max_score, "tests": tests}


def classroom_output(result: GradeResult) -> str:
    """The value of the step output `result`: base64 of the payload's compact JSON."""
    data = json.dumps(classroom_payload(result), separators=(",", ":")).encode()
    return base64.b64encode(data).decode("ascii")
