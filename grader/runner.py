"""Run the tests in a child process and watch it from outside: time, output, crashes, restarts.

The runner believes nothing the child says about success. It only gathers what was sent (values,
test boundaries, the child's own error lines) and what it saw itself (a test that never ended, a
process that died), and hands both to the judge.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.framing import OVERSIZED, LineReader
from grader.procfs import proc_table, tree_memory_kb
from grader.protocol import Kind, clean_list, clean_text, kind_of
from grader.sandbox import Limits, Sandbox, kill
from grader.sandbox import memory_kb as sandbox_memory_kb

__all__ = ["proc_table", "tree_memory_kb"]  # (re-exported for the warm workers)

MAX_MESSAGE = (
    100 * 1024 * 1024
)  # a line from a trusted recording; a graded run's limit comes from its plan
MIN_LINE = 64 * 1024
MAX_LOAD_ERRORS = 200
MAX_AUDIT = 40
MAX_RESTARTS = 50
MEMORY_POLL = 0.2  # seconds between looks at the child's memory (all its processes together)
MAX_CHECKS = 200  # values one test may send; a test checks far fewer
MAX_KEPT = 256 * 1024 * 1024  # bytes of values the parent holds for one child


@dataclass
class TestRun:
    """What happened to one test instance: the values sent and how it ended."""

    __test__ = False  # not a pytest test class

    checks: dict[int, dict[str, Any]] = field(default_factory=dict)
    ended: bool = False
    error: str = ""
    where: str = ""
    forbidden: list[str] = field(default_factory=list)
    output: str = ""
    failure: str = ""  # seen by the parent: a timeout, a crash, an exit
    violations: list[str] = field(
        default_factory=list
    )  # checks the protocol refused: each fails the test
    ops: dict[str, int] = field(
        default_factory=dict
    )  # operations dispatched, as the child counted them (a hint)


@dataclass
class Observation:
    collected: list[dict[str, Any]] = field(default_factory=list)
    tests: dict[str, TestRun] = field(default_factory=dict)
    load_errors: list[dict[str, Any]] = field(default_factory=list)
    shimmed: list[str] = field(default_factory=list)
    load_failure: str = ""
    skipped_cells: dict[int, str] = field(default_factory=dict)  # cell -> why it was skipped
    output: bytes = b""
    flags: list[str] = field(default_factory=list)
    audit: list[str] = field(
        default_factory=list
    )  # the child's audit hooks: evidence for a human only
    finished: bool = False
    out_of_time: bool = False  # the whole run's time limit ended it
    running_s: float = (
        0.0  # seconds from the tests' collection to their end: the submission's and tests' own time
    )


@dataclass(frozen=True)
class RunLimits:
    test_timeout: float
    load_timeout: float
    total_timeout: float
    memory_mb: int
    output_bytes: int


@dataclass
class TestFile:
    __test__ = False  # not a pytest test class

    group: str  # "public" or "hidden": the folder the file is copied to, so node ids are stable
    path: Path


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGSEGV":
            return "crashed (segmentation fault)"
        if name == "SIGKILL":
            return "was killed (most likely for using too much memory)"
        if name == "SIGXCPU":
            return "used too much CPU time"
        return f"was killed by {name}"
    return f"exited the process (exit status {returncode})"


class Child:
    """A running child as the watcher sees it: a message channel, an output stream, a way to end it."""

    channel: int
    output: int
    status: int | None = None  # warm children: the worker's replies ("exited")
    exited: bool = False
    returncode: int = 0

    def kill(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """After the watch: reap, close what belongs to this child alone."""

    def memory_kb(self) -> int:
        """Resident memory of the child's processes (anonymous and shared), 0 where unknown."""
        return 0


