"""`ast.parse` that threads may share.

CPython 3.11 builds the Python objects of a parsed tree with a recursion counter kept in state
shared by every thread: two threads parsing at once can fail with "SystemError: AST constructor
recursion depth mismatch" (python/cpython#106905). `grade batch`, `grade audit` and the cluster
client read submissions in threads, so every parse in the parent goes through one lock. A parse
takes milliseconds; the lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading
from typing import Literal, overload

_LOCK = threading.Lock()


@overload
def parse(source: str | bytes, filename: str = ..., mode: Literal["exec"] = ...) -> ast.Module: ...
@overload
def parse(source: str | bytes, filename: str, mode: Literal["eval"]) -> ast.Expression: ...
def parse(source: str | bytes, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """`ast.parse(source, filename, mode)`, one thread at a time."""
    with _LOCK:
        return ast.parse(source, filename, mode)
