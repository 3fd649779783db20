"""Grade a class: every student once, in parallel, each result written as soon as it is known.

Resumable and idempotent: a student's `record.json` is written last and atomically, and holds a
fingerprint of the submission's bytes, the exercise's version and the grading options; a student
whose record matches is not graded again (unless forced). Nothing half-written is ever read back
as a result: a missing or unreadable record simply means "grade again".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.batch.discover import (
    Student,
    discover,
    student_note,
    submission_digest,
    unpack_class_zip,
    untouched_stub,
)
from grader.exercise import Exercise
from grader.grading import Options, grade, run_limits, secret_folders
from grader.pool import PoolClosed, WarmPool, WarmWorker
from grader.result import GradeResult
from grader.sandbox import Sandbox

RECORD = "record.json"


@dataclass
class Entry:
    """One student's outcome in the batch."""

    student: Student
    status: str  # "graded", "unusable", "not a submission"
    result: GradeResult | None
    reused: bool = False


def identity_of(student: Student) -> str:
    """Who the student is for their input variant: the LMS's id where there is one, else their name."""
    return student.identifier or student.name or student.key


def fingerprint(exercise: Exercise, student: Student, options: Options) -> str:
    hidden = options.hidden and exercise.reference_dir is not None
    digest = hashlib.sha256(f"{__version__}\0{exercise.version(hidden=hidden)}\0".encode())
    if hidden:  # a new course secret (or variant count) gives the student other inputs: grade again
        from grader.variants import variant_for

        digest.update(str(variant_for(exercise, identity_of(student)).seed).encode())
    digest.update(
        json.dumps(
            [
                options.devices,
                options.hidden,
                options.test_timeout,
                options.total_timeout,
                options.memory_mb,
                options.run_all_cells,
            ]
        ).encode()
    )
    path = student.path
    files = (
        sorted(p for p in path.rglob("*") if p.is_file())
        if path is not None and path.is_dir()
        else ([path] if path else [])
    )
    for f in files:
        digest.update(
            str(f.relative_to(path) if path and path.is_dir() else f.name).encode()
            + b"\0"
            + f.read_bytes()
            + b"\0"
        )
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(
            tmp, 0o644
        )  # mkstemp's files are owner-only; results are for the course staff to share
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_record(folder: Path, want: str) -> tuple[str, GradeResult] | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        if record.get("fingerprint") != want:
            return None
        return str(record["status"]), GradeResult.model_validate(record["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_student(
    folder: Path,
    student: Student,
    result: GradeResult,
    status: str,
    fp: str,
    graded_on: dict[str, Any] | None = None,
) -> None:
    from grader.reports import gradescope, html, markdown

    write_atomic(folder / "results.json", gradescope.render(result))
    write_atomic(folder / "feedback.md", markdown.render(result, student=student.name))
    write_atomic(folder / "feedback.html", html.render(result, student=student.name))
    record = {
        "fingerprint": fp,
        "status": status,
        "student": {
            "key": student.key,
            "name": student.name,
            "identifier": student.identifier,
            "late": student.late,
        },
        "result": result.model_dump(mode="json"),
    }
    if graded_on is not None:  # a cluster's worker: where it ran (the instructor's record only)
        record["graded_on"] = graded_on
    write_atomic(
        folder / RECORD, json.dumps(record)
    )  # last: its presence means the rest is complete


class Batch:
    def __init__(
        self,
        exercise: Exercise,
        out: Path,
        options: Options,
        *,
        jobs: int,
        force: bool,
        warm: bool = True,
    ) -> None:
        self.exercise, self.out, self.options, self.jobs, self.force = (
            exercise,
            out,
            options,
            max(1, jobs),
            force,
        )
        self.stop = threading.Event()
        self.warm = warm
        self.closed = False
        self.pool: WarmPool | None = None

    def _start_workers(self, any_submission: Path) -> None:
        """One warm worker a job slot, sandboxed once with everything secret of the whole batch hidden."""
        options = self._options()
        sandbox = Sandbox(
            hide=secret_folders(self.exercise, any_submission, options),
            namespaces=options.namespaces,
        )
        limits = run_limits(self.exercise, options)
        workers = []
        for _ in range(self.jobs):
            worker = WarmWorker(sandbox, limits, scratch_base=options.scratch_base)
            # booting while the parent imports torch; a worker that cannot start says why when
            # first used, for that student
            with contextlib.suppress(Exception):
                worker.launch()
            workers.append(worker)
        self.pool = WarmPool(workers)

    def close(self) -> None:
        """Stop every worker (and so every child); threads still waiting for one get none."""
        self.closed = True
        if self.pool is not None:
            self.pool.close()

    def students(self, source: Path, workdir: Path) -> list[Student]:
        root = (
            unpack_class_zip(source, workdir)
            if source.is_file() and source.suffix == ".zip"
            else source
        )
        return discover(root, module=self.exercise.config.module)

    def grade_one(self, student: Student) -> Entry:
        """Grade one student; a grader bug here is logged and costs this student a regrade, not the batch."""
        try:
            return self._grade_one(student)
        except Exception:  # noqa: BLE001 - one student's trouble never stops the class
            import traceback

            return self.internal_error(student, traceback.format_exc())

    def internal_error(self, student: Student, text: str) -> Entry:
        """Log a grader bug met grading `student` to errors.log; the student is graded next run."""
        log = self.out / "errors.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write(f"--- {student.key}\n{text}\n")
        return Entry(student, "internal error", None)

    def previous(self, student: Student) -> tuple[str, Entry | None]:
        """The student's fingerprint, and their record when it matches (unless forced)."""
        fp = fingerprint(self.exercise, student, self.options)
        if not self.force and (found := _read_record(self.out / "students" / student.key, fp)):
            return fp, Entry(student, found[0], found[1], reused=True)
        return fp, None

    def finish(
        self,
        student: Student,
        result: GradeResult,
        fp: str,
        graded_on: dict[str, Any] | None = None,
    ) -> Entry:
        """Write a graded submission's record (unless the batch is stopping)."""
        status = "unusable" if result.error_kind == "unreadable" else "graded"
        if student.note:
            result = result.model_copy(update={"notes": [*result.notes, student.note]})
        if self.stop.is_set():
            return Entry(student, "interrupted", None)
        _write_student(self.out / "students" / student.key, student, result, status, fp, graded_on)
        return Entry(student, status, result)

    def _grade_one(self, student: Student) -> Entry:
        folder = self.out / "students" / student.key
        fp, previous = self.previous(student)
        if previous is not None:
            return previous
        if student.problem or student.path is None:
            result = grade(
                self.exercise,
                student.folder or Path(student.key),
                self._options(),
                problem=student.problem or "nothing to grade",
            )
            status = "not a submission"
        elif self.warm:
            if self.pool is None or self.closed:
                return Entry(student, "interrupted", None)
            options = {"worker": self.pool, "student": identity_of(student)}
            try:
                result = grade(
                    self.exercise, student.path, Options(**{**self._options().__dict__, **options})
                )
            except PoolClosed:
                return Entry(student, "interrupted", None)
            status = "unusable" if result.error_kind == "unreadable" else "graded"
        else:
            result = grade(
                self.exercise,
                student.path,
                Options(**{**self._options().__dict__, "student": identity_of(student)}),
            )
            status = "unusable" if result.error_kind == "unreadable" else "graded"
        if student.note:
            result = result.model_copy(update={"notes": [*result.notes, student.note]})
        if self.stop.is_set():
            return Entry(student, "interrupted", None)
        _write_student(folder, student, result, status, fp)
        return Entry(student, status, result)

    def _options(self) -> Options:
        return Options(
            **{**self.options.__dict__, "hide": [*self.options.hide, self.out.resolve()]}
        )

    def run(self, students: list[Student], on_done: Callable[[Entry], None]) -> list[Entry]:
        entries: list[Entry] = []
        if self.warm and self.pool is None:
            self._start_workers(next((s.path for s in students if s.path), self.out))
        # twice as many grading threads as workers: a student is read and judged while others run
        threads = self.jobs * 2 if self.warm else self.jobs
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grade") as pool:
            pending: set[Future[Entry]] = set()
            queue = list(students)
            try:
                while queue or pending:
                    while queue and len(pending) < threads * 2:
                        pending.add(pool.submit(self.grade_one, queue.pop(0)))
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        entry = future.result()
                        entries.append(entry)
                        on_done(entry)
            except BaseException:
                self.stop.set()
                for future in pending:
                    future.cancel()
                self.close()  # kills the workers and their children: running grades end at once
                raise
        self.close()
        return sorted(entries, key=lambda e: e.student.key)


def summary_rows(
    entries: list[Entry], *, hold_flagged: bool = False, exercise: Exercise | None = None
) -> list[dict[str, Any]]:
    """One row a student. `hold_flagged`: a graded submission with evidence of tampering keeps its
    score out of the gradebook ("needs review") until a human has looked. With the `exercise`
    (and the submissions still on disk) each row also says what the class summary flags: an
    untouched stub, the submission's digest (identical submissions), the student's note."""
    from grader.build import is_untouched_stub

    rows = []
    for e in entries:
        r = e.result
        status = (
            "needs review"
            if hold_flagged and e.status == "graded" and r is not None and r.evidence
            else e.status
        )
        rows.append(
            {
                "student": e.student.key,
                "full_name": e.student.name,
                "identifier": e.student.identifier,
                "score": r.score if r else 0.0,
                "max_score": r.max_score if r else 0.0,
                "parts": {p.name: p.score for p in r.parts} if r else {},
                "status": status,
                "late": e.student.late,
                "variant": r.variant if r else None,
                "error": (r.error if r else "") or e.student.problem,
                "flags": r.flags if r else [],
                "part_max": {p.name: p.max_score for p in r.parts} if r else {},
                "failing": list(
                    dict.fromkeys(
                        t.tags[0] if t.tags else t.name for t in r.tests if t.status == "failed"
                    )
                )
                if r
                else [],
                **(
                    {
                        "untouched": untouched_stub(
                            e.student,
                            module=exercise.config.module,
                            is_stub=lambda p: is_untouched_stub(exercise, p),
                        ),
                        "digest": submission_digest(e.student),
                        "note": student_note(e.student),
                    }
                    if exercise is not None
                    else {}
                ),
            }
        )
    return rows
