"""`grade batch --scheduler`: a class graded on a real Dask cluster.

A `dask scheduler` and two `dask worker`s run from the project's environment as subprocesses on
free localhost ports, as an instructor starts them by hand; one of the workers advertises a GPU
(`--resources GPU=1`: there is no GPU here, so the routing is tested on CPU workers). Each worker
has a TMPDIR of its own: its grading processes' scratch folders lie there, which is how the tests
tell one worker's grading processes from anyone else's.

The class is a handful of students of tests/classes/ex2 (see tests/test_batch.py): the reference,
the untouched stub, a notebook, a folder with a helper module, a truncated notebook, a student whose
submission exits the process while loading, a text file. Every run must give the gradebook a local
`grade batch` gives.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT
from test_batch import (
    CLASS,
    batch_argv,
    batch_env,
    gradebook,
    grader_children,
    no_children_left,
    record,
    run_batch,
)

STUDENTS = [
    "bob.py",
    "hana.py",
    "alice.ipynb",
    "erin",
    "chen.py",
    "kemal.py",
    "ivan.ipynb",
    "readme.txt",
]
GPU_STUDENTS = ["bob.py", "hana.py", "chen.py"]
DASK = str(Path(sys.executable).parent / "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    tmpdir: Path
    address: str = ""

    def kill(self) -> None:
        with_group(self.proc, signal.SIGKILL)
        self.proc.wait()


@dataclass
class Cluster:
    address: str
    gpu: Worker  # --resources GPU=1
    cpu: Worker

    def alive(self) -> list[str]:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            return sorted(client.scheduler_info(n_workers=-1)["workers"])


def with_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)


def start(argv: list[str], log: Path, tmpdir: Path) -> subprocess.Popen[bytes]:
    tmpdir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as f:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(tmpdir)},
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from distributed import Client

    root = tmp_path_factory.mktemp("cluster")
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    scheduler = start(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
        root / "scheduler.log",
        root / "scheduler",
    )
    workers = []
    try:
        for name, extra in (("gpu", ["--resources", "GPU=1"]), ("cpu", [])):
            proc = start(
                [DASK, "worker", address, "--name", name, "--nthreads", "1", "--no-dashboard"]
                + ["--local-directory", str(root / name / "local"), *extra],
                root / f"{name}.log",
                root / name,
            )
            workers.append(Worker(proc, root / name))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            names = {
                w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
            }
        for worker, name in zip(workers, ("gpu", "cpu"), strict=True):
            worker.address = names[name]
        yield Cluster(address, *workers)
    finally:
        for worker in workers:
            worker.kill()
        with_group(scheduler, signal.SIGTERM)
        scheduler.wait(timeout=30)


@pytest.fixture(scope="module")
def small_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("small") / "ex2"
    folder.mkdir()
    for name in STUDENTS:
        (shutil.copytree if (CLASS / name).is_dir() else shutil.copyfile)(
            CLASS / name, folder / name
        )
    return folder


@pytest.fixture(scope="module")
def local_book(small_class: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The gradebook of today's local batch (warm workers on this machine)."""
    root = tmp_path_factory.mktemp("local")
    run = run_batch(small_class, root / "results", root / "tmp", "--device", "cpu")
    assert run.code == 0, run.out
    return gradebook(root / "results")


@pytest.mark.slow
def test_gpu_tasks_run_on_the_worker_that_advertises_a_gpu(
    cluster: Cluster, small_class: Path, local_book: dict, tmp_path: Path
) -> None:
    """(After the local batch: the students' golden values travel with the exercise.)"""
    assert cluster.alive() == sorted([cluster.gpu.address, cluster.cpu.address])
    submissions, out = tmp_path / "ex2", tmp_path / "results"
    submissions.mkdir()
    for name in GPU_STUDENTS:
        shutil.copyfile(small_class / name, submissions / name)
    run = run_batch(
        submissions, out, tmp_path / "tmp", "--scheduler", cluster.address, "--device", "cuda"
    )
    assert run.code == 0, run.out
    assert not (out / "errors.log").exists(), (out / "errors.log").read_text()
    places = {}
    for path in out.glob("students/*/record.json"):
        rec = json.loads(path.read_text(encoding="utf-8"))
        places[path.parent.name] = rec["graded_on"]
        assert rec["result"]["devices"] == ["cuda", "meta"]
    assert sorted(places) == sorted(Path(name).stem for name in GPU_STUDENTS)
    assert {p["worker"] for p in places.values()} == {cluster.gpu.address}, places
    assert {tuple(p["devices"]) for p in places.values()} == {("cuda", "meta")}


