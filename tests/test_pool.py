"""Warm workers: the same grades as a cold child, a clean slate for every submission."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader.grading import Options, grade, run_limits, secret_folders
from grader.pool import PoolClosed, WarmPool, WarmWorker
from grader.result import Status
from grader.sandbox import Sandbox

POOL = ROOT / "tests" / "submissions" / "pool"


@pytest.fixture(scope="module")
def worker(ex2):
    options = Options(devices=["cpu", "meta"], test_timeout=3)
    w = WarmWorker(
        Sandbox(hide=secret_folders(ex2, SUBMISSIONS / "x.py", options)), run_limits(ex2, options)
    )
    w.start()
    yield w
    w.close()


def _grade(ex2, worker, path: Path, **kw):
    return grade(ex2, path, Options(devices=["cpu", "meta"], worker=worker, test_timeout=3, **kw))


@pytest.mark.parametrize("name", ["alternative.py", "bug_softmax.py", "missing_half.py"])
def test_warm_grades_equal_cold_grades(ex2, worker, grade_file, name):
    warm = _grade(ex2, worker, SUBMISSIONS / name)
    cold = grade_file(SUBMISSIONS / name)
    assert [(t.name, t.score, t.reason) for t in warm.tests] == [
        (t.name, t.score, t.reason) for t in cold.tests
    ]


def test_a_hang_costs_its_tests_and_the_worker_goes_on(ex2, worker, tmp_path):
    source = (ROOT / "reference/ex2/solution.py").read_text()
    hang = tmp_path / "hang.py"
    hang.write_text(source + "\n\ndef softmax(z, dim=-1):\n    while True:\n        pass\n")
    result = _grade(ex2, worker, hang)
    lost = [t for t in result.tests if t.status is Status.failed]
    assert lost and all("softmax" in t.tags for t in lost)
    assert any(t.reason == "timed out after 3 s in `softmax`" for t in lost)
    after = _grade(ex2, worker, SUBMISSIONS / "alternative.py")
    assert after.score == 100


def test_nothing_survives_into_the_next_submission(ex2, worker):
    first = _grade(ex2, worker, POOL / "leaves_daemon_and_file.py", hidden=False)
    relu_first = [t for t in first.tests if t.tags[0] == "relu"]
    assert relu_first and all(t.status is Status.passed for t in relu_first)
    second = _grade(ex2, worker, POOL / "looks_for_left_overs.py", hidden=False)
    relu_second = [t for t in second.tests if t.tags[0] == "relu"]
    assert relu_second and all(t.status is Status.passed for t in relu_second), [
        t.reason for t in relu_second
    ]


def test_a_worker_killed_from_outside_is_replaced(ex2, worker):
    worker.proc.kill()
    worker.proc.wait()
    assert _grade(ex2, worker, SUBMISSIONS / "alternative.py").score == 100


def test_what_a_killed_child_printed_reaches_no_later_child(ex2, worker, tmp_path, monkeypatch):
    """pytest's capture files are the worker's, shared by every child it forks: a child killed in the
    middle of a test leaves what it printed there, and neither its own restart nor the next
    submission may find it in their output."""
    marker = "printed-by-the-previous-child"
    source = (ROOT / "reference/ex2/solution.py").read_text()
    hang = tmp_path / "prints_then_hangs.py"
    hang.write_text(
        source
        + f"\n\ndef relu(x):\n    print({marker!r}, flush=True)\n    while True:\n        pass\n"
    )
    seen = []
    run = worker.run
    monkeypatch.setattr(worker, "run", lambda job: seen.append(run(job)) or seen[-1])

    hung = _grade(ex2, worker, hang, hidden=False)
    after = _grade(ex2, worker, SUBMISSIONS / "alternative.py", hidden=False)

    assert any(
        t.reason == "timed out after 3 s in `relu`" for t in hung.tests
    )  # it was killed mid-test
    assert after.score == after.graded_max_score
    outputs = [test.output for obs in seen for test in obs.tests.values()] + [
        obs.output.decode() for obs in seen
    ]
    assert len(seen) == 2 and sum(len(obs.tests) for obs in seen) > 50
    assert not [text for text in outputs if marker in text]


def test_a_worker_collects_again_when_the_tests_change(ex2, worker, monkeypatch):
    """One worker, public tests only, then public and hidden: each run collects exactly its tests."""
    seen = []
    run = worker.run
    monkeypatch.setattr(worker, "run", lambda job: seen.append(run(job)) or seen[-1])
    for hidden in (False, True, False):
        result = _grade(ex2, worker, SUBMISSIONS / "alternative.py", hidden=hidden)
        assert result.score == result.graded_max_score == (100 if hidden else 60)
    groups = [{entry["id"].split("/")[0] for entry in obs.collected} for obs in seen]
    assert groups == [{"public"}, {"public", "hidden"}, {"public"}]


def test_a_pool_lends_a_worker_for_each_run_and_closes_after_the_last(ex2, tmp_path):
    """A batch's grading threads share its warm workers run by run: three grades at once through
    one worker all come out right. Closed while a run holds the worker, the pool lets that run
    finish, then closes the worker; a run that asks after that gets none."""
    options = Options(devices=["cpu", "meta"], test_timeout=3)
    one = WarmWorker(
        Sandbox(hide=secret_folders(ex2, SUBMISSIONS / "x.py", options)), run_limits(ex2, options)
    )
    pool = WarmPool([one])

    def grade_(path: Path):
        return grade(ex2, path, Options(devices=["cpu", "meta"], worker=pool, hidden=False))

    names = ["alternative.py", "bug_relu.py", "alternative.py"]
    with ThreadPoolExecutor(max_workers=3) as threads:
        results = list(threads.map(grade_, [SUBMISSIONS / n for n in names]))
    assert all(t.status is Status.passed for r in results[::2] for t in r.tests)
    failed = {t.tags[0] for t in results[1].tests if t.status is Status.failed}
    assert failed == {"relu"}

    slow = tmp_path / "slow.py"
    slow.write_text(
        (ROOT / "reference/ex2/solution.py").read_text() + "\nimport time\ntime.sleep(2)\n"
    )
    with ThreadPoolExecutor(max_workers=1) as threads:
        running = threads.submit(grade_, slow)
        deadline = time.monotonic() + 60
        while not pool.free.empty() and time.monotonic() < deadline:  # the run holds the worker
            time.sleep(0.05)
        pool.close()
        with pytest.raises(PoolClosed):
            grade_(SUBMISSIONS / "alternative.py")
        # the run it closed under ended as it would have
        assert all(t.status is Status.passed for t in running.result().tests)
    assert not one.alive()
