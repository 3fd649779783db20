"""Optimizers without torch._dynamo: the same numbers, torch.compile still works, no child imports it.

The child gives the optimizers' Dynamo wrappers stand-ins (`grader/child/dynamo.py`) so that a
submission that never compiles anything does not pay a second of imports. These tests hold it to
"nothing else changes": every result bit for bit as with torch's own wrappers, in fresh processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

from grader import runner
from grader.grading import Options, run_limits, secret_folders
from grader.pool import WarmWorker
from grader.runner import ChildRunner, TestFile
from grader.sandbox import Sandbox
from grader.wire import decode

SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    if sys.argv[1] == "defer":
        from grader.child.dynamo import defer_dynamo_import
        assert defer_dynamo_import() > 0
    out = {}
    torch.manual_seed(0)
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]:
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
        kwargs = {"momentum": 0.9} if name == "SGD" else {}
        opt = getattr(torch.optim, name)(model.parameters(), lr=0.05, **kwargs)
        for _ in range(4):
            opt.zero_grad()
            model(torch.randn(8, 3)).pow(2).mean().backward()
            opt.step()
        opt.load_state_dict(opt.state_dict())
        out[name] = [p.detach().flatten().tolist() for p in model.parameters()]
    with torch.no_grad():
        opt.step()  # step() turns gradients off inside and back on after, like torch's
    out["grad enabled after step"] = torch.is_grad_enabled()
    out["meta stack"] = list(torch.stack([torch.ones(2, 3, device="meta")] * 4).shape)
    out["dynamo before compiling"] = "torch._dynamo" in sys.modules

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    @torch.compile(backend="eager")
    def train_step(x):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()

    for _ in range(3):
        train_step(torch.ones(5, 2))
    out["compiled"] = [p.detach().flatten().tolist() for p in model.parameters()]
    out["dynamo after compiling"] = "torch._dynamo" in sys.modules
    print(json.dumps(out))
""")


def _run(mode: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_deferred_optimizers_give_torchs_numbers_and_compile_still_works():
    torchs, deferred = _run("torch"), _run("defer")
    assert torchs.pop("dynamo before compiling") is True  # what the deferral saves
    assert deferred.pop("dynamo before compiling") is False
    assert deferred == torchs  # every parameter bit for bit, before and after compiling
    assert deferred["dynamo after compiling"] is True
    assert deferred["grad enabled after step"] is True


PROBE = textwrap.dedent('''
    import sys

    import pytest
    import torch
    from torch import nn


    @pytest.mark.points(1)
    @pytest.mark.spec("train")
    def test_training_on_cpu_and_meta(sub, check):
        """Trains with SGD and Adam, stacks on the meta device, then says whether torch._dynamo was imported."""
        X, y = torch.randn(16, 2), torch.randn(16, 1)
        for optimizer in ("sgd", "adam"):
            check(len(sub.train(nn.Linear(2, 1), X, y, loss_fn=lambda p, t: ((p - t) ** 2).mean(), epochs=2,
                                batch_size=4, lr=0.1, optimizer=optimizer)), name=optimizer)
        check(tuple(sub.stack_images([torch.zeros(1, 2, 2, device="meta")] * 3).shape), name="meta")
        check("torch._dynamo" in sys.modules, name="torch._dynamo imported")
''')


@pytest.fixture
def probe_job(ex2, tmp_path):
    test = tmp_path / "test_probe.py"
    test.write_text(PROBE)
    solution = ex2.solution_path
    job = {
        "cells": [{"index": 0, "label": solution.name, "source": solution.read_text()}],
        "devices": ["cpu", "meta"],
        "forbidden": {},
        "module_name": "ex2",
        "threads": 1,
    }
    return [TestFile("public", test)], job


def _probe_values(obs) -> list:
    (run,) = obs.tests.values()
    assert run.ended and not run.error, run
    return [decode(run.checks[i]["v"]) for i in sorted(run.checks)]


def test_a_cold_child_trains_without_importing_dynamo(ex2, probe_job):
    files, job = probe_job
    options = Options(devices=["cpu", "meta"])
    cold = ChildRunner(
        sandbox=Sandbox(hide=secret_folders(ex2, ROOT / "tests" / "x.py", options)),
        limits=run_limits(ex2, options),
    )
    assert _probe_values(cold.run(files=files, job=job)) == [2, 2, (3, 1, 2, 2), False]


def test_a_warm_workers_child_trains_without_importing_dynamo(ex2, probe_job):
    files, job = probe_job
    options = Options(devices=["cpu", "meta"])
    worker = WarmWorker(
        Sandbox(hide=secret_folders(ex2, ROOT / "tests" / "x.py", options)),
        run_limits(ex2, options),
    )
    try:
        worker.start()
        obs = worker.run(dict(job, test_files=runner.test_sources(files)))
    finally:
        worker.close()
    assert _probe_values(obs) == [2, 2, (3, 1, 2, 2), False]
