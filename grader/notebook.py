"""Read a Jupyter notebook into code cells, turning IPython syntax into plain Python.

Magics and shell escapes are not Python: `%matplotlib inline` and `!pip install torch` become
`pass`, `%time expr` becomes `expr`, and cell magics that run another language are dropped.
"""

from __future__ import annotations

import ast
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


# -- definitions-only mode ---------------------------------------------------------------------
# Grading needs a notebook's imports, functions, classes and the constants they use; its demo
# cells (training runs, plots, prints) only cost time. In this mode each cell keeps just those.

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _globals_used_by_definitions(trees: list[ast.Module]) -> set[str]:
    used: set[str] = set()
    for tree in trees:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                used |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used


def _assigned_names(node: ast.stmt) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)


def _keep(node: ast.stmt, needed: set[str]) -> bool:
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        has_call = any(isinstance(n, ast.Call) for n in ast.walk(node))
        return not has_call or bool(_assigned_names(node) & needed)
    if isinstance(node, ast.Try):
        return all(_keep(n, needed) for n in node.body)
    if isinstance(node, ast.If) and not _is_main_guard(node):
        return all(_keep(n, needed) for n in [*node.body, *node.orelse])
    return False


def definitions_only(sources: list[str]) -> list[str]:
    """Each cell reduced to imports, definitions and the assignments definitions rely on.

    A cell that does not parse is returned unchanged, so that its syntax error is reported.
    """
    trees: list[ast.Module | None] = []
    for source in sources:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            trees.append(None)
    needed = _globals_used_by_definitions([t for t in trees if t is not None])
    out = []
    for source, tree in zip(sources, trees, strict=True):
        if tree is None:
            out.append(source)
            continue
        lines = source.splitlines()
        kept = []
        for node in tree.body:
            if _keep(node, needed):
                start = node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno
                kept.append((start, node.end_lineno or node.lineno))
        # keep original text (line numbers in tracebacks stay right): blank out what is dropped
        keep_lines = {i for a, b in kept for i in range(a, b + 1)}
        out.append("\n".join(line if i in keep_lines else "" for i, line in enumerate(lines, start=1)) + "\n")
    return out
