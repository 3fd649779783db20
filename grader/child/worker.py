"""A warm worker: torch imported and the tests collected once, then a forked child per submission run.

Runs inside the sandbox (its own PID, mount, IPC and network namespaces, as an unprivileged user),
as the namespace's first process. It boots (torch, pytest), reads the exercise's tests from the
parent (the one thing it reads: trusted files and the devices to run them on), and has pytest
collect them, so that each child only loads one submission and runs the collected tests: the
child goes on with the worker's pytest session where collection ended. No submission's code ever
passes through the worker: each child reads its own job after the fork, and every later child
inherits the worker's memory. It is not dumpable, so a child cannot read its memory or trace it.

What one child can leave for the next, and why it cannot:
- bytes in a pipe (forged messages, a partial line, a pipe held full): the parent makes a result
  pipe and an output pipe for each fork and hands their write ends over with the "fork" command;
  the child writes only there (its stdout, stderr and every copy pytest keeps of them are moved
  onto its own output pipe), the worker keeps no copy, and the parent reads and closes them;
- processes: after each child the worker kills every other process of its namespace and waits
  until /proc shows none;
- files: the scratch folder (a tmpfs of the sandbox's) is emptied, locked folders unlocked first,
  and must be empty;
- System V objects (its IPC namespace's): each is removed, and none may remain.
The "exited" reply says what could not be cleaned up ("unclean"); the parent then replaces the
worker rather than fork from it again. Without namespaces (no PID or IPC namespace of its own)
nothing can be checked, and every child's end says so.

File descriptors: 0 the tests, then the jobs (one a child; moved off 0, which is /dev/null for
pytest and the children), 1/2 the worker's own output, CONTROL a Unix socket (SOCK_SEQPACKET) from
the parent: "fork" with the child's two pipes, "kill", "quit"; the worker sends on it once, before
"ready", its /proc/sysvipc/shm (opened here, so the parent sees this IPC namespace's segments);
STATUS replies to the parent ("ready", "collected", "forked", "exited").
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import resource
import select
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

from grader.child.process import boot, empty_stdin, leave, settle

PR_SET_DUMPABLE = 4
IPC_RMID = 0
KILL_WAIT = 2.0  # seconds for every other process of the namespace to be gone (twice: under the parent's 5 s)
CHILD_OOM_SCORE = 500  # the kernel's memory limit (cgroup) kills the child before the worker


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
    (
        F.cross_entropy(out, y),
        F.mse_loss(out, out),
        torch.softmax(out, 1),
        torch.logsumexp(out, 1),
        F.one_hot(y, 2),
    )
    (
        torch.stack([x, x]).permute(0, 2, 1).contiguous().flip(1),
        torch.cat([x, x], 1).double().sum(),
        x.numpy(),
    )
    torch.stack([torch.empty(2, 3, device="meta")] * 2) @ torch.empty(3, 2, device="meta")
    accelerators = (
        torch.cuda._is_compiled(),
        torch.backends.mps.is_built(),
        getattr(torch, "xpu", None) and torch.xpu._is_compiled(),
    )
    if not any(accelerators):
        for optimizer in (
            torch.optim.SGD(model.parameters(), lr=0.1),
            torch.optim.Adam(model.parameters()),
        ):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    torch.set_rng_state(rng)


def _reap() -> dict[int, int]:
    finished: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return finished
        if pid == 0:
            return finished
        finished[pid] = status


def _pidfd(pid: int) -> int | None:
    """A descriptor that select() sees readable once `pid` exits; None where the kernel has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _read_line(fd: int) -> bytes | None:
    """One line from the parent's pipe (it writes the next one only after an answer); None at its end."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        data += chunk
    return data


def _open_fds() -> list[int]:
    try:
        return sorted(int(name) for name in os.listdir("/proc/self/fd"))
    except OSError:  # no /proc (macOS)
        return list(range(min(os.sysconf("SC_OPEN_MAX"), 4096)))


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _redirect(identity: tuple[int, int], target: int) -> None:
    """Point every descriptor of this process that is the open pipe `identity` (stdout, stderr and
    the copies pytest's capture keeps to put them back) at `target` instead."""
    for fd in _open_fds():
        if fd != target and _identity(fd) == identity:
            os.dup2(target, fd, inheritable=os.get_inheritable(fd))


# -- cleaning up after a child ------------------------------------------------------------------------
def _others() -> list[int]:
    """Every process of this PID namespace but this one (its first: /proc shows the namespace)."""
    me = os.getpid()
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and int(entry) != me]


