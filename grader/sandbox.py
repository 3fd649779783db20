"""Start the child process with every protection this operating system offers.

Linux, with mount/PID/network namespaces (`unshare` from util-linux):
- no network (a fresh network namespace: no interfaces but a down loopback, no abstract sockets);
- its own process tree: when the child's first process dies, the kernel kills every descendant,
  `setsid` daemons and double forks included; the parent is not visible, so not signalable;
- a file system in which /tmp, /run, /dev/shm, the home folder and the secret folders (reference,
  golden values, other submissions) are empty, everything is read-only but the scratch folder;
- no way back: started by root, the child runs as an unprivileged user id of its own (one per sandbox) with no capabilities and
  no_new_privs; started by a user, it runs in a nested user namespace whose mounts are locked,
  so it cannot unmount what hides the secrets.
Everywhere (macOS too): a process group, resource limits (data size, file size, CPU time, core
dumps off), a scratch working directory, a clean environment. `protections` says which held.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import resource
import shlex
import shutil
import signal
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024
UID_BASE, UID_SPAN = 1_000_000, 1_000_000  # unprivileged ids no account uses, one per sandbox
_uid_counter = itertools.count()


def _next_uid() -> int:
    return UID_BASE + (os.getpid() * 4096 + next(_uid_counter)) % UID_SPAN
MAX_PROCESSES = 1024
# The child sees the operating system (these top-level folders) and, brought back into view, the
# folders its Python needs; every other top-level folder (/home, /root, /tmp, /srv, /work, /opt,
# /var, /mnt, ...) is an empty tmpfs: no other copy of a reference, no other submission, anywhere.
SYSTEM_DIRS = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "sys"}


def hidden_roots() -> list[Path]:
    roots = [p for p in Path("/").iterdir() if p.name not in SYSTEM_DIRS and p.is_dir() and not p.is_symlink()]
    return [*roots, *(p for p in (Path("/dev/shm"),) if p.is_dir())]


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    output_bytes: int
    cpu_seconds: int


@dataclass
class Sandbox:
    """How children are started. `hide` lists folders the child must not see.

    Started by root, each sandbox gets a user id of its own (not shared with any other child), so
    that a per-user limit such as the process count binds one submission, not the whole batch.
    """

    hide: list[Path] = field(default_factory=list)
    namespaces: bool = True
    uid: int = field(default_factory=lambda: _next_uid())

    @functools.cached_property
    def mode(self) -> str:
        """'root' (namespaces, then an unprivileged uid), 'user' (user namespaces) or 'basic' (POSIX only)."""
        if not self.namespaces or sys.platform != "linux":
            return "basic"
        return _namespace_mode()

    @property
    def protections(self) -> list[str]:
        base = ["separate process", "time limits", "memory limit", "output cap", "scratch directory"]
        if self.mode == "basic":
            return [*base, "process-group kill"]
        extra = ["no network", "private process tree", "read-only file system", "hidden reference and tests"]
        if self.mode == "root":
            extra.append("unprivileged user")
        return [*base, *extra]

    def command(self, argv: list[str], scratch: Path) -> list[str]:
        unshare = shutil.which("unshare") or "unshare"
        common = ["--net", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child"]
        script = mount_script([*self.hide], scratch)
        if self.mode == "root":
            drop = [shutil.which("setpriv") or "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                    "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
            return [unshare, *common, "--", "/bin/sh", "-c", script, "sh", *drop, *argv]
        if self.mode == "user":
            if os.geteuid() == 0:
                raise RuntimeError("user namespaces started by root would make the child the host's root")
            lock = [unshare, "--user", "--map-root-user", "--mount", "--"]
            return [unshare, "--user", "--map-root-user", *common, "--", "/bin/sh", "-c", script, "sh", *lock, *argv]
        return argv

    def start(self, argv: list[str], *, scratch: Path, limits: Limits, pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        if self.mode == "root":
            for path in (scratch, *scratch.rglob("*")):
                os.chown(path, self.uid, self.uid)
        processes = MAX_PROCESSES if self.mode == "root" else None
        command = self.command(argv, scratch)
        prlimit = shutil.which("prlimit") if sys.platform == "linux" else None
        if prlimit:  # limits set by a command, not a preexec_fn: safe from the threads of a batch
            command = [prlimit, *_prlimit_args(limits, processes), "--", *command]
        return subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            cwd=scratch,
            start_new_session=True,
            preexec_fn=None if prlimit else functools.partial(_limit_self, limits, processes=processes),
            env=_child_env(scratch),
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (its process group; its PID namespace on Linux)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def _limit_self(limits: Limits, processes: int | None = None) -> None:
    """Runs in the forked child before exec: resource limits the child cannot raise.

    `processes` caps the processes and threads of the child's own user id (root mode;
    shared by the children of a batch), which stops a fork bomb from filling the process table.
    """
    if processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    data = limits.memory_mb * MiB
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _prlimit_args(limits: Limits, processes: int | None) -> list[str]:
    data = limits.memory_mb * MiB
    args = [f"--data={data}:{data}", f"--fsize={limits.output_bytes}:{limits.output_bytes}", "--core=0:0",
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}"]
    if processes is not None:
        args.append(f"--nproc={processes}:{processes}")
    return args


def _child_env(scratch: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(scratch), TMPDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0", MPLBACKEND="Agg")
    return env


def _needed_paths() -> list[Path]:
    """What the child's Python must still see inside hidden folders: the interpreter, its packages, us."""
    import grader

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent,
             Path(grader.__file__).resolve().parent, *(Path(p) for p in site.getsitepackages())}
    return sorted({p.resolve() for p in paths if p.exists()})


