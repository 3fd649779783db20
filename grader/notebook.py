"""Read a Jupyter notebook into code cells, turning IPython syntax into plain Python.

Magics and shell escapes are not Python: `%matplotlib inline` and `!pip install torch` become
`pass`, `%time expr` becomes `expr`, and cell magics that run another language are dropped.
"""

from __future__ import annotations

import json
import re

import nbformat

from grader._exceptions import SubmissionError

_RUN_BODY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_LINE_MAGIC = re.compile(r"^(\s*)%(\w+)\s*(.*)$")
_SHELL = re.compile(r"^(\s*)!")
_ASSIGNED_SHELL = re.compile(r"^(\s*)([\w.,\s]+?)\s*=\s*[!%]")
_HELP = re.compile(r"^(\s*)[\w.]+\?\??\s*$|^(\s*)\?\??[\w.]+\s*$")


def to_python(source: str) -> str | None:
    """The cell's source as Python, or None for a cell that is not Python at all (`%%bash`)."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(None, 1)[0] if lines[0].strip() != "%%" else ""
        if magic not in _RUN_BODY_CELL_MAGICS:
            return None
        lines = ["pass  # " + lines[0].strip(), *lines[1:]]
    out = []
    for line in lines:
        if m := _ASSIGNED_SHELL.match(line):
            out.append(f"{m.group(1)}{m.group(2)} = []  # IPython: {line.strip()}")
        elif m := _SHELL.match(line):
            out.append(f"{m.group(1)}pass  # IPython: {line.strip()}")
        elif m := _LINE_MAGIC.match(line):
            indent, magic, rest = m.groups()
            if magic in ("time", "timeit") and rest and not rest.startswith("-"):
                out.append(f"{indent}{rest}")
            else:
                out.append(f"{indent}pass  # IPython: {line.strip()}")
        elif _HELP.match(line):
            out.append("pass  # IPython help")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def read_notebook(name: str, data: bytes) -> nbformat.NotebookNode:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{name} is not UTF-8 text (byte {exc.start}): is it really a notebook?") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            f"{name} is not a readable notebook: invalid JSON at line {exc.lineno}, column {exc.colno}"
            " (was the file truncated or edited by hand?)"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise SubmissionError(f"{name} is JSON but not a Jupyter notebook (no cells)")
    major = raw.get("nbformat")
    if major != 4:
        raise SubmissionError(f"{name} is notebook format {major}: save it as format 4 (any recent Jupyter or Colab does)")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for malformed documents
        raise SubmissionError(f"{name} is not a valid notebook: {str(exc).splitlines()[0][:200]}") from None


def notebook_cells(name: str, data: bytes) -> list[tuple[int, str]]:
    """(1-based cell number, Python source) for every code cell, in document order."""
    nb = read_notebook(name, data)
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        python = to_python(source)
        if python is not None and python.strip():
            cells.append((number, python))
    return cells
