"""Red team: real hostile submissions, graded in the real sandbox, must each get exactly their outcome.

Every file in `tests/submissions/hostile/` is one attack on the grader, and its docstring says which
and the outcome it must get: cheating (patching comparisons, pytest or the grader's own helpers,
stealing the reference or golden values, forging the result channel), taking the grader down
(loops, memory, exits, crashes, output, fork bombs, daemons, messages that upset the parent) and
reaching out (network, Unix sockets, files outside the scratch folder).

Each file is graded once, in the background (worker processes), three at a time, as soon as the
module starts; the tests then assert on the results and on the world around them: canary files,
listening sockets, leftover processes, the parent's own memory. Limits are tight (2 s per test,
1024 MB) so that a hang costs seconds. A fork bomb uses up the process quota of the sandbox's user, so it is graded last, with
only a correct submission beside it, which must not notice it. The sandbox's user-namespace mode
(the fallback where the grader is not started by root) is refused to root, which these machines and
CI are: a test holds it to that. Most files are graded a second time through warm
workers, as `grade batch` grades them (each child forked from a worker that collected the tests,
one attack after another through the same worker), and must get exactly the outcome they get cold.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import dataclasses
import json
import multiprocessing
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import grader.sandbox
from grader import golden
from grader.exercise import Exercise
from grader.grading import Options, grade, run_limits, secret_folders
from grader.pool import WarmWorker
from grader.result import GradeResult, Status
from grader.result import TestResult as Verdict

HOSTILE = Path(__file__).resolve().parent / "submissions" / "hostile"
ROOT = HOSTILE.parent.parent.parent
TIMEOUT = 2  # seconds per test: every hang costs this much, plus a restart
MEMORY_MB = 1024
PWNED = "PWNED-by-redteam"
DAEMON = b"redteam-daemon-outlives-run"
BOMB = b"rt-forkbomb"
TCP_PORTS = range(39000, 39100)  # the ones connect_tcp_localhost.py tries
ROOT_PROTECTIONS = {
    "separate process",
    "time limits",
    "memory limit",
    "output cap",
    "scratch directory",
    "no network",
    "private process tree",
    "read-only file system",
    "hidden reference and tests",
    "unprivileged user",
}


@dataclass(frozen=True)
class Plan:
    hidden: bool = False  # also the hidden tests (where they are what the attack is after)
    test_timeout: float = TIMEOUT
    user_mode: bool = False  # the sandbox's user-namespace fallback instead of root's


CHEATS = [
    "patch_allclose",
    "patch_assert_close",
    "patch_math_isclose",
    "patch_assertion_error",
    "patch_pytest_reporting",
    "patch_check_call",
    "patch_check_raises",
    "patch_wire_encode",
    "patch_plugin_emit",
    "forge_channel_messages",
    "steal_reference_from_disk",
    "steal_hidden_tests_via_restart",
    "steal_from_sys_modules",
    "steal_from_frames_and_gc",
    "steal_from_environment",
    "steal_from_inherited_fds",
]
AFTER_HIDDEN = {
    "patch_check_raises",
    "steal_from_sys_modules",
    "steal_hidden_tests_via_restart",
}  # what only hidden tests hold
PLANS: dict[Any, Plan] = {  # a file name, or ("user", file name) for the user-namespace mode
    **{name: Plan(hidden=name in AFTER_HIDDEN) for name in CHEATS},
    "patch_torch_equal_hides_inplace_bug": Plan(
        hidden=True
    ),  # the bug it hides costs a hidden test
    "exit_zero_at_import": Plan(),
    "exit_zero_in_function": Plan(),
    "sys_exit_in_function": Plan(),
    "sys_exit_at_import": Plan(),
    "infinite_loop": Plan(),
    "infinite_loop_ignores_signals": Plan(),
    "memory_bomb_torch": Plan(
        test_timeout=6
    ),  # filling 1 GB takes this VM a second or two: no timeout first
    "memory_bomb_list": Plan(test_timeout=6),
    "memory_bomb_shared_mmap": Plan(test_timeout=6),
    "memory_split_across_processes": Plan(test_timeout=6),
    "segfault": Plan(),
    "print_flood_in_function": Plan(),
    "print_flood_at_import": Plan(),
    "connect_tcp_localhost": Plan(),
    "connect_unix_socket": Plan(),
    "write_outside_scratch": Plan(),
    "read_root_only_files": Plan(),
    "crash_parent_with_unparsable_json": Plan(),
    "stall_parent_unterminated_message": Plan(),
}
SLOW = {
    "memory_bomb_shared_mmap",
    "memory_split_across_processes",
    "infinite_loop",
    "infinite_loop_ignores_signals",
    "segfault",
    "exit_zero_in_function",
    "stall_parent_unterminated_message",
    "steal_hidden_tests_via_restart",
    "patch_torch_equal_hides_inplace_bug",
    "memory_bomb_torch",
    "memory_bomb_list",
}  # started first
# graded otherwise: by the `grade` command (a daemon and the results file it targets), in a process of
# its own (the parent's memory), last and alone (the fork bomb, beside a correct submission)
SPECIAL = {"daemon_outlives_run", "flood_parent_memory", "fork_bomb"}
# graded again through warm workers (as `grade batch` grades), which must give each the same outcome:
# each child is forked from a worker that imported torch and collected the tests once
WARM = [
    *CHEATS,
    "patch_torch_equal_hides_inplace_bug",
    "exit_zero_at_import",
    "exit_zero_in_function",
    "sys_exit_in_function",
    "sys_exit_at_import",
    "infinite_loop_ignores_signals",
    "segfault",
    "print_flood_in_function",
    "print_flood_at_import",
    "crash_parent_with_unparsable_json",
    "connect_tcp_localhost",
    "connect_unix_socket",
    "write_outside_scratch",
    "read_root_only_files",
]
BOMB_TIMEOUT = 8  # the fork bomb's test limit: the window in which a concurrent submission meets it


# -- the world around the grader: canaries, listening sockets, processes ----------------------------


def _state(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mode, st.st_mtime_ns


class Canaries:
    """Files outside any scratch folder that a submission must not change: /tmp, home, next to the project."""

    def __init__(self, tmp: Path) -> None:
        token = uuid.uuid4().hex[:12]
        self.outside_project = ROOT.parent / f".redteam-canary-{token}"
        self.paths = [
            tmp / "redteam-canary.txt",
            Path.home() / f"redteam-canary-{token}.txt",
            self.outside_project / "redteam-canary.txt",
            tmp / "batch" / "alice" / "ex2.py",  # other students' submissions in a batch folder
            tmp / "batch" / "bob" / "ex2.py",
        ]
        for i, path in enumerate(self.paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# canary {i} {token}: must stay exactly like this\n")
        self.before = {p: _state(p) for p in self.paths}

    def changed(self) -> list[str]:
        out = []
        for path, before in self.before.items():
            if not path.exists():
                out.append(f"{path} deleted")
            elif _state(path) != before:
                out.append(f"{path} changed")
        return out

    def remove(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)
        shutil.rmtree(self.outside_project, ignore_errors=True)


def pwned_files() -> list[Path]:
    """Every file a hostile submission managed to create where it tried (the project, /work, home, /tmp, /)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in (".venv", ".git", "__pycache__", "node_modules")]
        found += [Path(folder) / f for f in files if f == PWNED]
    for folder in (
        ROOT.parent,
        Path.home(),
        Path("/root"),
        Path("/tmp"),
        Path("/var/tmp"),
        Path("/dev/shm"),
        Path("/"),
    ):
        if (folder / PWNED).exists():
            found.append(folder / PWNED)
    return found


