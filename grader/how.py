"""How a function computes, read in the parent from the submission's source.

A test marked `@pytest.mark.how("vectorised")` wants its function free of Python loops over the
data ("No Python loop over the rows: one matrix product does it"). The parent reads the
function's own body (nested definitions included) for `for`, `while` and comprehensions: that
reading is the parent's, so it decides; the child's operation counts only add a hint.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

from grader.submission import Cell

_LOOPS: dict[type[ast.AST], str] = {
    ast.For: "a for loop",
    ast.AsyncFor: "a for loop",
    ast.While: "a while loop",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
}


def loops_in(cells: Sequence[Cell], names: Iterable[str]) -> dict[str, list[str]]:
    """Graded name -> the Python loops in its last top-level definition, each in words
    ("a for loop (ex2.py, line 12)"). Cells that do not parse are skipped."""
    wanted = set(names)
    found: dict[str, list[str]] = {}
    if not wanted:
        return found
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            if isinstance(node, definition) and node.name in wanted:  # the last definition counts
                found[node.name] = [
                    f"{_LOOPS[type(inner)]} ({cell.label}, line {inner.lineno})"  # type: ignore[attr-defined]
                    for inner in ast.walk(node)
                    if type(inner) in _LOOPS
                ]
    return {name: loops for name, loops in found.items() if loops}