def mount_script(hide: list[Path], scratch: Path) -> str:
    """Shell run first in the new namespaces, before the child's Python starts.

    1. park the folders the child needs (its scratch, the interpreter, torch, this package) on a
       private tmpfs; 2. cover /tmp, /run, /dev/shm, home and the secret folders with empty
       tmpfs; 3. move the parked folders back; 4. make every mount but scratch read-only; 5. exec.
    """

    def q(path: Path) -> str:
        return shlex.quote(str(path))

    roots = set(hidden_roots())
    covered = sorted(roots | {h for h in hide if h.is_dir()}, key=lambda p: len(p.parts))
    keep = [scratch, *(p for p in _needed_paths() if any(p.is_relative_to(c) for c in covered))]
    stage = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/mnt")
    lines = ["set -e", f"mount -n -t tmpfs -o size=64m,mode=755 none {q(stage)}"]
    for i, path in enumerate(keep):
        lines += [f"mkdir -p {q(stage / f'k{i}')}", f"mount -n --rbind {q(path)} {q(stage / f'k{i}')}"]
    for folder in covered:  # outermost first; one inside an already covered folder is gone anyway
        if folder != stage:
            lines.append(f"if [ -d {q(folder)} ]; then mount -n -t tmpfs -o size=64m,mode=755 none {q(folder)}; fi")
    for i, path in enumerate(keep):
        lines += [f"mkdir -p {q(path)}", f"mount -n --move {q(stage / f'k{i}')} {q(path)}"]
    for folder in hide:  # a secret inside a folder brought back (the reference inside the venv?) stays hidden
        if any(folder.is_relative_to(k) for k in keep):
            lines.append(f"if [ -d {q(folder)} ]; then mount -n -t tmpfs -o size=16k,mode=555 none {q(folder)}; fi")
    lines.append(
        'for m in $(findmnt -rn -o TARGET); do case "$m" in '
        f"{q(scratch)}|/proc|/proc/*) ;; "
        '*) mount -n -o remount,bind,ro "$m" 2>/dev/null || true;; esac; done'
    )
    lines.append('exec "$@"')
    return "\n".join(lines)


@functools.cache
def _namespace_mode() -> str:
    """Probe once which namespace mode works here (containers may forbid them)."""
    if not shutil.which("unshare") or not shutil.which("findmnt"):
        return "basic"
    # root never uses user namespaces: there the child would be the host's root
    for mode in ("root",) if os.geteuid() == 0 else ("user",):
        if mode == "root" and not shutil.which("setpriv"):
            continue
        probe = Sandbox(namespaces=True)
        probe.__dict__["mode"] = mode
        scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"grader-probe-{os.getpid()}"
        scratch.mkdir(exist_ok=True)
        try:
            if mode == "root":
                os.chown(scratch, probe.uid, probe.uid)
            argv = probe.command([sys.executable, "-I", "-S", "-c", "print('ok')"], scratch)
            result = subprocess.run(argv, capture_output=True, timeout=60, check=False, cwd=scratch)
            if result.stdout.strip() == b"ok":
                return mode
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return "basic"
