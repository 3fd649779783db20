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
