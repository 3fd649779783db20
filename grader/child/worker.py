"""A warm worker: torch imported and the tests collected once, then a forked child per submission run.

Runs inside the sandbox (its own PID, mount and network namespaces, as an unprivileged user), as
the namespace's first process. It boots (torch, pytest), reads the exercise's tests from the
parent (the one thing it reads: trusted files and the devices to run them on), and has pytest
collect them, so that each child only loads one submission and runs the collected tests: the
child goes on with the worker's pytest session where collection ended. No submission's code ever
passes through the worker: each child reads its own job after the fork, and every later child
inherits the worker's memory. Between children it kills every other process in the namespace,
daemons included, and empties the scratch folder. It is not dumpable, so a child cannot read its
memory or trace it.

File descriptors: 0 the tests, then the jobs (one a child; moved off 0, which is /dev/null for
pytest and the children), 1/2 output, CONTROL commands from the parent ("fork", "kill", "quit"),
STATUS replies to the parent ("ready", "collected", "forked", "exited"), CHANNEL the children's
messages.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import shutil
import signal
from pathlib import Path
from typing import Any

from grader.child.__main__ import boot, empty_stdin, leave, settle

PR_SET_DUMPABLE = 4


def _exercise_torch() -> None:
    """Pay torch's first-use costs once, in the worker, rather than in every child: a small model's
    forward pass, the common tensor ops, on the CPU and the meta device; its backward pass and two
    optimizers' steps only in a build without accelerators (elsewhere the autograd engine would
    start a thread per accelerator here, and no child could then use autograd). The random state
    is left as it was, so children draw the same numbers as a cold child."""
    import torch
    import torch.nn.functional as F

    rng = torch.get_rng_state()
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
    out = model(x)
    F.cross_entropy(out, y), F.mse_loss(out, out), torch.softmax(out, 1), torch.logsumexp(out, 1), F.one_hot(y, 2)
    torch.stack([x, x]).permute(0, 2, 1).contiguous().flip(1), torch.cat([x, x], 1).double().sum(), x.numpy()
    torch.stack([torch.empty(2, 3, device="meta")] * 2) @ torch.empty(3, 2, device="meta")
    accelerators = (torch.cuda._is_compiled(), torch.backends.mps.is_built(), getattr(torch, "xpu", None) and torch.xpu._is_compiled())
    if not any(accelerators):
        for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.Adam(model.parameters())):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    torch.set_rng_state(rng)


def _reap() -> dict[int, int]:
    finished = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return finished
        if pid == 0:
            return finished
        finished[pid] = status


def _clean(scratch: Path) -> None:
    """Everything a child wrote goes with it: the next child starts from an empty scratch folder."""
    for entry in scratch.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _pidfd(pid: int) -> int | None:
    """A descriptor that select() sees readable once `pid` exits; None where the kernel has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _kill_others() -> None:
    """Kill every process of this namespace but this one (the namespace's first: it survives)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def _read_line(fd: int) -> bytes | None:
    """One line from the parent's pipe (it writes the next one only after an answer); None at its end."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        data += chunk
    return data


class Worker:
    """The worker's side of the pipes: the tests once, then a forked child per "fork" command."""

    def __init__(self, control: int, status: int, channel: int, scratch: Path) -> None:
        self.control, self.status, self.channel, self.scratch = control, status, channel, scratch
        self.cwd = str(scratch / "job")  # where the tests are collected, and every child runs
        self.jobs = os.dup(0)  # the parent's pipe: the tests once, then a job for each child
        empty_stdin()  # what pytest's capture and every child see as stdin
        self.forked = False  # True in a child

    def say(self, message: dict[str, object]) -> None:
        os.write(self.status, (json.dumps(message) + "\n").encode())

    def setup(self) -> dict[str, Any] | None:
        """The tests to collect, from the parent; None when it is gone."""
        line = _read_line(self.jobs)
        if line is None:
            return None
        self._enter_scratch()
        return dict(json.loads(line), cwd=self.cwd, hide_tests=True)

    def _enter_scratch(self) -> None:
        """Work in the scratch folder's job folder (made again: it goes with each child)."""
        Path(self.cwd).mkdir(parents=True, exist_ok=True)
        os.chdir(self.cwd)

    def serve_forks(self) -> dict[str, Any]:
        """Called by the plugin once the tests are collected: fork a child per "fork" command.
        Returns only in a child, with its job; the worker itself leaves by os._exit."""
        gc.freeze()  # the collected tests too: no collection walks them in any child
        self.say({"t": "collected"})
        current: int | None = None
        exit_fd: int | None = None  # readable when the current child has exited (a pidfd)
        buffered = b""
        while True:
            watched = [self.control] if exit_fd is None else [self.control, exit_fd]
            ready, _, _ = select.select(watched, [], [], 0.05 if exit_fd is None else 1)
            finished = _reap()
            if current is not None and current in finished:
                _kill_others()
                _reap()
                _clean(self.scratch)
                self.say({"t": "exited", "status": finished[current]})
                current = None
            if exit_fd is not None and current is None:
                os.close(exit_fd)
                exit_fd = None
            if self.control not in ready:
                continue
            chunk = os.read(self.control, 4096)
            if not chunk:
                _kill_others()
                os._exit(0)
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                command = line.decode().strip()
                if command == "fork" and current is None:
                    pid = os.fork()
                    if pid == 0:
                        return self._begin_child()
                    current = pid
                    exit_fd = _pidfd(pid)
                    self.say({"t": "forked"})
                elif command == "kill":
                    _kill_others()
                    for pid, code in _reap().items():
                        if pid == current:
                            self.say({"t": "exited", "status": code})
                            current = None
                    _clean(self.scratch)
                    if current is not None:  # killed but not reaped yet: the loop above will see it
                        continue
                elif command == "quit":
                    _kill_others()
                    os._exit(0)

    def _begin_child(self) -> dict[str, Any]:
        """In a forked child: drop the worker's descriptors, read this child's job, settle the process
        in the scratch folder (emptied since the last child)."""
        self.forked = True
        try:
            os.close(self.control)
            os.close(self.status)
            line = _read_line(self.jobs)
            os.close(self.jobs)
            if line is None:
                os._exit(70)
            job = dict(json.loads(line), cwd=self.cwd, fd=self.channel)
            self._enter_scratch()
            cpu = int(job.get("cpu_seconds", 600))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            settle(job)
            return job
        except BaseException:
            os._exit(71)


def serve(control: int, status: int, channel: int, scratch: Path) -> None:
    boot()
    _exercise_torch()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    worker = Worker(control, status, channel, scratch)
    worker.say({"t": "ready"})
    setup = worker.setup()
    if setup is None:
        os._exit(0)
    from grader.child.plugin import run

    try:
        code = run(setup, serve=worker.serve_forks)
    except BaseException:
        if worker.forked:
            os._exit(71)
        raise
    if worker.forked:  # a child, at the end of its submission's tests
        leave(code)
    worker.say({"t": "failed", "why": f"pytest ended with exit code {code} before the tests were collected"})
    os._exit(1)


def main(argv: list[str]) -> None:
    control, status, channel = (int(x) for x in argv[:3])
    serve(control, status, channel, Path(argv[3]))