@pytest.mark.slow
def test_a_class_on_the_cluster_survives_a_lost_worker(
    cluster: Cluster, small_class: Path, local_book: dict, tmp_path: Path
) -> None:
    """Killed while it grades, a worker's task runs again on the other: the local gradebook."""
    from distributed import Client

    out, tmpdir = tmp_path / "results", tmp_path / "tmp"
    argv = batch_argv(small_class, out, "--scheduler", cluster.address, "--device", "cpu")
    log = tmp_path / "batch.log"
    lost: list[str] = []
    with log.open("w") as f, Client(cluster.address, timeout=30) as client:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=batch_env(tmpdir), stdout=f, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                lost = sorted(
                    client.processing(workers=[cluster.cpu.address]).get(cluster.cpu.address, [])
                )
                if lost and list(out.glob("students/*/record.json")):
                    break
                time.sleep(0.05)
            assert proc.poll() is None, (
                f"the batch ended before a worker was lost:\n{log.read_text()}"
            )
            running = grader_children(cluster.cpu.tmpdir)
            cluster.cpu.kill()
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log.read_text()
    assert proc.returncode == 0, output
    assert running, "no grading process seen on the worker before it was killed"
    assert no_children_left(cluster.cpu.tmpdir) == [], "grading processes outlived their worker"
    assert not (out / "errors.log").exists(), (out / "errors.log").read_text()
    assert gradebook(out) == local_book
    # the tasks the lost worker held ran again on the other one
    for key in lost:
        student = key.removeprefix("grade-").rsplit("-", 1)[0]
        assert record(out, student)["graded_on"]["worker"] == cluster.gpu.address, key
    assert {p.parent.name for p in out.glob("students/*/record.json")} == {
        row["student"] for row in local_book.values()
    }


# -- the command's messages, and the default path -------------------------------------------------


def grade_batch(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "batch", "ex2", str(CLASS), "--out", str(tmp_path / "r")]
        + list(args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_a_job_queue_without_dask_jobqueue_is_one_clear_message(tmp_path: Path) -> None:
    # dask-jobqueue is an optional extra: where it is missing (shadowed here by a package that
    # cannot be imported), --cluster slurm says how to install it, before grading anyone
    shadow = tmp_path / "shadow" / "dask_jobqueue"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named dask_jobqueue')\n")
    code, out = grade_batch(tmp_path, "--cluster", "slurm", env={"PYTHONPATH": str(shadow.parent)})
    assert code == 3, out
    assert "--cluster slurm needs dask-jobqueue" in out and "pip install" in out, out
    assert "Traceback" not in out
    assert not (tmp_path / "r" / "students").exists()
    code, out = grade_batch(tmp_path, "--cluster-config", str(tmp_path / "slurm.toml"))
    assert code == 2 and "--cluster-config goes with --cluster slurm" in out, out
    code, out = grade_batch(tmp_path, "--scheduler", "tcp://127.0.0.1:1", "--cluster", "local")
    assert code == 2 and "not allowed with argument" in out, out


def test_the_local_batch_does_not_import_dask() -> None:
    code = (
        "import sys; from grader.batch import cli; cli.parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def grading_pids(tmpdir: Path) -> dict[int, int]:
    """pid -> parent pid of the grading processes (warm workers, their children) under `tmpdir`."""
    found = {}
    for line in grader_children(tmpdir):
        pid = int(line.split(":", 1)[0])
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        found[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


@pytest.mark.slow
def test_a_grading_worker_killed_mid_grade_costs_not_the_dask_worker(
    cluster: Cluster, small_class: Path, local_book: dict, tmp_path: Path
) -> None:
    """What a submission that killed its grading worker would do (the sandbox keeps a submission
    from signalling it): the grade in progress ends as killed, the Dask worker stays, with the
    same address (not restarted by its nanny), and starts a new grading worker for the next."""
    from distributed import Client

    submissions, out = tmp_path / "ex2", tmp_path / "results"
    submissions.mkdir()
    for name in ["bob.py", "chen.py", "hana.py"]:
        shutil.copyfile(small_class / name, submissions / name)
    argv = batch_argv(submissions, out, "--scheduler", cluster.address, "--device", "cpu")
    log = tmp_path / "batch.log"
    killed: dict[int, int] = {}
    with log.open("w") as f, Client(cluster.address, timeout=30) as client:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=batch_env(tmp_path / "tmp"), stdout=f, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                pids = grading_pids(cluster.gpu.tmpdir)
                forked = [pid for pid, parent in pids.items() if parent in pids]
                if forked and client.processing(workers=[cluster.gpu.address]).get(
                    cluster.gpu.address
                ):
                    killed = pids  # the warm worker and the child it forked for a submission
                    break
                time.sleep(0.02)
            assert killed, f"no grade seen on the worker:\n{log.read_text()}"
            for pid in killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert cluster.gpu.address in cluster.alive()
    book = gradebook(out)
    assert sorted(book) == ["bob", "chen", "hana"]
    assert all(row["status"] == "graded" for row in book.values()), book
    after = grading_pids(cluster.gpu.tmpdir)
    assert after and not set(after) & set(killed), "no new grading worker"
