"""The report as Markdown: a student's feedback file, a CI step summary."""

from __future__ import annotations

import re
from pathlib import PurePath

from grader.result import GradeResult, Status

# the folders of an absolute path (POSIX or Windows), up to its last name: the grader's machine,
# the TA's temporary folders and the reference are nobody else's business
_FOLDERS = re.compile(
    r"(?<![\w/\\.:~-])(?:[A-Za-z]:)?[/\\](?:[^\s/\\'\"()<>|,;:]+[/\\])+(?=[^\s/\\])"
)

# a quoted absolute path may hold spaces: `File "/tmp/x/Anna M_1_/ex2.py"`
_QUOTED = re.compile(r"""(["'])(?:[A-Za-z]:)?[/\\][^"'\n]*[/\\]([^"'/\\\n]+\1)""")


def without_paths(text: str, result: GradeResult | None = None) -> str:
    """`/tmp/grade-class-x/Anna M_1_assignsubmission_file_/ex2.py, line 3` -> `ex2.py, line 3`.

    The submission's own folders first (their names may hold spaces), then any absolute path."""
    if result is not None and PurePath(result.submission).is_absolute():
        submission = PurePath(result.submission.split(".zip:")[0])
        for folder in (submission, submission.parent):
            text = text.replace(f"{folder}/", "").replace(f"{folder}\\", "")
    text = _QUOTED.sub(lambda m: m.group(1) + m.group(2), text)
    return _FOLDERS.sub("", text)


def submission_name(result: GradeResult) -> str:
    """The submitted file as the student knows it: its name, never where the grader kept it."""
    return without_paths(PurePath(result.submission).name or result.submission)


def render(result: GradeResult, *, student: str = "") -> str:
    """`student`: whom the feedback is for (a batch names them; a student's own run need not)."""

    def _cell(text: str) -> str:
        return without_paths(text, result).replace("|", "\\|").replace("\n", " ")

    lines = [
        f"# {result.title}" + (f" — {_cell(student)}" if student else ""),
        "",
        f"**{result.score:g} / {result.max_score:g} points** — `{submission_name(result)}`",
        "",
    ]
    if not result.hidden_run:
        lines += [
            f"> Hidden tests not run: {result.not_graded:g} of {result.max_score:g} points not graded "
            "(they run when your instructor grades).",
            "",
        ]
    if result.error:
        lines += [f"> **Could not grade this submission:** {_cell(result.error)}", ""]
    if result.load_errors:
        lines += ["## Code that raised while loading", ""]
        lines += [
            f"- `{without_paths(e.where or e.label, result)}`: {_cell(e.error)}"
            + (f" (the cell starting `{e.first_line}`)" if e.first_line else "")
            for e in result.load_errors
        ]
        lines.append("")
    lines += ["## Parts", "", "| part | points |", "|---|---:|"]
    lines += [f"| {p.name} | {p.score:g} / {p.max_score:g} |" for p in result.parts]
    lines += ["", "## Tests", "", "| | test | points | details |", "|---|---|---:|---|"]
    for t in result.tests:
        mark = "✅" if t.status is Status.passed else "❌"
        name = t.name + (" *(hidden)*" if t.visibility == "hidden" else "")
        detail = (
            t.description
            if t.status is Status.passed
            else t.reason + (f" (`{without_paths(t.where, result)}`)" if t.where else "")
        )
        lines.append(
            f"| {mark} | {_cell(name)} | {t.score:g} / {t.max_score:g} | {_cell(detail)} |"
        )
    lines.append("")
    if result.flags:
        lines += ["## Noted", "", *[f"- {_cell(f)}" for f in result.flags], ""]
    if result.notes:
        lines += [*[f"- {_cell(n)}" for n in result.notes], ""]
    lines += [
        f"<sub>Protections: {', '.join(result.protections)}. Devices: {', '.join(result.devices)}.</sub>",
        "",
    ]
    return "\n".join(lines)
