"""What a submission produced on each check, kept small enough to compare a whole class by.

Computed in the parent while a batch grades (nothing is re-run for `grade similar`): per check,
`+` for a right value, else `HASH|RELATION`. HASH is the value itself rounded to about three
significant digits: two students on the same input variant who share a bug share it. RELATION
says how the value is wrong *relative to the expected one* in words that do not depend on the
inputs (`shape(d1,d0)`, `x-1`, `nan`, `raised KeyError`): students on different variants who
share a bug share it. Neither reveals an expected value.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import TYPE_CHECKING, Any

import torch

from grader.compare import compare
from grader.similar.behaviour import RIGHT
from grader.wire import Opaque, TensorMeta, decode

if TYPE_CHECKING:
    from grader.golden import GoldenSet, GoldenTest
    from grader.judge import Judge
    from grader.runner import Observation, TestRun

MAX_ELEMENTS = 4096  # of a tensor, hashed: a bug shows in the first few thousand values
_DIGITS = re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?")


def fingerprints(sets: list[GoldenSet], obs: Observation, judge: Judge) -> dict[str, str]:
    """`{"<test key>#<check>": "+" | "HASH|RELATION"}` for every check of the CPU (or only) run."""
    from grader.judge import instances

    out: dict[str, str] = {}
    for gset in sets:
        for key, test in gset.tests.items():
            runs = [n for n, device in instances(key, judge.devices) if device in (None, "cpu")]
            run = obs.tests.get(runs[0]) if runs else None
            if run is None:
                continue
            for i in range(len(test.checks)):
                try:
                    out[f"{key}#{i}"] = _check(test, i, run, judge)
                except Exception:  # noqa: BLE001 - a screen's hint never costs a student a grade
                    out[f"{key}#{i}"] = "unread|unread"
    return out


def _check(test: GoldenTest, i: int, run: TestRun, judge: Judge) -> str:
    message = run.checks.get(i)
    if message is None:
        why = signature(run.failure or run.error or "no value")
        return f"{_digest(why)}|{why}"
    rule = test.checks[i]
    try:
        got = decode(message.get("v"))
    except Exception:  # noqa: BLE001 - the child's bytes: unreadable is a kind of value too
        return "unreadable|unreadable"
    kind = rule.get("rule")
    try:
        if kind == "equal":
            expected = test.expected(i)
            tol = judge.config.tolerance
            rtol = tol.rtol if rule.get("rtol") is None else rule["rtol"]
            atol = tol.atol if rule.get("atol") is None else rule["atol"]
            if compare(expected, got, rtol=rtol, atol=atol, reveal=False) is None:
                return RIGHT
            return f"{value_hash(got)}|{relation(expected, got)}"
        if kind == "raises":
            if isinstance(got, dict) and got.get("matches") is True:
                return RIGHT
            raised = got.get("raised") if isinstance(got, dict) else None
            what = f"raised {str(raised)[:60]}" if raised else "raised nothing"
            return f"{_digest(what)}|{what}"
        if kind == "property":
            fn = judge.properties.get(str(rule.get("property")))
            ok, text = fn(got, seed=judge.seed) if fn is not None else (False, "")
            if ok is True:
                return RIGHT
            return f"{value_hash(got)}|property: {signature(str(text))}"
    except Exception:  # noqa: BLE001 - a value the comparison cannot use is still this value
        pass
    return f"{value_hash(got)}|{type(got).__name__}"


def signature(text: str) -> str:
    """An error message without its numbers (they follow the inputs), on one short line."""
    return _DIGITS.sub("#", " ".join(text.split()))[:100]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def value_hash(value: Any) -> str:
    h = hashlib.blake2b(digest_size=6)
    _feed(h, value, 0)
    return h.hexdigest()


def _round(t: torch.Tensor) -> torch.Tensor:
    """About three significant digits, relative to each value (10 bits of mantissa)."""
    if t.is_complex():
        t = torch.view_as_real(t)
    if not t.is_floating_point():
        return t.to(torch.int64)
    t = t.to(torch.float64)
    mantissa, exponent = torch.frexp(t)
    return torch.ldexp(torch.round(mantissa * 1024) / 1024, exponent.to(torch.float64))


def _feed(h: Any, value: Any, depth: int) -> None:
    if depth > 20:
        h.update(b"deep")
    elif isinstance(value, TensorMeta):
        h.update(f"T{tuple(value.shape)}{value.dtype}".encode())
    elif isinstance(value, torch.Tensor):
        h.update(f"T{tuple(value.shape)}{value.dtype}".encode())
        flat = value.detach().reshape(-1)[:MAX_ELEMENTS]
        h.update(_round(flat).numpy().tobytes())
    elif isinstance(value, float):
        h.update(_round(torch.tensor([value])).numpy().tobytes() if math.isfinite(value) else b"nf")
    elif isinstance(value, list | tuple):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value[:256]:
            _feed(h, item, depth + 1)
    elif isinstance(value, dict):
        h.update(f"dict{len(value)}".encode())
        for k in sorted(value, key=str)[:256]:
            h.update(str(k).encode())
            _feed(h, value[k], depth + 1)
    elif isinstance(value, Opaque):
        h.update(value.type_name.encode())
    else:
        h.update(repr(value)[:200].encode())


def relation(expected: Any, got: Any) -> str:
    """How `got` is wrong, in terms that hold on every input variant."""
    if isinstance(expected, torch.Tensor | TensorMeta):
        if not isinstance(got, torch.Tensor | TensorMeta):
            return f"type {type(got).__name__}"
        return _tensor_relation(expected, got)
    if isinstance(expected, bool) or isinstance(got, bool):
        return f"{type(got).__name__} {got!r}" if isinstance(got, bool) else "type"
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return _number_relation(expected, got)
    if type(expected) is not type(got):
        return f"type {type(got).__name__}"
    if isinstance(expected, list | tuple):
        return _sequence_relation(expected, got)
    if isinstance(expected, dict):
        return _dict_relation(expected, got)
    return "other value"


def _number_relation(expected: int | float, got: int | float) -> str:
    if type(expected) is not type(got):
        return f"type {type(got).__name__}"
    return _values(torch.tensor([float(expected)]), torch.tensor([float(got)]))


def _sequence_relation(expected: list[Any] | tuple[Any, ...], got: Any) -> str:
    """A length that differs, else the first item that differs and how."""
    if len(expected) != len(got):
        return f"length{'+' if len(got) > len(expected) else '-'}"
    for k, (e, g) in enumerate(zip(expected, got, strict=True)):
        if _differs(e, g):
            return f"[{k}] {relation(e, g)}"
    return "same"


def _dict_relation(expected: dict[Any, Any], got: dict[Any, Any]) -> str:
    """Keys missing or extra, else the first value (by key) that differs and how."""
    missing, extra = (
        sorted(set(expected) - set(got), key=str),
        sorted(set(got) - set(expected), key=str),
    )
    if missing or extra:
        return "keys" + "".join(f" -{k}" for k in missing) + "".join(f" +{k}" for k in extra)
    for k in sorted(expected, key=str):
        if _differs(expected[k], got[k]):
            return f"[{k}] {relation(expected[k], got[k])}"
    return "same"


def _differs(expected: Any, got: Any) -> bool:
    try:
        return compare(expected, got, rtol=1e-5, atol=1e-6, reveal=False) is not None
    except Exception:  # noqa: BLE001
        return True


def _tensor_relation(expected: torch.Tensor | TensorMeta, got: torch.Tensor | TensorMeta) -> str:
    parts = []
    e_shape, g_shape = tuple(expected.shape), tuple(got.shape)
    if g_shape != e_shape:
        dims, used = [], set()
        for size in g_shape:
            j = next((j for j, s in enumerate(e_shape) if s == size and j not in used), None)
            if j is not None and size > 1:
                used.add(j)
                dims.append(f"d{j}")
            else:
                dims.append("1" if size == 1 else "?")
        parts.append(f"shape({','.join(dims)})")
    if got.dtype != expected.dtype:
        parts.append(f"dtype {str(got.dtype).removeprefix('torch.')}")
    if (
        not parts
        and isinstance(expected, torch.Tensor)
        and isinstance(got, torch.Tensor)
        and not expected.dtype.is_complex
    ):
        if expected.dim() == 2 and e_shape[0] == e_shape[1] and torch.equal(got, expected.T):
            return "transposed"
        parts.append(_values(expected, got))
    return " ".join(parts) or "device"


def _values(expected: torch.Tensor, got: torch.Tensor) -> str:
    e, g = expected.detach().double().reshape(-1), got.detach().double().reshape(-1)
    if e.numel() == 0:
        return "empty"
    if torch.isnan(g).any() and not torch.isnan(e).any():
        return "nan"
    if torch.isinf(g).any() and not torch.isinf(e).any():
        return "inf"
    finite = torch.isfinite(e) & torch.isfinite(g)
    e, g = e[finite], g[finite]
    if e.numel() == 0:
        return "not finite"
    nonzero = e.abs() > 1e-12
    if nonzero.any():
        ratio = g[nonzero] / e[nonzero]
        r = float(ratio.mean())
        if float(ratio.max() - ratio.min()) <= 1e-3 * max(abs(r), 1e-9):
            simple = round(r * 4) / 4
            return f"x{simple:g}" if abs(r - simple) < 1e-3 else "x const"
    diff = g - e
    if float(diff.max() - diff.min()) <= 1e-6 * max(1.0, float(e.abs().max())):
        return "+ const"
    right = float((diff.abs() <= 1e-6 + 1e-5 * e.abs()).double().mean())
    return f"{round(right * 10)}/10 right"
