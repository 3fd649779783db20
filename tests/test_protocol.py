"""The parent's side of the protocol: a child that lies about its tests, clocks and values.

Each test plays a child by writing lines into real pipes, then lets the parent's watcher
(`grader.runner._Watch`) read them with a plan made from (hand-made) golden values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterable

import pytest

from grader.framing import OVERSIZED, LineReader
from grader.protocol import clean_text
from grader.runner import Child, Observation, Plan, RunLimits, _Watch

LIMITS = RunLimits(
    test_timeout=0.6, load_timeout=0.6, total_timeout=20, memory_mb=4096, output_bytes=1 << 20
)
PLAN = Plan({"public/t.py::test_a": [5000, 5000], "public/t.py::test_b": [5000]})


class ScriptedChild(Child):
    """A child whose channel carries what a test writes; it 'exits' when the channel closes."""

    def __init__(self) -> None:
        self.channel, self._write = os.pipe()
        self.output, self._out_write = os.pipe()
        self.killed = False

    def send(self, *messages: dict | bytes) -> None:
        for m in messages:
            os.write(self._write, m if isinstance(m, bytes) else (json.dumps(m) + "\n").encode())

    def close(self) -> None:
        for fd in (self._write, self._out_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def on_channel_eof(self) -> None:
        self.exited, self.returncode = True, 0

    def kill(self) -> None:
        self.killed = True
        self.close()
        self.exited, self.returncode = True, -9


def watch(
    messages: Iterable[dict | bytes],
    *,
    plan: Plan | None = PLAN,
    keep_open: float = 0.0,
    limits: RunLimits = LIMITS,
) -> tuple[Observation, str, ScriptedChild]:
    child = ScriptedChild()
    obs = Observation()

    def play() -> None:
        try:
            for m in messages:
                child.send(m)
        except OSError:
            return  # killed: the pipe is gone
        time.sleep(keep_open)
        child.close()

    writer = threading.Thread(target=play)
    writer.start()
    status = _Watch(limits, obs, child, time.monotonic() + limits.total_timeout, 1, plan).loop()
    writer.join()
    child.close()
    for fd in (child.channel, child.output):
        os.close(fd)
    return obs, status, child


LOADED = {"t": "loaded", "errors": [], "shimmed": []}


def check(test: str, i: int, value: object = 1.0) -> dict:
    return {
        "t": "check",
        "id": test,
        "i": i,
        "rule": "equal",
        "v": {"k": "float", "v": value},
        "name": "",
    }


def test_an_honest_run_is_taken_as_sent():
    a = "public/t.py::test_a"
    obs, status, child = watch(
        [
            LOADED,
            {"t": "start", "id": a},
            check(a, 0),
            check(a, 1),
            {"t": "end", "id": a, "forbidden": [], "output": ""},
            {"t": "done"},
        ]
    )
    assert status == "finished" and not child.killed
    assert (
        sorted(obs.tests[a].checks) == [0, 1] and obs.tests[a].ended and not obs.tests[a].violations
    )


def test_a_test_cannot_start_twice_to_rearm_its_clock():
    a = "public/t.py::test_a"
    obs, status, child = watch(
        [
            LOADED,
            {"t": "start", "id": a},
            {"t": "end", "id": a, "forbidden": [], "output": ""},
            {"t": "start", "id": a},
        ]
    )
    assert child.killed and status == "died"
    assert "broke the grading protocol" in " ".join(obs.flags)


def test_a_test_started_again_from_inside_is_refused_and_fails():
    a = "public/t.py::test_a"
    obs, _, child = watch([LOADED, {"t": "start", "id": a}, {"t": "start", "id": a}])
    assert child.killed
    assert obs.tests[a].failure.startswith("broke the grading protocol")


def test_the_clock_of_a_test_is_the_parents():
    """A child that keeps sending (valid) values does not move its test's deadline."""
    a = "public/t.py::test_a"

    def forever() -> Iterable[dict]:
        yield LOADED
        yield {"t": "start", "id": a}
        for _ in range(100):
            yield {"t": "audit", "events": []}  # valid at any time: does it move the clock?
            time.sleep(0.05)

    started = time.monotonic()
    obs, status, child = watch(forever())
    assert child.killed and status == "died"
    assert time.monotonic() - started < 3
    assert obs.tests[a].failure == "timed out after 0.6 s"


