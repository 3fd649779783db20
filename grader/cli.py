"""The `grade` command: `grade ex2 [PATH]` for students, verbs for instructors.

grade EXERCISE [PATH]        grade a submission (default: your working copy)
grade build EXERCISE         regenerate stubs and public golden values from the reference
grade batch EXERCISE DIR     grade a whole class (folder or zip) into --out RESULTS
grade audit EXERCISE         grade the reference's mutants: which student mistakes the tests catch
grade similar EXERCISE DIR   rank pairs of a graded class by code and behaviour similarity
grade release EXERCISE       the student template repository (--out DIR)
grade init-ci [EXERCISE]     add the GitHub Classroom workflow, and all it needs, to this repository
grade gradescope EXERCISE    Gradescope's autograder.zip (--out FILE)
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__
from grader._exceptions import ExerciseNotFound, GraderError, SubmissionError

if TYPE_CHECKING:  # rich and pydantic load after the first line is on screen
    from rich.console import Console

    from grader.exercise import Exercise
    from grader.result import GradeResult

# Verbs whose module holds their whole command line: `main(argv, console) -> exit code`.
VERBS = {
    "batch": "grader.batch.cli",
    "audit": "grader.audit",
    "similar": "grader.similar",
}


# The other verbs, handled here.
OWN_VERBS = ("build", "release", "init-ci", "gradescope")


class UsageError(Exception):
    """A bad command line (a mistyped verb or exercise): one message, exit code 2."""


class ExitCode(IntEnum):
    OK = 0  # grading completed, whatever the score
    BELOW_THRESHOLD = 1  # --fail-under was not met
    USAGE = 2  # bad command line (argparse's own code)
    BAD_INPUT = 3  # the submission or exercise could not be used
    INTERNAL = 4  # a bug in the grader


def _grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade",
        description="Grade a PyTorch exercise: public tests in your copy, hidden tests where the reference is present.",
        epilog="Instructor verbs: `grade batch EXERCISE SUBMISSIONS --out RESULTS` (a whole class), "
        "`grade build EXERCISE` (stubs + public golden values), `grade release EXERCISE --out DIR` (student template), "
        "`grade gradescope EXERCISE --out autograder.zip`, `grade init-ci`. Exit codes: 0 graded (whatever the score), "
        "1 below --fail-under N, 2 bad command line, 3 unusable submission or exercise, "
        "4 an internal error of the grader.",
    )
    p.add_argument("exercise", help="the exercise, e.g. ex2")
    p.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="a .py file, a notebook, a folder or a .zip (default: your working copy)",
    )
    p.add_argument(
        "--device",
        action="append",
        choices=["cpu", "cuda", "mps", "meta"],
        help="grade on this device (repeatable; default: every available one)",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the result as Gradescope-style results.json",
    )
    p.add_argument(
        "--fail-under", type=float, metavar="N", help="exit with status 1 when the score is below N"
    )
    p.add_argument(
        "--format",
        choices=["terminal", "github"],
        default=None,
        help="github: also annotations, a step summary and step outputs (default when GITHUB_ACTIONS=true)",
    )
    p.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write JUnit XML for CI dashboards"
    )
    p.add_argument(
        "--public-only",
        action="store_true",
        help="run only the public tests, even where hidden ones exist",
    )
    p.add_argument(
        "--student",
        metavar="NAME",
        help="who submitted: picks their secret input variant where the reference "
        "is present (default: the file's or folder's name)",
    )
    p.add_argument(
        "--timeout", type=float, metavar="S", help="seconds per test (default: the exercise's)"
    )
    p.add_argument(
        "--run-all-cells",
        action="store_true",
        help="notebooks: also run demo cells (training runs, plots); by default only imports, definitions and the constants they use run",
    )
    p.add_argument(
        "--memory",
        type=int,
        metavar="MB",
        help="memory limit of the child in MiB (default: the exercise's)",
    )
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="show every test with its description (default: one row per function)",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="keep grading: grade again on every save, saying what changed (Ctrl-C stops)",
    )
    p.add_argument("--version", action="version", version=f"grader {__version__}")
    return p


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade build",
        description="Regenerate an exercise's stubs (ex.py, ex.ipynb), "
        "its grading.toml copy and its public golden values from reference/EXERCISE.",
    )
    p.add_argument("exercise")
    p.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if anything is out of date"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _grades(argv):  # something on screen at once: rich, pydantic and torch take a while
        print(f"Grading {argv[0]} …", flush=True)
    from rich.console import Console

    console = Console(stderr=False, highlight=False)
    errors = Console(stderr=True, highlight=False)
    try:
        if argv and argv[0] in VERBS:
            module = importlib.import_module(VERBS[argv[0]])
            return int(module.main(argv[1:], console))
        if argv and argv[0] in ("release", "init-ci", "gradescope"):
            return _publish(argv[0], argv[1:], console)
        if argv and argv[0] == "build":
            from grader.build import build

            args = _build_parser().parse_args(argv[1:])
            return build(_find(args.exercise), check=args.check, console=console)
        if argv and not argv[0].startswith("-"):
            _refuse_mistyped_verb(argv[0])
        return _grade(_grade_parser().parse_args(argv), console, errors)
    except UsageError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
        return ExitCode.USAGE
    except SubmissionError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return ExitCode.BAD_INPUT
    except GraderError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return ExitCode.BAD_INPUT
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]")
        return 130


def _grades(argv: list[str]) -> bool:
    """Whether `argv` grades a submission (`grade ex2 ...`), not a verb, help or the version."""
    return (
        bool(argv)
        and not argv[0].startswith("-")
        and argv[0] not in VERBS
        and argv[0] not in OWN_VERBS
        and not {"-h", "--help", "--version"} & set(argv)
    )


def verbs() -> list[str]:
    return [*VERBS, *OWN_VERBS]


def known_exercises() -> list[str]:
    """The exercises `grade` can find from here (for "did you mean")."""
    from grader.exercise import CONFIG_NAME, project_root

    names = set()
    if (Path.cwd() / CONFIG_NAME).is_file():
        names.add(Path.cwd().name)
    root = project_root()
    if root is not None:
        for folder in ("exercises", "reference"):
            names |= {p.parent.name for p in root.glob(f"{folder}/*/{CONFIG_NAME}")}
    return sorted(names)


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f": did you mean `grade {close[0]}`?" if close else ""


def _refuse_mistyped_verb(word: str) -> None:
    """`grade bach ...`: a verb misspelt (and no exercise of that name) is a usage error."""
    close = difflib.get_close_matches(word, verbs(), n=1, cutoff=0.75)
    if close and word not in known_exercises():
        raise UsageError(f"no command or exercise named {word!r}: did you mean `grade {close[0]}`?")


def _publish(verb: str, argv: list[str], console: Console) -> int:
    from grader import release

    if verb == "init-ci":
        return release.init_ci_command(argv, console)
    p = argparse.ArgumentParser(
        prog=f"grade {verb}",
        description={
            "release": "Build the student template repository: stubs, public tests and golden values, README, the grader, "
            "requirements and the Classroom workflow. Nothing of reference/ goes in.",
            "gradescope": "Build Gradescope's autograder.zip (setup.sh, run_autograder, the grader, the exercise and its reference).",
        }[verb],
    )
    p.add_argument("exercise")
    p.add_argument("--out", type=Path, required=True, metavar="DIR" if verb == "release" else "ZIP")
    args = p.parse_args(argv)
    exercise = _find(args.exercise)
    if verb == "release":
        files = release.build_release(exercise, args.out)
        console.print(
            f"wrote {len(files)} files to {args.out}: push it as the Classroom template repository"
        )
    else:
        with console.status("recording hidden golden values …"):
            out = release.build_gradescope(exercise, args.out)
        console.print(f"wrote {out}: upload it as the assignment's autograder (Ubuntu base image)")
    return ExitCode.OK


def _find(name: str) -> Exercise:
    """The exercise `name`; a name that is none is a bad command line (with "did you mean")."""
    from grader.exercise import find_exercise

    try:
        return find_exercise(name)
    except ExerciseNotFound as exc:
        if name.endswith((".py", ".ipynb", ".zip")) or "/" in name:
            raise UsageError(f"{exc}; the exercise comes first: `grade ex2 {name}`") from None
        raise UsageError(f"{exc}{did_you_mean(name, [*known_exercises(), *verbs()])}") from None


def _working_copy(exercise: Exercise) -> Path:
    """The student's own file: in the current folder, else in the exercise folder."""
    module = exercise.config.module
    for folder in (Path.cwd(), exercise.public_dir):
        candidates = [folder / f"{module}.ipynb", folder / f"{module}.py"]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            continue
        if len(existing) == 1:
            return existing[0]
        from grader.build import is_untouched_stub

        edited = [c for c in existing if not is_untouched_stub(exercise, c)]
        if len(edited) == 1:
            return edited[0]
        return max(edited or existing, key=lambda c: c.stat().st_mtime)
    raise SubmissionError(
        f"no {module}.py or {module}.ipynb here or in {exercise.public_dir}: pass the file to grade"
    )


