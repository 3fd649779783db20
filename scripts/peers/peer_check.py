"""Exercise 2's pytest functions, run inside a peer grader's kernel and judged there.

`make bench-peers` has nbgrader and otter-grader grade the class that `grade batch` grades, with
the same tests. Their test cells (nbgrader) or test files (otter) all call

    peer_check.run("test_relu", namespace)      # namespace: the notebook's globals

which calls our test function `test_relu` the way our grader's child does: fixtures `sub` (the
notebook's names), `check`, `device` (["cpu"]), `any_device` (["cpu", "meta"]) and `monkeypatch`,
torch and `random` seeded with 0 before each run, one run per device. Every value handed to
`check` is then compared with the value the reference solution handed over at the same place
(recorded once, before timing, by `record`), with the rules of grader/compare.py: exact type,
shape, dtype and device, then values within rtol/atol (the test's own, or 1e-5/1e-6).
`check.raises` passes when the expected exception was raised, `check.property` when
reference/ex2/properties.py's rule says so. A failing test raises AssertionError, which both
peers count as a failed test (0 of its points).

The folder holding this file holds the rest: tests/<group>/test_*.py (copies of our test files),
properties.py and golden.pt (the reference's values). Standard library, torch and pytest only.
"""

from __future__ import annotations

import importlib.util
import inspect
import random
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

HERE = Path(__file__).resolve().parent
DEVICES = ["cpu", "meta"]  # what our grader grades on a machine without an accelerator
SEED = 0  # the public inputs (the `seed` fixture of a student's self-check)
RTOL, ATOL = 1e-5, 1e-6  # reference/ex2/grading.toml [tolerance]


# -- the tests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    name: str
    group: str
    fn: Callable[..., Any]
    points: float
    spec: tuple[str, ...]

    def instances(self) -> list[tuple[str | None, str | None]]:
        """(fixture name, device) of each run, as our grader parametrizes it."""
        params = inspect.signature(self.fn).parameters
        if "any_device" in params:
            return [("any_device", d) for d in DEVICES]
        if "device" in params:
            return [("device", d) for d in DEVICES if d != "meta"]
        return [(None, None)]

    def key(self, device: str | None) -> str:
        return f"{self.name}[{device}]" if device else self.name


def _marker(fn: Callable[..., Any], name: str) -> tuple[Any, ...]:
    for mark in getattr(fn, "pytestmark", []):
        if mark.name == name:
            return tuple(mark.args)
    return ()


