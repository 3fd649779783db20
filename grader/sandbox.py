"""Start the child process with every protection this operating system offers.

Linux, with mount/PID/network namespaces (`unshare` from util-linux):
- no network (a fresh network namespace: no interfaces but a down loopback, no abstract sockets);
- its own process tree: when the child's first process dies, the kernel kills every descendant,
  `setsid` daemons and double forks included; the parent is not visible, so not signalable;
- a file system in which /tmp, /run, /dev/shm, the home folder and the secret folders (reference,
  golden values, other submissions) are empty, everything is read-only but the scratch folder,
  which is a size-capped tmpfs of the sandbox's own (nothing of it is ever on the host's disk);
- its own IPC namespace: System V objects (shared memory, semaphores, message queues) and POSIX
  message queues are the sandbox's alone and go with it; a shared memory segment dies with the
  last process attached to it (`shm_rmid_forced`), all of them together are capped at the memory
  limit, and POSIX message queues cannot be made at all;
- no way back: started by root, the child runs as an unprivileged user id of its own (one per sandbox) with no capabilities and
  no_new_privs; started by a user, it runs in a nested user namespace whose mounts are locked,
  so it cannot unmount what hides the secrets.
Memory: where cgroup v2 lets this process make cgroups with the memory controller, each sandbox
gets one (`Cgroup`): the kernel enforces `memory.max` and counts everything, shared memory that no
process maps included. Elsewhere the parent adds up /proc (see `grader.procfs`).
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
import time
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024
UID_BASE, UID_SPAN = 1_000_000, 1_000_000  # unprivileged ids no account uses, one per sandbox
_uid_counter = itertools.count()


def _next_uid() -> int:
    return UID_BASE + (os.getpid() * 4096 + next(_uid_counter)) % UID_SPAN


MAX_PROCESSES = 1024
SCRATCH_MB = 256  # the scratch tmpfs: what a child may write in all, in memory
SCRATCH_INODES = 16384
SYSV_IDS = 256  # System V objects of each kind a sandbox may hold (shmmni, semmni, msgmni)
# The child sees the operating system (these top-level folders) and, brought back into view, the
# folders its Python needs; every other top-level folder (/home, /root, /tmp, /srv, /work, /opt,
# /var, /mnt, ...) is an empty tmpfs: no other copy of a reference, no other submission, anywhere.
SYSTEM_DIRS = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "sys"}


def hidden_roots() -> list[Path]:
    roots = [
        p
        for p in Path("/").iterdir()
        if p.name not in SYSTEM_DIRS and p.is_dir() and not p.is_symlink()
    ]
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
    scratch_mb: int = SCRATCH_MB

    @functools.cached_property
    def mode(self) -> str:
        """'root' (namespaces, then an unprivileged uid), 'user' (user namespaces) or 'basic' (POSIX only)."""
        if not self.namespaces or sys.platform != "linux":
            return "basic"
        return _namespace_mode()

    @property
    def memory_accounting(self) -> str:
        """'cgroup': each sandbox in a cgroup v2 of its own, the kernel's count (shared memory
        included) and limit; 'proc': the parent adds up /proc (and, for a warm worker, the System V
        segments of its IPC namespace)."""
        return "cgroup" if self.mode != "basic" and cgroup_base() is not None else "proc"

    @property
    def protections(self) -> list[str]:
        base = [
            "separate process",
            "time limits",
            "memory limit",
            "output cap",
            "scratch directory",
        ]
        counted = (
            "memory counted by cgroup v2"
            if self.memory_accounting == "cgroup"
            else "memory counted from /proc"
        )
        if self.mode == "basic":
            return [*base, counted, "process-group kill"]
        extra = [
            "no network",
            "private process tree",
            "read-only file system",
            "hidden reference and tests",
            "private scratch tmpfs",
            "private IPC",
        ]
        if self.mode == "root":
            extra.append("unprivileged user")
        return [*base, counted, *extra]

    def command(self, argv: list[str], scratch: Path, *, memory_mb: int | None = None) -> list[str]:
        unshare = shutil.which("unshare") or "unshare"
        common = ["--net", "--pid", "--ipc", "--fork", "--mount", "--mount-proc", "--kill-child"]
        owner = self.uid if self.mode == "root" else None
        script = mount_script(
            [*self.hide], scratch, owner=owner, memory_mb=memory_mb, scratch_mb=self.scratch_mb
        )
        if self.mode == "root":
            drop = [
                shutil.which("setpriv") or "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
                "--clear-groups",
                "--no-new-privs",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
            return [unshare, *common, "--", "/bin/sh", "-c", script, "sh", *drop, *argv]
        if self.mode == "user":
            if os.geteuid() == 0:
                raise RuntimeError(
                    "user namespaces started by root would make the child the host's root"
                )
            lock = [unshare, "--user", "--map-root-user", "--mount", "--"]
            return [
                unshare,
                "--user",
                "--map-root-user",
                *common,
                "--",
                "/bin/sh",
                "-c",
                script,
                "sh",
                *lock,
                *argv,
            ]
        return argv

    def start(
        self, argv: list[str], *, scratch: Path, limits: Limits, pass_fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        if self.mode == "root":
            for path in (scratch, *scratch.rglob("*")):
                os.chown(path, self.uid, self.uid)
        processes = MAX_PROCESSES if self.mode == "root" else None
        command = self.command(argv, scratch, memory_mb=limits.memory_mb)
        prlimit = shutil.which("prlimit") if sys.platform == "linux" else None
        if prlimit:  # limits set by a command, not a preexec_fn: safe from the threads of a batch
            command = [prlimit, *_prlimit_args(limits, processes), "--", *command]
        cgroup = Cgroup.create(limits.memory_mb) if self.memory_accounting == "cgroup" else None
        if cgroup is not None:
            command = cgroup.wrap(command)
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
                cwd=scratch,
                start_new_session=True,
                preexec_fn=None
                if prlimit
                else functools.partial(_limit_self, limits, processes=processes),
                env=_child_env(scratch),
            )
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        proc.cgroup = cgroup  # type: ignore[attr-defined]
        return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (its process group; its PID namespace on Linux),
    and remove its cgroup."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
    cgroup: Cgroup | None = getattr(proc, "cgroup", None)
    if cgroup is not None:
        cgroup.remove()


def memory_kb(proc: subprocess.Popen[bytes]) -> int:
    """What a sandbox started by `Sandbox.start` uses: its cgroup's count where it has one, else the
    resident memory (anonymous and shared) of its processes."""
    cgroup: Cgroup | None = getattr(proc, "cgroup", None)
    if cgroup is not None:
        return cgroup.memory_kb()
    from grader.procfs import tree_memory_kb

    return tree_memory_kb(proc.pid)


# -- cgroup v2 ---------------------------------------------------------------------------------------
_cgroup_counter = itertools.count()
_cgroups_left: list[Path] = []  # cgroups that were still busy when removed: tried again later


class Cgroup:
    """A cgroup v2 of one sandbox, with the memory controller: `memory.max` is the memory limit (the
    kernel kills inside it past that), swap is off, and its count covers every page charged to it:
    anonymous memory, tmpfs and shared memory, System V segments that no process maps included."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, memory_mb: int) -> Cgroup | None:
        base = cgroup_base()
        if base is None:
            return None
        _remove_left_over()
        path = base / f"grader-{os.getpid()}-{next(_cgroup_counter)}"
        try:
            path.mkdir()
            (path / "memory.max").write_text(str(memory_mb * MiB))
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        with contextlib.suppress(OSError):  # no swap: memory pushed out would leave the count
            (path / "memory.swap.max").write_text("0")
        return cls(path)

    def wrap(self, command: list[str]) -> list[str]:
        """`command`, run from inside this cgroup (joined before the first exec, so from the start)."""
        return [
            "/bin/sh",
            "-c",
            'echo $$ > "$0" && exec "$@"',
            str(self.path / "cgroup.procs"),
            *command,
        ]

    def memory_kb(self) -> int:
        """Anonymous and shared memory (tmpfs, shared mappings, System V, memfd) charged to it; page
        cache of files read, which the kernel reclaims under the limit, is left out."""
        stat = _keyed(self.path / "memory.stat")
        return (stat.get("anon", 0) + stat.get("shmem", 0)) // 1024

    def oom_kills(self) -> int:
        """Processes the kernel killed in it for reaching `memory.max`."""
        return _keyed(self.path / "memory.events").get("oom_kill", 0)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / "cgroup.kill").write_text("1")
        if not _rmdir_when_empty(self.path, 1.0):
            _cgroups_left.append(self.path)


