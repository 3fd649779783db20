"""Strict comparison of a produced value with the golden one, phrased for a student.

Exact type, exact shape (no broadcasting), exact dtype, device type, then values within tolerance.
Returns None when the value is right, else one line saying what is wrong.
"""

from __future__ import annotations

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
        if len(expected) != len(got):
            return f"{prefix}expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            if (
                msg := compare(
                    e,
                    g,
                    rtol=rtol,
                    atol=atol,
                    expected_device=expected_device,
                    reveal=reveal,
                    path=f"{path}[{i}]",
                )
            ) is not None:
                return msg
        return None
    if isinstance(expected, dict):
        if set(expected) != set(got):
            missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
            detail = "; ".join(
                x
                for x in (
                    f"missing {missing}" if missing else "",
                    f"unexpected {extra}" if extra else "",
                )
                if x
            )
            return f"{prefix}keys differ ({detail})"
        for key in expected:
            if (
                msg := compare(
                    expected[key],
                    got[key],
                    rtol=rtol,
                    atol=atol,
                    expected_device=expected_device,
                    reveal=reveal,
                    path=f"{path}[{key!r}]",
                )
            ) is not None:
                return msg
        return None
    if isinstance(expected, float):
        if _close_scalar(expected, got, rtol=rtol, atol=atol):
            return None
        if not _finite(got) and _finite(expected):
            return f"{prefix}not finite: got {got:.6g}" + (
                f" (expected {expected:.6g})" if reveal else ""
            )
        if not reveal:
            return f"{prefix}wrong value: got {got:.6g}"
        return f"{prefix}expected {expected:.6g}, got {got:.6g}"
    if expected != got:
        return (
            f"{prefix}expected {_show(expected)}, got {_show(got)}"
            if reveal
            else f"{prefix}wrong value: got {_show(got)}"
        )
    return None


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
