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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.sandbox import Limits, Sandbox, kill

MAX_MESSAGE = 100 * 1024 * 1024
MAX_RESTARTS = 50


@dataclass
class TestRun:
    """What happened to one test instance: the values sent and how it ended."""

    checks: dict[int, dict[str, Any]] = field(default_factory=dict)
    ended: bool = False
    error: str = ""
    where: str = ""
    forbidden: list[str] = field(default_factory=list)
    output: str = ""
    failure: str = ""  # seen by the parent: a timeout, a crash, an exit


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
    finished: bool = False


@dataclass(frozen=True)
class RunLimits:
    test_timeout: float
    load_timeout: float
    total_timeout: float
    memory_mb: int
    output_bytes: int


@dataclass
class TestFile:
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


class ChildRunner:
    """Runs one set of test files against one submission's cells, restarting after a crash."""

    def __init__(self, *, sandbox: Sandbox, limits: RunLimits, scratch_base: Path | None = None) -> None:
        self.sandbox = sandbox
        self.limits = limits
        self.scratch_base = scratch_base

    def run(self, *, files: list[TestFile], job: dict[str, Any]) -> Observation:
        return self.start(files).finish(job)

    def start(self, files: list[TestFile]) -> Launch:
        """Lay out the tests and start the first child now: it boots Python and torch while the
        parent gets its golden values ready; `finish(job)` hands it the job and watches it."""
        scratch = Path(tempfile.mkdtemp(prefix="grade-", dir=self.scratch_base))
        try:
            sources = [{"group": f.group, "name": f.path.name, "source": f.path.read_text(encoding="utf-8")} for f in files]
            return Launch(self, scratch, sources, self._spawn(scratch))
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _spawn(self, scratch: Path) -> _Spawned:
        read_fd, write_fd = os.pipe()
        limits = Limits(
            memory_mb=self.limits.memory_mb,
            output_bytes=self.limits.output_bytes,
            cpu_seconds=int(self.limits.total_timeout) + 10,
        )
        argv = [sys.executable, "-I", "-m", "grader.child"]
        try:
            proc = self.sandbox.start(argv, scratch=scratch, limits=limits, pass_fds=(write_fd,))
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return _Spawned(proc, read_fd, write_fd)


@dataclass
class _Spawned:
    proc: subprocess.Popen[bytes]
    read_fd: int
    child_fd: int  # the number of the channel's write end in the child


class Launch:
    """A started run: the first child is booting; `finish` supervises it and any restarts."""

    def __init__(self, runner: ChildRunner, scratch: Path, tests: list[dict[str, str]], first: _Spawned) -> None:
        self.runner, self.scratch, self.tests, self.first = runner, scratch, tests, first

    def cancel(self) -> None:
        kill(self.first.proc)
        os.close(self.first.read_fd)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def finish(self, job: dict[str, Any]) -> Observation:
        try:
            job = dict(job, test_files=self.tests, cwd=str(self.scratch))
            return self._run(job)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _run(self, job: dict[str, Any]) -> Observation:
        limits = self.runner.limits
        obs = Observation()
        deadline = time.monotonic() + limits.total_timeout
        done: set[str] = set()
        spawned: _Spawned | None = self.first
        for _attempt in range(MAX_RESTARTS):
            child = spawned or self.runner._spawn(self.scratch)
            spawned = None
            status = self._watch(child, dict(job, skip=sorted(done), skip_cells=sorted(obs.skipped_cells)), obs, deadline)
            before = len(done)
            done |= {test_id for test_id, run in obs.tests.items() if run.ended or run.failure}
            if status == "cell-died":
                continue  # that cell is skipped from now on; load the rest again
            if status == "finished" or obs.load_failure:
                break
            if status == "died" and len(done) == before:  # died outside any test: no progress to make
                break
            if status == "total-timeout":
                seconds = limits.total_timeout
                for entry in obs.collected:
                    run = obs.tests.setdefault(entry["id"], TestRun())
                    if not run.ended and not run.failure:
                        run.failure = f"not run: the whole submission ran out of time ({seconds:g} s)"
                obs.flags.append(f"timed out after {seconds:g} s in total")
                break
            if not obs.collected:
                break
        obs.finished = True
        return obs

    def _watch(self, child: _Spawned, job: dict[str, Any], obs: Observation, deadline: float) -> str:
        proc = child.proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(dict(job, fd=child.child_fd)).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            return _Watch(self.runner.limits, obs, proc, child.read_fd, deadline, len(job["cells"])).loop()
        finally:
            kill(proc)
            os.close(child.read_fd)


