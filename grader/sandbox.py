"""Start the child process with every protection this operating system offers.

On Linux with user namespaces the child runs in fresh user, PID, network and mount namespaces:
no network, its own process tree (every descendant dies with it), and a file system in which the
folders the parent names as secret are empty. Elsewhere it gets what POSIX offers: a process
group, resource limits, a scratch working directory. `protections` says which were active.
"""

from __future__ import annotations

import functools
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    output_bytes: int
    cpu_seconds: int


@dataclass
class Sandbox:
    """How children are started. `hide` lists folders the child must not see."""

    hide: list[Path] = field(default_factory=list)
    namespaces: bool = True

    @functools.cached_property
    def unshare(self) -> str | None:
        if not self.namespaces or sys.platform != "linux":
            return None
        return _namespaces_work()

    @property
    def protections(self) -> list[str]:
        base = ["separate process", "time limits", "memory limit", "output cap", "scratch directory"]
        if self.unshare:
            return [*base, "no network", "private process tree", "hidden reference and tests"]
        return [*base, "process-group kill"]

    def command(self, argv: list[str], scratch: Path) -> list[str]:
        if not self.unshare:
            return argv
        script = _mount_script(self.hide, scratch)
        return [
            self.unshare, "--user", "--map-root-user", "--net", "--pid", "--fork", "--mount",
            "--mount-proc", "--kill-child", "--", "/bin/sh", "-c", script, "sh", *argv,
        ]

    def start(self, argv: list[str], *, scratch: Path, limits: Limits, pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(argv, scratch),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            cwd=scratch,
            start_new_session=True,
            preexec_fn=functools.partial(_limit_self, limits),
            env=_child_env(scratch),
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (its process group; its PID namespace on Linux)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()


def _limit_self(limits: Limits) -> None:
    """Runs in the forked child before exec: resource limits the child cannot raise."""
    data = limits.memory_mb * MiB
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _child_env(scratch: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(scratch), PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TMPDIR=str(scratch), PYTHONHASHSEED="0")
    return env


def _mount_script(hide: list[Path], scratch: Path) -> str:
    """Shell run as root of the new namespaces: hide folders, make all but scratch read-only, exec."""
    q = shlex.quote
    lines = ["set -e", f"exec 9<{q(str(scratch))}"]
    for folder in [*hide, Path("/run"), Path("/var/run")]:
        if folder.is_dir() and not folder.is_symlink():
            lines.append(f"mount -t tmpfs -o size=16k,mode=755 none {q(str(folder))}")
    # scratch becomes a mount of its own (the one left writable), also where a hidden folder covers it
    lines.append(f"mkdir -p {q(str(scratch))}")
    lines.append(f"mount --no-canonicalize --bind /proc/self/fd/9 {q(str(scratch))}")
    lines.append("exec 9<&-")
    lines.append("if [ -d /dev/shm ]; then mount -t tmpfs -o size=64m none /dev/shm; fi")
    lines.append(
        'for m in $(findmnt -rn -o TARGET); do case "$m" in '
        f"{q(str(scratch))}|/proc|/proc/*|/dev/shm) ;; "
        '*) mount -o remount,bind,ro "$m" 2>/dev/null || true;; esac; done'
    )
    lines.append('exec "$@"')
    return "\n".join(lines)


@functools.cache
def _namespaces_work() -> str | None:
    path = shutil.which("unshare")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [path, "--user", "--map-root-user", "--net", "--pid", "--fork", "--mount", "--mount-proc",
             "--", "/bin/sh", "-c", "mount -t tmpfs none /tmp && echo ok"],
            capture_output=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.stdout.strip() == b"ok" else None