def _keyed(path: Path) -> dict[str, int]:
    """A cgroup file of 'key value' lines."""
    values = {}
    try:
        text = path.read_text()
    except OSError:
        return {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value)
    return values


def _rmdir_when_empty(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def _remove_left_over() -> None:
    for path in list(_cgroups_left):
        if _rmdir_when_empty(path, 0):
            _cgroups_left.remove(path)


@functools.cache
def cgroup_base() -> Path | None:
    """A cgroup v2 under which this process can make cgroups with the memory controller: its own
    (where the controller is, or can be, enabled for its children) or the hierarchy's root; None
    where there is none (no cgroup v2, memory on a v1 hierarchy, no right to write)."""
    if sys.platform != "linux":
        return None
    mount = _cgroup2_mount(Path("/proc/self/mountinfo"))
    own = _own_cgroup(Path("/proc/self/cgroup"))
    if mount is None or own is None:
        return None
    candidates = [mount / own.lstrip("/"), mount]
    for base in dict.fromkeys(candidates):
        if _memory_delegable(base):
            return base
    return None


def _cgroup2_mount(mountinfo: Path) -> Path | None:
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        if rest.split()[:1] == ["cgroup2"]:
            return Path(fields.split()[4])
    return None


def _own_cgroup(cgroup: Path) -> str | None:
    try:
        lines = cgroup.read_text().splitlines()
    except OSError:
        return None
    return next((line[3:] for line in lines if line.startswith("0::")), None)


def _memory_delegable(base: Path) -> bool:
    """Whether cgroups made under `base` get the memory controller (enabling it there if needed: the
    kernel refuses where `base` holds processes itself and is not the root)."""
    try:
        if "memory" not in (base / "cgroup.controllers").read_text().split():
            return False
        if "memory" not in (base / "cgroup.subtree_control").read_text().split():
            (base / "cgroup.subtree_control").write_text("+memory")
        probe = base / f"grader-probe-{os.getpid()}"
        probe.mkdir()
        try:
            return (probe / "memory.max").is_file()
        finally:
            probe.rmdir()
    except OSError:
        return False


# -- System V shared memory, as an IPC namespace sees it ---------------------------------------------
def sysv_shm_kb(fd: int | None) -> int:
    """Resident memory of the System V segments of one IPC namespace, read from its /proc/sysvipc/shm
    opened inside it (the file shows the namespace of whoever opened it): a segment that no process
    maps counts in no process's memory. Its size where the kernel gives no resident figure."""
    if fd is None:
        return 0
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError:
        return 0
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    column = (
        header.index("rss")
        if "rss" in header
        else header.index("size")
        if "size" in header
        else None
    )
    if column is None:
        return 0
    total = 0
    for line in lines[1:]:
        fields = line.split()
        with contextlib.suppress(ValueError, IndexError):
            total += int(fields[column])
    return total // 1024


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
    args = [
        f"--data={data}:{data}",
        f"--fsize={limits.output_bytes}:{limits.output_bytes}",
        "--core=0:0",
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}",
    ]
    if processes is not None:
        args.append(f"--nproc={processes}:{processes}")
    return args