def submissions_dated_1970() -> list[Path]:
    return [p for p in ROOT.glob("tests/submissions/*/*.py") if p.stat().st_mtime < 86400]


class Listener:
    """Sockets a submission must not reach; remembers every connection they accept and what it sent."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self.sockets = sockets
        self.connections: list[tuple[Any, bytes]] = []
        for s in sockets:
            s.listen(16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="redteam-listener", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(self.sockets, [], [], 0.2)
            except (
                OSError,
                ValueError,
            ):  # closed under it: close() gave up waiting (a loaded host)
                return
            for s in ready:
                try:
                    conn, peer = s.accept()
                except OSError:
                    continue
                with conn:
                    conn.settimeout(0.5)
                    try:
                        data = conn.recv(200)
                    except OSError:
                        data = b""
                self.connections.append((peer, data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for s in self.sockets:
            s.close()


def tcp_listener() -> tuple[Listener, int]:
    for port in TCP_PORTS:
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            v4.bind(("127.0.0.1", port))
        except OSError:
            v4.close()
            continue
        sockets = [v4]
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", port))
            sockets.append(v6)
        except OSError:
            v6.close()
        return Listener(sockets), port
    raise RuntimeError(
        f"every port in {TCP_PORTS} is taken: cannot listen where the attack connects"
    )


def unix_listener() -> tuple[Listener, str]:
    token = uuid.uuid4().hex[:12]
    path = f"/tmp/redteam-{token}.sock"
    pathname = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pathname.bind(path)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0redteam-{token}")
    return Listener([pathname, abstract]), path


def processes_with(marker: bytes) -> list[int]:
    """Processes (other than this one) whose command line holds `marker`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


