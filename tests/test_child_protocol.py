"""The child's side of a test's run: what it says of each test, whichever way pytest runs it.

A plain test runs bare (set-up, call and tear-down under one capture, none of pytest's reports);
a test with a skip mark or a capture fixture runs through pytest's own protocol. Both must tell
the parent the same things: where each test starts and ends, its first error in one line, the
output it printed, and inputs seeded afresh for every test. The child here is a real process
running the real plugin over a real test file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TESTS = """
import pytest
import torch


def test_prints(check):
    print("hello from a plain test")
    check(1, name="one")


@pytest.fixture
def broken():
    raise RuntimeError("the fixture broke")


def test_set_up_fails(broken):
    print("never printed")


@pytest.fixture
def bad_teardown():
    yield 1
    raise RuntimeError("the teardown broke")


def test_tear_down_fails(bad_teardown, check):
    check(bad_teardown, name="value")


def test_call_fails(sub):
    sub.nothing_here()


@pytest.mark.skip(reason="not today")
def test_skipped(check):
    check(2, name="never sent")


def test_capsys(capsys):
    print("read by the test")
    assert capsys.readouterr().out == "read by the test\\n"
    print("left for the parent")


def test_draws_a(check, seed):
    check(torch.rand(3), name="draw")


def test_draws_b(check, seed):
    check(torch.rand(3), name="draw")
"""

CHILD = r"""
import json, os, sys, threading
job = json.loads(sys.stdin.read())
r, w = os.pipe()
chunks = []
reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(r, 1 << 16), b"")))
reader.start()
job["fd"] = w
from grader.child.plugin import run
run(job)
os.close(w)
reader.join()
with open(sys.argv[1], "wb") as f:
    f.write(b"".join(chunks))
"""


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Test name -> what the child said of it: its end message, and the checks it sent."""
    tmp = tmp_path_factory.mktemp("child")
    job = {
        "cwd": str(tmp),
        "devices": ["cpu"],
        "forbidden": {},
        "module_name": "sub",
        "seed": 7,
        "test_files": [{"group": "public", "name": "test_t.py", "source": TESTS}],
        "cells": [{"index": 0, "label": "sub.py", "source": "x = 1\n"}],
    }
    out = tmp / "messages"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    messages = [json.loads(line) for line in out.read_bytes().splitlines()]
    tests: dict[str, dict] = {}
    for m in messages:
        name = str(m.get("id", "")).rpartition("::")[2]
        if m["t"] == "start":
            assert name not in tests, f"{name} started twice"
            tests[name] = {"checks": []}
        elif m["t"] == "check":
            tests[name]["checks"].append(m)
        elif m["t"] == "end":
            tests[name]["end"] = m
    return tests


def test_every_test_starts_once_and_ends(told: dict[str, dict]) -> None:
    names = TESTS.count("\ndef test_")
    assert len(told) == names
    assert all("end" in t for t in told.values())


def test_a_plain_tests_output_and_checks_reach_the_parent(told: dict[str, dict]) -> None:
    end = told["test_prints"]["end"]
    assert "error" not in end
    assert "hello from a plain test" in end["output"]
    assert [c["name"] for c in told["test_prints"]["checks"]] == ["one"]


def test_each_phase_fails_its_test_in_one_line(told: dict[str, dict]) -> None:
    assert told["test_set_up_fails"]["end"]["error"] == "test setup failed"
    assert "never printed" not in told["test_set_up_fails"]["end"]["output"]
    assert told["test_tear_down_fails"]["end"]["error"] == "test teardown failed"
    assert [c["name"] for c in told["test_tear_down_fails"]["checks"]] == ["value"]
    call = told["test_call_fails"]["end"]["error"]
    assert call.startswith("AttributeError: the submission does not define `nothing_here`")


def test_a_skip_mark_is_pytests_own(told: dict[str, dict]) -> None:
    skipped = told["test_skipped"]
    assert skipped["checks"] == [] and "error" not in skipped["end"]


def test_a_capture_fixture_keeps_what_it_read(told: dict[str, dict]) -> None:
    end = told["test_capsys"]["end"]
    assert "error" not in end
    assert "left for the parent" in end["output"]
    assert "read by the test" not in end["output"]


def test_every_test_draws_from_the_same_seeded_start(told: dict[str, dict]) -> None:
    a, b = told["test_draws_a"]["checks"], told["test_draws_b"]["checks"]
    assert len(a) == len(b) == 1
    assert a[0]["v"] == b[0]["v"]