class _Watch:
    """One child's life: read its messages and output, enforce the clocks, note how it ended."""

    def __init__(self, limits: RunLimits, obs: Observation, proc: subprocess.Popen[bytes], fd: int, deadline: float, cells: int) -> None:
        self.limits, self.obs, self.proc, self.fd, self.total_deadline = limits, obs, proc, fd, deadline
        self.phase = "load"
        self.current: str | None = None
        self.cell: int | None = None
        self.cells = cells
        self.phase_deadline = time.monotonic() + limits.load_timeout
        self.pending = b""
        self.saw_done = False
        self.output_seen = 0

    def loop(self) -> str:
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.fd, selectors.EVENT_READ, "channel")
        sel.register(self.proc.stdout, selectors.EVENT_READ, "output")
        open_streams = 2
        while open_streams:
            now = time.monotonic()
            timeout = min(self.phase_deadline, self.total_deadline) - now
            if timeout <= 0:
                return self._timed_out(now)
            for key, _ in sel.select(timeout=min(timeout, 1.0)):
                data = os.read(key.fd, 1 << 16) if key.data == "channel" else self._read_output(key.fileobj)
                if not data:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if key.data == "channel":
                    self._take(data)
                if self.output_seen > 8 * self.limits.output_bytes:
                    return self._died(f"printed more than {_size(self.limits.output_bytes)} of output")
        try:
            returncode = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            returncode = -9
        if self.saw_done:
            return "finished"
        return self._died(describe_exit(returncode))

    def _read_output(self, stream: Any) -> bytes:
        data = os.read(stream.fileno(), 1 << 16)
        self.output_seen += len(data)
        room = self.limits.output_bytes - len(self.obs.output)
        if room > 0:
            self.obs.output += data[:room]
        elif data and "output truncated" not in " ".join(self.obs.flags):
            self.obs.flags.append(f"output truncated at {_size(self.limits.output_bytes)}")
        return data

    def _take(self, data: bytes) -> None:
        self.pending += data
        if len(self.pending) > MAX_MESSAGE:
            self.pending = b""
            self.obs.flags.append("sent an oversized message")
            return
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.obs.flags.append("sent a malformed message")
                continue
            if isinstance(message, dict):
                self._handle(message)

    def _handle(self, m: dict[str, Any]) -> None:
        kind = m.get("t")
        test_id = m.get("id")
        if kind == "collected" and not self.obs.collected and isinstance(m.get("tests"), list):
            self.obs.collected = [t for t in m["tests"] if isinstance(t, dict) and isinstance(t.get("id"), str)]
        elif kind == "loaded" and self.phase == "load":
            if isinstance(m.get("errors"), list) and not self.obs.load_errors:
                self.obs.load_errors = [e for e in m["errors"] if isinstance(e, dict)]
            if isinstance(m.get("shimmed"), list) and not self.obs.shimmed:
                self.obs.shimmed = [str(x)[:40] for x in m["shimmed"][:20]]
            self._between_tests()
        elif kind == "cell" and self.phase == "load" and type(m.get("i")) is int:
            self.cell = m["i"]
            self.phase_deadline = time.monotonic() + self.limits.load_timeout
        elif kind == "start" and isinstance(test_id, str):
            self.current = test_id
            self.phase = "test"
            self.phase_deadline = time.monotonic() + self.limits.test_timeout
            self.obs.tests.setdefault(test_id, TestRun())
        elif kind == "check" and isinstance(test_id, str) and test_id == self.current and type(m.get("i")) is int:
            self.obs.tests[test_id].checks.setdefault(m["i"], m)
        elif kind == "end" and isinstance(test_id, str) and test_id == self.current:
            run = self.obs.tests[test_id]
            run.ended = True
            run.error = str(m.get("error", ""))[:500]
            run.where = str(m.get("where", ""))[:200]
            run.output = str(m.get("output", ""))[:2000]
            forbidden = m.get("forbidden")
            run.forbidden = [str(x) for x in forbidden] if isinstance(forbidden, list) else []
            self._between_tests()
        elif kind == "done":
            self.saw_done = True

    def _between_tests(self) -> None:
        self.phase = "idle"
        self.current = None
        self.phase_deadline = time.monotonic() + self.limits.test_timeout

    def _timed_out(self, now: float) -> str:
        if now >= self.total_deadline:
            return "total-timeout"
        seconds = self.limits.load_timeout if self.phase == "load" else self.limits.test_timeout
        return self._died(f"timed out after {seconds:g} s")

    def _died(self, why: str) -> str:
        kill(self.proc)
        if self.phase == "load" and self.cell is not None and self.cells > 1 and self.cell not in self.obs.skipped_cells:
            self.obs.skipped_cells[self.cell] = why  # a notebook cell: skip it, load the others
            return "cell-died"
        if self.phase == "load":
            self.obs.load_failure = f"the submission {why} while loading"
        elif self.current is not None:
            self.obs.tests[self.current].failure = why
        else:
            self.obs.flags.append(f"the child {why} between tests")
        return "died"


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"
