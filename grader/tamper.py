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
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
        )
        for name in names:
            if name.split(".")[0] in SUSPECT_MODULES:
                return f"imports {name}"
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id, node.attr) in SUSPECT_ATTRS
    ):
        return f"uses {node.value.id}.{node.attr}"
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            dotted = _dotted(target) if isinstance(target, ast.Attribute) else ""
            if dotted and dotted.split(".")[0] in PATCHED_OWNERS:
                return f"replaces {dotted}"
    if isinstance(node, ast.Call):
        if _dotted(node.func) in ("setattr", "__import__", "exec", "eval", "compile"):
            return f"calls {_dotted(node.func)}"
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                for needle in SUSPECT_STRINGS:
                    if needle in arg.value.lower():
                        return f"passes a path mentioning {needle!r}"
    return ""
