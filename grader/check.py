"""The `check` fixture's object: what a test hands over to be judged by the parent.

A test never asserts on a submission's output. It calls `check(value)` and the value leaves the
process: in a recording run the reference's value becomes the golden one, in a grading run the
submission's value is sent to the parent, which compares. Runs beside student code: keep it tiny.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grader.wire import encode

Emit = Callable[[dict[str, Any]], None]


class Check:
    """Hands values to the parent; one object per test, checks numbered in call order."""

    def __init__(self, test_id: str, emit: Emit) -> None:
        self._test_id = test_id
        self._emit = emit
        self._count = 0

    def __call__(
        self,
        value: Any,
        *,
        name: str = "",
        rtol: float | None = None,
        atol: float | None = None,
        constant: bool = False,
    ) -> None:
        """Judge `value` equal to the reference's, within the exercise's tolerances (or these).

        `constant=True` says the expected value is the same for every input seed on purpose (a
        type, a flag): `grade build` refuses any other check whose value does not change with
        the seed, and a test needs at least one check that does."""
        rule = {"rule": "equal", "rtol": rtol, "atol": atol, "constant": constant or None}
        self._send(encode(value), rule, name)

    def raises(
        self, expected: type[BaseException], fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Judge that `fn(*args, **kwargs)` raises `expected` (or a subclass of it)."""
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any exception is a value to report
            outcome = {
                "raised": type(exc).__name__,
                "matches": isinstance(exc, expected),
                "message": str(exc)[:300],
            }
        else:
            outcome = {"raised": None, "matches": False, "message": ""}
        self._send(encode(outcome), {"rule": "raises", "expected": expected.__name__}, "")

    def property(self, value: Any, rule: str, *, name: str = "") -> None:
        """Judge `value` by the exercise's trusted property function `rule` (run in the parent)."""
        self._send(encode(value), {"rule": "property", "property": rule}, name)

    def _send(self, value: dict[str, Any], rule: dict[str, Any], name: str) -> None:
        self._emit(
            {"t": "check", "id": self._test_id, "i": self._count, "v": value, "name": name, **rule}
        )
        self._count += 1
