"""Read a Jupyter notebook into code cells, turning IPython syntax into plain Python.

Magics and shell escapes are not Python: `%matplotlib inline` and `!pip install torch` become
`pass`, `%time expr` becomes `expr`, and cell magics that run another language are dropped.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import symtable
from dataclasses import dataclass

import nbformat

from grader import syntax
from grader._exceptions import SubmissionError

_RUN_BODY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_LINE_MAGIC = re.compile(r"^(\s*)%(\w+)\s*(.*)$")
_SHELL = re.compile(r"^(\s*)!(?!=)")  # not `!=` (a continued comparison)
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
        raise SubmissionError(
            f"{name} is not UTF-8 text (byte {exc.start}): is it really a notebook?"
        ) from None
    if not text.strip():
        raise SubmissionError(f"{name} is empty (0 bytes of notebook): was it saved?")
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
        raise SubmissionError(
            f"{name} is notebook format {major}: save it as format 4 (any recent Jupyter or Colab does)"
        )
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for malformed documents
        raise SubmissionError(
            f"{name} is not a valid notebook: {str(exc).splitlines()[0][:200]}"
        ) from None


@dataclass(frozen=True)
class CodeCell:
    """A code cell as the student finds it in Jupyter."""

    number: int  # its position among the notebook's code cells, from 1
    execution_count: int | None  # the `In [n]` Jupyter shows next to it, if it ran
    source: str  # as Python (magics and shell escapes turned into plain Python)
    label: str = ""  # "In [12]" if it ran, else "cell 3 (`def relu(x):`)": what reports call it


def cell_label(number: int, execution_count: int | None, first_line: str) -> str:
    """What a student looks for in Jupyter: the cell's `In [n]` if it ran, else its position among
    the code cells and its first line."""
    if execution_count is not None:
        return f"In [{execution_count}]"
    first = first_line if len(first_line) <= 40 else first_line[:39] + "…"
    return f"cell {number} (`{first}`)" if first else f"cell {number}"


def notebook_cells(name: str, data: bytes) -> list[CodeCell]:
    """Every code cell that holds Python, in document order, labelled as Jupyter shows it."""
    nb = read_notebook(name, data)
    found: list[tuple[int, int | None, str, str]] = []
    number = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        count = cell.get("execution_count")
        count = count if isinstance(count, int) and not isinstance(count, bool) else None
        python = to_python(source)
        if python is not None and python.strip():
            found.append((number, count, python, _first_line(source)))
    counts = [c for _, c, _, _ in found if c is not None]
    twice = {c for c in counts if counts.count(c) > 1}  # a re-run kernel: two cells' In [1]
    cells = []
    for number, count, python, first in found:
        shown = None if count in twice else count
        cells.append(CodeCell(number, shown, python, cell_label(number, shown, first)))
    return cells


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


# -- statements and definitions-only mode ------------------------------------------------------
# A notebook's cells run statement by statement, so that one statement that raises, hangs or
# exits costs only itself (not the function defined above it in the same cell). By default only
# the statements grading needs run: imports, functions, classes, the globals those functions
# read, and assignments to graded names (`relu = lambda x: ...`); demo code (training runs,
# plots, prints) is skipped.

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _free_globals(table: symtable.SymbolTable) -> set[str]:
    """Global names read inside the functions (and class bodies) of a symbol table, recursively."""
    names: set[str] = set()
    for child in table.get_children():
        if child.get_type() in ("function", "class"):
            names |= {
                sym.get_name()
                for sym in child.get_symbols()
                if sym.is_referenced() and (sym.is_global() or sym.is_free())
            }
        names |= _free_globals(child)
    return names


def _assigned_names(node: ast.stmt) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)


def _keep(node: ast.stmt, needed: set[str]) -> bool:
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        if getattr(node, "value", None) is not None and isinstance(node.value, ast.Lambda):
            return True
        has_call = any(isinstance(n, ast.Call) for n in ast.walk(node))
        return not has_call or bool(_assigned_names(node) & needed)
    if isinstance(node, ast.Try):
        return all(_keep(n, needed) for n in node.body)
    if isinstance(node, ast.If) and not _is_main_guard(node):
        return all(_keep(n, needed) for n in [*node.body, *node.orelse])
    return False


def parse(source: str) -> ast.Module:
    """`ast.parse`, once per source text of an ordinary size: loading, checking and scanning a
    submission all read its syntax tree (which nobody changes). Raises SyntaxError (ValueError for
    NUL bytes) as `ast.parse` does."""
    return _parse(source) if len(source) < 256 * 1024 else syntax.parse(source)


_parse = functools.lru_cache(maxsize=256)(syntax.parse)


def statements(source: str) -> list[tuple[ast.stmt | None, str]]:
    """Each top-level statement with its own source, padded so that line numbers stay the cell's.

    A cell that does not parse stays whole (its syntax error is reported as the cell's).
    """
    try:
        tree = parse(source)
    except SyntaxError:
        return [(None, source)]
    lines = source.splitlines()
    out: list[tuple[ast.stmt | None, str]] = []
    for node in tree.body:
        decorators = getattr(node, "decorator_list", None)
        start = decorators[0].lineno if decorators else node.lineno
        text = "\n" * (start - 1) + "\n".join(lines[start - 1 : node.end_lineno]) + "\n"
        out.append((node, text))
    return out


def needed_globals(sources: list[str], graded: set[str]) -> set[str]:
    """The names grading needs: the graded ones and every global a function or class reads."""
    needed = set(graded)
    for source in sources:
        try:
            needed |= _free_globals(symtable.symtable(source, "cell", "exec"))
        except (SyntaxError, ValueError):
            continue
    return needed


def is_definition(node: ast.stmt | None) -> bool:
    return isinstance(node, _DEFINITIONS)


def keep_statement(node: ast.stmt | None, needed: set[str]) -> bool:
    return node is None or _keep(node, needed)