def _grade(args: argparse.Namespace, console: Console, errors: Console | None = None) -> int:
    from grader.grading import Options

    if args.fail_under is not None and args.fail_under < 0:
        raise GraderError(f"--fail-under must be at least 0 (not {args.fail_under:g})")
    if args.timeout is not None and args.timeout <= 0:
        raise GraderError(f"--timeout must be positive (not {args.timeout:g})")
    exercise = _find(args.exercise)
    path = args.path or _working_copy(exercise)
    if not path.exists():
        raise SubmissionError(f"no such file or folder: {path}")
    options = Options(
        devices=args.device,
        hidden=not args.public_only,
        test_timeout=args.timeout,
        memory_mb=args.memory,
        run_all_cells=args.run_all_cells,
        student=args.student,
    )
    if args.watch:
        from grader.watch import watch

        return watch(exercise, path, options, console, verbose=args.verbose)
    github = (
        args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "terminal")
    ) == "github"
    problem = unusable_submission(exercise, path)
    if problem is not None:  # one message, not the same failure once per test
        show_unusable(problem, path, errors or console)
        if args.json or args.junit or github:  # files that CI and tools read: a zero result
            from dataclasses import replace

            from grader.grading import grade

            # (the public tests at seed 0: nothing runs, nor is anything recorded for it)
            zero = grade(exercise, path, replace(options, seed=0, hidden=False), problem=problem)
            _outputs(args, zero, path, github)
        return ExitCode.BAD_INPUT
    from grader.grading import grade
    from grader.reports import terminal

    with console.status(f"grading {path} …", spinner="dots"):
        result = grade(exercise, path, options)
    terminal.render(result, console, verbose=args.verbose)
    _outputs(args, result, path, github)
    if result.error_kind == "unreadable":
        return ExitCode.BAD_INPUT
    if args.fail_under is not None and result.score < args.fail_under:
        return ExitCode.BELOW_THRESHOLD
    return ExitCode.OK