def load_tests(folder: Path = HERE) -> dict[str, Test]:
    """Every `test_*` function of tests/<group>/test_*.py, in file order."""
    tests: dict[str, Test] = {}
    for path in sorted((folder / "tests").glob("*/test_*.py")):
        group = path.parent.name
        spec = importlib.util.spec_from_file_location(f"peer_tests_{group}_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        for name, fn in vars(module).items():
            if name.startswith("test_") and callable(fn):
                if name in tests:
                    raise ValueError(f"test {name} defined twice")
                points = _marker(fn, "points")
                tests[name] = Test(
                    name, group, fn, float(points[0]) if points else 0.0, _marker(fn, "spec")
                )
    return tests


# -- what a test hands over ----------------------------------------------------------------------


class Other:
    """A value that is not plain data (what grader/wire.py sends as 'other'): only its type name
    is kept, and, as in our grader, it never equals anything."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def snapshot(value: Any, depth: int = 0) -> Any:
    """The value as it is now (tensors copied), in the kinds grader/wire.py knows."""
    t = type(value)
    if depth > 32:
        return Other("deeply nested value")
    if value is None or t in (bool, int, float, str):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, torch.dtype):
        return value
    if isinstance(value, torch.device):
        return torch.device(value.type)
    if isinstance(value, torch.Size):
        return tuple(int(x) for x in value)
    if t is tuple or t is list:
        return t(snapshot(x, depth + 1) for x in value)
    if t is dict or (isinstance(value, dict) and all(type(k) is str for k in value)):
        return {str(k): snapshot(v, depth + 1) for k, v in value.items()}
    return Other(f"{t.__module__}.{t.__qualname__}")


class Check:
    """The `check` fixture: keeps what the test hands over, in call order."""

    def __init__(self) -> None:
        self.values: list[dict[str, Any]] = []

    def __call__(
        self,
        value: Any,
        *,
        name: str = "",
        rtol: float | None = None,
        atol: float | None = None,
        constant: bool = False,
    ) -> None:
        self.values.append(
            {"rule": "equal", "value": snapshot(value), "name": name, "rtol": rtol, "atol": atol}
        )

    def raises(
        self, expected: type[BaseException], fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any exception is an outcome to judge
            outcome = {"raised": type(exc).__name__, "matches": isinstance(exc, expected)}
        else:
            outcome = {"raised": None, "matches": False}
        self.values.append(
            {"rule": "raises", "value": outcome, "expected": expected.__name__, "name": ""}
        )

    def property(self, value: Any, rule: str, *, name: str = "") -> None:
        self.values.append(
            {"rule": "property", "value": snapshot(value), "property": rule, "name": name}
        )


class Submission(types.SimpleNamespace):
    """The `sub` fixture: the notebook's names."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the submission does not define `{name}`")


def submission(namespace: dict[str, Any]) -> Submission:
    return Submission(
        **{k: v for k, v in namespace.items() if isinstance(k, str) and not k.startswith("__")}
    )


def run_instance(
    test: Test, sub: Submission, fixture: str | None, device: str | None
) -> tuple[list[dict[str, Any]], str]:
    """One run of a test function: what it handed to `check`, and the error it ended with."""
    check = Check()
    patch = pytest.MonkeyPatch()
    available = {"sub": sub, "check": check, "monkeypatch": patch, "seed": SEED}
    if fixture:
        available[fixture] = device
    kwargs = {name: available[name] for name in inspect.signature(test.fn).parameters}
    torch.default_generator.manual_seed(SEED)
    random.seed(SEED)
    error = ""
    try:
        test.fn(**kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a failing submission is data
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    finally:
        patch.undo()
    return check.values, error


# -- judging (the rules of grader/compare.py and grader/judge.py) ----------------------------------


def compare(expected: Any, got: Any, *, rtol: float, atol: float, path: str = "") -> str | None:
    """None when `got` is right, else what is wrong."""
    where = _where(path)
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"{where}expected a tensor, got {type(got).__name__}"
        return _compare_tensors(expected, got, rtol=rtol, atol=atol, where=where)
    if type(expected) is not type(got):
        return f"{where}expected {type(expected).__name__}, got {type(got).__name__}"
    if isinstance(expected, tuple | list):
        return _compare_sequences(expected, got, rtol=rtol, atol=atol, path=path)
    if isinstance(expected, dict):
        return _compare_dicts(expected, got, rtol=rtol, atol=atol, path=path)
    if isinstance(expected, float):
        if _floats_close(expected, got, rtol=rtol, atol=atol):
            return None
        return f"{where}expected {expected:.6g}, got {got:.6g}"
    if (
        expected != got
    ):  # Other never equals anything: it has no __eq__ and is never the same object
        return f"{where}expected {expected!r}, got {got!r}"[:300]
    return None


def _where(path: str) -> str:
    """The prefix that says where in the value a difference is ("" at the top)."""
    return f"{path}: " if path else ""


def _compare_sequences(
    expected: tuple | list, got: tuple | list, *, rtol: float, atol: float, path: str
) -> str | None:
    """Same length, then item by item: the first difference."""
    if len(expected) != len(got):
        return f"{_where(path)}expected {len(expected)} items, got {len(got)}"
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        if (msg := compare(e, g, rtol=rtol, atol=atol, path=f"{path}[{i}]")) is not None:
            return msg
    return None


def _compare_dicts(expected: dict, got: dict, *, rtol: float, atol: float, path: str) -> str | None:
    """Same keys, then value by value in the expected order: the first difference."""
    if set(expected) != set(got):
        return f"{_where(path)}keys differ"
    for key in expected:
        msg = compare(expected[key], got[key], rtol=rtol, atol=atol, path=f"{path}[{key!r}]")
        if msg is not None:
            return msg
    return None


def _floats_close(expected: float, got: float, *, rtol: float, atol: float) -> bool:
    """NaN matches only NaN, an infinity only itself, any other float within atol + rtol."""
    if expected != expected:
        return got != got
    if got != got:
        return False
    if abs(expected) == float("inf") or abs(got) == float("inf"):
        return expected == got
    return abs(expected - got) <= atol + rtol * abs(expected)


def _compare_tensors(
    expected: torch.Tensor, got: torch.Tensor, *, rtol: float, atol: float, where: str
) -> str | None:
    if tuple(expected.shape) != tuple(got.shape):
        return f"{where}expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if expected.dtype != got.dtype:
        return f"{where}expected dtype {expected.dtype}, got {got.dtype}"
    if expected.device.type != got.device.type:
        return f"{where}expected a tensor on {expected.device.type}, got one on {got.device.type}"
    if (
        expected.device.type == "meta"
        or expected.layout != torch.strided
        or got.layout != torch.strided
    ):
        return None  # no values to compare
    if expected.numel() == 0 or torch.equal(expected, got):
        return None
    if expected.is_floating_point() or expected.is_complex():
        wide = torch.complex128 if expected.is_complex() else torch.float64
        e, g = expected.to(wide), got.to(torch.complex128 if got.is_complex() else torch.float64)
        if ((~torch.isfinite(g)) & torch.isfinite(e)).any():
            return f"{where}not finite"
        same = (e == g) | (torch.isnan(e) & torch.isnan(g))
        bad = ~same & ((e - g).abs() > atol + rtol * e.abs())
    else:
        bad = expected != got
    if bad.any():
        return f"{where}{int(bad.sum())} of {expected.numel()} values off"
    return None


def load_properties(path: Path) -> dict[str, Callable[[Any], tuple[bool, str]]]:
    spec = importlib.util.spec_from_file_location("peer_properties", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        name: fn for name, fn in vars(module).items() if callable(fn) and not name.startswith("_")
    }


def judge_check(
    expected: dict[str, Any],
    got: dict[str, Any],
    properties: dict[str, Callable[[Any], tuple[bool, str]]],
) -> str | None:
    rule = expected["rule"]
    if got["rule"] != rule:
        return f"expected a {rule} check, got a {got['rule']} check"
    if rule == "equal":
        rtol = RTOL if expected["rtol"] is None else expected["rtol"]
        atol = ATOL if expected["atol"] is None else expected["atol"]
        return compare(expected["value"], got["value"], rtol=rtol, atol=atol)
    if rule == "raises":
        if got["value"]["matches"] is True and isinstance(got["value"]["raised"], str):
            return None
        return f"expected {expected['expected']} to be raised, got {got['value']['raised'] or 'nothing'}"
    ok, message = properties[expected["property"]](got["value"], seed=SEED)
    return None if ok else message


# -- the two entry points --------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _state() -> dict[str, Any]:
    if not _STATE:
        _STATE["tests"] = load_tests()
        _STATE["golden"] = torch.load(HERE / "golden.pt", weights_only=False)
        _STATE["properties"] = load_properties(HERE / "properties.py")
    return _STATE


def failures(name: str, namespace: dict[str, Any]) -> list[str]:
    """Why test `name` fails against the notebook's names (empty when it passes)."""
    state = _state()
    test: Test = state["tests"][name]
    sub = submission(namespace)
    runs = [
        (device, run_instance(test, sub, fixture, device)) for fixture, device in test.instances()
    ]
    out = []
    for device, (values, error) in runs:
        for i, expected in enumerate(state["golden"][test.key(device)]):
            label = expected["name"] or f"value {i + 1}"
            if i >= len(values):
                if device == "meta" and "meta" in error.lower():
                    break  # could not run on the meta device: not counted, as in our grader
                out.append(
                    f"{label}: {error or 'no value produced'}"
                    + (f" (on {device})" if device else "")
                )
                break
            if (verdict := judge_check(expected, values[i], state["properties"])) is not None:
                out.append(f"{label}: {verdict}" + (f" (on {device})" if device else ""))
                break
    return out


def run(name: str, namespace: dict[str, Any]) -> None:
    """Run test `name` against the notebook's names; AssertionError when it fails."""
    found = failures(name, namespace)
    if found:
        raise AssertionError(f"{name} failed: " + "; ".join(found))


def record(solution: Path, folder: Path = HERE) -> dict[str, Any]:
    """Run every test against the reference solution and save what it handed over to golden.pt."""
    module = types.ModuleType("ex2")
    exec(compile(solution.read_text(encoding="utf-8"), str(solution), "exec"), module.__dict__)  # noqa: S102
    sub = submission(module.__dict__)
    golden: dict[str, Any] = {}
    for test in load_tests(folder).values():
        for fixture, device in test.instances():
            values, error = run_instance(test, sub, fixture, device)
            if error and device != "meta":
                raise RuntimeError(f"the reference fails {test.key(device)}: {error}")
            golden[test.key(device)] = values
    torch.save(golden, folder / "golden.pt")
    return golden


def describe(folder: Path = HERE) -> list[dict[str, Any]]:
    """name, group, points and spec of every test, for the script that builds the peers' tests."""
    return [
        {"name": t.name, "group": t.group, "points": t.points, "spec": list(t.spec)}
        for t in load_tests(folder).values()
    ]
