"""The parent's strict comparison and the words it finds for a mismatch."""

from __future__ import annotations

import torch

from grader.compare import compare

TOL = {"rtol": 1e-5, "atol": 1e-6}


def test_shape_is_exact_no_broadcasting():
    assert compare(torch.zeros(4, 3), torch.zeros(3, 4), **TOL) == "expected shape (4, 3), got (3, 4)"
    assert compare(torch.zeros(3), torch.zeros(1, 3), **TOL) == "expected shape (3,), got (1, 3)"


def test_dtype_then_device():
    assert compare(torch.zeros(2), torch.zeros(2, dtype=torch.float64), **TOL) == "expected dtype float32, got float64"
    assert compare(torch.zeros(2), torch.zeros(2), expected_device="cuda", **TOL) == "expected a tensor on cuda, got one on cpu"


def test_value_difference_names_the_place():
    a = torch.zeros(4, 3)
    b = a.clone()
    b[2, 1] = 0.31
    assert compare(a, b, **TOL) == "max abs diff 0.31 at [2, 1] (expected 0, got 0.31); 1 of 12 values off"
    assert compare(a, b, reveal=False, **TOL) == "max abs diff 0.31 at [2, 1]"
    assert compare(a, a + 1e-7, **TOL) is None


def test_non_finite_is_called_out():
    b = torch.zeros(3)
    b[1] = float("inf")
    assert compare(torch.zeros(3), b, **TOL) == "not finite: inf at [1] (expected 0)"
    assert compare(torch.tensor([float("nan")]), torch.tensor([float("nan")]), **TOL) is None


def test_not_a_tensor_where_a_tensor_is_due():
    assert compare(torch.zeros(2), [0.0, 0.0], **TOL) == "expected a tensor, got a list"


def test_python_types_are_strict():
    assert compare((1, (2, 3)), (1, [2, 3]), **TOL) == "[1]: expected a tuple, got a list"
    assert compare(0.5, 1, **TOL) == "expected a float, got an int"
    assert compare(True, 1, **TOL) == "expected a bool, got an int"
    assert compare(torch.float32, torch.float64, **TOL) == "expected torch.float32, got torch.float64"
    assert compare(0.5, 0.7, reveal=False, rtol=0, atol=0) == "got 0.7, off by 0.2"


def test_integer_tensors_compare_exactly():
    assert compare(torch.tensor([1, 2]), torch.tensor([1, 3]), **TOL) == "1 of 2 values differ, e.g. at [1]: expected 2, got 3"
