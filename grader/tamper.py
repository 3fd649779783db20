"""Flag code that reaches for the grader's machinery, so an instructor can take a look.

A static read of the submission in the parent: it decides nothing (the sandbox and the golden
values keep the grade honest whatever the code does), it only says where someone tried.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from grader.notebook import parse
from grader.submission import Cell

SUSPECT_MODULES = {
    "_pytest",
    "pytest",
    "grader",
    "ctypes",
    "gc",
    "inspect",
    "socket",
    "subprocess",
    "multiprocessing",
    "signal",
    "builtins",
    "resource",
    "pty",
}
SUSPECT_ATTRS = {
    ("sys", "_getframe"),
    ("sys", "modules"),
    ("sys", "exit"),
    ("os", "_exit"),
    ("os", "fork"),
    ("os", "setsid"),
    ("os", "kill"),
    ("os", "killpg"),
    ("os", "system"),
    ("os", "popen"),
    ("os", "execv"),
    ("os", "environ"),
    ("os", "read"),
    ("os", "write"),
    ("os", "dup2"),
}
PATCHED_OWNERS = {"torch", "math", "numpy", "np", "pytest", "builtins", "testing", "sys", "os"}
SUSPECT_STRINGS = ("reference", "golden", "/proc/", "solution.py", "test_hidden")
WATCHED = (
    ast.Import,
    ast.ImportFrom,
    ast.Attribute,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Call,
)


def scan(cells: Iterable[Cell]) -> list[str]:
    found: list[str] = []
    for cell in cells:
        try:
            tree = parse(cell.source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            what = _suspect(node) if isinstance(node, WATCHED) else ""
            if what:
                found.append(f"{what} ({cell.label}, line {getattr(node, 'lineno', '?')})")
    unique = list(dict.fromkeys(found))
    return unique[:10] + ([f"… and {len(unique) - 10} more"] if len(unique) > 10 else [])


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _suspect(node: ast.AST) -> str:
    """What `node` reaches for, in a few words; "" when nothing."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _suspect_import(node)
    if isinstance(node, ast.Attribute):
        return _suspect_attribute(node)
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        return _suspect_assignment(node)
    if isinstance(node, ast.Call):
        return _suspect_call(node)
    return ""


def _suspect_import(node: ast.Import | ast.ImportFrom) -> str:
    names = (
        [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
    )
    for name in names:
        if name.split(".")[0] in SUSPECT_MODULES:
            return f"imports {name}"
    return ""


def _suspect_attribute(node: ast.Attribute) -> str:
    if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in SUSPECT_ATTRS:
        return f"uses {node.value.id}.{node.attr}"
    return ""


def _suspect_assignment(node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> str:
    """An assignment that replaces an attribute of a module the grading relies on."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        dotted = _dotted(target) if isinstance(target, ast.Attribute) else ""
        if dotted and dotted.split(".")[0] in PATCHED_OWNERS:
            return f"replaces {dotted}"
    return ""


def _suspect_call(node: ast.Call) -> str:
    """A call of a builtin that runs or patches code by name, or one passed a telling path."""
    if _dotted(node.func) in ("setattr", "__import__", "exec", "eval", "compile"):
        return f"calls {_dotted(node.func)}"
    for arg in node.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            needle = _suspect_needle(arg.value)
            if needle:
                return f"passes a path mentioning {needle!r}"
    return ""


def _suspect_needle(text: str) -> str:
    """The first of SUSPECT_STRINGS that `text` mentions (any case); "" when none."""
    for needle in SUSPECT_STRINGS:
        if needle in text.lower():
            return needle
    return ""