def _kill_others(timeout: float = KILL_WAIT) -> tuple[dict[int, int], bool]:
    """Kill every other process of the namespace and reap them: (their wait statuses, whether /proc
    showed none left within `timeout`)."""
    finished: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
        finished.update(_reap())
        if not _others():
            return finished, True
        if time.monotonic() > deadline:
            return finished, False
        time.sleep(0.002)


SYSV_KINDS = ("shm", "sem", "msg")


def _sysv_ids(kind: str) -> list[int] | None:
    """The ids of this IPC namespace's System V objects of one kind; None where they cannot be read."""
    try:
        with open(f"/proc/sysvipc/{kind}") as f:
            lines = f.read().splitlines()[1:]
    except FileNotFoundError:  # a kernel without System V IPC: there are none
        return []
    except OSError:
        return None
    ids = []
    for line in lines:
        fields = line.split()
        if len(fields) > 1 and fields[1].lstrip("-").isdigit():
            ids.append(int(fields[1]))
    return ids


def _remove_sysv() -> list[str]:
    """Remove every System V object of the namespace (the child's, since each child's are removed);
    what remains, or cannot be listed, is a problem."""
    libc = ctypes.CDLL(None, use_errno=True)
    remove = {
        "shm": lambda i: libc.shmctl(i, IPC_RMID, None),
        "sem": lambda i: libc.semctl(i, 0, IPC_RMID),
        "msg": lambda i: libc.msgctl(i, IPC_RMID, None),
    }
    problems = []
    for kind in SYSV_KINDS:
        for ident in _sysv_ids(kind) or []:
            remove[kind](ident)
        left = _sysv_ids(kind)
        if left is None:
            problems.append(f"System V {kind} objects cannot be listed")
        elif left:
            problems.append(f"{len(left)} System V {kind} object(s) could not be removed")
    return problems


def _empty_scratch(scratch: Path) -> list[str]:
    """Delete everything in the scratch folder, unlocking first what the child locked (its user owns
    it all); a folder that is not empty afterwards is a problem."""
    with contextlib.suppress(OSError):
        os.chmod(scratch, 0o700)
    for root, folders, _files in os.walk(scratch):
        for name in folders:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o700)
    with contextlib.suppress(OSError):
        for entry in os.scandir(scratch):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    try:
        left = os.listdir(scratch)
    except OSError as exc:
        return [f"the scratch folder cannot be read ({exc.strerror})"]
    return [f"the scratch folder could not be emptied ({len(left)} entries left)"] if left else []


