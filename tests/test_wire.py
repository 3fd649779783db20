"""The child-to-parent value format: faithful for what tests send, strict about everything else."""

from __future__ import annotations

import pytest
import torch

from grader.wire import Opaque, TensorMeta, WireError, decode, encode


@pytest.mark.parametrize(
    "dtype",
    [torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.bool, torch.complex64],
)
def test_tensors_round_trip_bit_for_bit(dtype):
    t = (torch.randn(3, 4) * 10).to(dtype)
    back = decode(encode(t))
    assert back.dtype == dtype and back.shape == t.shape and torch.equal(back, t)


def test_structures_round_trip():
    value = {
        "a": (1, 2.5, "x", None, True),
        "b": [torch.float16, torch.device("cpu")],
        "c": torch.Size([2, 3]),
    }
    assert decode(encode(value)) == {
        "a": (1, 2.5, "x", None, True),
        "b": [torch.float16, torch.device("cpu")],
        "c": (2, 3),
    }


def test_meta_tensor_travels_as_metadata():
    back = decode(encode(torch.empty(2, 5, device="meta")))
    assert isinstance(back, TensorMeta) and back.shape == (2, 5) and back.device == "meta"


def test_arbitrary_objects_arrive_as_opaque_type_names():
    back = decode(encode(object()))
    assert isinstance(back, Opaque) and back.type_name == "builtins.object"


@pytest.mark.parametrize(
    "node",
    [
        {
            "k": "tensor",
            "dtype": "float32",
            "shape": [2],
            "device": "cpu",
            "data": "AAAA",
        },  # too few bytes
        {
            "k": "tensor",
            "dtype": "Tensor",
            "shape": [1],
            "device": "cpu",
            "data": "",
        },  # not a dtype
        {"k": "pickle", "v": "gASV"},
        {"k": "int", "v": [1]},
        ["not", "a", "node"],
    ],
)
def test_malformed_nodes_are_rejected(node):
    with pytest.raises(WireError):
        decode(node)
