"""Warm workers: sandboxed processes that import torch and collect the tests once, then fork a child
per submission run.

A fork from a warm worker costs milliseconds where a fresh interpreter costs over a second, and
its child starts where pytest has collected the tests; the sandbox is the worker's, set up once,
and every child inherits it. See `grader/child/worker.py` for what runs inside. The parent still
owns every clock: it asks the worker to kill a child that overruns, and destroys the worker (and
its namespace) if the worker does not answer. A batch shares its workers through a `WarmPool`: a
grade takes whichever is free for its children's run only.

A correct submission's grade never depends on what ran before it on the same worker:
- each child gets pipes of its own (results, output), made here for its fork and handed to the
  worker with the "fork" command; this side reads them and closes them after, so nothing an
  earlier child (or a process it left) wrote can reach a later child's reader;
- after each child the worker kills every other process of its namespace, removes the System V
  objects of its IPC namespace and empties its scratch tmpfs; when it cannot verify one of those,
  its "exited" says so and the worker is replaced before the next fork;
- memory counts what the kernel charges to the worker's cgroup where there is one (shared memory
  included), else the children's resident memory plus the System V segments of the worker's IPC
  namespace (which no process may map any more).
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import queue
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from grader.procfs import proc_table, tree_memory_kb
from grader.runner import Child, Observation, RunLimits, child_argv, supervise
from grader.sandbox import Cgroup, Limits, Sandbox, kill, sysv_shm_kb

START_TIMEOUT = 120.0
KILL_TIMEOUT = 5.0
KEPT_OUTPUT = 4096  # bytes of the worker's own output kept, to say why it failed


class WorkerGone(Exception):
    """The worker stopped answering; it is destroyed and started again on next use."""


class WarmWorker:
    def __init__(
        self, sandbox: Sandbox, limits: RunLimits, *, scratch_base: Path | None = None
    ) -> None:
        self.sandbox, self.limits, self.scratch_base = sandbox, limits, scratch_base
        self.proc: Any = None
        self.lock = threading.Lock()
        self.jobs = 0
        self.ready = False
        self._worker_pid: int | None = None
        self.setup: dict[str, Any] | None = None  # the tests the running worker collected
        self.wanted: dict[str, Any] | None = None  # the tests of the job being run
        self.cgroup: Cgroup | None = None
        self.sysv: int | None = None  # the worker's IPC namespace's /proc/sysvipc/shm, opened there
        self.unclean: list[str] = []  # what the last child left that the worker could not clean up
        self.replaced: list[list[str]] = []  # why each worker destroyed for a child's leftovers was

    # -- life ------------------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the worker's process, without waiting: it boots torch while the caller gets on."""
        self.destroy()  # whatever is left of a previous worker
        self.scratch = Path(tempfile.mkdtemp(prefix="grade-worker-", dir=self.scratch_base))
        self.control, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.status, status_w = os.pipe()
        limits = Limits(
            memory_mb=self.limits.memory_mb,
            output_bytes=self.limits.output_bytes,
            cpu_seconds=10**7,
        )
        argv = child_argv("serve", str(worker_end.fileno()), str(status_w), str(self.scratch))
        try:
            self.proc = self.sandbox.start(
                argv, scratch=self.scratch, limits=limits, pass_fds=(worker_end.fileno(), status_w)
            )
        except BaseException:
            self.control.close()
            os.close(self.status)
            raise
        finally:
            worker_end.close()
            os.close(status_w)
        self.output = self.proc.stdout.fileno()
        os.set_blocking(self.output, False)
        self.said = b""  # the tail of the worker's own output
        self.cgroup = getattr(self.proc, "cgroup", None)
        self.sysv = None
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
            why = f"{reply or 'no answer'}{self._said()}"
            self.destroy()
            raise WorkerGone(f"the warm worker did not start ({why})")
        self.sysv = self._receive_sysv()
        self.ready = True

    def _receive_sysv(self) -> int | None:
        """The descriptor the worker sent before "ready" (the only one this side ever accepts)."""
        try:  # (not socket.recv_fds: before Python 3.12 it drops its flags, and would wait here)
            data, ancillary, _flags, _address = self.control.recvmsg(
                64, socket.CMSG_LEN(4 * 4), socket.MSG_DONTWAIT
            )
        except OSError:
            return None
        fds = [
            fd
            for level, kind, payload in ancillary
            if (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
            for fd in array.array("i", payload[: len(payload) - len(payload) % 4])
        ]
        if data.strip() == b"sysv" and len(fds) == 1:
            return fds[0]
        for fd in fds:
            os.close(fd)
        return None

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
            why = f"{reply or 'no answer'}{self._said()}"
            self.destroy()
            raise WorkerGone(f"the warm worker could not collect the tests ({why})")
        self.setup = setup

    def worker_pid(self) -> int | None:
        """The host pid of the worker's Python (under prlimit/unshare/sh/setpriv, which exec or fork;
        the first process of the tree that runs this Python with "serve": its children come after)."""
        if self.proc is None:
            return None
        if self._worker_pid is None:
            table = proc_table()
            stack = [self.proc.pid]
            python = os.fsencode(sys.executable)
            while stack:
                pid = stack.pop()
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    cmdline = b""
                if (
                    cmdline.split(b"\0", 1)[0] == python
                    and b"dispatch(sys.argv[1:])\x00serve" in cmdline
                ):
                    self._worker_pid = pid
                    break
                stack.extend(table.get(pid, []))
        return self._worker_pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def destroy(self) -> None:
        if self.proc is None:
            return
        if self.sysv is not None:  # (it holds the IPC namespace, and its segments, alive)
            with contextlib.suppress(OSError):
                os.close(self.sysv)
            self.sysv = None
        kill(self.proc)
        self.control.close()
        with contextlib.suppress(OSError):
            os.close(self.status)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc = None
        self.cgroup = None
        self.unclean = []
        shutil.rmtree(self.scratch, ignore_errors=True)

    close = destroy

    # -- talking to it ---------------------------------------------------------------------------
    def command(self, word: str) -> None:
        try:
            self.control.send((word + "\n").encode())
        except OSError as exc:
            raise WorkerGone(str(exc)) from None

    def _said(self) -> str:
        """What the worker printed (its own output: children never write there), for an error."""
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(self.output, 1 << 16):
                self.said = (self.said + chunk)[-KEPT_OUTPUT:]
        text = self.said.decode(errors="replace").strip()
        return f": {text[-500:]}" if text else ""

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
        self._replace_if_unclean()
        self.collect(self.wanted)
        self._said()  # (keeps the worker's own output pipe from filling up)
        channel, channel_w = os.pipe()
        output, output_w = os.pipe()
        try:
            socket.send_fds(self.control, [b"fork\n"], [channel_w, output_w])
            reply = self.wait_status(KILL_TIMEOUT)
        except OSError:
            reply = {}
        finally:
            os.close(channel_w)
            os.close(output_w)
        if reply.get("t") != "forked":
            os.close(channel)
            os.close(output)
            self.destroy()
            raise WorkerGone("the warm worker did not fork")
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        return WarmChild(self, channel, output)

    def run(self, job: dict[str, Any]) -> Observation:
        """Run one submission's job to the end (restarts included) in forked children. The job's
        tests (its test files, devices, accelerators) are collected by the worker, once."""
        with self.lock:
            self.jobs += 1
            self.wanted = {
                "test_files": job["test_files"],
                "devices": job["devices"],
                "accelerators": job.get("accelerators", []),
            }
            job = {key: value for key, value in job.items() if key != "test_files"}
            job["cpu_seconds"] = int(self.limits.total_timeout) + 10
            try:
                return supervise(job, self.limits, self._fork_with_fd)
            except WorkerGone:
                self.destroy()
                raise
            finally:
                self._replace_if_unclean()  # now: its leftovers are not kept until the next submission

    def _replace_if_unclean(self) -> None:
        """A worker whose last child left what it could not clean up is never forked from again."""
        if self.unclean:
            self.replaced.append(self.unclean)
            self.destroy()

    def _fork_with_fd(self, attempt: dict[str, Any]) -> Child:
        return self.fork(attempt)


class PoolClosed(Exception):
    """The pool was closed (the batch is stopping) while a run waited for a worker."""


class WarmPool:
    """A batch's warm workers, shared by its grading threads: a run takes whichever worker is
    free for as long as its children run, and no longer. Reading a submission, judging it and
    writing its grade need no worker, so with more grading threads than workers those steps of
    one student overlap the runs of others, and no worker waits on the parent."""

    def __init__(self, workers: list[WarmWorker]) -> None:
        self.sandbox = workers[0].sandbox  # one sandbox for all: what a result says protected it
        self.closed = False
        self.lock = threading.Lock()  # a worker is either back in `free` or closed, never lost
        self.free: queue.Queue[WarmWorker | None] = queue.Queue()
        for worker in workers:
            self.free.put(worker)

    def run(self, job: dict[str, Any]) -> Observation:
        worker = self.free.get()
        if worker is None or self.closed:
            self.free.put(None)  # every other waiting run learns it too
            raise PoolClosed("the batch is stopping")
        try:
            return worker.run(job)
        finally:
            with self.lock:
                if self.closed:
                    worker.close()
                else:
                    self.free.put(worker)

    def close(self) -> None:
        """Stop every free worker; one still running a child stops when that run returns, and
        runs waiting for a worker get none."""
        with self.lock:
            self.closed = True
            while not self.free.empty():
                worker = self.free.get()
                if worker is not None:
                    worker.close()
            self.free.put(None)


Warm = WarmWorker | WarmPool  # what a grade forks its children from: one worker, or any free one


class WarmChild(Child):
    """A child forked by a warm worker: its own result and output pipes; its end is the worker's
    'exited' reply."""

    def __init__(self, worker: WarmWorker, channel: int, output: int) -> None:
        self.worker = worker
        self.channel, self.output, self.status = channel, output, worker.status
        self.closed = False
        self.cgroup = worker.cgroup
        self.oom_kills = self.cgroup.oom_kills() if self.cgroup is not None else 0
        self.memory_death: int | None = (
            None  # the exit code of a child the kernel killed at the memory limit
        )

    def on_status(self, data: bytes) -> None:
        if not data:  # the worker is gone, and with it every process of its namespace
            self.exited, self.returncode = True, -9
            return
        self.worker.pending += data
        while b"\n" in self.worker.pending:
            line, self.worker.pending = self.worker.pending.split(b"\n", 1)
            self._reply(json.loads(line))

    def _reply(self, reply: dict[str, Any]) -> None:
        if reply.get("t") != "exited":
            return
        unclean = reply.get("unclean")
        if isinstance(unclean, list) and unclean:
            self.worker.unclean = [str(x)[:200] for x in unclean[:10]]
        code = os.waitstatus_to_exitcode(int(reply.get("status", 0)))
        if (
            code == -signal.SIGKILL
            and self.cgroup is not None
            and self.cgroup.oom_kills() > self.oom_kills
        ):
            self.memory_death = code  # the kernel killed it at memory.max: `memory_kb` says so next
            return
        self.exited, self.returncode = True, code

    def memory_kb(self) -> int:
        """The cgroup's count where the worker has one (the worker's own pages, shared with the child,
        count once); else every process of the namespace but the worker, plus its System V segments."""
        if self.memory_death is not None:
            return self.worker.limits.memory_mb * 1024 + 1
        worker = self.worker
        if worker.proc is None:
            return 0
        if self.cgroup is not None:
            return self.cgroup.memory_kb()
        return tree_memory_kb(worker.proc.pid, exclude=worker.worker_pid()) + sysv_shm_kb(
            worker.sysv
        )

    def on_channel_eof(self) -> None:
        """Every holder of the child's result pipe closed it (it ended, or closed it itself): its end
        is still the worker's "exited" (or the worker's death)."""

    def kill(self) -> None:
        if self.memory_death is not None:
            self.exited, self.returncode = True, self.memory_death
        if self.exited:
            return
        try:
            self.worker.command("kill")
            self._await_exit()
        except WorkerGone:
            pass
        if self.memory_death is not None:
            self.exited, self.returncode = True, self.memory_death
        if not self.exited:  # the worker did not answer: its whole namespace goes
            self.worker.destroy()
            self.exited, self.returncode = True, -9

    def finish(self) -> None:
        if self.memory_death is not None and not self.exited:
            self.exited, self.returncode = True, self.memory_death
        if not self.exited:  # it said "done" and is exiting: wait for the worker to reap it
            self._await_exit()
            if not self.exited:
                self.kill()
        if not self.closed:
            self.closed = True
            for fd in (self.channel, self.output):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _await_exit(self) -> None:
        """Read the worker's replies until it reports this child's exit, at most KILL_TIMEOUT."""
        deadline = time.monotonic() + KILL_TIMEOUT
        while not self.exited and self.memory_death is None and time.monotonic() < deadline:
            reply = self.worker.wait_status(deadline - time.monotonic())
            if not reply:
                return
            self._reply(reply)
