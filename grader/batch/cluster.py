"""`grade batch --scheduler ADDRESS` / `--cluster KIND`: a class graded on a Dask cluster.

The client (the instructor's machine) does what a local batch does: finds the students, skips
those whose record matches, writes every record, the gradebook and the summary. Only grading moves:

- once per Dask worker, `GraderPlugin` brings the exercise (public folder, reference, the golden
  values recorded so far, the course secret) as one compressed blob, unpacks it in the worker's
  local directory and starts one warm sandboxed grading worker (`grader.pool.WarmWorker`) per
  worker thread, exactly as `Batch` does on one machine;
- a task carries one submission (`Job`: its files' bytes, who submitted it) and returns its
  result (`Outcome`: the `GradeResult` JSON, where it ran); nothing else comes back, and the
  reference never leaves the blob.

A Dask worker lost mid-task: the scheduler runs its tasks again on another worker, and the client
reads each task's result once, so every student gets one record. A submission that kills its
grading worker costs that grading worker (started again for the next task), never the Dask
worker: the grading workers are separate, sandboxed processes.

Devices are Dask resources: a worker started with `--resources GPU=1` may grade on `cuda`; a batch
whose devices include `cuda` asks each task for one `GPU`, so those tasks run on such workers only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import shutil
import socket
import tarfile
import tempfile
import threading
import tomllib
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from distributed import Client, WorkerPlugin, as_completed, get_worker

from grader._exceptions import GraderError
from grader.batch.discover import Student
from grader.batch.run import Batch, Entry, identity_of
from grader.exercise import Exercise
from grader.grading import Options
from grader.pool import WarmPool, WarmWorker
from grader.result import GradeResult

PLUGIN = "grader"
JOBQUEUES = {  # --cluster KIND -> dask_jobqueue's class
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
    "oar": "OARCluster",
    "moab": "MoabCluster",
}
CLUSTERS = ["local", *JOBQUEUES]
GPU = "GPU"  # the resource a worker with a GPU advertises: `dask worker ... --resources GPU=1`
CONNECT_TIMEOUT = 15.0
WORKERS_TIMEOUT = 600.0  # a job queue may take a while to start the first worker
WINDOW = 8  # submissions in flight at least (else twice the threads of the cluster)


# -- what crosses the network -----------------------------------------------------------------------


class Job(TypedDict):
    """One task: one submission, as the client has it."""

    student: str  # the student's identity: their input variant
    origin: str  # the submission's path on the client, which the result names
    is_dir: bool
    files: dict[str, bytes]  # relative path (the file's own name for a single file) -> bytes


class Outcome(TypedDict, total=False):
    """What a task returns: the result, or the grader bug that stopped it."""

    result: str  # GradeResult JSON
    graded_on: dict[str, Any]  # the worker, its host, the devices graded on
    error: str  # a traceback: the student is logged and graded on the next run


@dataclass(frozen=True)
class Settings:
    """What every worker grades with: the batch's options, without anything of the client's."""

    exercise: str
    devices: list[str] | None
    test_timeout: float | None
    memory_mb: int | None
    run_all_cells: bool
    namespaces: bool
    hide: list[str]  # the client's folders to hide where a worker shares its file system


# -- the exercise, packed once ------------------------------------------------------------------------


def pack_exercise(exercise: Exercise) -> bytes:
    """The exercise as a gzipped tar: exercises/NAME, reference/NAME with the golden values of its
    current version, reference/.grader-secret (the variants)."""
    from grader.variants import SECRET_NAME, course_secret

    assert exercise.reference_dir is not None
    version = exercise.version(hidden=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for top, folder in (
            ("exercises", exercise.public_dir),
            ("reference", exercise.reference_dir),
        ):
            for path in sorted(folder.rglob("*")):
                rel = path.relative_to(folder)
                if not path.is_file() or "__pycache__" in rel.parts:
                    continue
                if rel.parts[0] == ".golden-cache" and version not in path.name:
                    continue  # golden values of an older version of the exercise
                tar.add(path, arcname=f"{top}/{exercise.name}/{rel.as_posix()}", recursive=False)
        secret = course_secret(exercise) + b"\n"
        info = tarfile.TarInfo(f"reference/{SECRET_NAME}")
        info.size, info.mode = len(secret), 0o600
        tar.addfile(info, io.BytesIO(secret))
    return buffer.getvalue()


# -- the worker's side ----------------------------------------------------------------------------------


class GraderPlugin(WorkerPlugin):
    """Registered once by the client; every worker (those that join later too) sets it up."""

    name = PLUGIN

    def __init__(self, settings: Settings, blob: bytes) -> None:
        self.settings, self.blob = settings, blob
        self.exercise: Exercise | None = None
        self.root: Path | None = None
        self.pool: WarmPool | None = None  # made on the worker (its queue does not pickle)
        self.address = ""

    def setup(self, worker: Any) -> None:
        from grader.sandbox import Sandbox

        local = Path(worker.local_directory)
        self.root = Path(tempfile.mkdtemp(prefix="grader-", dir=local))
        with tarfile.open(fileobj=io.BytesIO(self.blob), mode="r:gz") as tar:
            tar.extractall(self.root, filter="data")
        name = self.settings.exercise
        self.exercise = Exercise(
            name, self.root / "exercises" / name, self.root / "reference" / name
        )
        from grader.variants import SECRET_ENV, SECRET_NAME, course_secret

        shipped = (self.root / "reference" / SECRET_NAME).read_text(encoding="utf-8").strip()
        if course_secret(self.exercise) != shipped.encode():  # a GRADER_SECRET of its own here:
            os.environ[SECRET_ENV] = shipped  # the client's decides (children never see either)
        (self.root / "in").mkdir()
        self.address = str(worker.address)
        options = self.options()
        from grader.grading import run_limits, secret_folders

        sandbox = Sandbox(
            hide=secret_folders(self.exercise, self.root / "in" / "any", options),
            namespaces=options.namespaces,
        )
        limits = run_limits(self.exercise, options)
        workers = []
        for _ in range(max(1, int(worker.state.nthreads))):
            warm = WarmWorker(sandbox, limits, scratch_base=options.scratch_base)
            with contextlib.suppress(Exception):  # one that cannot start says why when used
                warm.launch()
            workers.append(warm)
        self.pool = WarmPool(workers)
        threading.Thread(target=_preload, daemon=True).start()

    def teardown(self, worker: Any) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def options(self) -> Options:
        s = self.settings
        assert self.root is not None
        hide = [Path(h) for h in s.hide if Path(h).is_dir()]  # a worker on the client's machine
        return Options(
            devices=s.devices,
            hidden=True,
            test_timeout=s.test_timeout,
            memory_mb=s.memory_mb,
            run_all_cells=s.run_all_cells,
            namespaces=s.namespaces,
            hide=[*hide, self.root.parent],  # the worker's local directory: blob, submissions
        )

    def grade(self, job: Job) -> Outcome:
        from grader.grading import grade

        assert self.exercise is not None and self.root is not None and self.pool is not None
        folder = self.root / "in" / uuid.uuid4().hex
        try:
            path = _stage(folder, job)
            options = {"worker": self.pool, "student": job["student"]}
            result = grade(self.exercise, path, Options(**{**self.options().__dict__, **options}))
            text = result.model_dump_json()
            # the result names the submission as the client has it, not its copy here
            text = text.replace(_json_text(str(path)), _json_text(job["origin"]))
            text = text.replace(
                _json_text(str(folder)), _json_text(str(Path(job["origin"]).parent))
            )
            return {
                "result": text,
                "graded_on": {
                    "worker": self.address,
                    "host": socket.gethostname(),
                    "devices": result.devices,
                },
            }
        except Exception:  # noqa: BLE001 - a grader bug: the client logs it, as a local batch does
            return {"error": f"on {self.address}:\n{traceback.format_exc()}"}
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _preload() -> None:
    """What every grade imports: torch and the judge, while the grading workers boot."""
    with contextlib.suppress(Exception):
        import grader.golden
        import grader.judge  # noqa: F401


def _stage(folder: Path, job: Job) -> Path:
    """The submission's files under `folder`, with the name it has on the client."""
    name = Path(job["origin"]).name
    path = folder / name
    for rel, data in job["files"].items():
        target = (path / rel) if job["is_dir"] else path
        if not target.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"a file outside the submission: {rel!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if job["is_dir"]:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def grade_task(job: Job) -> Outcome:
    """The task: grade one submission with this worker's warm grading workers."""
    plugin = get_worker().plugins[PLUGIN]
    assert isinstance(plugin, GraderPlugin)
    return plugin.grade(job)


