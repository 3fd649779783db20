"""`grade audit EXERCISE`: grade mutants of the reference to see which student mistakes the
hidden tests catch.

Mutants come from the exercise's catalogue (`reference/EXERCISE/mistakes.toml`, see
`grader/mistakes.py`) and from generic operators (`grader/audit/mutants.py`); each is graded
through warm workers (`grader/audit/run.py`) and reported per function (`grader/audit/report.py`).
An instructor runs it before releasing an exercise: every mutant that survives is a student
mistake graded 100/100.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader._exceptions import GraderError

if TYPE_CHECKING:
    from grader.audit.mutants import Dropped, Mutant
    from grader.exercise import Exercise

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade audit",
        description="Grade mutants of the reference (the exercise's catalogue of student mistakes "
        "and generic edits) on the hidden tests, and report which ones the tests catch.",
        epilog="Exit codes: 0 the audit ran (whatever it found), 1 below --fail-under, 2 usage, "
        "3 unusable exercise or catalogue.",
    )
    p.add_argument("exercise", help="the exercise, e.g. ex2")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the findings as JSON")
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="mutants graded at once (default: one per core)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="ID",
        help="grade only this mutant (repeatable; a catalogue id or `operator:function:line`)",
    )
    p.add_argument(
        "--function",
        action="append",
        metavar="NAME",
        help="grade only the mutants of this graded function (repeatable)",
    )
    p.add_argument(
        "--no-generic", action="store_true", help="the catalogue's mistakes only, no generic edits"
    )
    p.add_argument(
        "--list", action="store_true", help="list the mutants (and the dropped ones) and stop"
    )
    p.add_argument(
        "--all-tests",
        action="store_true",
        help="run every hidden test for every mutant, not only the tests that can reach its "
        "function (slower; shows cascades through state a mutant leaves behind)",
    )
    p.add_argument(
        "--messages", action="store_true", help="also show the messages of the caught mutants"
    )
    p.add_argument(
        "--fail-under",
        type=float,
        metavar="PCT",
        help="exit with status 1 when fewer than PCT%% of the non-equivalent mutants are caught",
    )
    return p


def main(argv: list[str], console: Console) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1 (not {args.jobs})")  # exit status 2: usage

    from grader.audit.mutants import mutants_of
    from grader.exercise import find_exercise

    exercise = find_exercise(args.exercise)
    if exercise.reference_dir is None:
        raise GraderError(f"{exercise.name}: an audit needs reference/{exercise.name}")
    mutants, dropped = mutants_of(exercise, generic=not args.no_generic)
    if args.only:
        known = {m.id for m in mutants} | {d.id for d in dropped}
        unknown = [i for i in args.only if i not in known]
        if unknown:
            raise GraderError(f"no mutant with the id {', '.join(map(repr, unknown))}")
        mutants = [m for m in mutants if m.id in args.only]
        dropped = [d for d in dropped if d.id in args.only]
    if args.function:
        mutants = [m for m in mutants if m.function in args.function]
    if args.list:
        for m in mutants:
            flag = " (equivalent)" if m.equivalent else ""
            console.print(
                f"{m.id}{flag}: {m.says}; line {m.line}: {m.before} -> {m.after}",
                markup=False,
                highlight=False,
            )
        for d in dropped:
            console.print(f"dropped {d.id}: {d.why}", markup=False, highlight=False)
        return 0
    return _audit(exercise, mutants, dropped, args, console)


def _audit(
    exercise: Exercise,
    mutants: list[Mutant],
    dropped: list[Dropped],
    args: argparse.Namespace,
    console: Console,
) -> int:
    from grader.audit import report
    from grader.audit.run import Auditor, Outcome

    started = time.monotonic()
    auditor = Auditor(exercise, jobs=min(args.jobs, max(1, len(mutants))), all_tests=args.all_tests)
    auditor.start()
    try:
        baseline = auditor.baseline()
        lost = [t for t in baseline.tests if t.score < t.max_score]
        if baseline.error or lost:
            why = baseline.error or "; ".join(f"{t.name}: {t.reason}" for t in lost[:5])
            raise GraderError(
                f"the reference itself loses points, so nothing can be audited: {why}"
            )
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[survived]} survived"),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("auditing", total=len(mutants), survived=0)
            survived = 0

            def done(outcome: Outcome) -> None:
                nonlocal survived
                survived += not outcome.caught and not outcome.mutant.equivalent
                progress.update(task, advance=1, survived=survived)

            outcomes = auditor.run(mutants, done)
        cpu = auditor.cpu_seconds()
    finally:
        auditor.close()
    seconds = time.monotonic() - started
    functions = [f for part in exercise.config.parts for f in part.functions]
    report.render(
        console,
        outcomes,
        dropped,
        functions=functions,
        seconds=seconds,
        cpu=cpu,
        messages=args.messages,
    )
    if args.json:
        doc = report.document(outcomes, dropped, seconds=seconds, cpu=cpu)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if args.fail_under is not None and report.caught_percent(outcomes) < args.fail_under:
        return 1
    return 0
