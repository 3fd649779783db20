"""Grade one submission: load it, run the tests in the sandboxed child, judge, build the result.

The child is started before the parent imports torch and reads its golden values, so that the
two start-ups overlap; the job (devices, cells, tests to skip) reaches the child afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader import tamper
from grader._exceptions import SubmissionError
from grader.exercise import Exercise
from grader.how import loops_in
from grader.result import GradeResult, LoadError, Status, TestResult
from grader.runner import (
    PLAN,
    ChildRunner,
    Launch,
    Observation,
    Plan,
    RunLimits,
    TestFile,
    test_sources,
)
from grader.sandbox import Sandbox
from grader.submission import Cell, Submission, first_code_line, load_submission

if TYPE_CHECKING:
    from grader.golden import GoldenSet
    from grader.judge import Judge
    from grader.pool import Warm
    from grader.variants import Variant


def available_devices() -> list[str]:
    """Every device this machine can grade on, and `meta` to catch hard-coded devices without a GPU."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return [*devices, "meta"]


@dataclass
class Options:
    devices: list[str] | None = None  # None: every available device
    hidden: bool = True  # run hidden tests when the reference is present
    test_timeout: float | None = None
    load_timeout: float | None = None
    total_timeout: float | None = None
    memory_mb: int | None = None
    hide: list[Path] = field(default_factory=list)  # more folders the child must not see
    namespaces: bool = True
    scratch_base: Path | None = None
    run_all_cells: bool = False  # notebooks: run demo cells too, not only definitions
    worker: Warm | None = None  # a warm worker (batch): fork from it instead of starting Python
    seed: int | None = (
        None  # the run's input seed, overriding the student's variant (tests, audits)
    )
    student: str | None = (
        None  # who submitted (picks the variant of the instructor's grade); default: the file's name
    )


def grade(
    exercise: Exercise, path: Path, options: Options | None = None, *, problem: str = ""
) -> GradeResult:
    """Grade `path`. With `problem` (say, "empty folder"), nothing is run: every test fails for it."""
    options = options or Options()
    started = time.monotonic()
    config = exercise.config
    hidden = options.hidden and exercise.reference_dir is not None
    sandbox = Sandbox(hide=secret_folders(exercise, path, options), namespaces=options.namespaces)
    read = _read(exercise, path, options, problem)
    files = [TestFile("public", p) for p in exercise.public_tests] + [
        TestFile("hidden", p) for p in (exercise.hidden_tests if hidden else [])
    ]
    launch = None
    if read.runnable and options.worker is None:
        launch = _runner(exercise, sandbox, options).start(files)
    try:  # while the child boots: torch, golden values, the judge
        against = _against(exercise, path, options, hidden=hidden)
    except BaseException:
        if launch is not None:
            launch.cancel()
        raise

    # (a cold child is still booting)
    suspicious = tamper.scan(read.submission.cells) if read.submission is not None else []
    static = forbidden_in(read.written, config.forbidden_calls())
    loops = loops_in(read.written, vectorised(against.sets))
    obs, load_errors = _observe(exercise, read, against, options, files, launch)
    error, error_kind = read.error, read.error_kind
    if obs.load_failure and not error:
        error, error_kind = obs.load_failure, "load"
    judged = functools.partial(
        _result,
        exercise,
        path,
        against.judge,
        against.sets,
        obs,
        static=static,
        loops=loops,
        error=error,
        error_kind=error_kind,
        load_errors=load_errors,
        notes=read.notes
        + [f"{n} is not installed here: its calls did nothing while grading" for n in obs.shimmed],
        flags=[*(f"tamper? {s}" for s in suspicious), *(f"audit: {e}" for e in obs.audit)],
        protections=(options.worker.sandbox if options.worker else sandbox).protections,
        started=started,
    )
    from grader.golden import recorded_mistakes

    seen = recorded_mistakes(against.sets)  # (another thread may add some while this one judges)
    result = judged()
    if read.runnable and not result.error:
        _add_mistakes_failed(exercise, result, against, options)
        if recorded_mistakes(against.sets) != seen:  # named now: judged again to say which
            result = judged()
    result.definitions = read.submission.definitions() if read.submission is not None else {}
    result.variant = against.variant.index if against.variant is not None else None
    if hidden and read.runnable and read.submission is not None:  # what `grade similar` compares
        from grader.similar.outputs import fingerprints
        from grader.similar.sources import kept_text

        result.outputs = fingerprints(against.sets, obs, against.judge)
        result.source = kept_text(read.written, read.submission.kind)
    return result


@dataclass
class _Read:
    """A submission as the parent reads it, before anything of it runs."""

    submission: Submission | None  # what the child runs (a notebook: its definitions)
    written: list[Cell]  # every line the student wrote, demo cells too
    error: str = ""
    error_kind: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return self.submission is not None and not self.error


