"""Plain-JSON encoding of the values a test hands to `check`, and its strict decoding.

The child encodes what the submission produced; the parent decodes it. Nothing here can run code:
tensors travel as dtype, shape, device and raw bytes, and decoding accepts only the node kinds
listed below, each checked for its exact type. This module runs beside student code, so it
imports only the standard library and torch.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import torch

MAX_TENSOR_BYTES = 64 * 1024 * 1024
DEVICES = ("cpu", "cuda", "mps", "meta", "xpu")
_MAX_DEPTH = 32

# A Python value is encoded as a small tree of JSON objects, one "k" (kind) per node.
# kinds: none, bool, int, float, str, tuple, list, dict, dtype, device, tensor, other


def encode(value: Any, _depth: int = 0) -> dict[str, Any]:
    if _depth > _MAX_DEPTH:
        return {"k": "other", "type": "deeply nested value"}
    t = type(value)
    if value is None:
        return {"k": "none"}
    if t is bool:
        return {"k": "bool", "v": value}
    if t is int:
        return {"k": "int", "v": str(value) if abs(value) > 2**53 else value}
    if t is float:
        return {"k": "float", "v": value if math.isfinite(value) else repr(value)}
    if t is str:
        return {"k": "str", "v": value[:10_000]}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value)
    if isinstance(value, torch.dtype):
        return {"k": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"k": "device", "v": value.type}
    if isinstance(value, torch.Size):
        return {"k": "tuple", "v": [encode(int(x), _depth + 1) for x in value]}
    if t is tuple or t is list:
        kind = "tuple" if t is tuple else "list"
        return {"k": kind, "v": [encode(x, _depth + 1) for x in value[:10_000]]}
    if t is dict or (isinstance(value, dict) and all(type(k) is str for k in value)):
        return {
            "k": "dict",
            "v": {str(k): encode(v, _depth + 1) for k, v in list(value.items())[:10_000]},
        }
    return {"k": "other", "type": f"{t.__module__}.{t.__qualname__}"[:200]}


def _encode_tensor(t: torch.Tensor) -> dict[str, Any]:
    node: dict[str, Any] = {
        "k": "tensor",
        "dtype": str(t.dtype).removeprefix("torch."),
        "shape": [int(s) for s in t.shape],
        "device": t.device.type,
        "requires_grad": bool(t.requires_grad),
    }
    if t.device.type == "meta" or t.layout != torch.strided:
        return node
    nbytes = t.numel() * t.element_size()
    if nbytes > MAX_TENSOR_BYTES:
        node["too_large"] = nbytes
        return node
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    node["data"] = base64.b64encode(flat.view(torch.uint8).numpy().tobytes()).decode("ascii")
    return node


class WireError(ValueError):
    """A message from the child that is not a well-formed value tree."""


MAX_NODES = 100_000  # value nodes one decoded value may hold (a list of 10 000 ints is 10 001)
MAX_STR = 10_000


def decode(node: Any) -> Any:
    """Rebuild a value from its tree; raises WireError on anything unexpected, and on a tree
    deeper, wider or larger than any value a test checks."""
    return _Decoder().decode(node, 0)


class _Decoder:
    def __init__(self) -> None:
        self.nodes = 0
        self.tensor_bytes = 0

    def decode(self, node: Any, depth: int) -> Any:
        self.nodes += 1
        if depth > _MAX_DEPTH or self.nodes > MAX_NODES or type(node) is not dict:
            raise WireError("malformed or oversized value")
        kind = node.get("k")
        v = node.get("v")
        if kind == "none":
            return None
        if kind == "bool" and type(v) is bool:
            return v
        if kind == "int" and (type(v) is int or (type(v) is str and len(v) <= 40)):
            return int(v)
        if (
            kind == "float"
            and isinstance(v, int | float | str)
            and type(v) is not bool
            and (type(v) is not str or v in ("nan", "inf", "-inf"))
        ):
            return float(v)
        if kind == "str" and type(v) is str and len(v) <= MAX_STR:
            return v
        if kind in ("tuple", "list") and type(v) is list:
            items = [self.decode(x, depth + 1) for x in v]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict" and type(v) is dict:
            return {str(k)[:200]: self.decode(x, depth + 1) for k, x in v.items()}
        if kind == "dtype" and type(v) is str:
            return parse_dtype(v)
        if kind == "device" and type(v) is str:
            return (
                torch.device(v)
                if v in ("cpu", "cuda", "mps", "meta", "xpu")
                else Opaque(f"device {v[:40]!r}")
            )
        if kind == "tensor":
            t = _decode_tensor(node)
            if isinstance(t, torch.Tensor):
                self.tensor_bytes += t.numel() * t.element_size()
                if self.tensor_bytes > MAX_TENSOR_BYTES:
                    raise WireError("oversized value")
            return t
        if kind == "other":
            return Opaque(str(node.get("type", "unknown"))[:200])
        raise WireError(f"unknown value kind {str(kind)[:40]!r}")


class Opaque:
    """A value the child could not encode: only its type name survives."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


class TensorMeta:
    """A tensor whose data did not travel (meta device, sparse, or too large)."""

    def __init__(self, dtype: torch.dtype, shape: tuple[int, ...], device: str, why: str) -> None:
        self.dtype, self.shape, self.device, self.why = dtype, shape, device, why


def parse_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None) if name.isidentifier() and not name.startswith("_") else None
    if not isinstance(dtype, torch.dtype):
        raise WireError(f"unknown dtype {name!r}")
    return dtype


def _decode_tensor(node: dict[str, Any]) -> torch.Tensor | TensorMeta:
    dtype = parse_dtype(str(node.get("dtype")))
    shape = node.get("shape")
    device = node.get("device")
    if (
        type(shape) is not list
        or len(shape) > _MAX_DEPTH
        or not all(type(s) is int and 0 <= s < 2**40 for s in shape)
    ):
        raise WireError("malformed tensor shape")
    if device not in DEVICES:
        raise WireError("malformed tensor device")
    data = node.get("data")
    if data is None:
        why = "too large to compare" if node.get("too_large") else "no data"
        return TensorMeta(dtype, tuple(shape), device, why)
    numel = math.prod(shape)
    if type(data) is not str or len(data) > (MAX_TENSOR_BYTES // 3 + 1) * 4:
        raise WireError("malformed tensor data")
    raw = base64.b64decode(data, validate=True)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != numel * itemsize:
        raise WireError("tensor data does not match its shape")
    t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
    t = t.reshape(shape)
    setattr(t, "_grader_device", device)  # noqa: B010 - the device the child's tensor lived on
    return t


def device_of(t: torch.Tensor | TensorMeta) -> str:
    if isinstance(t, TensorMeta):
        return t.device
    return getattr(t, "_grader_device", t.device.type)
