"""Strict comparison of a produced value with the golden one, phrased for a student.

Exact type, exact shape (no broadcasting), exact dtype, device type, then values within tolerance.
Returns None when the value is right, else one line saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from grader.wire import Opaque, TensorMeta, device_of

_NAMES = {
    bool: "a bool",
    int: "an int",
    float: "a float",
    str: "a string",
    tuple: "a tuple",
    list: "a list",
    dict: "a dict",
    type(None): "None",
}


def describe(value: Any) -> str:
    if isinstance(value, torch.Tensor | TensorMeta):
        return "a tensor"
    if isinstance(value, torch.dtype):
        return "a torch.dtype"
    if isinstance(value, torch.device):
        return "a torch.device"
    if isinstance(value, Opaque):
        return f"a {value.type_name}"
    return _NAMES.get(type(value), type(value).__name__)


def compare(
    expected: Any,
    got: Any,
    *,
    rtol: float,
    atol: float,
    expected_device: str | None = None,
    reveal: bool = True,
    path: str = "",
) -> str | None:
    """`reveal=False` (hidden tests) never puts an expected value into the message."""
    opts = _Opts(rtol=rtol, atol=atol, expected_device=expected_device, reveal=reveal)
    prefix = f"{path}: " if path else ""
    if isinstance(expected, torch.Tensor | TensorMeta):
        if not isinstance(got, torch.Tensor | TensorMeta):
            return f"{prefix}expected a tensor, got {describe(got)}"
        return _compare_tensors(
            expected,
            got,
            rtol=rtol,
            atol=atol,
            expected_device=expected_device,
            reveal=reveal,
            prefix=prefix,
        )
    if type(expected) is not type(got):
        return f"{prefix}expected {describe(expected)}, got {describe(got)}"
    if isinstance(expected, tuple | list):
        return _compare_sequences(expected, got, opts, path)
    if isinstance(expected, dict):
        return _compare_dicts(expected, got, opts, path)
    if isinstance(expected, float):
        return _compare_floats(expected, got, opts, prefix)
    if expected != got:
        return (
            f"{prefix}expected {_show(expected)}, got {_show(got)}"
            if reveal
            else f"{prefix}wrong value: got {_show(got)}"
        )
    return None


@dataclass(frozen=True)
class _Opts:
    """The keyword arguments of `compare` that every nested comparison passes on unchanged."""

    rtol: float
    atol: float
    expected_device: str | None
    reveal: bool


def _compare_item(expected: Any, got: Any, opts: _Opts, path: str) -> str | None:
    return compare(
        expected,
        got,
        rtol=opts.rtol,
        atol=opts.atol,
        expected_device=opts.expected_device,
        reveal=opts.reveal,
        path=path,
    )


def _compare_sequences(
    expected: tuple[Any, ...] | list[Any], got: Any, opts: _Opts, path: str
) -> str | None:
    if len(expected) != len(got):
        prefix = f"{path}: " if path else ""
        return f"{prefix}expected {len(expected)} items, got {len(got)}"
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        if (msg := _compare_item(e, g, opts, f"{path}[{i}]")) is not None:
            return msg
    return None


def _compare_dicts(expected: dict[Any, Any], got: Any, opts: _Opts, path: str) -> str | None:
    if set(expected) != set(got):
        prefix = f"{path}: " if path else ""
        return f"{prefix}keys differ ({_key_difference(expected, got)})"
    for key in expected:
        if (msg := _compare_item(expected[key], got[key], opts, f"{path}[{key!r}]")) is not None:
            return msg
    return None


def _key_difference(expected: dict[Any, Any], got: dict[Any, Any]) -> str:
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unexpected {extra}")
    return "; ".join(parts)


def _compare_floats(expected: float, got: float, opts: _Opts, prefix: str) -> str | None:
    if _close_scalar(expected, got, rtol=opts.rtol, atol=opts.atol):
        return None
    if not _finite(got) and _finite(expected):
        return f"{prefix}not finite: got {got:.6g}" + (
            f" (expected {expected:.6g})" if opts.reveal else ""
        )
    if not opts.reveal:
        return f"{prefix}wrong value: got {got:.6g}"
    return f"{prefix}expected {expected:.6g}, got {got:.6g}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def _close_scalar(expected: float, got: float, *, rtol: float, atol: float) -> bool:
    if expected != expected:  # nan
        return got != got
    if got != got:
        return False
    if abs(expected) == float("inf") or abs(got) == float("inf"):
        return expected == got
    return abs(expected - got) <= atol + rtol * abs(expected)


def _compare_tensors(
    expected: Any,
    got: Any,
    *,
    rtol: float,
    atol: float,
    expected_device: str | None,
    reveal: bool,
    prefix: str,
) -> str | None:
    if tuple(expected.shape) != tuple(got.shape):
        return f"{prefix}expected shape {_shape(expected.shape)}, got {_shape(got.shape)}"
    if expected.dtype != got.dtype:
        return f"{prefix}expected dtype {_dtype(expected.dtype)}, got {_dtype(got.dtype)}"
    # expected_device: where values the reference computed on the CPU must be (the device under test)
    want_device = (
        expected_device if expected_device and device_of(expected) == "cpu" else device_of(expected)
    )
    if device_of(got) != want_device:
        return f"{prefix}expected a tensor on {want_device}, got one on {device_of(got)}"
    if isinstance(expected, TensorMeta) or isinstance(got, TensorMeta):
        # data the reference had must arrive as data: a tensor without it (meta, sparse, too large)
        # matches only a golden value that had none either, for the same reason
        if not isinstance(expected, TensorMeta):
            return f"{prefix}expected a tensor with values, got one with {got.why}"
        if not isinstance(got, TensorMeta) or got.why != expected.why:
            return (
                f"{prefix}expected a tensor with {expected.why}, got one with values"
                if not isinstance(got, TensorMeta)
                else f"{prefix}expected a tensor with {expected.why}, got one with {got.why}"
            )
        return None
    return _compare_values(expected, got, rtol=rtol, atol=atol, prefix=prefix, reveal=reveal)


def _compare_values(
    expected: torch.Tensor,
    got: torch.Tensor,
    *,
    rtol: float,
    atol: float,
    prefix: str,
    reveal: bool,
) -> str | None:
    """`reveal=False` names where the first wrong value is and what the student's code gave there,
    never the expected value nor its distance from it."""
    if expected.numel() == 0 or torch.equal(
        expected, got
    ):  # the same bits: right, whatever the tolerance
        return None
    floating = expected.is_complex() or expected.is_floating_point()
    if floating:
        e, g = (
            expected.to(torch.complex128 if expected.is_complex() else torch.float64),
            got.to(torch.complex128 if got.is_complex() else torch.float64),
        )
        bad_nonfinite = (~torch.isfinite(g)) & torch.isfinite(e)
        if bad_nonfinite.any():
            index = _index(bad_nonfinite)
            at = f" at {list(index)}" if index else ""
            return f"{prefix}not finite: {_item(got, index)}{at}" + (
                f" (expected {_item(expected, index)})" if reveal else ""
            )
        same_special = (e == g) | (torch.isnan(e) & torch.isnan(g))
        diff = (e - g).abs()
        bad = ~same_special & (diff > atol + rtol * e.abs())
    else:
        diff = (
            (expected.to(torch.float64) - got.to(torch.float64)).abs()
            if expected.dtype != torch.bool
            else (expected != got).to(torch.float64)
        )
        bad = expected != got
    if not bad.any():
        return None
    count, total = int(bad.sum()), expected.numel()
    if not reveal:
        index = _index(bad)
        if not index:
            return f"{prefix}wrong value: got {_item(got, index)}"
        return f"{prefix}{count} of {total} values wrong, the first at {list(index)} (got {_item(got, index)} there)"
    where = torch.where(bad, diff.nan_to_num(float("inf")), torch.zeros_like(diff))
    if where.is_complex():
        where = where.real
    index = _index(where == where.max())
    worst = where.max().item()
    if not index:  # a 0-d tensor: a number
        return f"{prefix}expected {_item(expected, index)}, got {_item(got, index)}"
    if not floating:
        return f"{prefix}{count} of {total} values differ, e.g. at {list(index)}: expected {_item(expected, index)}, got {_item(got, index)}"
    return f"{prefix}max abs diff {worst:.3g} at {list(index)} (expected {_item(expected, index)}, got {_item(got, index)}); {count} of {total} values off"


def _index(mask: torch.Tensor) -> tuple[int, ...]:
    if mask.dim() == 0:
        return ()
    return tuple(int(i) for i in mask.nonzero()[0])


def _item(t: torch.Tensor, index: tuple[int, ...]) -> str:
    value = t[index].item() if index else t.item()
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _shape(shape: Any) -> str:
    dims = tuple(int(d) for d in shape)
    return str(dims) if len(dims) != 1 else f"({dims[0]},)"


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