def _read(exercise: Exercise, path: Path, options: Options, problem: str) -> _Read:
    if problem:
        return _Read(None, [], problem, "unreadable")
    config = exercise.config
    try:
        submission = load_submission(path, module=config.module)
    except SubmissionError as exc:
        return _Read(None, [], str(exc), "unreadable")
    read = _Read(submission, submission.cells)
    if compile_error := submission.compile_error():
        read.error, read.error_kind = f"does not compile: {compile_error}", "compile"
    if submission.kind == "ipynb":
        read.submission = submission.by_statement(
            graded=config.function_names(), definitions_only=not options.run_all_cells
        )
        if not options.run_all_cells:
            read.notes.append(
                "notebook graded on its definitions only: demo code (training runs, plots, "
                "prints) was skipped"
            )
    return read


@dataclass
class _Against:
    """What a run is judged against: its devices, input variant, golden values and judge."""

    devices: list[str]
    available: list[str]
    variant: Variant | None
    seed: int
    sets: list[GoldenSet]
    judge: Judge


def _against(exercise: Exercise, path: Path, options: Options, *, hidden: bool) -> _Against:
    import torch

    # the judge's tensors are tiny: a thread pool only adds wake-ups (30 ms a grade)
    torch.set_num_threads(1)
    from grader import golden
    from grader.judge import Judge, load_properties

    config = exercise.config
    available = available_devices()
    devices = options.devices or available
    if "meta" not in devices:
        devices = [*devices, "meta"]
    variant = None
    if hidden and options.seed is None:
        from grader.variants import variant_for

        variant = variant_for(exercise, options.student or student_of(path))
    seed = variant.seed if variant is not None else (options.seed or 0) if hidden else 0
    if seed:
        sets = golden.variant(exercise, seed, worker=_recorder(options, devices))
    else:
        sets = [golden.public(exercise), *([golden.hidden(exercise)] if hidden else [])]
    judge = Judge(
        config,
        load_properties(exercise.properties_paths()),
        devices,
        memory_mb=options.memory_mb or config.limits.memory_mb,
        output_kb=config.limits.output_kb,
        seed=seed,
    )
    return _Against(devices, available, variant, seed, sets, judge)


def _recorder(options: Options, devices: list[str]) -> Warm | None:
    """The warm worker to record golden values in, where it runs the devices they are recorded on."""
    from grader.golden import RECORD_DEVICES

    return options.worker if devices == RECORD_DEVICES else None


def _observe(
    exercise: Exercise,
    read: _Read,
    against: _Against,
    options: Options,
    files: list[TestFile],
    launch: Launch | None,
) -> tuple[Observation, list[LoadError]]:
    """The submission's run, in the warm worker or the cold child already booting."""
    if not read.runnable or read.submission is None:
        return Observation(), []
    job = _job(
        exercise,
        read.submission,
        against.devices,
        accelerators=[d for d in against.available if d not in ("cpu", "meta")],
    )
    job["seed"] = against.seed
    job[PLAN] = plan_of(against.sets, against.devices)
    obs = Observation()
    if options.worker is not None:
        obs = options.worker.run(dict(job, test_files=test_sources(files)))
    elif launch is not None:
        obs = launch.finish(job)
    return obs, _load_errors(read.submission, obs)


def _add_mistakes_failed(
    exercise: Exercise, result: GradeResult, against: _Against, options: Options
) -> None:
    """Record the variant's named mistakes of the functions this student failed, where nobody
    failed them before: the judge can then say which mistake a value looks like."""
    from grader import golden

    failed = {tag for t in result.tests if t.status == Status.failed for tag in t.tags}
    if against.variant is None or not failed:
        return
    # a name for a mistake is a hint: the grade stands without it
    with contextlib.suppress(Exception):
        golden.add_mistakes(
            exercise,
            against.seed,
            against.sets,
            failed,
            worker=_recorder(options, against.devices),
        )


def forbidden_in(cells: list[Cell], forbidden: dict[str, list[str]]) -> dict[str, list[str]]:
    """Graded name -> the forbidden uses the parent reads in its source, each in words."""
    from grader.static_calls import UNRESOLVABLE, forbidden_uses

    found: dict[str, list[str]] = {}
    for name, uses in forbidden_uses(cells, forbidden).items():
        for use in uses:
            place = f"{use.label}, line {use.line}"
            if use.name == UNRESOLVABLE:
                how = use.how.split(" (")[0]  # "gc.get_objects", "getattr(torch, <computed>)"
                found.setdefault(name, []).append(
                    f"{how} ({place}), which the grader cannot tell apart from a forbidden call"
                )
            else:
                found.setdefault(name, []).append(
                    f"{use.name} ({place}), which this exercise forbids here"
                )
    return found


def vectorised(sets: list[GoldenSet]) -> set[str]:
    """Graded names a test wants computed without Python loops (`@pytest.mark.how("vectorised")`)."""
    return {t.tags[0] for s in sets for t in s.tests.values() if "vectorised" in t.how and t.tags}


