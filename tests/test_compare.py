"""The parent's strict comparison and the words it finds for a mismatch."""

from __future__ import annotations

import torch

from grader.compare import compare

TOL = {"rtol": 1e-5, "atol": 1e-6}


def test_shape_is_exact_no_broadcasting():
    assert (
        compare(torch.zeros(4, 3), torch.zeros(3, 4), **TOL) == "expected shape (4, 3), got (3, 4)"
    )
    assert compare(torch.zeros(3), torch.zeros(1, 3), **TOL) == "expected shape (3,), got (1, 3)"


def test_dtype_then_device():
    assert (
        compare(torch.zeros(2), torch.zeros(2, dtype=torch.float64), **TOL)
        == "expected dtype float32, got float64"
    )
    assert (
        compare(torch.zeros(2), torch.zeros(2), expected_device="cuda", **TOL)
        == "expected a tensor on cuda, got one on cpu"
    )


def test_value_difference_names_the_place():
    a = torch.zeros(4, 3)
    b = a.clone()
    b[2, 1] = 0.31
    assert (
        compare(a, b, **TOL)
        == "max abs diff 0.31 at [2, 1] (expected 0, got 0.31); 1 of 12 values off"
    )
    assert (
        compare(a, b, reveal=False, **TOL)
        == "1 of 12 values wrong, the first at [2, 1] (got 0.31 there)"
    )
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
    assert (
        compare(torch.float32, torch.float64, **TOL) == "expected torch.float32, got torch.float64"
    )
    assert compare(0.5, 0.7, reveal=False, rtol=0, atol=0) == "wrong value: got 0.7"


def test_integer_tensors_compare_exactly():
    assert (
        compare(torch.tensor([1, 2]), torch.tensor([1, 3]), **TOL)
        == "1 of 2 values differ, e.g. at [1]: expected 2, got 3"
    )


def test_hidden_messages_never_give_the_expected_value_away():
    """Whatever the mismatch, a hidden test's message holds the student's own values and where they
    are wrong, never the expected value nor its distance from theirs (from which it follows)."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for shape in ((), (1,), (5,), (3, 4)):
        expected = torch.randn(shape, generator=g, dtype=torch.float64) * 1000 + 4321.5
        cases.append((expected, torch.zeros(shape, dtype=torch.float64)))
        cases.append((expected, expected + 7.25))
        cases.append((expected, torch.full(shape, float("nan"), dtype=torch.float64)))
        cases.append((expected.round().long(), torch.zeros(shape, dtype=torch.long)))
    cases += [(4321.5, 0.0), (4321.5, float("inf")), (4321, 0), ([4321.5, 2.0], [0.0, 2.0])]
    for expected, got in cases:
        message = compare(expected, got, reveal=False, **TOL)
        assert message is not None
        assert "expected" not in message and "off by" not in message and "diff" not in message, (
            message
        )
        values = (
            expected.flatten().tolist()
            if isinstance(expected, torch.Tensor)
            else expected
            if isinstance(expected, list)
            else [expected]
        )
        for value in values:
            for shown in (f"{value:.6g}", f"{value:.3g}", str(value)):
                if shown not in ("0", "2", "2.0"):
                    assert shown not in message, (message, value)


def test_a_tensor_without_data_never_matches_one_with_data():
    from grader.wire import TensorMeta

    got = TensorMeta(torch.float32, (3,), "cpu", "no data")
    assert (
        compare(torch.zeros(3), got, **TOL) == "expected a tensor with values, got one with no data"
    )
    assert compare(
        TensorMeta(torch.float32, (3,), "meta", "no data"), got, expected_device=None, **TOL
    ) == ("expected a tensor on meta, got one on cpu")
    assert (
        compare(
            TensorMeta(torch.float32, (3,), "meta", "no data"),
            TensorMeta(torch.float32, (3,), "meta", "no data"),
            **TOL,
        )
        is None
    )