# -- grading, three at a time, in the background ------------------------------------------------------
# In worker processes, not threads: `grade` parses source with `ast`, and CPython 3.11's parser is not
# safe to run in two threads at once ("AST constructor recursion depth mismatch").


def _options(plan: Plan) -> Options:
    return Options(
        devices=["cpu", "meta"],
        hidden=plan.hidden,
        test_timeout=plan.test_timeout,
        total_timeout=60,
        memory_mb=MEMORY_MB,
    )


def _grade(exercise: Exercise, path: Path, plan: Plan) -> GradeResult:
    """In a worker process: grade, in user-namespace mode if the plan says so (the sandbox's probe says "user")."""
    probe = grader.sandbox._namespace_mode
    if plan.user_mode:
        grader.sandbox._namespace_mode = lambda: "user"
    try:
        return grade(exercise, path, _options(plan))
    finally:
        grader.sandbox._namespace_mode = probe


_WARM_WORKERS: dict[Plan, WarmWorker] = {}


def _grade_warm(exercise: Exercise, path: Path, plan: Plan) -> GradeResult:
    """In a worker process: grade through this process's warm worker for the plan, which one hostile
    submission after another goes through."""
    options = _options(plan)
    worker = _WARM_WORKERS.get(plan)
    if worker is None:
        sandbox = grader.sandbox.Sandbox(hide=secret_folders(exercise, path, options))
        worker = _WARM_WORKERS[plan] = WarmWorker(sandbox, run_limits(exercise, options))
        atexit.register(worker.close)
    return grade(exercise, path, dataclasses.replace(options, worker=worker))


@dataclass
class CliRun:
    code: int
    out: str
    path: Path  # the results file
    written: bytes | None  # what it held the moment `grade` exited
    ended: float


def _grade_command(exercise: Exercise, path: Path, out: Path) -> CliRun:
    """`grade ex2 PATH --public-only --json OUT`, as a student or CI runs it."""
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "GRADER_ROOT": str(exercise.public_dir.parent.parent),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            exercise.name,
            str(path),
            "--public-only",
            "--timeout",
            str(TIMEOUT),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return CliRun(
        proc.returncode,
        proc.stdout + proc.stderr,
        out,
        out.read_bytes() if out.is_file() else None,
        time.monotonic(),
    )


_MEASURE = """
import json, resource, sys
from pathlib import Path
from grader import golden
from grader.exercise import Exercise
from grader.grading import Options, grade
name, public, reference, path, timeout = sys.argv[1:]
exercise = Exercise(name, Path(public), Path(reference))
golden.public(exercise)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = grade(exercise, Path(path), Options(devices=["cpu", "meta"], hidden=False, test_timeout=float(timeout),
                                             total_timeout=120, memory_mb=1024))
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"result": result.model_dump(mode="json"), "grew_mb": grew / 1024}))
"""


@dataclass
class Measured:
    result: GradeResult
    grew_mb: float


def _grade_measuring_parent(exercise: Exercise, path: Path) -> Measured:
    """Grade in a fresh process and report how much that (trusted) process's peak memory grew."""
    assert exercise.reference_dir is not None
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            exercise.name,
            str(exercise.public_dir),
            str(exercise.reference_dir),
            str(path),
            "30",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Measured(GradeResult.model_validate(data["result"]), data["grew_mb"])