def plan_of(sets: list[GoldenSet], devices: list[str]) -> Plan:
    """The parent's own account of the run: every test instance in the order the child collects
    them, and how large each of its checks may be (a right answer is the golden value's size)."""
    from grader.judge import instances

    checks: dict[str, list[int]] = {}
    for gset in sets:
        for key, test in gset.tests.items():
            sizes = [8 * size + 16 * 1024 for size in test.sizes]
            for node_id, _device in instances(key, devices):
                checks[node_id] = sizes
    return Plan(checks)


def student_of(path: Path) -> str:
    """Whose submission `path` is, when nobody says: its file's or folder's name."""
    return path.stem if path.is_file() else path.name


def _result(
    exercise: Exercise,
    path: Path,
    judge: object,
    sets: list[GoldenSet],
    obs: Observation,
    *,
    static: dict[str, list[str]],
    loops: dict[str, list[str]],
    error: str,
    error_kind: str,
    load_errors: list[LoadError],
    notes: list[str],
    flags: list[str],
    protections: list[str],
    started: float,
) -> GradeResult:
    from grader.judge import Judge, dependency_hints, parts

    assert isinstance(judge, Judge)
    config = exercise.config
    tests: list[TestResult] = []
    for gset in sets:
        tests += judge.grade(gset, obs, load_failure=error, static=static, loops=loops)
    if not error:  # every test failed for the same reason: no test's failure comes from another's
        dependency_hints(sets, tests)
    graded_by_part: dict[str, float] = {}
    for t in tests:
        graded_by_part[t.part] = graded_by_part.get(t.part, 0.0) + t.max_score
    not_graded = {p.name: p.points - graded_by_part.get(p.name, 0.0) for p in config.parts}
    return GradeResult(
        exercise=exercise.name,
        title=config.title,
        submission=str(path),
        score=round(sum(t.score for t in tests), 6),
        max_score=config.max_score,
        graded_max_score=sum(t.max_score for t in tests),
        hidden_run=len(sets) > 1,
        parts=parts(config, tests, not_graded=not_graded),
        tests=tests,
        load_errors=load_errors,
        error=error,
        error_kind=error_kind,
        devices=judge.devices,
        protections=protections,
        flags=sorted({*obs.flags, *(f for t in tests for f in t.flags)}) + flags,
        notes=notes,
        duration_s=round(time.monotonic() - started, 3),
        running_s=round(obs.running_s, 3),
    )


def _load_errors(submission: Submission, obs: Observation) -> list[LoadError]:
    firsts = {c.index: c.first_line or first_code_line(c.source) for c in submission.cells}
    labels = {c.index: c.label for c in submission.cells}
    errors = [
        LoadError(
            label=str(e.get("label", ""))[:40],
            error=str(e.get("error", ""))[:300],
            where=str(e.get("where", ""))[:100],
            first_line=firsts.get(e["cell"], "") if isinstance(e.get("cell"), int) else "",
        )
        for e in obs.load_errors
    ]
    errors += [
        LoadError(
            label=labels.get(i, f"cell {i}"),
            error=f"{why}: this statement was skipped",
            first_line=firsts.get(i, ""),
        )
        for i, why in sorted(obs.skipped_cells.items())
    ]
    return errors


def secret_folders(exercise: Exercise, path: Path, options: Options) -> list[Path]:
    """Folders the child must not see: the reference, the whole project, the submission's folder."""
    folders = [*options.hide, path.resolve().parent]
    if exercise.reference_dir is not None:
        folders.append(exercise.reference_dir.resolve())
    public = exercise.public_dir.resolve()
    folders.append(public.parent.parent if public.parent.name == "exercises" else public)
    return sorted({f for f in folders if f != Path("/") and len(f.parts) > 1})


def run_limits(exercise: Exercise, options: Options) -> RunLimits:
    limits = exercise.config.limits
    return RunLimits(
        test_timeout=options.test_timeout or limits.test_timeout,
        load_timeout=options.load_timeout or limits.load_timeout,
        total_timeout=options.total_timeout or limits.total_timeout,
        memory_mb=options.memory_mb or limits.memory_mb,
        output_bytes=limits.output_kb * 1024,
    )


def _runner(exercise: Exercise, sandbox: Sandbox, options: Options) -> ChildRunner:
    return ChildRunner(
        sandbox=sandbox, limits=run_limits(exercise, options), scratch_base=options.scratch_base
    )


def _job(
    exercise: Exercise, submission: Submission, devices: list[str], *, accelerators: list[str]
) -> dict[str, object]:
    return {
        "cells": [c.__dict__ for c in submission.cells],
        "devices": devices,
        "accelerators": accelerators,  # on this machine, graded on or not: torch.manual_seed seeds them
        "forbidden": exercise.config.forbidden_calls(),
        "module_name": exercise.config.module,
        "hide_tests": True,
        "threads": 1,
    }