class ColdChild(Child):
    """A fresh `python -m grader.child` in the sandbox: exits when done, EOF on its channel."""

    def __init__(self, proc: subprocess.Popen[bytes], channel: int, child_fd: int) -> None:
        assert proc.stdout is not None
        self.proc, self.channel, self.child_fd, self.output = (
            proc,
            channel,
            child_fd,
            proc.stdout.fileno(),
        )

    def send_job(self, job: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(dict(job, fd=self.child_fd)).encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def on_channel_eof(self) -> None:
        self.exited = True
        try:
            self.returncode = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.returncode = -9

    def kill(self) -> None:
        kill(self.proc)

    def memory_kb(self) -> int:
        return sandbox_memory_kb(self.proc)  # its cgroup's count where it has one, else /proc

    def finish(self) -> None:
        kill(self.proc)
        os.close(self.channel)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class ChildRunner:
    """Runs one set of test files against one submission's cells, restarting after a crash."""

    def __init__(
        self, *, sandbox: Sandbox, limits: RunLimits, scratch_base: Path | None = None
    ) -> None:
        self.sandbox = sandbox
        self.limits = limits
        self.scratch_base = scratch_base

    def run(self, *, files: list[TestFile], job: dict[str, Any]) -> Observation:
        return self.start(files).finish(job)

    def start(self, files: list[TestFile]) -> Launch:
        """Start the first child now: it boots Python and torch while the parent gets its golden
        values ready; `finish(job)` hands it the job and watches it (and any restart)."""
        scratch = Path(tempfile.mkdtemp(prefix="grade-", dir=self.scratch_base))
        try:
            return Launch(self, scratch, test_sources(files), self._spawn(scratch))
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _spawn(self, scratch: Path) -> ColdChild:
        read_fd, write_fd = os.pipe()
        limits = Limits(
            memory_mb=self.limits.memory_mb,
            output_bytes=self.limits.output_bytes,
            cpu_seconds=int(self.limits.total_timeout) + 10,
        )
        argv = child_argv()
        try:
            proc = self.sandbox.start(argv, scratch=scratch, limits=limits, pass_fds=(write_fd,))
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return ColdChild(proc, read_fd, write_fd)


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def child_argv(*args: str) -> list[str]:
    """`python -I` running this very grader package's child (`-I`: no user site, no cwd, no
    PYTHONPATH; the package's folder is put first on sys.path, wherever it was imported from)."""
    import grader

    home = os.path.dirname(os.path.dirname(os.path.abspath(grader.__file__)))
    boot = f"import sys; sys.path.insert(0, {home!r}); from grader.child.__main__ import dispatch; dispatch(sys.argv[1:])"
    return [sys.executable, "-I", "-c", boot, *args]


def test_sources(files: list[TestFile]) -> list[dict[str, str]]:
    return [
        {"group": f.group, "name": f.path.name, "source": f.path.read_text(encoding="utf-8")}
        for f in files
    ]


@dataclass(frozen=True)
class Plan:
    """What the parent expects of a grading run, from its own golden values (never from the child):
    the test instances in the order they run, and for each the byte limit of each of its checks.
    A recording run (the reference, trusted) has no plan: it takes the child's collection."""

    checks: dict[str, list[int]]  # node id -> max encoded size of check 0, 1, ...

    @property
    def order(self) -> list[str]:
        return list(self.checks)

    @property
    def line_limit(self) -> int:
        largest = max((size for sizes in self.checks.values() for size in sizes), default=0)
        return max(MIN_LINE, largest + 4096)


PLAN = "_plan"  # the job key that carries the Plan to `supervise` (never sent to a child)


def supervise(
    job: dict[str, Any],
    limits: RunLimits,
    start_child: Callable[[dict[str, Any]], Child],
    first: Child | None = None,
) -> Observation:
    """Run `job`, restarting a child after each test that hangs or crashes, skipping what is done."""
    job = dict(job)
    plan: Plan | None = job.pop(PLAN, None)
    obs = Observation()
    if plan is not None:
        obs.collected = [{"id": test_id} for test_id in plan.order]
    deadline = time.monotonic() + limits.total_timeout
    done: set[str] = set()
    for _attempt in range(MAX_RESTARTS):
        # what the job skips itself (tests already known) and what earlier attempts finished
        skip = sorted(done | set(job.get("skip", ())))
        attempt = dict(job, skip=skip, skip_cells=sorted(obs.skipped_cells))
        child = first or start_child(attempt)
        if first is not None:
            assert isinstance(first, ColdChild)
            first.send_job(attempt)
            first = None
        try:
            status = _Watch(limits, obs, child, deadline, len(job["cells"]), plan).loop()
        finally:
            child.finish()
        before = len(done)
        done |= {test_id for test_id, run in obs.tests.items() if run.ended or run.failure}
        if status == "cell-died":
            continue  # that cell is skipped from now on; load the rest again
        if status == "total-timeout" and not obs.load_failure:
            _out_of_time(obs, limits.total_timeout)
        if _over(status, obs, progressed=len(done) > before):
            break
    obs.finished = True
    return obs


def _over(status: str, obs: Observation, *, progressed: bool) -> bool:
    """Whether a run ends after a child that ended with `status` (else it restarts)."""
    if status in ("finished", "total-timeout") or obs.load_failure or not obs.collected:
        return True
    return status == "died" and not progressed  # died outside any test: no progress to make


def _out_of_time(obs: Observation, seconds: float) -> None:
    """Every test not done fails: the whole submission ran out of time."""
    for entry in obs.collected:
        run = obs.tests.setdefault(entry["id"], TestRun())
        if not run.ended and not run.failure:
            run.failure = f"not run: the whole submission ran out of time ({seconds:g} s)"
    obs.flags.append(f"timed out after {seconds:g} s in total")
    obs.out_of_time = True


class Launch:
    """A started run: the first child is booting; `finish` supervises it and any restarts."""

    def __init__(
        self, runner: ChildRunner, scratch: Path, tests: list[dict[str, str]], first: ColdChild
    ) -> None:
        self.runner, self.scratch, self.tests, self.first = runner, scratch, tests, first

    def cancel(self) -> None:
        self.first.finish()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def finish(self, job: dict[str, Any]) -> Observation:
        try:
            job = dict(job, test_files=self.tests, cwd=str(self.scratch))

            def respawn(attempt: dict[str, Any]) -> Child:
                _empty(
                    self.scratch
                )  # nothing a dead child planted (a conftest.py, a .pyc) reaches the next
                child = self.runner._spawn(self.scratch)
                child.send_job(attempt)
                return child

            return supervise(job, self.runner.limits, respawn, first=self.first)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


class ProtocolError(Exception):
    """The child broke the protocol: it is killed, and the test it was in fails with this."""


class _Watch:
    """One child's life, as a state machine the parent owns: load → (start → checks → end)* → done.

    Every deadline is the parent's: set when a phase begins, never moved by what the child says
    later. With a plan, each test starts at most once and in the plan's order, and each check
    number is one the golden values have, sent once, within its size.
    """

    def __init__(
        self,
        limits: RunLimits,
        obs: Observation,
        child: Child,
        deadline: float,
        cells: int,
        plan: Plan | None,
    ) -> None:
        self.limits, self.obs, self.child, self.total_deadline, self.plan = (
            limits,
            obs,
            child,
            deadline,
            plan,
        )
        self.phase = "load"
        self.current: str | None = None
        self.cell: int | None = None
        self.cells = cells
        self.phase_deadline = time.monotonic() + limits.load_timeout
        self.reader = LineReader(plan.line_limit if plan is not None else MAX_MESSAGE)
        self.position = -1  # where in the plan's order the last test started
        self.saw_done = False
        self.output_seen = 0
        self.kept = 0  # bytes of values held for the judge
        self.collected_at: float | None = None
        self.handlers: dict[Kind, Callable[[dict[str, Any], int], None]] = {
            Kind.COLLECTED: self._on_collected,
            Kind.CELL: self._on_cell,
            Kind.LOADED: self._on_loaded,
            Kind.START: self._on_start,
            Kind.CHECK: self._on_check,
            Kind.END: self._on_end,
            Kind.AUDIT: self._on_audit,
            Kind.DONE: self._on_done,
        }

    def loop(self) -> str:
        child = self.child
        sel = selectors.DefaultSelector()
        sel.register(child.channel, selectors.EVENT_READ, "channel")
        sel.register(child.output, selectors.EVENT_READ, "output")
        if child.status is not None:
            sel.register(child.status, selectors.EVENT_READ, "status")
        # a child just started has nothing of its own yet
        next_memory_check = time.monotonic() + MEMORY_POLL
        while not child.exited:
            now = time.monotonic()
            timeout = min(self.phase_deadline, self.total_deadline) - now
            if timeout <= 0:
                return self._timed_out(now)
            if now >= next_memory_check:
                next_memory_check = now + MEMORY_POLL
                if child.memory_kb() > self.limits.memory_mb * 1024:
                    return self._died(f"used more memory than allowed ({self.limits.memory_mb} MB)")
            for key, _ in sel.select(timeout=min(timeout, MEMORY_POLL)):
                ended = self._event(sel, key)
                if ended is not None:
                    return ended
        try:
            self._drain(sel)
        except ProtocolError as exc:
            return self._died(f"broke the grading protocol ({exc})", already_dead=True)
        if self.saw_done:
            return "finished"
        return self._died(describe_exit(child.returncode), already_dead=True)

    def _event(self, sel: selectors.BaseSelector, key: selectors.SelectorKey) -> str | None:
        """What one of the child's pipes has to say; how the child ended, if this ends it."""
        data = _read(key.fd)
        if key.data == "status":
            self.child.on_status(data)  # type: ignore[attr-defined]
        elif key.data == "output":
            self._take_output(data)
            if not data:
                sel.unregister(key.fd)
        elif data:
            try:
                self._take(data)
            except ProtocolError as exc:
                return self._died(f"broke the grading protocol ({exc})")
        else:
            sel.unregister(key.fd)
            self.child.on_channel_eof()  # type: ignore[attr-defined]
        if self.output_seen > 8 * self.limits.output_bytes:
            return self._died(f"printed more than {_size(self.limits.output_bytes)} of output")
        return None

    def _drain(self, sel: selectors.BaseSelector) -> None:
        """What the dead child wrote before it ended, still in the pipes: all there already (the
        child has been reaped), so no waiting for more; a descendant still writing is not waited for."""
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            events = sel.select(timeout=0)
            progressed = False
            for key, _ in events:
                if key.data == "status":
                    continue
                data = _read(key.fd)
                if not data:
                    sel.unregister(key.fd)
                    continue
                progressed = True
                if key.data == "channel":
                    self._take(data)
                else:
                    self._take_output(data)
            if not progressed:
                return

    def _take_output(self, data: bytes) -> None:
        self.output_seen += len(data)
        room = self.limits.output_bytes - len(self.obs.output)
        if room > 0:
            self.obs.output += data[:room]
        elif data:
            self._flag(f"output truncated at {_size(self.limits.output_bytes)}")

    def _take(self, data: bytes) -> None:
        for line in self.reader.feed(data):
            if line is OVERSIZED:
                if self.current is not None:
                    raise ProtocolError("a message larger than any value of this test")
                self._flag("sent an oversized message")
                continue
            try:
                message = json.loads(line)
            except (
                ValueError,
                RecursionError,
            ):  # bad JSON, bad UTF-8, absurd numbers, absurd nesting
                self._flag("sent a malformed message")
                continue
            kind = kind_of(message) if isinstance(message, dict) else None
            if kind is None:
                self._flag("sent a malformed message")
                continue
            self.handlers[kind](message, len(line))

    def _flag(self, flag: str) -> None:
        if flag not in self.obs.flags:
            self.obs.flags.append(flag)

    # -- one handler per message kind --------------------------------------------------------------
    def _on_collected(self, m: dict[str, Any], size: int) -> None:
        if self.plan is not None:  # the parent's own list stands; the child's is not asked for
            return
        if not self.obs.collected and isinstance(m.get("tests"), list):
            self.obs.collected = [
                t for t in m["tests"] if isinstance(t, dict) and isinstance(t.get("id"), str)
            ]
        self.collected_at = time.monotonic()

    def _on_cell(self, m: dict[str, Any], size: int) -> None:
        i = m.get("i")
        if (
            self.phase != "load"
            or type(i) is not int
            or not (self.cell is None or i > self.cell)
            or not 0 <= i < max(self.cells, 1)
        ):
            raise ProtocolError("a cell out of order")
        self.cell = i
        self.phase_deadline = time.monotonic() + self.limits.load_timeout

    def _on_loaded(self, m: dict[str, Any], size: int) -> None:
        if self.phase != "load":
            raise ProtocolError("loaded twice")
        if isinstance(m.get("errors"), list) and not self.obs.load_errors:
            self.obs.load_errors = [
                _load_error(e) for e in m["errors"][:MAX_LOAD_ERRORS] if isinstance(e, dict)
            ]
        if not self.obs.shimmed:
            self.obs.shimmed = clean_list(m.get("shimmed"), items=20, limit=40)
        if self.collected_at is None:
            self.collected_at = time.monotonic()
        self._between_tests()

    def _on_start(self, m: dict[str, Any], size: int) -> None:
        test_id = m.get("id")
        if self.phase != "idle" or not isinstance(test_id, str):
            raise ProtocolError("a test started inside another")
        if self.plan is not None:
            order = self.plan.order
            position = order.index(test_id) if test_id in self.plan.checks else -1
            if position < 0:
                raise ProtocolError("a test the grader does not have")
            if position <= self.position or test_id in self.obs.tests:
                raise ProtocolError("a test started twice or out of order")
            self.position = position
        elif test_id in self.obs.tests:
            raise ProtocolError("a test started twice")
        self.current = test_id
        self.phase = "test"
        self.phase_deadline = time.monotonic() + self.limits.test_timeout
        self.obs.tests[test_id] = TestRun()

    def _on_check(self, m: dict[str, Any], size: int) -> None:
        test_id, i = m.get("id"), m.get("i")
        if self.current is None or test_id != self.current or type(i) is not int:
            raise ProtocolError("a value outside its test")
        run = self.obs.tests[self.current]
        if self.plan is None:
            if not 0 <= i < MAX_CHECKS or i in run.checks or self.kept >= MAX_KEPT:
                self._flag("sent more values than any test needs")
                return
        else:
            limits = self.plan.checks[self.current]
            if not 0 <= i < len(limits):
                run.violations.append(
                    f"sent a value for check {i + 1}, which this test does not have"
                )
                return
            if i in run.checks:
                run.violations.append(f"sent two values for check {i + 1}")
                return
            if size > limits[i]:
                run.violations.append(
                    f"sent a value for check {i + 1} far larger than any right answer"
                )
                return
        run.checks[i] = m
        self.kept += size

    def _on_end(self, m: dict[str, Any], size: int) -> None:
        if self.current is None or m.get("id") != self.current:
            raise ProtocolError("an end for a test that is not running")
        run = self.obs.tests[self.current]
        run.ended = True
        run.error = clean_text(m.get("error", ""), 500)
        run.where = clean_text(m.get("where", ""), 200)
        run.output = clean_text(m.get("output", ""), 2000)
        run.forbidden = clean_list(m.get("forbidden"), items=50, limit=100)
        ops = m.get("ops")
        if isinstance(ops, dict):
            run.ops = {
                clean_text(k, 80): v
                for k, v in list(ops.items())[:500]
                if type(v) is int and v >= 0
            }
        self._between_tests()

    def _on_audit(self, m: dict[str, Any], size: int) -> None:
        for event in clean_list(m.get("events"), items=20, limit=160):
            if event not in self.obs.audit and len(self.obs.audit) < MAX_AUDIT:
                self.obs.audit.append(event)

    def _on_done(self, m: dict[str, Any], size: int) -> None:
        if self.phase != "idle":
            raise ProtocolError("done inside a test")
        self.saw_done = True
        if self.collected_at is not None:
            self.obs.running_s += time.monotonic() - self.collected_at
            self.collected_at = None

    def _between_tests(self) -> None:
        self.phase = "idle"
        self.current = None
        self.phase_deadline = time.monotonic() + self.limits.test_timeout

    def _timed_out(self, now: float) -> str:
        if now >= self.total_deadline:
            return "total-timeout"
        seconds = self.limits.load_timeout if self.phase == "load" else self.limits.test_timeout
        return self._died(f"timed out after {seconds:g} s")

    def _died(self, why: str, *, already_dead: bool = False) -> str:
        if not already_dead:
            self.child.kill()
        if (
            self.phase == "load"
            and self.cell is not None
            and self.cells > 1
            and self.cell not in self.obs.skipped_cells
        ):
            self.obs.skipped_cells[self.cell] = why  # a notebook cell: skip it, load the others
            return "cell-died"
        if self.phase == "load":
            self.obs.load_failure = f"the submission {why} while loading"
        elif self.current is not None:
            self.obs.tests[self.current].failure = why
        else:
            self._flag(f"the child {why} between tests")
        return "died"


def _load_error(e: dict[str, Any]) -> dict[str, Any]:
    cell = e.get("cell")
    return {
        "cell": cell if type(cell) is int else -1,
        "label": clean_text(e.get("label"), 40),
        "error": clean_text(e.get("error"), 300),
        "where": clean_text(e.get("where"), 100),
    }


def _read(fd: int) -> bytes:
    """Read what select said is there; b'' means the other end is closed."""
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return b""


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"