@dataclass
class BombRun:
    bomb: GradeResult
    bystander: GradeResult | None
    peak: int  # fork-bomb processes seen at once before the bystander started
    beside: int  # fork-bomb processes there half a second after the bystander started
    left: list[int]  # fork-bomb processes still there after grading


def _bomb_beside_a_correct_submission(
    exercise: Exercise, pool: concurrent.futures.Executor
) -> BombRun:
    """Grade the fork bomb; once it is under way, grade the reference solution beside it."""
    plan = Plan(test_timeout=BOMB_TIMEOUT)
    bomb = pool.submit(_grade, exercise, HOSTILE / "fork_bomb.py", plan)
    peak, started = 0, time.monotonic()
    while not bomb.done() and peak < 900 and time.monotonic() - started < 60:
        peak = max(peak, len(processes_with(BOMB)))
        time.sleep(0.05)
    bystander, beside = None, 0
    if not bomb.done():
        assert exercise.reference_dir is not None
        second = pool.submit(_grade, exercise, exercise.reference_dir / "solution.py", plan)
        time.sleep(0.5)
        beside = len(processes_with(BOMB))
        bystander = second.result()
    result = bomb.result()
    time.sleep(0.5)
    left = processes_with(BOMB)
    kill_all(left)
    return BombRun(result, bystander, peak, beside, left)


def _ready() -> bool:
    return True


