"""`grade batch EXERCISE SUBMISSIONS --out RESULTS`: the instructor's verb."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from grader._exceptions import GraderError
from grader.batch.run import Batch, Entry, summary_rows, write_atomic
from grader.exercise import Exercise, find_exercise
from grader.grading import Options
from grader.reports import classbook
from grader.similar import cli as similar_cli
from grader.similar.cli import PAGE, STANDS_OUT


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade batch",
        description="Grade a whole class with hidden tests, on every core; "
        "resumable (students already graded with the same files are skipped).",
    )
    p.add_argument("exercise", help="the exercise, e.g. ex2")
    p.add_argument(
        "submissions",
        type=Path,
        help="a folder of submissions or a zip of one (Moodle and Canvas downloads understood)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="RESULTS",
        help="where results go (created; reused to resume)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="submissions graded at once (default: all cores)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="grade everyone again, even where a matching result exists",
    )
    p.add_argument(
        "--timeout", type=float, metavar="S", help="seconds per test (default: the exercise's)"
    )
    p.add_argument("--memory", type=int, metavar="MB", help="memory limit of each child in MiB")
    p.add_argument(
        "--device",
        action="append",
        choices=["cpu", "cuda", "mps", "meta"],
        help="devices (default: every available one)",
    )
    p.add_argument("--run-all-cells", action="store_true", help="notebooks: run demo cells too")
    p.add_argument(
        "--hold-flagged",
        action="store_true",
        help="keep the score of a submission with evidence of "
        "tampering (audit or source flags) out of the gradebook and worksheet, as 'needs review'",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="grade on this Dask cluster's workers (see docs/cluster.md)",
    )
    where.add_argument(
        "--cluster",
        choices=["local", "slurm", "pbs", "sge", "lsf", "htcondor", "oar", "moab"],
        help="start a Dask cluster and grade on it: 'local' (--jobs workers on this machine), "
        "or workers started by a job queue (needs dask-jobqueue)",
    )
    p.add_argument(
        "--cluster-config",
        type=Path,
        metavar="TOML",
        help="the job queue's options, e.g. cores, memory, queue, walltime, and workers "
        "(default: dask-jobqueue's own configuration)",
    )
    return p


def main(argv: list[str], console: Console) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.cluster_config is not None and args.cluster in (None, "local"):
        p.error("--cluster-config goes with --cluster slurm (or another job queue)")
    if args.jobs < 1:
        raise GraderError(f"--jobs must be at least 1 (not {args.jobs})")
    exercise = find_exercise(args.exercise)
    if exercise.reference_dir is None:
        raise GraderError(
            f"{exercise.name}: batch grading needs reference/{exercise.name} (the hidden tests)"
        )
    if not args.submissions.exists():
        raise GraderError(f"no such folder or zip: {args.submissions}")
    out: Path = args.out
    if out.resolve().is_relative_to(args.submissions.resolve()) and args.submissions.is_dir():
        raise GraderError("--out must not be inside the submissions folder")
    options = Options(
        devices=args.device,
        hidden=True,
        test_timeout=args.timeout,
        memory_mb=args.memory,
        run_all_cells=args.run_all_cells,
        hide=[args.submissions.resolve()],
    )
    if args.scheduler or args.cluster:  # (dask only imported here: the local path stays as fast)
        from grader.batch.cluster import ClusterBatch, Target

        target = Target(args.scheduler, args.cluster, args.cluster_config, workers=args.jobs)
        batch: Batch = ClusterBatch(exercise, out, options, force=args.force, target=target)
    else:
        batch = Batch(exercise, out, options, jobs=args.jobs, force=args.force)
    with tempfile.TemporaryDirectory(prefix="grade-class-") as workdir:
        students = batch.students(args.submissions, Path(workdir))
        if not students:
            raise GraderError(f"no submissions found in {args.submissions}")
        entries = _run_with_progress(batch, students, console)
        # while an unpacked class zip is still there: the summary reads the submissions' bytes
        return _write_outputs(
            exercise.config.title,
            [p.name for p in exercise.config.parts],
            entries,
            out,
            console,
            hold_flagged=args.hold_flagged,
            exercise=exercise,
        )


def _run_with_progress(batch: Batch, students: list, console: Console) -> list[Entry]:
    failures = 0
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failures]} not graded"),
        TextColumn("[dim]{task.fields[reused]} reused"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    reused = 0
    read_ahead = similar_cli.read_ahead(batch.exercise)  # the screen's reading, while grading
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("grading", total=len(students), failures=0, reused=0)

        def done(entry: Entry) -> None:
            nonlocal failures, reused
            failures += entry.status != "graded"
            reused += entry.reused
            progress.update(task, advance=1, failures=failures, reused=reused)
            if entry.status == "graded" and entry.result is not None and entry.result.source:
                read_ahead(entry.result.source)

        try:
            return batch.run(students, done)
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                "[yellow]interrupted: results so far are saved; run the same command again to resume[/]"
            )
            raise


def _write_outputs(
    title: str,
    parts: list[str],
    entries: list[Entry],
    out: Path,
    console: Console,
    *,
    hold_flagged: bool = False,
    exercise: Exercise | None = None,
) -> int:
    rows = summary_rows(entries, hold_flagged=hold_flagged, exercise=exercise)
    write_atomic(out / "gradebook.csv", classbook.gradebook_csv(rows, parts))
    worksheet = classbook.moodle_worksheet_csv(rows)
    if worksheet.count("\n") > 1:
        write_atomic(out / "moodle_worksheet.csv", worksheet)
        feedback = classbook.moodle_feedback_zip(rows, out / "students")
        (out / "moodle_feedback.zip").write_bytes(feedback)
    rates = classbook.test_rates(
        [e.result for e in entries if e.result is not None and e.status == "graded"]
    )
    stats = classbook.statistics_of(rows, rates, parts=parts)
    stats["similar"], stats["similar_note"] = _similarity(exercise, entries, out)
    write_atomic(out / "summary.html", classbook.summary_html(stats, f"{title}: class summary"))
    classbook.render_summary(console, stats)
    console.print(
        f"results in {out}/: gradebook.csv, summary.html, "
        + (f"{PAGE}, " if stats["similar"] else "")
        + "students/<name>/(results.json, feedback.md, feedback.html)"
        + (
            "; for Moodle: moodle_worksheet.csv (upload grading worksheet) and moodle_feedback.zip "
            "(upload multiple feedback files in a zip)"
            if (out / "moodle_feedback.zip").is_file()
            else ""
        )
    )
    if stats["similar"]:
        top = stats["similar"][0]
        closest = f"{top['a']} and {top['b']}, {top['score']:.2f}"
        console.print(
            f"similarity screen: {out / PAGE} ("
            + (
                f"worth a look: {closest}"
                if top["score"] >= STANDS_OUT
                else f"no pair stands out; closest {closest}"
            )
            + "); summary.html lists the closest pairs"
        )
    elif stats["similar_note"]:
        console.print(f"[yellow]no similarity screen:[/] {escape(stats['similar_note'])}")
    return 0


def _similarity(
    exercise: Exercise | None, entries: list[Entry], out: Path
) -> tuple[list[dict[str, Any]], str]:
    """The class's most alike pairs, their evidence written beside the summary (`grade similar`
    does it again with other options); or why there is no screen. Nothing is re-run."""
    if exercise is None or sum(e.status == "graded" for e in entries) < 2:
        return [], ""
    from grader.similar.cli import screen, write_page

    try:
        found = screen(exercise, out)
        write_page(exercise, found, out / PAGE)
    except GraderError as exc:  # the screen's own word on the folder
        return [], str(exc)
    except Exception as exc:  # noqa: BLE001 - an optional screen never costs the class's results
        return [], f"the similarity screen failed ({type(exc).__name__}: {exc}); the grades stand"
    # the pairs of this batch's students (the folder may hold records of students since removed)
    here = {e.student.key for e in entries}
    return [p for p in found.pairs if p["a"] in here and p["b"] in here], ""
