"""The judge on hand-made observations: devices the recording machine did not have, missing runs."""

from __future__ import annotations

import torch

from grader.config import ExerciseConfig, Part
from grader.golden import GoldenSet, GoldenTest
from grader.judge import Judge, instances
from grader.runner import Observation, TestRun
from grader.wire import encode

CONFIG = ExerciseConfig(
    name="x", title="X", module="x", parts=[Part(name="P", points=2, functions=["f"])]
)


def _checks(*values: object) -> list[dict]:
    return [
        {"rule": "equal", "v": encode(v)} for v in values
    ]  # as recorded (and as a child sends them)


def _golden() -> GoldenSet:
    cpu_in = torch.ones(2)
    tests = {
        # check 0 is computed on the CPU by the test itself, check 1 follows the device under test
        "public/t.py::test_f[cpu]": GoldenTest(
            "public/t.py::test_f[cpu]", 2, ["f"], "", _checks(cpu_in, cpu_in * 2)
        ),
        "public/t.py::test_f[meta]": GoldenTest(
            "public/t.py::test_f[meta]",
            2,
            ["f"],
            "",
            _checks(cpu_in, torch.empty(2, device="meta")),
        ),
    }
    return GoldenSet("public", "v", tests)


def _run(first: torch.Tensor, second: torch.Tensor, device: str) -> TestRun:
    def on(t: torch.Tensor, where: str) -> dict:
        node = encode(t)
        node["device"] = where  # as a child on that machine would have sent it
        return node

    return TestRun(
        checks={
            0: {"rule": "equal", "v": on(first, "cpu")},
            1: {"rule": "equal", "v": on(second, device)},
        },
        ended=True,
    )


def test_instances_swap_the_device_parameter():
    assert instances("p.py::t[cpu]", ["cpu", "cuda", "meta"]) == [
        ("p.py::t[cpu]", "cpu"),
        ("p.py::t[cuda]", "cuda"),
    ]
    assert instances("p.py::t[float64-cpu]", ["cpu", "mps", "meta"]) == [
        ("p.py::t[float64-cpu]", "cpu"),
        ("p.py::t[float64-mps]", "mps"),
    ]
    assert instances("p.py::t[meta]", ["cpu"]) == []
    assert instances("p.py::t", ["cpu", "cuda"]) == [("p.py::t", None)]


def test_accelerator_values_follow_the_recorded_meta_run():
    judge = Judge(CONFIG, {}, ["cpu", "cuda", "meta"])
    obs = Observation(
        tests={
            "public/t.py::test_f[cpu]": _run(torch.ones(2), torch.ones(2) * 2, "cpu"),
            "public/t.py::test_f[cuda]": _run(torch.ones(2), torch.ones(2) * 2, "cuda"),
            "public/t.py::test_f[meta]": TestRun(
                checks={
                    0: {"rule": "equal", "v": encode(torch.ones(2))},
                    1: {"rule": "equal", "v": encode(torch.empty(2, device="meta"))},
                },
                ended=True,
            ),
        }
    )
    [result] = judge.grade(_golden(), obs)
    assert (result.status, result.score) == ("passed", 2)


def test_a_hard_coded_cpu_fails_on_the_accelerator():
    judge = Judge(CONFIG, {}, ["cpu", "cuda", "meta"])
    obs = Observation(
        tests={
            "public/t.py::test_f[cpu]": _run(torch.ones(2), torch.ones(2) * 2, "cpu"),
            "public/t.py::test_f[cuda]": _run(torch.ones(2), torch.ones(2) * 2, "cpu"),
            "public/t.py::test_f[meta]": TestRun(
                checks={
                    0: {"rule": "equal", "v": encode(torch.ones(2))},
                    1: {"rule": "equal", "v": encode(torch.empty(2, device="meta"))},
                },
                ended=True,
            ),
        }
    )
    [result] = judge.grade(_golden(), obs)
    assert result.status == "failed"
    assert result.reason == "value 2: expected a tensor on cuda, got one on cpu (on cuda)"


def test_a_device_run_that_never_happened_fails():
    judge = Judge(CONFIG, {}, ["cpu", "cuda", "meta"])
    obs = Observation(
        tests={"public/t.py::test_f[cpu]": _run(torch.ones(2), torch.ones(2) * 2, "cpu")}
    )
    [result] = judge.grade(_golden(), obs)
    assert result.reason == "did not run (on cuda)"


# -- messages that say what to fix -----------------------------------------------------------------


def _one(checks: list[dict], run: TestRun, *, group: str = "public", **extra: object) -> str:
    test = GoldenTest("public/t.py::test_f", 2, ["f"], "", checks, **extra)
    judge = Judge(CONFIG, {}, ["cpu"])
    [result] = judge.grade(
        GoldenSet(group, "v", {test.key: test}), Observation(tests={test.key: run})
    )
    return result.reason


def _sent(*values: object, **run: object) -> TestRun:
    return TestRun(
        checks={i: {"rule": "equal", "v": encode(v)} for i, v in enumerate(values)},
        ended=True,
        **run,
    )


