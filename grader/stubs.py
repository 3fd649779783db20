"""Generate the student's stubs from the reference solution by stripping its marked regions.

Between `# BEGIN SOLUTION` and `# END SOLUTION` the solution is replaced by a `raise
NotImplementedError(...)` that states the task (the first line of the enclosing docstring), so the
stub and the reference cannot drift apart.
"""

from __future__ import annotations

import ast
import re

import nbformat

from grader import syntax
from grader._exceptions import ConfigError

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")


def _tasks(source: str) -> dict[int, str]:
    """Line number of every line inside a function -> its task, from the docstring (or the class's)."""
    tasks: dict[int, str] = {}

    def note(fn: ast.FunctionDef | ast.AsyncFunctionDef, owner: str, fallback: str) -> None:
        doc = (ast.get_docstring(fn) or fallback).strip()
        task = doc.splitlines()[0] if doc else "implement it"
        for line in range(fn.lineno, (fn.end_lineno or fn.lineno) + 1):
            tasks.setdefault(line, f"{owner}: {task}")

    for node in syntax.parse(source).body:
        if isinstance(node, ast.ClassDef):
            class_doc = ast.get_docstring(node) or ""
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    note(item, f"{node.name}.{item.name}", class_doc)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            note(node, node.name, "")
    return tasks


def strip_solution(source: str, *, filename: str = "solution.py") -> str:
    tasks = _tasks(source)
    out: list[str] = []
    inside: int | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        if m := BEGIN.match(line):
            if inside is not None:
                raise ConfigError(
                    f"{filename}:{number}: BEGIN SOLUTION inside another solution region"
                )
            inside = number
            task = tasks.get(number, "implement this").replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'{m.group("indent")}raise NotImplementedError("{task}")')
            continue
        if END.match(line):
            if inside is None:
                raise ConfigError(f"{filename}:{number}: END SOLUTION without BEGIN SOLUTION")
            inside = None
            continue
        if inside is None:
            out.append(line)
    if inside is not None:
        raise ConfigError(f"{filename}:{inside}: BEGIN SOLUTION never ended")
    stub = "\n".join(out).rstrip() + "\n"
    syntax.parse(stub)  # the stub must stay valid Python
    return stub


def _segments(stub: str) -> list[tuple[str, str]]:
    """Split a stub module into ('markdown'|'code', text) cells: imports, then one cell a definition."""
    tree = syntax.parse(stub)
    lines = stub.splitlines()
    cells: list[tuple[str, str]] = []
    body = tree.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
    ):
        doc = ast.get_docstring(tree) or ""
        cells.append(("markdown", doc))
        body = body[1:]
    imports = [n for n in body if isinstance(n, ast.Import | ast.ImportFrom)]
    if imports:
        cells.append(
            ("code", "\n".join("\n".join(lines[n.lineno - 1 : n.end_lineno]) for n in imports))
        )
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        start = node.lineno - 1
        if decorators := getattr(node, "decorator_list", None):
            start = decorators[0].lineno - 1
        # a "# Part N — ..." comment just above becomes a markdown heading
        heading_line = start - 1
        while heading_line >= 0 and not lines[heading_line].strip():
            heading_line -= 1
        if heading_line >= 0 and lines[heading_line].startswith("# Part"):
            cells.append(("markdown", "## " + lines[heading_line].lstrip("# ").strip()))
        cells.append(("code", "\n".join(lines[start : node.end_lineno])))
    return cells


def stub_notebook(stub: str, *, name: str) -> str:
    """The stub as a notebook, one cell per definition, with stable cell ids (no drift noise)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(_segments(stub)):
        maker = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = maker(text)
        cell["id"] = f"{name}-{i:02d}"
        nb.cells.append(cell)
    return nbformat.writes(nb) + "\n"
