"""`%load_ext grader`, then `%grade` (or `%grade softmax`): grade the notebook as the kernel has it.

What the kernel ran (IPython's `In` history, in the order it ran) is written to a temporary
notebook, one cell per `In [n]`, and graded like any notebook: in the sandboxed child, never in
the kernel, on its definitions only (demo cells do not run), so a function defined twice counts as
its last definition, as in the kernel. One warm worker per kernel serves every `%grade`; after the
first, only the tests of what changed run again. Failures name the cell as Jupyter shows it
(`In [12], line 3`).
"""

from __future__ import annotations

import argparse
import atexit
import shlex
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from grader._exceptions import GraderError
from grader.exercise import CONFIG_NAME, Exercise, find_exercise, project_root

_WATCHERS: dict[str, Any] = {}  # exercise name -> its Watcher (a warm worker), for this kernel


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magic_function(grade_magic, magic_kind="line", magic_name="grade")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%grade", add_help=False)
    p.add_argument("names", nargs="*")
    p.add_argument("-e", "--exercise")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def find_notebook_exercise(name: str | None) -> Exercise:
    """The named exercise; else the one whose folder this is, else the project's only one."""
    if name:
        return find_exercise(name)
    here = Path.cwd()
    if (here / CONFIG_NAME).is_file():
        from grader.config import load_config

        return find_exercise(load_config(here / CONFIG_NAME).name)
    root = project_root()
    known = sorted(p.parent.name for p in root.glob(f"exercises/*/{CONFIG_NAME}")) if root else []
    if len(known) == 1:
        return find_exercise(known[0])
    raise GraderError(
        "which exercise? `%grade -e ex2`" + (f" (known: {', '.join(known)})" if known else "")
    )


def history_notebook(history: list[str], path: Path) -> Path:
    """Write the kernel's input history (`In`: index n is `In [n]`) as a notebook at `path`."""
    nb = nbformat.v4.new_notebook()
    for count, source in enumerate(history):
        if count == 0 or not source.strip():
            continue
        cell = nbformat.v4.new_code_cell(source)
        cell.execution_count = count
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def grade_magic(line: str) -> None:
    """%grade [NAME ...] [-e EXERCISE] [-v]: grade the kernel's definitions in the sandbox."""
    from IPython import get_ipython
    from rich.console import Console

    console = Console(highlight=False)
    try:
        args = _parser().parse_args(shlex.split(line))
    except SystemExit:
        console.print("usage: %grade [FUNCTION ...] [-e EXERCISE] [-v]")
        return
    shell = get_ipython()
    try:
        exercise = find_notebook_exercise(args.exercise)
        unknown = sorted(set(args.names) - exercise.config.function_names())
        if unknown:
            raise GraderError(f"{exercise.name} grades no function named {', '.join(unknown)}")
        history = list(shell.user_ns.get("In", [])) if shell is not None else []
        result = grade_history(exercise, history, console, names=args.names)
    except GraderError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return
    from grader.reports import terminal

    terminal.render(result, console, verbose=args.verbose)


def grade_history(
    exercise: Exercise, history: list[str], console: Any, *, names: list[str] | None = None
) -> Any:
    """Grade what the kernel ran (its `In` history) with this kernel's warm worker; with `names`,
    the result holds only those functions' tests."""
    from grader.grading import Options
    from grader.watch import Watcher

    watcher = _WATCHERS.get(exercise.name)
    if watcher is None:
        folder = Path(tempfile.mkdtemp(prefix="grade-kernel-"))
        path = folder / f"{exercise.config.module}.ipynb"
        history_notebook(history, path)
        watcher = _WATCHERS[exercise.name] = Watcher(exercise, path, Options(hidden=False))
        atexit.register(watcher.close)
    else:
        history_notebook(history, watcher.path)
    from grader.cli import unusable_submission

    problem = unusable_submission(exercise, watcher.path)
    if problem is not None:
        raise GraderError(problem.replace(watcher.path.name, "this notebook"))
    result, _rerun = watcher.grade()
    watcher.last = result
    counts = [n for n, source in enumerate(history) if n and source.strip()]
    shown = f"this kernel's definitions (In [{counts[0]}] to In [{counts[-1]}])" if counts else ""
    result = result.model_copy(update={"submission": shown or result.submission})
    return only(exercise, result, names) if names else result


def only(exercise: Exercise, result: Any, names: list[str]) -> Any:
    """`result` cut down to the tests of `names`."""
    from grader.result import PartResult

    tests = [t for t in result.tests if t.tags and t.tags[0] in names]
    shown = [
        PartResult(
            name=p.name,
            score=sum(t.score for t in tests if t.part == p.name),
            max_score=sum(t.max_score for t in tests if t.part == p.name),
        )
        for p in result.parts
        if any(t.part == p.name for t in tests)
    ]
    total = sum(t.max_score for t in tests)
    return result.model_copy(
        update={
            "tests": tests,
            "score": round(sum(t.score for t in tests), 6),
            "max_score": total,
            "graded_max_score": total,
            "hidden_run": True,  # (nothing "not graded" to say about a part of the exercise)
            "parts": shown,
        }
    )
