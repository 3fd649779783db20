"""What a test file's markers say, read from its source (nothing is imported or run)."""

from __future__ import annotations

import ast
from pathlib import Path

from grader import syntax


def declared_uses(paths: list[Path]) -> dict[str, set[str]]:
    """Test function name -> the other graded names its `@pytest.mark.uses(...)` names (the test
    calls them itself: a failure may come from them, and an edit of them may change it)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        tree = syntax.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "uses"
                ):
                    found.setdefault(node.name, set()).update(
                        a.value
                        for a in deco.args
                        if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    )
    return found