class Grading:
    """Every hostile submission, graded once in the background; `get` waits for one."""

    def __init__(self, exercise: Exercise, tmp: Path) -> None:
        self.exercise = exercise
        self.futures: dict[Any, concurrent.futures.Future[Any]] = {}
        spawn = multiprocessing.get_context("spawn")
        self.pool = concurrent.futures.ProcessPoolExecutor(max_workers=3, mp_context=spawn)
        self.bomb_pool = concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=spawn)
        self.bomb_pool.submit(
            _ready
        )  # its workers start now, so they are there the moment the bomb may go
        self.submit(
            "cli daemon",
            _grade_command,
            exercise,
            HOSTILE / "daemon_outlives_run.py",
            tmp / "results.json",
        )
        self.submit(
            "parent memory", _grade_measuring_parent, exercise, HOSTILE / "flood_parent_memory.py"
        )
        # slow ones first; user-namespace ones last, beside the fork bomb (their child is not `nobody`)
        order = sorted(PLANS, key=lambda key: (PLANS[key].user_mode, key not in SLOW, str(key)))
        for key in order:
            name = key[1] if isinstance(key, tuple) else key
            self.submit(key, _grade, exercise, HOSTILE / f"{name}.py", PLANS[key])
        for name in WARM:
            self.submit(("warm", name), _grade_warm, exercise, HOSTILE / f"{name}.py", PLANS[name])
        self.bomb: concurrent.futures.Future[BombRun] = concurrent.futures.Future()
        self._last = threading.Thread(
            target=self._bomb_when_alone, name="redteam-bomb", daemon=True
        )
        self._last.start()

    def submit(self, key: Any, fn: Callable[..., Any], *args: Any) -> None:
        self.futures[key] = self.pool.submit(fn, *args)

    def _bomb_when_alone(self) -> None:
        """The bomb uses up the processes `nobody` may have: no other child of `nobody` may run meanwhile."""
        concurrent.futures.wait(
            [f for key, f in self.futures.items() if not (key in PLANS and PLANS[key].user_mode)]
        )
        if self.bomb.set_running_or_notify_cancel():
            try:
                self.bomb.set_result(
                    _bomb_beside_a_correct_submission(self.exercise, self.bomb_pool)
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the test that waits for it
                self.bomb.set_exception(exc)

    def get(self, key: Any) -> Any:
        future = self.bomb if key == "fork_bomb" else self.futures[key]
        try:
            return future.result(timeout=600)
        except Exception as exc:  # noqa: BLE001 - the grader itself failed: that is the finding
            text = "".join(traceback.format_exception(exc)[-6:])
            pytest.fail(
                f"grading {key} raised instead of returning a result:\n{text}", pytrace=False
            )

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.bomb.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._last.join(timeout=120)
        self.bomb_pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class World:
    grading: Grading
    canaries: Canaries
    tcp: Listener
    tcp_port: int
    unix: Listener
    unix_path: str
    public_max: float

    def get(self, key: Any) -> Any:
        return self.grading.get(key)


@pytest.fixture(scope="module")
def world(ex2: Exercise, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("redteam")
    public_max = sum(t.points for t in golden.public(ex2).tests.values())
    golden.hidden(ex2)  # recorded (if it must be) before anything runs in parallel
    canaries = Canaries(tmp)
    tcp, port = tcp_listener()
    unix, unix_path = unix_listener()
    grading = Grading(ex2, tmp)
    try:
        yield World(grading, canaries, tcp, port, unix, unix_path, public_max)
    finally:
        grading.close()
        tcp.close()
        unix.close()
        Path(unix_path).unlink(missing_ok=True)
        canaries.remove()
        for path in pwned_files():
            path.unlink(missing_ok=True)
        kill_all(processes_with(DAEMON) + processes_with(BOMB))


# -- what a result must say ---------------------------------------------------------------------------


def failed(result: GradeResult) -> list[Verdict]:
    return [t for t in result.tests if t.status is Status.failed]


def show(tests: list[Verdict]) -> list[tuple[str, list[str], str]]:
    return [(t.name, t.tags, t.reason) for t in tests]


def reason_is(expected: str) -> Callable[[str], bool]:
    """The exact reason, on the CPU or with the judge's " (on meta)" for a test's meta run."""
    return lambda reason: reason in (expected, f"{expected} (on meta)")


def reason_starts(*prefixes: str) -> Callable[[str], bool]:
    return lambda reason: reason.startswith(prefixes)


def assert_costs_only(
    result: GradeResult, function: str, reason: Callable[[str], bool], *, graded_max: float
) -> None:
    """Every test of `function` failed for `reason`, every other test passed, the score is the rest."""
    assert result.error == "", result.error
    assert result.graded_max_score == graded_max
    mine = [t for t in result.tests if function in t.tags]
    assert mine, f"no test is tagged {function}"
    lost = failed(result)
    assert lost, f"the attack cost nothing: every test passed, {function}'s included"
    assert [t.name for t in lost] == [t.name for t in mine], (
        f"only {function}'s tests may fail: {show(lost)}"
    )
    wrong = [t for t in lost if not reason(t.reason)]
    assert not wrong, f"unexpected reason: {show(wrong)}"
    assert result.score == graded_max - sum(t.max_score for t in mine)


def charged_statically(t: Verdict) -> bool:
    """Lost to the parent's reading of the source: the attack's own code (frames, gc, ctypes,
    spawning) sits in or is reached from this function, and cannot be told apart from a forbidden call."""
    return t.reason.startswith("uses ") and "forbidden call" in t.flags


def assert_only_static_charges(result: GradeResult) -> None:
    """The run-time attack cost nothing: what failed failed for the attack's source alone."""
    assert result.error == "", result.error
    wrong = [t for t in failed(result) if not charged_statically(t)]
    assert not wrong, show(wrong)
    assert result.score == result.graded_max_score - sum(t.max_score for t in failed(result))


def assert_scores_zero(result: GradeResult, *, graded_max: float) -> None:
    passed = [t for t in result.tests if t.status is Status.passed]
    assert passed == [], show(passed)
    assert (result.score, result.graded_max_score) == (0, graded_max)


def student_visible_text(result: GradeResult) -> str:
    """Everything of a result a student may be shown (descriptions aside: those are written to be shown)."""
    parts = [
        result.error,
        *result.flags,
        *(f"{e.label} {e.error} {e.where}" for e in result.load_errors),
    ]
    for t in result.tests:
        parts += [t.reason, t.output, t.where, *t.flags]
    return "\n".join(parts)


# -- meta ---------------------------------------------------------------------------------------------


def test_every_hostile_submission_is_graded_and_says_what_it_must_get():
    names = {p.stem for p in HOSTILE.glob("*.py")}
    planned = {k[1] if isinstance(k, tuple) else k for k in PLANS} | SPECIAL
    assert names == planned
    for path in HOSTILE.glob("*.py"):
        doc = path.read_text(encoding="utf-8").split('"""')[1]
        assert (
            doc.startswith("Hostile submission: ")
            and "Attack: " in doc
            and "Outcome it must get" in doc
        ), path.name


# -- 1. gaining points it did not earn ----------------------------------------------------------------


@pytest.mark.parametrize("name", CHEATS)
def test_cheating_scores_exactly_zero(world, name):
    """Each implements nothing; whatever it patches, reads or forges, every test fails."""
    result = world.get(name)
    assert_scores_zero(
        result, graded_max=result.max_score if PLANS[name].hidden else world.public_max
    )
    if (
        name == "forge_channel_messages"
    ):  # it forges while loading: the parent's state machine refuses it
        assert result.error.startswith("the submission broke the grading protocol"), result.error
    else:
        assert result.error == ""


def test_forged_messages_add_no_test_and_no_points(world):
    result = world.get("forge_channel_messages")
    assert "test_bonus" not in {t.name for t in result.tests}
    assert result.graded_max_score == world.public_max


def test_patched_torch_equal_does_not_hide_an_inplace_bug(world):
    """The hidden relu test's "input unchanged" check must fail as it does without the patch."""
    result = world.get("patch_torch_equal_hides_inplace_bug")
    lost = failed(result)
    assert lost, "patching torch.equal in the child hid relu's in-place modification of its input"
    # relu fails: for the in-place change the unpatched comparison sees, or (first) for the frame
    # walk with which it finds torch.equal's users, which the parent's reading of the source denies
    assert all(
        ("relu" in t.tags and t.reason.startswith("input after the call: "))
        or charged_statically(t)
        for t in lost
    ), show(lost)
    assert result.score == result.max_score - sum(t.max_score for t in lost)


def test_hidden_test_source_never_reaches_the_feedback(world, ex2):
    """Planted conftest + forced restart: the hidden tests' source must not show up in the report."""
    result = world.get("steal_hidden_tests_via_restart")
    first = next(
        t for t in result.tests if t.tags[0] == "tensor_info" and t.visibility == "visible"
    )
    assert (
        first.reason == "exited the process (exit status 0) during `tensor_info`"
    )  # the restart it asked for
    assert ex2.reference_dir is not None
    public = {
        line.strip()
        for p in ex2.public_tests
        for line in p.read_text(encoding="utf-8").splitlines()
    }
    shown = {t.description for t in result.tests}
    secret = [
        line.strip()
        for p in ex2.hidden_tests
        for line in p.read_text(encoding="utf-8").splitlines()
        if len(line.strip()) >= 30
        and line.strip() not in public
        and not any(line.strip() in d for d in shown)
    ]
    assert len(secret) > 50
    text = student_visible_text(result)
    leaked = [line for line in secret if line in text]
    assert leaked == [], (
        f"{len(leaked)} lines of the hidden tests reach the feedback, e.g. {leaked[:3]}"
    )


def test_exit_status_zero_while_loading_is_not_success(world):
    result = world.get("exit_zero_at_import")
    why = "the submission exited the process (exit status 0) while loading"
    assert result.error == why
    assert_scores_zero(result, graded_max=world.public_max)
    assert {t.reason for t in result.tests} == {why}


# -- 2. taking the grader down or stalling it --------------------------------------------------------


def test_exit_inside_a_function_costs_that_function_only(world):
    assert_costs_only(
        world.get("exit_zero_in_function"),
        "softmax",
        reason_is("exited the process (exit status 0) during `softmax`"),
        graded_max=world.public_max,
    )


def test_sys_exit_inside_a_function_costs_that_function_only(world):
    result = world.get("sys_exit_in_function")
    assert_costs_only(result, "relu", reason_is("SystemExit: 1"), graded_max=world.public_max)


def test_sys_exit_while_loading_keeps_what_was_defined_before_it(world):
    result = world.get("sys_exit_at_import")
    assert result.error == ""
    [error] = result.load_errors
    assert error.error == "SystemExit: 1" and error.where.startswith(
        "sys_exit_at_import.py, line "
    ), error
    graded = {p.name: p.max_score - p.not_graded for p in result.parts}
    assert {p.name: p.score for p in result.parts} == {**graded, "Training": 0}
    lost = failed(result)
    assert lost and all(
        t.part == "Training" and "the submission does not define" in t.reason for t in lost
    ), show(lost)
    assert result.score == world.public_max - graded["Training"]


@pytest.mark.parametrize("name", ["infinite_loop", "infinite_loop_ignores_signals"])
def test_infinite_loop_costs_its_function_only(world, name):
    assert_costs_only(
        world.get(name),
        "relu",
        reason_is(f"timed out after {TIMEOUT} s in `relu`"),
        graded_max=world.public_max,
    )


@pytest.mark.parametrize("name", ["memory_bomb_torch", "memory_bomb_list"])
def test_memory_bomb_costs_its_function_only(world, name):
    assert_costs_only(
        world.get(name),
        "relu",
        reason_starts("used more memory than allowed"),
        graded_max=world.public_max,
    )


@pytest.mark.parametrize("name", ["memory_bomb_shared_mmap", "memory_split_across_processes"])
def test_memory_limit_holds_beyond_the_data_segment(world, name):
    """Shared mappings and forked helpers count against the limit too."""
    assert_costs_only(
        world.get(name),
        "relu",
        reason_starts(
            "used more memory than allowed", "was killed (most likely for using too much memory)"
        ),
        graded_max=world.public_max,
    )


def test_segfault_costs_its_function_only(world):
    """relu reaches ctypes, which the parent's reading denies; the crash it caused is on record."""
    result = world.get("segfault")
    assert_costs_only(
        result,
        "relu",
        lambda reason: reason.startswith("uses ctypes."),
        graded_max=world.public_max,
    )
    relu = [t for t in result.tests if "relu" in t.tags]
    assert any("crashed" in flag for t in relu for flag in t.flags), show(relu)


def test_output_flood_inside_a_function_costs_that_function_only(world):
    result = world.get("print_flood_in_function")
    assert_costs_only(
        result,
        "relu",
        reason_is("printed more than 1 MB of output in `relu`"),
        graded_max=world.public_max,
    )
    assert "output truncated at 1 MB" in result.flags


def test_output_flood_while_loading_fails_every_test(world):
    result = world.get("print_flood_at_import")
    why = "the submission printed more than 1 MB of output while loading"
    assert result.error == why
    assert "output truncated at 1 MB" in result.flags
    assert_scores_zero(result, graded_max=world.public_max)
    assert {t.reason for t in result.tests} == {why}


def test_daemon_dies_with_the_run_and_cannot_touch_the_results_file(world):
    run: CliRun = world.get("cli daemon")
    assert run.code == 0, run.out[-3000:]
    assert run.written is not None, run.out[-3000:]
    result = json.loads(run.written)
    assert result["score"] == world.public_max
    time.sleep(
        max(0.0, run.ended + 2 - time.monotonic())
    )  # the daemon looks for results files every 0.5 s
    left = processes_with(DAEMON)
    kill_all(left)
    assert left == [], "the daemon outlived the grading"
    assert run.path.read_bytes() == run.written, (
        "the results file was rewritten after `grade` wrote it"
    )


def test_unparsable_messages_do_not_crash_the_parent(world):
    result = world.get("crash_parent_with_unparsable_json")
    assert_only_static_charges(result)
    # garbage between tests is dropped and flagged; inside a test it breaks the protocol (that test fails)
    assert {"sent a malformed message", "broke the grading protocol"} & set(result.flags), (
        result.flags
    )


def test_unterminated_message_does_not_stall_the_parent(world):
    """120 MB without a newline: dropped and flagged at pipe speed, relu still passes in its 2 s."""
    result = world.get("stall_parent_unterminated_message")
    assert_only_static_charges(result)
    assert not any("timed out" in t.reason for t in result.tests)
    assert {"sent an oversized message", "broke the grading protocol"} & set(result.flags), (
        result.flags
    )


def test_flood_of_values_does_not_grow_the_parent(world):
    """800 check values of 256 KiB for indices no golden value has: the parent must not keep them."""
    measured: Measured = world.get("parent memory")
    lost = failed(measured.result)
    assert all("relu" in t.tags or charged_statically(t) for t in lost), show(lost)
    assert measured.grew_mb < 100, (
        f"the parent's peak memory grew by {measured.grew_mb:.0f} MB for 200 MB sent"
    )


# -- 3. reaching out ---------------------------------------------------------------------------------


def test_no_network(world):
    result = world.get("connect_tcp_localhost")
    assert (result.score, result.error) == (world.public_max, "")
    assert world.tcp.connections == [], (
        f"port {world.tcp_port} was reached: {world.tcp.connections}"
    )


def test_no_unix_sockets(world):
    result = world.get("connect_unix_socket")
    assert (result.score, result.error) == (world.public_max, "")
    assert world.unix.connections == [], (
        f"{world.unix_path} (or its abstract twin) was reached: {world.unix.connections}"
    )


def test_files_outside_scratch_stay_untouched(world):
    result = world.get("write_outside_scratch")
    assert (result.score, result.error) == (world.public_max, "")
    assert world.canaries.changed() == []
    assert pwned_files() == []
    assert submissions_dated_1970() == []


def test_child_does_not_read_root_only_files(world):
    result = world.get("read_root_only_files")
    assert show(failed(result)) == [], [
        t.output for t in failed(result)
    ]  # which files it read, not their content


def test_protections_are_listed(world):
    result = world.get("connect_tcp_localhost")
    assert set(result.protections) >= ROOT_PROTECTIONS, result.protections


# -- the same attacks through warm workers ------------------------------------------------------------


def outcome(result: GradeResult) -> tuple[Any, ...]:
    return (
        result.score,
        result.graded_max_score,
        result.error,
        sorted(result.flags),
        [(e.label, e.error, e.where) for e in result.load_errors],
        [(t.name, t.status, t.reason) for t in result.tests],
    )


@pytest.mark.parametrize("name", WARM)
def test_a_warm_worker_gives_each_attack_its_cold_outcome(world, name):
    """Forked from a worker that imported torch and collected the tests before any submission: the
    attack gets exactly what a fresh child gives it (asserted above), and the world stays as it was."""
    warm, cold = world.get(("warm", name)), world.get(name)
    assert outcome(warm) == outcome(cold)
    assert world.tcp.connections == [] and world.unix.connections == []
    assert world.canaries.changed() == [] and pwned_files() == []


# -- the user-namespace fallback (as a grader started by a normal user gets) --------------------------


def test_root_never_falls_back_to_user_namespaces():
    """Started by root, a user-namespace child would be the host's root (it could read /etc/shadow):
    the probe offers root's mode only, and a user-namespace command is refused outright."""
    import os

    from grader.sandbox import Sandbox, _namespace_mode

    assert os.geteuid() == 0, "these machines and CI run the grader as root"
    assert _namespace_mode() == "root"
    forced = Sandbox()
    forced.__dict__["mode"] = "user"
    with pytest.raises(RuntimeError, match="host's root"):
        forced.command(["true"], Path("/tmp"))


# -- last, alone: the fork bomb ----------------------------------------------------------------------


def test_fork_bomb_costs_its_function_only_and_leaves_nothing(world):
    run: BombRun = world.get("fork_bomb")
    assert run.peak >= 100, f"the bomb never got going ({run.peak} processes)"
    assert_costs_only(
        run.bomb, "relu", lambda reason: reason.startswith("uses os."), graded_max=world.public_max
    )
    relu = [t for t in run.bomb.tests if "relu" in t.tags]
    assert any(flag == f"timed out after {BOMB_TIMEOUT} s" for t in relu for flag in t.flags), show(
        relu
    )
    assert run.left == [], f"{len(run.left)} fork-bomb processes outlived the grading"


def test_fork_bomb_does_not_hurt_a_submission_graded_beside_it(world):
    run: BombRun = world.get("fork_bomb")
    assert run.bystander is not None and run.beside >= 900, (
        f"the bystander did not meet the bomb ({run.beside} processes)"
    )
    assert failed(run.bystander) == [], show(failed(run.bystander))
    assert run.bystander.score == world.public_max
