"""One warm worker, one student after another: what a submission leaves behind never reaches the next.

A batch (`grade batch --jobs 1`) grades every student on one warm worker, forking a child per
submission. Each hostile submission here attacks whoever is forked after it (forged messages held
in the pipes, a locked scratch folder, System V objects, shared memory that no process maps); the
two correct students graded next on the same worker must get exactly the grade they get on a
worker nothing hostile ran on. See grader/pool.py and grader/child/worker.py for how.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader.grading import Options, grade, run_limits, secret_folders
from grader.pool import WarmChild, WarmWorker
from grader.result import GradeResult, Status
from grader.sandbox import UID_BASE, Cgroup, Sandbox, _cgroup2_mount, _own_cgroup, sysv_shm_kb

POOL = ROOT / "tests" / "submissions" / "pool"
REFERENCE = ROOT / "reference" / "ex2" / "solution.py"
MEMORY_MB = 1024
ATTACK_KEY = 0x67726431  # leaves_sysv_ipc.py's System V key


def _options(**kw) -> Options:
    return Options(devices=["cpu", "meta"], test_timeout=10, memory_mb=MEMORY_MB, seed=0, **kw)


@pytest.fixture(scope="module")
def worker(ex2):
    w = WarmWorker(
        Sandbox(hide=secret_folders(ex2, SUBMISSIONS / "x.py", _options())),
        run_limits(ex2, _options()),
    )
    w.start()
    yield w
    w.close()


def _grade(ex2, worker: WarmWorker, path: Path) -> GradeResult:
    return grade(ex2, path, _options(worker=worker))


def outcome(result: GradeResult) -> tuple:
    return (
        result.score,
        result.graded_max_score,
        result.error,
        sorted(result.flags),
        [(t.name, t.status, t.reason) for t in result.tests],
    )


@pytest.fixture(scope="module")
def clean(ex2, worker) -> tuple:
    """The reference's grade on this worker before anything hostile ran on it."""
    result = _grade(ex2, worker, REFERENCE)
    assert result.score == result.graded_max_score == 100.0, [
        (t.name, t.reason) for t in result.tests if t.reason
    ]
    return outcome(result)


def _host_sysv() -> set[tuple[str, str]]:
    """System V objects of the host's IPC namespace (what `ipcs` lists) made by a sandbox's user id."""
    found = set()
    for kind, uid_column in (("shm", 7), ("sem", 4), ("msg", 7)):
        with open(f"/proc/sysvipc/{kind}") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) > uid_column and int(fields[uid_column]) >= UID_BASE:
                    found.add((kind, fields[1]))
    return found


@pytest.fixture
def host_sysv():
    """The host's System V objects before the test; any a sandbox left on the host is removed after
    (a failing run must not leave a gigabyte of shared memory behind)."""
    before = _host_sysv()
    yield before
    import ctypes

    libc = ctypes.CDLL(None)
    for kind, ident in _host_sysv() - before:
        {
            "shm": lambda i: libc.shmctl(i, 0, None),
            "sem": lambda i: libc.semctl(i, 0, 0),
            "msg": lambda i: libc.msgctl(i, 0, None),
        }[kind](int(ident))


@pytest.mark.parametrize(
    "attack",
    [
        "floods_the_channel.py",
        "locks_the_scratch_folder.py",
        "leaves_sysv_ipc.py",
        "leaves_daemon_and_file.py",
    ],
)
def test_the_next_two_students_get_their_own_grade(ex2, worker, clean, host_sysv, attack):
    """The attack first, then two correct students on the same worker: each gets 100, with not one
    flag or reason more than on a worker nothing hostile ran on."""
    _grade(ex2, worker, POOL / attack)
    after = [outcome(_grade(ex2, worker, REFERENCE)) for _ in range(2)]
    assert after == [clean, clean]
    assert _host_sysv() == host_sysv


