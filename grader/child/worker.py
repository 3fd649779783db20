"""A warm worker: torch and pytest imported once, then a fresh forked child per submission run.

Runs inside the sandbox (its own PID, mount and network namespaces, as an unprivileged user), as
the namespace's first process. It never reads a job: children read their job from stdin after
the fork, so no submission's code or test ever passes through the worker's memory, which every
later child inherits. Between children it kills every other process in the namespace, daemons
included. It is not dumpable, so a child cannot read its memory or trace it.

File descriptors: 0 jobs (read by children), 1/2 output, CONTROL commands from the parent
("fork", "kill", "quit"), STATUS replies to the parent, CHANNEL the children's messages.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import select
import shutil
import signal
import sys
from pathlib import Path

PR_SET_DUMPABLE = 4


def _warm_up() -> None:
    import torch

    torch.set_num_threads(1)  # before any tensor op: a forked child must not inherit a thread pool
    import _pytest.config
    import pytest  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401  - sympy, for ops on the meta device

    for name in getattr(_pytest.config, "default_plugins", ()):  # what each session would import
        with contextlib.suppress(ImportError):
            importlib.import_module(f"_pytest.{name}")

    import grader.child.plugin  # noqa: F401
    from grader.child.dynamo import defer_dynamo_import

    defer_dynamo_import()  # optimizers without torch._dynamo: a child that compiles imports it itself
    gc.freeze()  # what every child inherits is never walked by a collection (nor copied by one)


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


def _child(job_fd: int, channel: int, keep: set[int]) -> None:
    """In the forked child: drop the worker's descriptors, read the job, run it, exit."""
    for fd in keep:
        os.close(fd)
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(job_fd, 1 << 20)
        if not chunk:
            os._exit(70)
        data += chunk
    job = json.loads(data)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    Path(job["cwd"]).mkdir(parents=True, exist_ok=True)
    os.chdir(job["cwd"])
    job["fd"] = channel
    import resource

    cpu = int(job.get("cpu_seconds", 600))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    from grader.child.plugin import run

    code = run(job)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code in (0, 1) else code)


def serve(control: int, status: int, channel: int, scratch: Path) -> None:
    _warm_up()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def say(message: dict[str, object]) -> None:
        os.write(status, (json.dumps(message) + "\n").encode())

    say({"t": "ready"})
    current: int | None = None
    exit_fd: int | None = None  # readable when the current child has exited (a pidfd)
    buffered = b""
    while True:
        ready, _, _ = select.select([control] if exit_fd is None else [control, exit_fd], [], [], 0.05 if exit_fd is None else 1)
        finished = _reap()
        if current is not None and current in finished:
            _kill_others()
            _reap()
            _clean(scratch)
            say({"t": "exited", "status": finished[current]})
            current = None
        if exit_fd is not None and current is None:
            os.close(exit_fd)
            exit_fd = None
        if control not in ready:
            continue
        chunk = os.read(control, 4096)
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
                    try:
                        _child(0, channel, {control, status})
                    finally:
                        os._exit(71)
                current = pid
                exit_fd = _pidfd(pid)
                say({"t": "forked"})
            elif command == "kill":
                _kill_others()
                for pid, code in _reap().items():
                    if pid == current:
                        say({"t": "exited", "status": code})
                        current = None
                _clean(scratch)
                if current is not None:  # killed but not reaped yet: the loop above will see it
                    continue
            elif command == "quit":
                _kill_others()
                os._exit(0)


def main(argv: list[str]) -> None:
    control, status, channel = (int(x) for x in argv[:3])
    serve(control, status, channel, Path(argv[3]))
