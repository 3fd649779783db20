"""`grade ex2 --watch [PATH]`: grade again on every save, and say what changed since the last run.

One warm worker (a sandboxed process that imported torch and collected the tests once, as
`grade batch` uses them) serves every run: a save costs a fork and the tests, not a new Python.
The file is watched with `watchfiles` (inotify where there is one); an editor that saves by
writing a new file and renaming it over the old one is seen too, since the folder is watched.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader._exceptions import GraderError
from grader.grading import Options, grade, run_limits, secret_folders
from grader.judge import function_of
from grader.notebook import parse
from grader.pool import WarmWorker
from grader.reports import terminal
from grader.result import GradeResult, Visibility
from grader.runner import PLAN, Child, Observation
from grader.sandbox import Sandbox
from grader.submission import Submission, load_submission

if TYPE_CHECKING:
    from rich.console import Console

    from grader.config import ExerciseConfig
    from grader.exercise import Exercise

READY = "watching"  # the first word of the line that ends each run's report
RECHECK_MS = 500  # how often the file is compared even without an event
STEP_MS = 30  # how long a burst of file events may pause before it counts as one save
SUFFIXES = (".py", ".ipynb", ".zip")


@dataclasses.dataclass
class Changes:
    """What one run changed against the one before: functions (public or hidden) newly passing,
    newly failing, and the score."""

    passing: list[str]
    failing: list[str]
    before: float
    after: float

    def line(self) -> str:
        parts = []
        if self.after != self.before:
            parts.append(f"score {self.before:g} → {self.after:g}")
        if self.passing:
            parts.append("now passing: " + ", ".join(self.passing))
        if self.failing:
            parts.append("now failing: " + ", ".join(self.failing))
        return "since the last run: " + ("; ".join(parts) if parts else "no change")


def _passing(result: GradeResult) -> dict[str, bool]:
    rows = terminal.function_rows(result)
    return {
        (r.name if r.visibility is Visibility.visible else f"{r.name} (hidden)"): r.kind == "passed"
        for r in rows
    }


def changes(before: GradeResult, after: GradeResult) -> Changes:
    old, new = _passing(before), _passing(after)
    return Changes(
        passing=[name for name, ok in new.items() if ok and not old.get(name, False)],
        failing=[name for name, ok in new.items() if not ok and old.get(name, False)],
        before=before.score,
        after=after.score,
    )


# -- a one-function edit re-runs that function's tests only --------------------------------------


def signature(submission: Submission) -> dict[str, tuple[str, str, set[str]]]:
    """Each top-level definition: (its code, where it is, the global names it reads); every other
    top-level statement together under "<module>". Read from the syntax tree, never run."""
    out: dict[str, tuple[str, str, set[str]]] = {}
    rest: list[str] = []
    for cell in submission.cells:
        try:
            tree = parse(cell.source)
        except (SyntaxError, ValueError):
            rest.append(f"{cell.label}: does not parse")
            continue
        lines = cell.source.splitlines()
        for node in tree.body:
            decorators = getattr(node, "decorator_list", None)
            first = decorators[0].lineno if decorators else node.lineno
            code = "\n".join(lines[first - 1 : node.end_lineno])
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                out[node.name] = (code, f"{cell.label}:{first}", _reads(code, node))
            else:
                rest.append(code)
    out["<module>"] = ("\n".join(rest), "", set())
    return out


_READS: dict[str, set[str]] = {}


def _reads(code: str, node: ast.AST) -> set[str]:
    """The names a definition mentions (once per distinct code: most are unchanged between saves)."""
    if code not in _READS:
        if len(_READS) > 4096:
            _READS.clear()
        _READS[code] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return _READS[code]


def affected(
    before: dict[str, tuple[str, str, set[str]]], after: dict[str, tuple[str, str, set[str]]]
) -> set[str] | None:
    """The names whose behaviour may have changed: those edited, added or removed, and every
    definition that reads one of them; None when anything else changed (run everything)."""
    if before.get("<module>") != after.get("<module>"):
        return None
    names = {
        n
        for n in before.keys() | after.keys()
        if (before.get(n) or ("",))[0] != (after.get(n) or ("",))[0]
    }
    grown = True
    while grown:
        grown = False
        for name, (_code, _where, reads) in after.items():
            if name not in names and reads & names:
                names.add(name)
                grown = True
    return names


def moved(
    before: dict[str, tuple[str, str, set[str]]], after: dict[str, tuple[str, str, set[str]]]
) -> set[str]:
    """Definitions that now start elsewhere (a failure's file and line would be stale)."""
    return {n for n in after if n in before and before[n][1] != after[n][1]}


class SelectiveWorker(WarmWorker):
    """A warm worker whose children skip the tests named in `keep` (their last results stand)."""

    keep: frozenset[str] = frozenset()
    skipped: int = 0

    def run(self, job: dict[str, Any]) -> Observation:
        plan = job.get(PLAN)
        order = plan.order if plan is not None else []
        self.skip_ids = {i for i in order if function_of(i).split("::")[-1] in self.keep}
        self.skipped = len(self.skip_ids)
        return super().run(job)

    def _fork_with_fd(self, attempt: dict[str, Any]) -> Child:
        skip = sorted({*attempt.get("skip", ()), *getattr(self, "skip_ids", ())})
        return self.fork(dict(attempt, skip=skip))


def kept(
    last: GradeResult, names: set[str], uses: dict[tuple[Visibility, str], set[str]]
) -> frozenset[str]:
    """The tests of `last` that an edit of `names` cannot change: neither the functions they
    grade (their tags) nor those they call themselves (`uses`) are among them."""
    return frozenset(
        t.name
        for t in last.tests
        if not (set(t.tags) | uses.get((t.visibility, t.name), set())) & names
    )


def merge(
    config: ExerciseConfig, last: GradeResult, fresh: GradeResult, keep: frozenset[str]
) -> GradeResult:
    """`fresh` with the tests it did not run (`keep`) taken from `last`."""
    from grader.judge import parts

    old = {(t.visibility, t.name): t for t in last.tests}
    tests = [old.get((t.visibility, t.name), t) if t.name in keep else t for t in fresh.tests]
    not_graded = {p.name: p.not_graded for p in fresh.parts}
    return fresh.model_copy(
        update={
            "tests": tests,
            "score": round(sum(t.score for t in tests), 6),
            "parts": parts(config, tests, not_graded=not_graded),
        }
    )


class Watcher:
    """Grades `path` with one warm worker, as often as asked, remembering the last result."""

    def __init__(self, exercise: Exercise, path: Path, options: Options) -> None:
        self.exercise, self.path = exercise, path
        sandbox = Sandbox(
            hide=secret_folders(exercise, path, options), namespaces=options.namespaces
        )
        self.worker = SelectiveWorker(
            sandbox, run_limits(exercise, options), scratch_base=options.scratch_base
        )
        self.worker.launch()  # it boots torch while the parent reads the submission
        self.options = dataclasses.replace(options, worker=self.worker)
        self.last: GradeResult | None = None
        self.shape: dict[str, tuple[str, str, set[str]]] | None = None  # `signature` of `last`

    @functools.cached_property
    def uses(self) -> dict[tuple[Visibility, str], set[str]]:
        """Each test's other graded names (its `uses` marker): the test calls them itself."""
        from grader.markers import declared_uses

        hidden = self.options.hidden and self.exercise.reference_dir is not None
        return {
            (visibility, name): names
            for visibility, paths in (
                (Visibility.visible, self.exercise.public_tests),
                (Visibility.hidden, self.exercise.hidden_tests if hidden else []),
            )
            for name, names in declared_uses(paths).items()
        }

    def run(self, console: Console, *, verbose: bool = False, since: float | None = None) -> None:
        """Grade once and print the report, what changed, and the ready line."""
        from grader.cli import show_unusable, unusable_submission

        started = since if since is not None else time.monotonic()
        problem = unusable_submission(self.exercise, self.path)
        if problem is not None:
            show_unusable(problem, self.path, console)
        else:
            result, rerun = self.grade()
            terminal.render(result, console, verbose=verbose)
            if self.last is not None:
                console.print(changes(self.last, result).line(), style="bold", highlight=False)
                if rerun is not None:
                    console.print(rerun, style="dim", highlight=False)
            self.last = result
        console.print(
            f"{READY} {self.path} · graded {time.monotonic() - started:.2f} s after the save · "
            "save to grade again, Ctrl-C to stop",
            style="dim",
            highlight=False,
            soft_wrap=True,
        )

    def grade(self) -> tuple[GradeResult, str | None]:
        """Grade; after a first run, only the tests that the edit since may change."""
        shape = None
        with contextlib.suppress(GraderError):
            shape = signature(load_submission(self.path, module=self.exercise.config.module))
        keep: frozenset[str] = frozenset()
        last = self.last
        if shape is not None and self.shape is not None and last is not None and _reusable(last):
            names = affected(self.shape, shape)
            if names is not None:
                names |= {
                    t.tags[0]
                    for t in last.tests
                    if t.tags and t.where and t.tags[0] in moved(self.shape, shape)
                }
                keep = kept(last, names, self.uses)
        self.worker.keep = keep
        result = grade(self.exercise, self.path, self.options)
        self.shape = shape
        if not keep or last is None or result.error:
            return result, None
        merged = merge(self.exercise.config, last, result, keep)
        ran = len(result.tests) - sum(1 for t in result.tests if t.name in keep)
        return merged, (
            f"ran {ran} test{'s' if ran != 1 else ''} the edit may change; the other "
            f"{len(keep)} kept {'their' if len(keep) != 1 else 'its'} last result"
        )

    def close(self) -> None:
        self.worker.close()


def _contents(path: Path) -> bytes:
    """What is graded, to tell a real save from a touch: the file's bytes (a folder's files')."""
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
            return b"\0".join(bytes(p) + b"\0" + p.read_bytes() for p in files)
        return path.read_bytes()
    except OSError:
        return b""


def _reusable(result: GradeResult) -> bool:
    """A run whose results may stand for tests it did not change: it loaded cleanly."""
    return not result.error and not result.load_errors and not result.evidence


def _relevant(path: Path) -> Callable[[Any, str], bool]:
    """A watchfiles filter: the submission itself (a file), or its .py/.ipynb/.zip (a folder)."""
    target = path.resolve()

    def keep(_change: object, changed: str) -> bool:
        p = Path(changed)
        if ".ipynb_checkpoints" in p.parts or p.name.startswith("."):
            return False
        if target.is_dir():
            return p.suffix in SUFFIXES
        return p.name == target.name

    return keep


def watch(
    exercise: Exercise,
    path: Path,
    options: Options,
    console: Console,
    *,
    verbose: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Grade `path` now and on every save until Ctrl-C (or `stop`); exit code 0."""
    from watchfiles import watch as file_changes

    if threading.current_thread() is threading.main_thread():
        # Ctrl-C must end the loop even where `grade` was started with SIGINT ignored (Python
        # then installs no handler of its own, and a child inherits the parent's SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    folder = path.resolve() if path.is_dir() else path.resolve().parent
    watcher = Watcher(exercise, path, options)
    try:
        graded = _contents(path)
        watcher.run(console, verbose=verbose)
        # (a save made before the watch is set up is seen on its first timeout: the contents differ)
        for _batch in file_changes(
            folder,
            watch_filter=_relevant(path),
            step=STEP_MS,
            stop_event=stop,
            raise_interrupt=False,
            recursive=path.is_dir(),
            rust_timeout=RECHECK_MS,
            yield_on_timeout=True,
        ):
            saved = time.monotonic()
            now = _contents(path)
            if now == graded:
                continue  # a timeout, or a save that changed nothing
            graded = now
            console.rule(style="dim")
            watcher.run(console, verbose=verbose, since=saved)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()
    console.print("stopped watching", style="dim")
    return 0