def test_tests_run_in_the_plans_order_and_unknown_tests_are_refused():
    b = "public/t.py::test_b"
    obs, _, child = watch(
        [
            LOADED,
            {"t": "start", "id": b},
            {"t": "end", "id": b, "forbidden": [], "output": ""},
            {"t": "start", "id": "public/t.py::test_a"},
        ]
    )
    assert child.killed
    obs, _, child = watch([LOADED, {"t": "start", "id": "public/t.py::test_planted"}])
    assert child.killed and "public/t.py::test_planted" not in obs.tests


def test_a_check_the_golden_values_lack_or_a_second_value_fails_the_test():
    a = "public/t.py::test_a"
    obs, _, _ = watch(
        [
            LOADED,
            {"t": "start", "id": a},
            check(a, 0),
            check(a, 0, 2.0),
            check(a, 7),
            {"t": "end", "id": a, "forbidden": [], "output": ""},
            {"t": "done"},
        ]
    )
    run = obs.tests[a]
    assert run.checks[0]["v"]["v"] == 1.0  # the first value stands
    assert run.violations == [
        "sent two values for check 1",
        "sent a value for check 8, which this test does not have",
    ]


def test_values_outside_a_test_break_the_protocol():
    obs, _, child = watch([LOADED, check("public/t.py::test_a", 0)])
    assert child.killed


def test_an_oversized_value_fails_its_test_and_is_never_parsed():
    a = "public/t.py::test_a"
    huge = (
        b'{"t": "check", "id": "' + a.encode() + b'", "i": 0, "v": "' + b"x" * 2_000_000 + b'"}\n'
    )
    obs, _, child = watch([LOADED, {"t": "start", "id": a}, huge])
    assert child.killed and obs.tests[a].failure.startswith("broke the grading protocol")
    assert not obs.tests[a].checks


def test_checks_for_numbers_that_do_not_exist_cost_the_parent_nothing():
    a = "public/t.py::test_a"
    flood = [check(a, i, 1e300) for i in range(2, 20_000)]
    obs, _, _ = watch(
        [
            LOADED,
            {"t": "start", "id": a},
            *flood,
            {"t": "end", "id": a, "forbidden": [], "output": ""},
            {"t": "done"},
        ],
        limits=dataclasses.replace(LIMITS, test_timeout=20),  # what is kept is the point, not speed
    )
    assert obs.tests[a].checks == {} and len(obs.tests[a].violations) == 19_998
    # what is kept per violation is one short line, never the value


def test_strings_from_the_child_are_cleaned():
    a = "public/t.py::test_a"
    nasty = "\x1b[2J\x1b[31mpassed\x1b[0m\r\x00\udcff" + "é" * 10
    obs, _, _ = watch(
        [
            LOADED,
            {"t": "start", "id": a},
            {"t": "end", "id": a, "forbidden": [], "output": nasty, "error": nasty * 100},
            {"t": "done"},
        ]
    )
    run = obs.tests[a]
    assert run.output == "passed?" + "é" * 10
    assert len(run.error) <= 500 and "\x1b" not in run.error
    run.error.encode("utf-8")  # no lone surrogate survives


@pytest.mark.parametrize(
    ("text", "want"), [("ok", "ok"), ("\x1b]0;title\x07x", "x"), ("a\u202eb", "ab"), (123, "")]
)
def test_clean_text(text: object, want: str) -> None:
    assert clean_text(text, 100) == want


def test_line_reader_drops_an_endless_line_without_holding_it():
    reader = LineReader(limit=100)
    assert list(reader.feed(b"a" * 60)) == []
    assert list(reader.feed(b"b" * 10_000)) == []
    assert reader._size > 100 and sum(map(len, reader._parts)) <= 100
    assert list(reader.feed(b"c\nshort\n")) == [OVERSIZED, b"short"]
