"""`grade similar EXERCISE RESULTS [--json FILE] [--out HTML]`: rank a graded class's pairs."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from grader._exceptions import GraderError
from grader.exercise import Exercise, find_exercise
from grader.similar.sources import source_text

TOP = 50
MAX_FUNCTIONS = 6  # shown side by side per pair
MIN_FUNCTION = 0.3  # a function at least this alike is shown
MAX_PAGE = 200  # pairs with their evidence on the page (the JSON may hold more)
PAGE = "similarity.html"  # in the results folder, linked from its summary.html
STANDS_OUT = 0.5  # a pair's score from which it is worth a look (two usual solutions: 0.2-0.3)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade similar",
        description="Rank every pair of a graded class (`grade batch ... --out RESULTS`) by code "
        "similarity of the graded functions and by wrong hidden-test answers they share. "
        "Nothing is re-run.",
    )
    p.add_argument("exercise", help="the exercise, e.g. ex2")
    p.add_argument("results", type=Path, help="the results folder of `grade batch`")
    p.add_argument(
        "--out",
        type=Path,
        metavar="HTML",
        help=f"the page with the evidence (default: RESULTS/{PAGE})",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the ranked pairs as JSON")
    p.add_argument(
        "--top",
        type=int,
        default=TOP,
        metavar="N",
        help=f"pairs in the JSON and on the page (default: {TOP}; 0: every pair, "
        f"the page shows the first {MAX_PAGE})",
    )
    return p


@dataclass
class Student:
    key: str
    source: str | None
    outputs: dict[str, str]
    variant: int | None


def read_class(results: Path, *, module: str) -> list[Student]:
    """Every graded student of a results folder, by gradebook key."""
    folder = results / "students"
    if not folder.is_dir():
        raise GraderError(
            f"{results} holds no graded class (no students/ folder): "
            f"grade it first with `grade batch EXERCISE SUBMISSIONS --out {results}`"
        )
    out = []
    for student in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            record = json.loads((student / "record.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not graded (yet): the batch grades it on its next run
        if not isinstance(record, dict) or record.get("status") != "graded":
            continue
        result = record.get("result") or {}
        key = str((record.get("student") or {}).get("key") or student.name)
        source = str(result.get("source") or "") or None
        if source is None and result.get("submission"):  # graded before the code was kept:
            source = source_text(Path(result["submission"]), module=module)  # where it was
        out.append(
            Student(
                key,
                source,
                {str(k): str(v) for k, v in (result.get("outputs") or {}).items()},
                result.get("variant"),
            )
        )
    return out


@dataclass
class Screen:
    students: list[Student]
    pairs: list[dict[str, Any]]  # best first: a, b, score, code, behaviour
    views: list[Any]  # page.PairView of the pairs shown
    notes: list[str]
    seconds: float


def class_code(exercise: Exercise) -> tuple[list[str], str | None]:
    """The graded functions, in order, and the stub's code (whatever a student left of it is
    not theirs)."""
    config = exercise.config
    graded = [f for part in config.parts for f in part.functions]
    stub_path = exercise.public_dir / f"{config.module}.py"
    return graded, stub_path.read_text(encoding="utf-8") if stub_path.is_file() else None


def read_ahead(exercise: Exercise) -> Callable[[str], None]:
    """What `grade batch` calls with each student's kept code as they are graded: their functions
    read and fingerprinted then, while the class is graded, rather than all after it. Never
    raises (the screen reads again what was not read here, and says what it lacks)."""
    from grader.similar import code

    graded, stub = class_code(exercise)

    def read(source: str) -> None:
        with contextlib.suppress(Exception):
            code.written(source, tuple(graded), stub)

    return read


def screen(exercise: Exercise, results: Path, *, top: int = TOP) -> Screen:
    """Read the class, score every pair, gather the evidence of the `top` pairs."""
    import numpy as np

    from grader.similar import behaviour, code
    from grader.similar.page import PairView

    started = time.monotonic()
    students = read_class(results, module=exercise.config.module)
    if len(students) < 2:
        raise GraderError(f"{results}: {len(students)} graded student(s), nothing to compare")
    graded, stub = class_code(exercise)
    codes = code.index_class([s.source for s in students], graded, stub)
    acts = behaviour.index_class([s.outputs for s in students], [s.variant for s in students])
    c, b = codes.similarity(), acts.similarity()
    score = 1.0 - (1.0 - c) * (1.0 - b)
    n = len(students)
    upper = np.triu_indices(n, k=1)
    order = np.lexsort((-c[upper], -score[upper]))
    if top > 0:
        order = order[:top]
    pairs: list[dict[str, Any]] = []
    views: list[PairView] = []
    for k in order:
        i, j = int(upper[0][k]), int(upper[1][k])
        pairs.append(
            {
                "a": students[i].key,
                "b": students[j].key,
                "score": round(float(score[i, j]), 4),
                "code": round(float(c[i, j]), 4),
                "behaviour": round(float(b[i, j]), 4),
            }
        )
        if len(views) >= MAX_PAGE:
            continue
        functions = []
        alike = [(name, sim) for name, sim in codes.per_function(i, j) if sim >= MIN_FUNCTION]
        for name, sim in alike[:MAX_FUNCTIONS]:
            fa, fb = codes.functions[i][name], codes.functions[j][name]
            functions.append((name, sim, fa.where, fa.original, fb.where, fb.original))
        views.append(
            PairView(
                students[i].key,
                students[j].key,
                float(score[i, j]),
                float(c[i, j]),
                float(b[i, j]),
                functions=functions,
                shared=acts.evidence(i, j)[:10],
            )
        )
    notes = []
    if missing := [s.key for s in students if s.source is None]:
        notes.append(
            f"{len(missing)} student(s) without their code on record (graded by an older grader "
            f"and their submission moved; `grade batch --force` keeps it): {', '.join(missing[:10])}"
            + (" …" if len(missing) > 10 else "")
        )
    if unrun := [s.key for s in students if not s.outputs]:
        notes.append(
            f"{len(unrun)} student(s) without their hidden-test values on record (regrade with "
            f"`grade batch --force`): {', '.join(unrun[:10])}" + (" …" if len(unrun) > 10 else "")
        )
    return Screen(students, pairs, views, notes, time.monotonic() - started)


def write_page(exercise: Exercise, found: Screen, out: Path) -> None:
    """The page with the evidence of the pairs `found`."""
    from grader.batch.run import write_atomic
    from grader.similar import page

    write_atomic(
        out,
        page.render(
            f"{exercise.config.title}: similarity screen",
            found.views,
            students=len(found.students),
            notes=found.notes,
            shown=len(found.views),
        ),
    )


def main(argv: list[str], console: Console) -> int:
    args = parser().parse_args(argv)
    if args.top < 0:
        raise GraderError(f"--top must be at least 0 (not {args.top})")
    exercise = find_exercise(args.exercise)
    if not args.results.is_dir():
        raise GraderError(f"no such results folder: {args.results}")
    found = screen(exercise, args.results, top=args.top)
    from grader.batch.run import write_atomic

    out = args.out or args.results / PAGE
    write_page(exercise, found, out)
    if args.json:
        write_atomic(args.json, json.dumps({"pairs": found.pairs}, indent=1) + "\n")
    table = Table(title=f"most similar pairs of {len(found.students)} students")
    for column in ("student", "student", "score", "code", "behaviour"):
        table.add_column(column, justify="right" if column not in ("student",) else "left")
    for p in found.pairs[:10]:
        table.add_row(
            p["a"], p["b"], f"{p['score']:.2f}", f"{p['code']:.2f}", f"{p['behaviour']:.2f}"
        )
    console.print(table)
    for note in found.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"evidence in {out}" + (f", pairs in {args.json}" if args.json else ""))
    return 0