class Worker:
    """The worker's side of the pipes: the tests once, then a forked child per "fork" command."""

    def __init__(self, control: int, status: int, scratch: Path) -> None:
        self.control = socket.socket(fileno=control)
        self.status, self.scratch = status, scratch
        self.namespaced = (
            os.getpid() == 1
        )  # the first process of a PID namespace (and so of an IPC one)
        self.cwd = str(scratch / "job")  # where the tests are collected, and every child runs
        self.jobs = os.dup(0)  # the parent's pipe: the tests once, then a job for each child
        empty_stdin()  # what pytest's capture and every child see as stdin
        self.output = _identity(1)  # the worker's own output: no child ever writes there
        self.forked = False  # True in a child

    def say(self, message: dict[str, object]) -> None:
        os.write(self.status, (json.dumps(message) + "\n").encode())

    def offer_sysv(self) -> None:
        """Hand the parent this IPC namespace's /proc/sysvipc/shm, opened here (before any child)."""
        if not self.namespaced:
            return
        try:
            fd = os.open("/proc/sysvipc/shm", os.O_RDONLY)
        except OSError:
            return
        try:
            socket.send_fds(self.control, [b"sysv\n"], [fd])
        except OSError:
            pass
        finally:
            os.close(fd)

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

    def _receive(self) -> tuple[str | None, list[int]]:
        """The parent's next command and the descriptors sent with it; None when it is gone."""
        try:
            data, fds, _flags, _address = socket.recv_fds(self.control, 4096, 4)
        except OSError:
            return None, []
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        return data.decode(errors="replace").strip(), fds

    def serve_forks(self) -> dict[str, Any]:
        """Called by the plugin once the tests are collected: fork a child per "fork" command.
        Returns only in a child, with its job; the worker itself leaves by os._exit."""
        gc.freeze()  # the collected tests too: no collection walks them in any child
        self.say({"t": "collected"})
        current: int | None = None
        exit_fd: int | None = None  # readable when the current child has exited (a pidfd)
        control = self.control.fileno()
        while True:
            watched = [control] if exit_fd is None else [control, exit_fd]
            ready, _, _ = select.select(watched, [], [], 0.05 if exit_fd is None else 1)
            finished = _reap()
            if current is not None and current in finished:
                self._after_child(current, finished[current])
                current = None
            if exit_fd is not None and current is None:
                os.close(exit_fd)
                exit_fd = None
            if control not in ready:
                continue
            command, fds = self._receive()
            if command == "fork" and current is None and len(fds) == 2:
                pid = os.fork()
                if pid == 0:
                    return self._begin_child(*fds)
                for fd in fds:  # the child's pipes are the child's: the worker keeps no copy
                    os.close(fd)
                current = pid
                exit_fd = _pidfd(pid)
                self.say({"t": "forked"})
                continue
            for fd in fds:
                os.close(fd)
            current = self._obey(command, current)

    def _obey(self, command: str | None, current: int | None) -> int | None:
        """A command other than a fork: "quit" (or the parent gone) ends the worker; "kill" ends
        the current child. The child running after it."""
        if command is None or command == "quit":
            self._kill(current)
            os._exit(0)
        if command == "kill" and current is not None:
            self._after_child(current, self._kill(current).get(current, signal.SIGKILL))
            return None
        return current

    def _kill(self, current: int | None) -> dict[int, int]:
        """Kill the current child and everything it started; the wait statuses reaped meanwhile."""
        if self.namespaced:
            return _kill_others(timeout=0.2 if current is None else KILL_WAIT)[0]
        if (
            current is not None
        ):  # no namespace: the child alone; what it started goes with this worker,
            with contextlib.suppress(
                ProcessLookupError
            ):  # which is replaced after every child (its
                os.kill(current, signal.SIGKILL)  # process group killed: what a `setsid` escapes)
            with contextlib.suppress(ChildProcessError):
                return {current: os.waitpid(current, 0)[1]}
        return {}

    def _after_child(self, pid: int, status: int) -> None:
        """The child has ended: nothing of it may be left for the next one. Reply "exited" with
        what could not be cleaned up (the parent then replaces this worker)."""
        problems = self._clean_up()
        reply: dict[str, object] = {"t": "exited", "status": status}
        if problems:
            reply["unclean"] = problems
        self.say(reply)

    def _clean_up(self) -> list[str]:
        problems = []
        if self.namespaced:
            if not _kill_others()[1]:
                problems.append("a process of the namespace could not be killed")
            problems += _remove_sysv()
        else:
            problems.append(
                "no namespaces: what a child left (daemons, System V objects) cannot be checked"
            )
        problems += _empty_scratch(self.scratch)
        return problems

    def _begin_child(self, channel: int, output: int) -> dict[str, Any]:
        """In a forked child: drop the worker's descriptors, write only to this child's own pipes,
        read this child's job, settle the process in the (emptied) scratch folder."""
        self.forked = True
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a cold child
            self.control.close()
            os.close(self.status)
            if self.output is not None:
                _redirect(self.output, output)
            os.close(output)
            with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(CHILD_OOM_SCORE))
            line = _read_line(self.jobs)
            os.close(self.jobs)
            if line is None:
                os._exit(70)
            job = dict(json.loads(line), cwd=self.cwd, fd=channel)
            self._enter_scratch()
            cpu = int(job.get("cpu_seconds", 600))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            settle(job)
            return job
        except BaseException:
            os._exit(71)


def serve(control: int, status: int, scratch: Path) -> None:
    boot()
    _exercise_torch()
    _preload_plotting()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(
        signal.SIGINT, signal.SIG_IGN
    )  # the one signal a child could send it (the namespace's first)
    worker = Worker(control, status, scratch)
    worker.offer_sysv()
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
    worker.say(
        {
            "t": "failed",
            "why": f"pytest ended with exit code {code} before the tests were collected",
        }
    )
    os._exit(1)


def _preload_plotting() -> None:
    """Import matplotlib's pyplot once in the worker where it is installed: nearly every notebook
    imports it, and each forked child would otherwise pay the half second it takes (its font
    cache built in the child's empty home included). Where it is missing, the shim stands in."""
    if importlib.util.find_spec("matplotlib") is None:
        return
    with contextlib.suppress(Exception):
        importlib.import_module("matplotlib.pyplot")


def main(argv: list[str]) -> None:
    control, status = (int(x) for x in argv[:2])
    serve(control, status, Path(argv[2]))