def unusable_submission(exercise: Exercise, path: Path) -> str | None:
    """Why `path` cannot earn a single point (unreadable, does not compile, empty, defines none of
    the exercise's names), in one message; None when it can be graded. Reads, never runs."""
    from grader.submission import load_submission, unusable

    try:
        submission = load_submission(path, module=exercise.config.module)
    except SubmissionError as exc:
        return str(exc)
    return unusable(submission, exercise.config.function_names())


def show_unusable(problem: str, path: Path, console: Console) -> None:
    from rich.text import Text

    text = Text()
    text.append("error:", style="bold red")
    text.append(f" cannot grade {path}\n")
    for line in problem.splitlines():
        text.append(f"  {line}\n")
    console.print(text, end="", highlight=False)


def _outputs(args: argparse.Namespace, result: GradeResult, path: Path, github: bool) -> None:
    """--json, --junit and GitHub's annotations, summary and outputs."""
    from grader.reports import gradescope

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(gradescope.render(result), encoding="utf-8")
    if args.junit:
        from grader.reports import junit

        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_text(junit.render(result), encoding="utf-8")
    if github:
        _github(result, path)


def _github(result: GradeResult, path: Path) -> None:
    """Annotations on stdout; the step summary and outputs into the files GitHub Actions names."""
    from grader.reports import github

    try:
        file = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        file = path.name
    for line in github.annotations(result, file=file):
        print(line, flush=True)
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary, "a", encoding="utf-8") as f:
            f.write(github.step_summary(result))
    if output := os.environ.get("GITHUB_OUTPUT"):
        with open(output, "a", encoding="utf-8") as f:
            f.write(
                f"score={result.score:g}\nmax_score={result.max_score:g}\nresult={github.classroom_output(result)}\n"
            )


def entry() -> None:
    try:
        code = main()
    except Exception:  # a grader bug: show the traceback, exit with the internal-error code
        from rich.console import Console

        Console(stderr=True).print_exception(max_frames=8)
        code = ExitCode.INTERNAL
    # Everything is written and closed: skip the interpreter's teardown of torch (0.5-1 s).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))
