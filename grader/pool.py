"""Warm workers: sandboxed processes that import torch and collect the tests once, then fork a child
per submission run.

A fork from a warm worker costs milliseconds where a fresh interpreter costs over a second, and
its child starts where pytest has collected the tests; the sandbox is the worker's, set up once,
and every child inherits it. See `grader/child/worker.py` for what runs inside. The parent still
owns every clock: it asks the worker to kill a child that overruns, and destroys the worker (and
its namespace) if the worker does not answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from grader.runner import (
    Child,
    Observation,
    RunLimits,
    child_argv,
    proc_table,
    supervise,
    tree_memory_kb,
)
from grader.sandbox import Limits, Sandbox, kill

START_TIMEOUT = 120.0
KILL_TIMEOUT = 5.0


class WorkerGone(Exception):
    """The worker stopped answering; it is destroyed and started again on next use."""


class WarmWorker:
    def __init__(self, sandbox: Sandbox, limits: RunLimits, *, scratch_base: Path | None = None) -> None:
        self.sandbox, self.limits, self.scratch_base = sandbox, limits, scratch_base
        self.proc: Any = None
        self.lock = threading.Lock()
        self.jobs = 0
        self.ready = False
        self._worker_pid: int | None = None
        self.setup: dict[str, Any] | None = None  # the tests the running worker collected
        self.wanted: dict[str, Any] | None = None  # the tests of the job being run

    # -- life ------------------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the worker's process, without waiting: it boots torch while the caller gets on."""
        self.destroy()  # whatever is left of a previous worker
        self.scratch = Path(tempfile.mkdtemp(prefix="grade-worker-", dir=self.scratch_base))
        control_r, self.control = os.pipe()
        self.status, status_w = os.pipe()
        self.channel, channel_w = os.pipe()
        limits = Limits(memory_mb=self.limits.memory_mb, output_bytes=self.limits.output_bytes, cpu_seconds=10**7)
        argv = child_argv("serve", str(control_r), str(status_w), str(channel_w), str(self.scratch))
        try:
            self.proc = self.sandbox.start(argv, scratch=self.scratch, limits=limits, pass_fds=(control_r, status_w, channel_w))
        finally:
            for fd in (control_r, status_w, channel_w):
                os.close(fd)
        self.output = self.proc.stdout.fileno()
        self.pending = b""
        self.ready = False
        self._worker_pid = None
        self.setup = None

    def start(self) -> None:
        """Start the worker, or finish starting it: back once it is ready to fork."""
        if not self.alive():
            self.launch()
        if self.ready:
            return
        reply = self.wait_status(START_TIMEOUT)
        if reply.get("t") != "ready":
            self.destroy()
            raise WorkerGone(f"the warm worker did not start ({reply or 'no answer'})")
        self.ready = True

    def collect(self, setup: dict[str, Any]) -> None:
        """Have the worker collect `setup`'s tests (once: a worker with other tests is replaced)."""
        if self.setup == setup and self.alive():
            return
        if self.setup is not None:
            self.destroy()
        self.start()
        try:
            self.proc.stdin.write((json.dumps(setup) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker is gone: its silence below says so
        reply = self.wait_status(START_TIMEOUT)
        if reply.get("t") != "collected":
            self.destroy()
            raise WorkerGone(f"the warm worker could not collect the tests ({reply or 'no answer'})")
        self.setup = setup

    def worker_pid(self) -> int | None:
        """The host pid of the worker's Python (under prlimit/unshare/sh/setpriv, which exec or fork)."""
        if self.proc is None:
            return None
        if self._worker_pid is None:
            table = proc_table()
            stack = [self.proc.pid]
            while stack:
                pid = stack.pop()
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if b"dispatch(sys.argv[1:])\x00serve" in f.read():
                            self._worker_pid = pid
                            break
                except OSError:
                    pass
                stack.extend(table.get(pid, []))
        return self._worker_pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def destroy(self) -> None:
        if self.proc is None:
            return
        kill(self.proc)
        for fd in (self.control, self.status, self.channel):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    close = destroy

    # -- talking to it ---------------------------------------------------------------------------
    def command(self, word: str) -> None:
        try:
            os.write(self.control, (word + "\n").encode())
        except OSError as exc:
            raise WorkerGone(str(exc)) from None

    def wait_status(self, timeout: float) -> dict[str, Any]:
        """The worker's next reply, or {} after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return {}
            sel = selectors.DefaultSelector()
            sel.register(self.status, selectors.EVENT_READ)
            if not sel.select(timeout=left):
                continue
            chunk = os.read(self.status, 4096)
            if not chunk:
                return {}
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def fork(self, job: dict[str, Any]) -> WarmChild:
        assert self.wanted is not None
        self.collect(self.wanted)
        self.command("fork")
        reply = self.wait_status(KILL_TIMEOUT)
        if reply.get("t") != "forked":
            self.destroy()
            raise WorkerGone("the warm worker did not fork")
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        return WarmChild(self)

    def run(self, job: dict[str, Any]) -> Observation:
        """Run one submission's job to the end (restarts included) in forked children. The job's
        tests (its test files, devices, accelerators) are collected by the worker, once."""
        with self.lock:
            self.jobs += 1
            self.wanted = {"test_files": job["test_files"], "devices": job["devices"], "accelerators": job.get("accelerators", [])}
            job = {key: value for key, value in job.items() if key != "test_files"}
            job["cpu_seconds"] = int(self.limits.total_timeout) + 10
            try:
                return supervise(job, self.limits, self._fork_with_fd)
            except WorkerGone:
                self.destroy()
                raise

    def _fork_with_fd(self, attempt: dict[str, Any]) -> Child:
        return self.fork(attempt)


class WarmChild(Child):
    """A child forked by a warm worker: its end is the worker's 'exited' reply."""

    def __init__(self, worker: WarmWorker) -> None:
        self.worker = worker
        self.channel, self.output, self.status = worker.channel, worker.output, worker.status

    def on_status(self, data: bytes) -> None:
        self.worker.pending += data
        while b"\n" in self.worker.pending:
            line, self.worker.pending = self.worker.pending.split(b"\n", 1)
            self._reply(json.loads(line))

    def _reply(self, reply: dict[str, Any]) -> None:
        if reply.get("t") == "exited":
            self.exited = True
            self.returncode = os.waitstatus_to_exitcode(int(reply.get("status", 0)))

    def memory_kb(self) -> int:
        """Everything in the worker's namespace but the worker (its pages shared with the child count once)."""
        proc = self.worker.proc
        if proc is None:
            return 0
        return tree_memory_kb(proc.pid, exclude=self.worker.worker_pid())

    def on_channel_eof(self) -> None:  # the worker holds the channel open: only its death closes it
        self.exited, self.returncode = True, -9

    def kill(self) -> None:
        if self.exited:
            return
        try:
            self.worker.command("kill")
            self._await_exit()
        except WorkerGone:
            pass
        if not self.exited:  # the worker did not answer: its whole namespace goes
            self.worker.destroy()
            self.exited, self.returncode = True, -9

    def finish(self) -> None:
        if not self.exited:  # it said "done" and is exiting: wait for the worker to reap it
            self._await_exit()
            if not self.exited:
                self.kill()

    def _await_exit(self) -> None:
        """Read the worker's replies until it reports this child's exit, at most KILL_TIMEOUT."""
        deadline = time.monotonic() + KILL_TIMEOUT
        while not self.exited and time.monotonic() < deadline:
            reply = self.worker.wait_status(deadline - time.monotonic())
            if not reply:
                return
            self._reply(reply)