def job_of(student: Student) -> Job:
    assert student.path is not None
    path = student.path
    if path.is_dir():
        files = {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file()
        }
    else:
        files = {path.name: path.read_bytes()}
    return {
        "student": identity_of(student),
        "origin": str(path),
        "is_dir": path.is_dir(),
        "files": files,
    }


# -- the client's side ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where to grade: an existing scheduler, or a cluster this command starts."""

    scheduler: str | None = None
    cluster: str | None = None  # "local", or a job queue's name
    config: Path | None = None  # the job queue's options (TOML)
    workers: int = 2  # --cluster local: workers, one thread each


@contextlib.contextmanager
def connect(target: Target) -> Iterator[Client]:
    """A client of the target's scheduler; a cluster this opens closes with it."""
    if target.scheduler is not None:
        try:
            client = Client(target.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise GraderError(
                f"cannot reach the Dask scheduler at {target.scheduler}: {exc}"
            ) from None
        with client:
            yield client
        return
    with _cluster(target) as cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _cluster(target: Target) -> Iterator[Any]:
    if target.cluster == "local":
        from distributed import LocalCluster

        # Workers as threads of this process: grading runs in their warm workers' sandboxed
        # processes anyway; the judge's torch is then imported once, not once per worker.
        with LocalCluster(
            n_workers=target.workers,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
            memory_limit=0,  # grading children have limits of their own; the judge is small
        ) as cluster:
            yield cluster
        return
    kind = target.cluster or ""
    try:
        import dask_jobqueue
    except ImportError:
        raise GraderError(
            f"--cluster {kind} needs dask-jobqueue, the project's optional 'jobqueue' extra: "
            "pip install -c constraints.txt dask-jobqueue"
        ) from None
    options = _jobqueue_options(target.config) if target.config else {}
    scale = options.pop("workers", None)
    try:
        cluster = getattr(dask_jobqueue, JOBQUEUES[kind])(**options)
    except (TypeError, ValueError) as exc:
        raise GraderError(f"--cluster {kind}: {exc}") from None
    with cluster:
        cluster.scale(jobs=int(scale) if scale else 1)
        yield cluster


def _jobqueue_options(path: Path) -> dict[str, Any]:
    try:
        return dict(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise GraderError(f"cannot read --cluster-config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GraderError(f"--cluster-config {path} is not valid TOML: {exc}") from None


def gpu_workers(client: Client) -> list[str]:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return sorted(a for a, w in workers.items() if w.get("resources", {}).get(GPU, 0) >= 1)


class ClusterBatch(Batch):
    """A `Batch` whose submissions are graded by a Dask cluster's workers."""

    def __init__(
        self, exercise: Exercise, out: Path, options: Options, *, force: bool, target: Target
    ) -> None:
        super().__init__(exercise, out, options, jobs=1, force=force, warm=False)
        self.target = target

    def run(self, students: list[Student], on_done: Callable[[Entry], None]) -> list[Entry]:
        entries: list[Entry] = []

        def done(entry: Entry) -> None:
            entries.append(entry)
            on_done(entry)

        with connect(self.target) as client:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            self._resolve_devices(client)
            settings = Settings(
                exercise=self.exercise.name,
                devices=self.options.devices,
                test_timeout=self.options.test_timeout,
                memory_mb=self.options.memory_mb,
                run_all_cells=self.options.run_all_cells,
                namespaces=self.options.namespaces,
                hide=[str(p) for p in self._options().hide],
            )
            client.register_plugin(GraderPlugin(settings, pack_exercise(self.exercise)))
            remote: list[tuple[Student, str]] = []
            local: list[Student] = []
            for student in students:
                fp, previous = self.previous(student)
                if previous is not None:
                    done(previous)
                elif student.problem or student.path is None:
                    local.append(student)  # nothing to run: the client grades it
                else:
                    remote.append((student, fp))
            # entries reach `done` (and the progress bar) from this thread only, as they come:
            # the cluster's from one thread, the client's own (nothing to run) from another
            results: queue.Queue[Entry | BaseException] = queue.Queue()
            gather = threading.Thread(
                target=self._gather, args=(client, remote, results), daemon=True, name="gather"
            )
            here = threading.Thread(
                target=self._grade_here, args=(local, results), daemon=True, name="grade"
            )
            try:
                gather.start()
                here.start()
                for _ in range(len(remote) + len(local)):
                    item = results.get()
                    if isinstance(item, BaseException):
                        raise item
                    done(item)
            except BaseException:
                self.stop.set()  # the gather thread submits nothing more, and cancels the rest
                gather.join(timeout=10)
                raise
        return sorted(entries, key=lambda e: e.student.key)

    def _gather(
        self, client: Client, todo: list[tuple[Student, str]], results: queue.Queue[Any]
    ) -> None:
        """Submit the submissions a few at a time (a submission's bytes stay in the scheduler's
        memory while its task waits: twice the cluster's threads wait at most), collect them."""
        resources = {GPU: 1} if "cuda" in (self.options.devices or []) else None
        run = uuid.uuid4().hex[:8]
        todo = list(reversed(todo))
        futures: dict[Any, tuple[Student, str]] = {}
        pending = as_completed()

        def top_up() -> None:
            threads = sum(
                w["nthreads"] for w in client.scheduler_info(n_workers=-1)["workers"].values()
            )
            while todo and len(futures) < max(WINDOW, 2 * threads) and not self.stop.is_set():
                student, fp = todo.pop()
                future = client.submit(
                    grade_task,
                    job_of(student),
                    key=f"grade-{student.key}-{run}",
                    resources=resources,
                    pure=False,
                )
                futures[future] = (student, fp)
                pending.add(future)

        try:
            top_up()
            for future in pending:
                student, fp = futures.pop(future)
                if self.stop.is_set():
                    break
                results.put(self._collect(future, student, fp))
                future.release()
                top_up()
        except BaseException as exc:  # noqa: BLE001 - the client lost the scheduler: say so there
            results.put(exc)
        finally:
            with contextlib.suppress(Exception):
                client.cancel(list(futures))

    def _grade_here(self, students: list[Student], results: queue.Queue[Any]) -> None:
        for student in students:
            results.put(self.grade_one(student))

    def _collect(self, future: Any, student: Student, fp: str) -> Entry:
        try:
            outcome: Outcome = future.result()
        except Exception:  # noqa: BLE001 - lost beyond the scheduler's retries
            return self.internal_error(student, traceback.format_exc())
        if "error" in outcome:
            return self.internal_error(student, outcome["error"])
        result = GradeResult.model_validate_json(outcome["result"])
        return self.finish(student, result, fp, outcome.get("graded_on"))

    def _resolve_devices(self, client: Client) -> None:
        """Every worker grades on the same devices: `cuda` where the cluster has GPU workers."""
        gpus = gpu_workers(client)
        if self.options.devices is None:
            self.options.devices = ["cpu", "cuda"] if gpus else ["cpu"]
        if "cuda" in self.options.devices and not gpus:
            raise GraderError(
                "--device cuda: no worker of the cluster advertises a GPU "
                f"(start them with `dask worker ... --resources {GPU}=1`)"
            )