def test_a_value_matching_a_known_mistake_is_named():
    right, wrong = torch.tensor([0.25, 0.75]), torch.tensor([0.5, 0.5])
    checks = _checks(right)
    checks[0]["wrong"] = [{"id": "m", "says": "softmax over dim 0", "v": encode(wrong)}]
    public = _one(checks, _sent(wrong + 1e-7))  # within the check's tolerance
    assert public.startswith("looks like softmax over dim 0 (max abs diff 0.25")
    assert _one(checks, _sent(wrong), group="hidden") == "looks like softmax over dim 0"
    assert "looks like" not in _one(checks, _sent(torch.tensor([0.1, 0.9])), group="hidden")
    assert _one(checks, _sent(right)) == ""


def test_nan_is_not_finite_not_off_by_nan():
    reason = _one(_checks([0.5, 0.25]), _sent([0.5, float("nan")]))
    assert reason == "[1]: not finite: got nan (expected 0.25)"
    assert _one(_checks(0.5), _sent(float("inf")), group="hidden") == "not finite: got inf"


def test_a_derived_value_is_explained_in_terms_of_the_students_functions():
    checks = [{"rule": "equal", "v": encode(10.0), "name": "samples per parameter"}]
    reason = _one(
        checks, _sent(11.25), group="hidden", derived={"samples per parameter": "g(m) / f(m)"}
    )
    assert reason == (
        "samples per parameter: wrong value: got 11.25; "
        "the test computes it as g(m) / f(m), from your own functions"
    )


def test_load_state_dict_errors_keep_the_names_that_differ():
    error = (
        "RuntimeError: Error(s) in loading state_dict for LinearModel: Missing key(s) in "
        'state_dict: "fc.weight", "fc.bias". Unexpected key(s) in state_dict: "linear.weight", '
        '"linear.bias".'
    )
    reason = _one(_checks(1.0), TestRun(ended=True, error=error))
    assert reason == (
        "loading the task's weights into LinearModel failed: the task's \"linear.weight\", "
        '"linear.bias" are not parameters of it; it has "fc.weight", "fc.bias", which the task '
        "does not name (name the layers as the task says)"
    )


def test_the_child_keeps_the_lines_after_a_colon_of_an_error():
    from grader.child.plugin import first_line

    exc = RuntimeError(
        'Error(s) in loading state_dict for MLP:\n\tMissing key(s) in state_dict: "a". \n\t'
        'Unexpected key(s) in state_dict: "b". '
    )
    assert first_line(exc) == (
        'RuntimeError: Error(s) in loading state_dict for MLP: Missing key(s) in state_dict: "a". '
        'Unexpected key(s) in state_dict: "b".'
    )
    assert first_line(ValueError("one line\nand a second")) == "ValueError: one line"


# -- how, from the child's counts (a hint that can only take points away) ---------------------------


def test_more_matrix_products_than_the_reference_is_a_loop_over_the_rows():
    how = {"how": ("vectorised",), "ops": {"matmul": 2, "autograd": 0}}
    looped = _sent(torch.ones(2), ops={"matmul": 9, "autograd": 0})
    assert _one(_checks(torch.ones(2)), looped, **how) == (
        "loops over the rows in Python: 9 matrix products where 2 do"
    )
    same = _sent(torch.ones(2), ops={"matmul": 2, "autograd": 0})
    assert _one(_checks(torch.ones(2)), same, **how) == ""
    assert _one(_checks(torch.ones(2)), looped, ops={"matmul": 2}) == ""  # no `how`: no judgement


def test_no_autograd_where_the_reference_ran_it_is_a_gradient_by_hand():
    how = {"how": ("autograd",), "ops": {"matmul": 0, "autograd": 2}}
    by_hand = _sent(torch.ones(2), ops={"matmul": 0, "autograd": 0})
    assert _one(_checks(torch.ones(2)), by_hand, **how).startswith(
        "computes the gradient by hand: autograd never ran"
    )
    with_autograd = _sent(torch.ones(2), ops={"matmul": 0, "autograd": 1})
    assert _one(_checks(torch.ones(2)), with_autograd, **how) == ""


def test_a_failure_hints_at_a_used_function_only_while_that_one_fails():
    from grader.judge import dependency_hints
    from grader.result import Status, TestResult, Visibility

    def result(name: str, tag: str, status: Status) -> TestResult:
        return TestResult(
            name=name, part="P", tags=[tag], max_score=1, score=0, status=status,
            reason="wrong value: got 1" if status is Status.failed else "", visibility=Visibility.visible,
        )  # fmt: skip

    tests = {
        "public/t.py::test_g": GoldenTest("public/t.py::test_g", 1, ["g"], "", _checks(1.0)),
        "public/t.py::test_t": GoldenTest(
            "public/t.py::test_t", 1, ["t"], "", _checks(1.0), uses=("g",)
        ),
    }
    results = [result("test_g", "g", Status.failed), result("test_t", "t", Status.failed)]
    dependency_hints([GoldenSet("public", "v", tests)], results)
    assert results[1].reason == ("wrong value: got 1; may come from `g`, which fails its own tests")
    assert results[0].reason == "wrong value: got 1"
    results = [result("test_g", "g", Status.passed), result("test_t", "t", Status.failed)]
    dependency_hints([GoldenSet("public", "v", tests)], results)
    assert results[1].reason == "wrong value: got 1"