@pytest.mark.parametrize(
    ("attack", "looker"),
    [
        ("leaves_sysv_ipc.py", "looks_for_sysv_ipc.py"),
        ("locks_the_scratch_folder.py", "looks_for_left_overs.py"),
    ],
)
def test_the_next_submission_finds_nothing_left(ex2, worker, host_sysv, attack, looker):
    """Right after the attack, a submission that looks for its leftovers (System V objects under the
    attack's keys, /dev/shm, files and daemons) finds none: its relu tests, which fail for each
    leftover found, pass. And nothing reached the host's IPC namespace (`ipcs`)."""
    _grade(ex2, worker, POOL / attack)
    looked = _grade(ex2, worker, POOL / looker)
    relu = [t for t in looked.tests if "relu" in t.tags]
    assert relu and all(t.status is Status.passed for t in relu), [t.reason for t in relu]
    assert _host_sysv() == host_sysv


def test_shared_memory_no_process_maps_counts_against_its_submission(
    ex2, worker, host_sysv, tmp_path
):
    """A correct solution whose horizontal_flip fills a gigabyte of System V shared memory held by no
    process's mapping: those tests fail for memory (the others pass), and the segments go with it."""
    hoarder = tmp_path / "hoards.py"
    hoarder.write_text(
        REFERENCE.read_text() + "\n\n" + (POOL / "hoards_sysv_memory.py").read_text()
    )
    result = _grade(ex2, worker, hoarder)
    lost = [t for t in result.tests if t.status is Status.failed]
    assert lost and all("horizontal_flip" in t.tags for t in lost), [
        (t.name, t.reason) for t in lost
    ]
    assert {t.reason for t in lost} == {
        f"used more memory than allowed ({MEMORY_MB} MB) in `horizontal_flip`"
    }
    assert _host_sysv() == host_sysv
    assert (
        worker.sysv is None or sysv_shm_kb(worker.sysv) == 0
    )  # nothing left in the worker's namespace either


def test_the_sandbox_says_how_memory_is_counted(ex2, worker, clean):
    protections = _grade(ex2, worker, REFERENCE).protections
    assert {"private IPC", "private scratch tmpfs"} <= set(protections)
    counted = (
        "memory counted by cgroup v2"
        if worker.sandbox.memory_accounting == "cgroup"
        else "memory counted from /proc"
    )
    assert counted in protections


def test_a_worker_that_cannot_check_its_clean_up_is_replaced(ex2):
    """Without namespaces the worker cannot see what a child left (a daemon, a System V object): it
    says so after each child, and is replaced before the next fork."""
    options = _options()
    worker = WarmWorker(Sandbox(namespaces=False), run_limits(ex2, options))
    try:
        for _ in range(2):
            result = grade(ex2, REFERENCE, _options(worker=worker))
            assert result.score == 100.0
        assert len(worker.replaced) == 2 and "no namespaces" in worker.replaced[0][0]
    finally:
        worker.close()


# -- the cgroup v2 path, as far as it runs without a cgroup v2 memory controller ----------------------


class _Stub:
    """What a WarmChild needs of its worker, for the verdict alone."""

    def __init__(self, cgroup: Cgroup) -> None:
        self.cgroup, self.status, self.pending, self.limits = cgroup, -1, b"", run_limits_stub()
        self.proc, self.unclean = object(), []


def run_limits_stub():
    class Limits:
        memory_mb = MEMORY_MB

    return Limits()


def test_a_child_the_kernel_killed_at_its_memory_limit_fails_for_memory(tmp_path):
    """cgroup v2: `memory.max` is the limit; a child killed by the kernel's OOM killer inside the
    cgroup is reported as over the limit (the parent's next look at its memory), not as a crash."""
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    (tmp_path / "memory.stat").write_text("anon 104857600\nfile 4096\nshmem 52428800\n")
    cgroup = Cgroup(tmp_path)
    assert cgroup.memory_kb() == 150 * 1024 and cgroup.oom_kills() == 0
    r, w = os.pipe()
    child = WarmChild(_Stub(cgroup), r, w)  # type: ignore[arg-type]
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    child._reply({"t": "exited", "status": signal.SIGKILL})
    assert not child.exited and child.memory_kb() > MEMORY_MB * 1024
    child.kill()
    assert child.exited and child.returncode == -signal.SIGKILL
    child.finish()


def test_cgroup_v2_is_found_from_proc(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "24 1 0:21 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "35 24 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    )
    cgroup = tmp_path / "cgroup"
    cgroup.write_text("4:memory:/x\n0::/system.slice/grade.service\n")
    assert _cgroup2_mount(mountinfo) == Path("/sys/fs/cgroup/unified")
    assert _own_cgroup(cgroup) == "/system.slice/grade.service"
