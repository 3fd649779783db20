"""The code of a submission as `grade similar` reads it, kept in the instructor's grade result.

A `.py` as it was handed in; a notebook's code cells in order, each after a `# %% [cell N]` line
(the percent format editors know), magics already turned into Python.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader._exceptions import SubmissionError
from grader.submission import Cell, load_submission

_MARKER = re.compile(r"^# %% \[(?P<label>[^\]\n]{1,40})\]\n", re.MULTILINE)


def kept_text(cells: list[Cell], kind: str) -> str:
    """The code of a submission as `grade similar` keeps it: a notebook's cells after markers."""
    if kind == "py":
        return cells[0].source if cells else ""
    return "".join(f"# %% [{cell.label}]\n{cell.source.rstrip()}\n\n" for cell in cells)


def source_text(path: Path, *, module: str) -> str | None:
    """The code of the submission at `path`, or None when there is none to read."""
    try:
        submission = load_submission(path, module=module)
    except (SubmissionError, OSError):
        return None
    return kept_text(submission.cells, submission.kind)


def cells_of(text: str) -> list[tuple[str, str]]:
    """(label, source) of each cell of a kept copy; a `.py` is one cell."""
    marks = list(_MARKER.finditer(text))
    if not marks or marks[0].start() != 0:
        return [("file", text)]
    return [
        (
            m.group("label"),
            text[m.end() : marks[k + 1].start() if k + 1 < len(marks) else len(text)],
        )
        for k, m in enumerate(marks)
    ]