def _child_env(scratch: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=str(scratch),
        TMPDIR=str(scratch),
        PYTHONDONTWRITEBYTECODE="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONHASHSEED="0",
        MPLBACKEND="Agg",
    )
    return env


def _needed_paths() -> list[Path]:
    """What the child's Python must still see inside hidden folders: the interpreter, its packages, us."""
    import grader

    paths = {
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(sys.executable).resolve().parent,
        Path(grader.__file__).resolve().parent,
        *(Path(p) for p in site.getsitepackages()),
    }
    return sorted({p.resolve() for p in paths if p.exists()})


def ipc_settings(memory_mb: int | None) -> dict[str, str]:
    """The new IPC namespace's limits: a System V segment dies with the last process attached to it,
    all segments together fit in the memory limit, few objects of each kind, no POSIX message queues
    (nothing a submission needs; a queue would outlive the process that made it)."""
    settings = {
        "kernel/shm_rmid_forced": "1",
        "kernel/shmmni": str(SYSV_IDS),
        "kernel/msgmni": str(SYSV_IDS),
        "kernel/sem": f"250 32000 32 {SYSV_IDS}",
        "fs/mqueue/queues_max": "0",
    }
    if memory_mb is not None:
        page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        settings |= {
            "kernel/shmmax": str(memory_mb * MiB),
            "kernel/shmall": str(memory_mb * MiB // page),
        }
    return settings


def mount_script(
    hide: list[Path],
    scratch: Path,
    *,
    owner: int | None = None,
    memory_mb: int | None = None,
    scratch_mb: int = SCRATCH_MB,
) -> str:
    """Shell run first in the new namespaces, before the child's Python starts.

    0. set the IPC namespace's limits; 1. park the folders the child needs (the interpreter, torch,
    this package) on a private tmpfs; 2. cover /tmp, /run, /dev/shm, home and the secret folders
    with empty tmpfs; 3. move the parked folders back; 4. mount a fresh, size-capped tmpfs (owned by
    `owner`) on the scratch folder and enter it; 5. make every mount but scratch read-only; 6. exec.
    """

    def q(path: Path) -> str:
        return shlex.quote(str(path))

    roots = set(hidden_roots())
    covered = sorted(roots | {h for h in hide if h.is_dir()}, key=lambda p: len(p.parts))
    keep = [p for p in _needed_paths() if any(p.is_relative_to(c) for c in covered)]
    stage = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/mnt")
    lines = ["set -e"]
    for name, value in ipc_settings(
        memory_mb
    ).items():  # where the kernel lets this namespace's root
        lines.append(f"{{ echo {shlex.quote(value)} > /proc/sys/{name}; }} 2>/dev/null || true")
    lines.append(f"mount -n -t tmpfs -o size=64m,mode=755 none {q(stage)}")
    for i, path in enumerate(keep):
        lines += [
            f"mkdir -p {q(stage / f'k{i}')}",
            f"mount -n --rbind {q(path)} {q(stage / f'k{i}')}",
        ]
    for folder in covered:  # outermost first; one inside an already covered folder is gone anyway
        if folder != stage:
            lines.append(
                f"if [ -d {q(folder)} ]; then mount -n -t tmpfs -o size=64m,mode=755 none {q(folder)}; fi"
            )
    for i, path in enumerate(keep):
        lines += [
            f"mkdir -p {q(path)}",
            f"mount -n --move {q(stage / f'k{i}')} {q(path)}",
            f"rmdir {q(stage / f'k{i}')}",
        ]
    for folder in (
        hide
    ):  # a secret inside a folder brought back (the reference inside the venv?) stays hidden
        if any(folder.is_relative_to(k) for k in keep):
            lines.append(
                f"if [ -d {q(folder)} ]; then mount -n -t tmpfs -o size=16k,mode=555 none {q(folder)}; fi"
            )
    ids = f",uid={owner},gid={owner}" if owner is not None else ""
    lines += [
        f"mkdir -p {q(scratch)}",
        f"mount -n -t tmpfs -o size={scratch_mb}m,nr_inodes={SCRATCH_INODES},mode=700{ids} none {q(scratch)}",
        f"cd {q(scratch)}",
    ]
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
