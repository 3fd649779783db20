"""Plain-JSON encoding of the values a test hands to `check`, and its strict decoding.

The child encodes what the submission produced; the parent decodes it. Nothing here can run code:
tensors travel as dtype, shape, device and raw bytes, and decoding accepts only the node kinds
listed below, each checked for its exact type. This module runs beside student code, so it
imports only the standard library and torch.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
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
    for scalar_type, encode_scalar in _SCALAR_ENCODERS:
        if type(value) is scalar_type:
            return encode_scalar(value)
    node = _encode_torch_value(value, _depth)
    if node is not None:
        return node
    return _encode_container(value, _depth)


def _encode_none(value: None) -> dict[str, Any]:
    return {"k": "none"}


def _encode_bool(value: bool) -> dict[str, Any]:
    return {"k": "bool", "v": value}


def _encode_int(value: int) -> dict[str, Any]:
    return {"k": "int", "v": str(value) if abs(value) > 2**53 else value}


def _encode_float(value: float) -> dict[str, Any]:
    return {"k": "float", "v": value if math.isfinite(value) else repr(value)}


def _encode_str(value: str) -> dict[str, Any]:
    return {"k": "str", "v": value[:10_000]}


# matched by exact type (`is`, never hashing a type the student's code may have made): a subclass
# of int or str is not a plain number or string
_SCALAR_ENCODERS: tuple[tuple[type, Callable[[Any], dict[str, Any]]], ...] = (
    (type(None), _encode_none),
    (bool, _encode_bool),
    (int, _encode_int),
    (float, _encode_float),
    (str, _encode_str),
)


def _encode_torch_value(value: Any, depth: int) -> dict[str, Any] | None:
    """The node for a tensor, dtype, device or size; None for anything else."""
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value)
    if isinstance(value, torch.dtype):
        return {"k": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"k": "device", "v": value.type}
    if isinstance(value, torch.Size):
        return {"k": "tuple", "v": [encode(int(x), depth + 1) for x in value]}
    return None


def _encode_container(value: Any, depth: int) -> dict[str, Any]:
    t = type(value)
    if t is tuple or t is list:
        kind = "tuple" if t is tuple else "list"
        return {"k": kind, "v": [encode(x, depth + 1) for x in value[:10_000]]}
    if t is dict or (isinstance(value, dict) and all(type(k) is str for k in value)):
        return {
            "k": "dict",
            "v": {str(k): encode(v, depth + 1) for k, v in list(value.items())[:10_000]},
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
        handler = _KINDS.get(kind) if isinstance(kind, str) else None
        result = _REJECT if handler is None else handler(self, node, v, depth)
        if result is _REJECT:
            raise WireError(f"unknown value kind {str(kind)[:40]!r}")
        return result

    # Each handler rebuilds one kind of node from the node and its "v", or returns _REJECT when
    # "v" is not what that kind carries (then the node is as unknown as a kind never listed).

    def _none(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        return None

    def _bool(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        return v if type(v) is bool else _REJECT

    def _int(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        if type(v) is int or (type(v) is str and len(v) <= 40):
            return int(v)
        return _REJECT

    def _float(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        if type(v) is bool or not isinstance(v, int | float | str):
            return _REJECT
        if type(v) is str and v not in ("nan", "inf", "-inf"):
            return _REJECT
        return float(v)

    def _str(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        return v if type(v) is str and len(v) <= MAX_STR else _REJECT

    def _sequence(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        if type(v) is not list:
            return _REJECT
        items = [self.decode(x, depth + 1) for x in v]
        return tuple(items) if node.get("k") == "tuple" else items

    def _dict(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        if type(v) is not dict:
            return _REJECT
        return {str(k)[:200]: self.decode(x, depth + 1) for k, x in v.items()}

    def _dtype(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        return parse_dtype(v) if type(v) is str else _REJECT

    def _device(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        if type(v) is not str:
            return _REJECT
        if v in ("cpu", "cuda", "mps", "meta", "xpu"):
            return torch.device(v)
        return Opaque(f"device {v[:40]!r}")

    def _tensor(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        t = _decode_tensor(node)
        if isinstance(t, torch.Tensor):
            self.tensor_bytes += t.numel() * t.element_size()
            if self.tensor_bytes > MAX_TENSOR_BYTES:
                raise WireError("oversized value")
        return t

    def _other(self, node: dict[str, Any], v: Any, depth: int) -> Any:
        return Opaque(str(node.get("type", "unknown"))[:200])


_REJECT = object()

_KINDS: dict[str, Callable[[_Decoder, dict[str, Any], Any, int], Any]] = {
    "none": _Decoder._none,
    "bool": _Decoder._bool,
    "int": _Decoder._int,
    "float": _Decoder._float,
    "str": _Decoder._str,
    "tuple": _Decoder._sequence,
    "list": _Decoder._sequence,
    "dict": _Decoder._dict,
    "dtype": _Decoder._dtype,
    "device": _Decoder._device,
    "tensor": _Decoder._tensor,
    "other": _Decoder._other,
}


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
