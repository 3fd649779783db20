"""What leaves the instructor's hands: a student template repository and a Gradescope bundle.

`grade release ex2 --out DIR` builds the repository students clone (GitHub Classroom template):
the stubs, the public tests and their golden values, the student README, the grader itself, a
pinned requirements file and the Classroom workflow; nothing of `reference/`. `grade gradescope
ex2 --out autograder.zip` builds the bundle Gradescope runs: `setup.sh`, `run_autograder`, and
the grader with the exercise *and* its reference (it grades with the hidden tests).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import stat
import tomllib
import zipfile
from pathlib import Path

from rich.console import Console

import grader
from grader._exceptions import ExerciseNotFound, GraderError
from grader.exercise import CONFIG_NAME, PUBLIC_GOLDEN_NAME, Exercise

TORCH_PIN = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
GRADER_SOURCE = Path(grader.__file__).resolve().parent
PROJECT_FILE = GRADER_SOURCE.parent / "pyproject.toml"
RUNNER_ID = "grade"

WORKFLOW = """\
# Grades this repository on every push, as GitHub Classroom expects: the job is named
# "Autograding Tests" and the reporter posts the points that `grade` computed.
name: Autograding Tests
"on":
  - push
  - pull_request
  - workflow_dispatch
  - repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    name: Autograding Tests
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 15
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
          cache: pip
          cache-dependency-path: requirements.txt
      - name: Install the grader
        run: python -m pip install -r requirements.txt
      - name: Grade {exercise}
        id: {runner}
        run: grade {exercise} --format github --json results.json --junit junit.xml
      - name: Autograding Reporter
        # always: a failed grade step (below --fail-under, an unusable submission) still reports
        if: always()
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
          {runner_env}_RESULTS: "${{{{ steps.{runner}.outputs.result }}}}"
        with:
          runners: {runner}
"""

GITIGNORE = "__pycache__/\n.venv/\n.ipynb_checkpoints/\nresults.json\njunit.xml\n"

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv util-linux >/dev/null
# the grader needs Python {major}.{minor} or newer: pick one (Gradescope's base image chooses the
# Ubuntu release, and with it python3), and fail the build here with a clear line, not at grading
PYTHON=""
for candidate in python3 python3.13 python3.12 python3.11; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < ({major}, {minor}))'; then
    PYTHON="$candidate"; break
  fi
done
if [ -z "$PYTHON" ]; then
  echo "setup.sh: the grader needs Python {major}.{minor} or newer; this image has $(python3 --version 2>&1)." >&2
  echo "setup.sh: choose a newer Ubuntu base image in the autograder settings (22.04 has 3.10: too old)." >&2
  exit 1
fi
"$PYTHON" -m venv /autograder/venv
cd /autograder/source && /autograder/venv/bin/pip install -q -r requirements.txt
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes results/results.json in Gradescope's schema.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
# who submitted picks their secret input variant (the first user's id; the submission id otherwise)
STUDENT="$("$PYTHON" -c 'import json, sys
try:
    m = json.load(open(sys.argv[1]))
    users = m.get("users") or [{{}}]
    print(users[0].get("id") or users[0].get("email") or m.get("id") or "")
except Exception:
    print("")' "$ROOT/submission_metadata.json")"
"$PYTHON" -m grader {exercise} "$ROOT/submission" --json "$ROOT/results/results.json" ${{STUDENT:+--student "$STUDENT"}}
code=$?
# what students see before the due date: no total that holds the hidden tests' points
"$PYTHON" -m grader.reports.gradescope "$ROOT/results/results.json" || true
if [ ! -s "$ROOT/results/results.json" ]; then
  echo '{{"score": 0, "output": "The autograder failed before it could grade this submission; please contact the course staff."}}' > "$ROOT/results/results.json"
fi
# 0 graded, 3 unusable submission (a zero result is written): both are results, not autograder failures
if [ "$code" -eq 0 ] || [ "$code" -eq 3 ]; then exit 0; fi
exit "$code"
"""


def min_python() -> tuple[int, int]:
    """The oldest Python the grader runs on: pyproject.toml's `requires-python`."""
    spec = tomllib.loads(PROJECT_FILE.read_text(encoding="utf-8"))["project"]["requires-python"]
    m = re.search(r">=\s*(\d+)\.(\d+)", spec)
    return (int(m.group(1)), int(m.group(2))) if m else (3, 11)


def setup_sh() -> str:
    major, minor = min_python()
    return SETUP_SH.format(major=major, minor=minor)


BUNDLE_README = """\
# Gradescope autograder for {exercise}

Built by `grade gradescope {exercise} --out autograder.zip`. Upload the zip as the assignment's
autograder ("Zip file upload", an Ubuntu base image whose python3 is {major}.{minor} or newer: 24.04).

- `setup.sh` runs once, when Gradescope builds the image: it checks the Python version (and stops
  the build with a clear line if it is too old), makes `/autograder/venv` and installs
  `requirements.txt` (CPU torch and this grader).
- `run_autograder` runs for every submission: it grades `/autograder/submission` with the public
  and the hidden tests, on the input variant of the student who submitted, and writes
  `/autograder/results/results.json`.

What students see: each public test with its points and message at once; each hidden test
(`"visibility": "after_due_date"`) only after the due date. The file has no top-level `score`
while hidden tests are in it, so no total that holds their points is shown early: Gradescope adds
up the tests (the grade is the same) and the `output` says how many points the hidden tests hold.

## Testing the bundle before students submit

1. On Gradescope: "Test Autograder" on the Configure Autograder page, with the reference solution
   (all points), the untouched stub `{module}.ipynb` (0 points) and a solution with one bug.
2. On your machine, the way Gradescope lays it out (no Docker needed):

   ```sh
   mkdir -p /tmp/ag/submission /tmp/ag/source
   unzip autograder.zip -d /tmp/ag/source
   cp reference/{exercise}/solution.py /tmp/ag/submission/{module}.py
   echo '{{"users": [{{"id": 1234}}]}}' > /tmp/ag/submission_metadata.json
   AUTOGRADER_ROOT=/tmp/ag AUTOGRADER_PYTHON=$(command -v python3) /tmp/ag/source/run_autograder
   python3 -m json.tool /tmp/ag/results/results.json
   ```

   `AUTOGRADER_PYTHON` names a Python with the grader installed (`pip install -r requirements.txt`
   in /tmp/ag/source); on Gradescope both default to `/autograder`.
3. Or in Gradescope's own image: `docker run --rm -it -v $PWD:/autograder/source
   gradescope/autograder-base:latest bash -c "bash /autograder/source/setup.sh"` checks setup.sh.

The bundle holds the hidden tests, the reference and the course secret: keep it private.
"""


def requirements(grader_path: str) -> str:
    return f"--extra-index-url {CPU_INDEX}\n{TORCH_PIN}\n{grader_path}\n"


def workflow(exercise: str) -> str:
    return WORKFLOW.format(exercise=exercise, runner=RUNNER_ID, runner_env=RUNNER_ID.upper())


def _copy_grader(into: Path) -> None:
    into.mkdir(parents=True)
    shutil.copy2(PROJECT_FILE, into / "pyproject.toml")
    shutil.copytree(
        GRADER_SOURCE, into / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    (into / "README.md").write_text(
        "The grader used to grade this exercise (installed by requirements.txt).\n",
        encoding="utf-8",
    )


def _fresh(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise GraderError(f"{out} exists and is not empty: choose a new folder")
    out.mkdir(parents=True, exist_ok=True)


def stale_stubs(exercise: Exercise) -> list[str]:
    """What `grade build EXERCISE --check` calls out of date in what students get: stubs and the
    config copy that differ from what the reference makes, and golden values recorded for other
    stubs. Empty where there is no reference to compare with."""
    if exercise.reference_dir is None:
        return []
    from grader.build import expected_files

    files = expected_files(exercise)
    stale = [
        p.name
        for p, text in files.items()
        if not p.is_file() or p.read_text(encoding="utf-8") != text
    ]
    try:
        recorded = json.loads(exercise.public_golden_path.read_text(encoding="utf-8")).get("stubs")
    except (OSError, ValueError):
        recorded = None
    made = {
        p.name: hashlib.sha256(text.encode()).hexdigest()
        for p, text in files.items()
        if p.suffix in (".py", ".ipynb")
    }
    if recorded != made:
        stale.append(f"{PUBLIC_GOLDEN_NAME} (recorded for other stubs)")
    return stale


def _refuse_stale(exercise: Exercise) -> None:
    if stale := stale_stubs(exercise):
        raise GraderError(
            f"{exercise.name}: out of date in exercises/{exercise.name}: {', '.join(stale)}; "
            f"run `grade build {exercise.name}` first (`grade build {exercise.name} --check` says why)"
        )


def build_release(exercise: Exercise, out: Path) -> list[Path]:
    """The student template repository; returns the files written."""
    _refuse_stale(exercise)
    _fresh(out)
    public = exercise.public_dir
    module = exercise.config.module
    wanted = [
        f"{module}.py",
        f"{module}.ipynb",
        "README.md",
        CONFIG_NAME,
        PUBLIC_GOLDEN_NAME,
        "properties.py",
    ]
    for name in wanted:
        if (public / name).is_file():
            shutil.copy2(public / name, out / name)
    (out / "tests").mkdir()
    for test in exercise.public_tests:
        shutil.copy2(test, out / "tests" / test.name)
    _copy_grader(out / ".grader")
    (out / "requirements.txt").write_text(requirements("./.grader"), encoding="utf-8")
    (out / ".github" / "workflows").mkdir(parents=True)
    (out / ".github" / "workflows" / "classroom.yml").write_text(
        workflow(exercise.name), encoding="utf-8"
    )
    (out / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())


def build_gradescope(exercise: Exercise, out: Path) -> Path:
    """Gradescope's autograder.zip: setup.sh and run_autograder at the top, the grader and exercise in it."""
    if exercise.reference_dir is None:
        raise GraderError(
            f"{exercise.name}: a Gradescope bundle needs reference/{exercise.name} (it grades with hidden tests)"
        )
    if out.suffix != ".zip":
        raise GraderError(f"--out must name a .zip file (not {out.name})")
    _refuse_stale(exercise)
    out.parent.mkdir(parents=True, exist_ok=True)
    from grader import golden
    from grader.variants import secret_path, variant_seed

    # recorded now and shipped, with the course secret: each Gradescope run starts from a fresh container
    golden.hidden(exercise)
    current = {golden.hidden_cache_path(exercise).name}
    for index in range(exercise.config.variants):
        seed = variant_seed(exercise, index).seed
        golden.variant(exercise, seed)
        current |= {
            golden.variant_cache_path(exercise, group, seed).name for group in ("public", "hidden")
        }
    ignore = ("__pycache__", ".ipynb_checkpoints")
    major, minor = min_python()
    files: dict[str, Path | str] = {
        "setup.sh": setup_sh(),
        "run_autograder": RUN_AUTOGRADER.format(exercise=exercise.name),
        "README.md": BUNDLE_README.format(
            exercise=exercise.name, module=exercise.config.module, major=major, minor=minor
        ),
        "requirements.txt": requirements("."),
        "pyproject.toml": PROJECT_FILE,
    }
    for base, arc in (
        (GRADER_SOURCE, "grader"),
        (exercise.public_dir, f"exercises/{exercise.name}"),
        (exercise.reference_dir, f"reference/{exercise.name}"),
    ):
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            stale_cache = rel.parts[0] == ".golden-cache" and rel.name not in current
            if (
                path.is_file()
                and not stale_cache
                and not any(part in ignore or part.endswith(".pyc") for part in rel.parts)
            ):
                files[f"{arc}/{rel.as_posix()}"] = path
    files["reference/" + secret_path(exercise).name] = secret_path(exercise)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, content in files.items():
            info = zipfile.ZipInfo(arcname, date_time=(2024, 1, 1, 0, 0, 0))
            executable = arcname in ("setup.sh", "run_autograder")
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = content.encode() if isinstance(content, str) else content.read_bytes()
            zf.writestr(info, data)
    return out


def ci_files(exercise: Exercise, repo: Path) -> dict[Path, str | Path]:
    """Everything the Classroom workflow needs in a student's repository: file -> its content (a
    text, or the file to copy). The student's own work is never among them; the stubs only where
    the repository has neither."""
    public = exercise.public_dir
    module = exercise.config.module
    files: dict[Path, str | Path] = {}
    for name in (CONFIG_NAME, PUBLIC_GOLDEN_NAME, "properties.py"):
        if (public / name).is_file():
            files[repo / name] = public / name
    for test in exercise.public_tests:
        files[repo / "tests" / test.name] = test
    if not any((repo / f"{module}{suffix}").is_file() for suffix in (".py", ".ipynb")):
        for suffix in (".py", ".ipynb"):
            if (public / f"{module}{suffix}").is_file():
                files[repo / f"{module}{suffix}"] = public / f"{module}{suffix}"
    for path in sorted(GRADER_SOURCE.rglob("*")):
        rel = path.relative_to(GRADER_SOURCE)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc":
            files[repo / ".grader" / "grader" / rel] = path
    files[repo / ".grader" / "pyproject.toml"] = PROJECT_FILE
    files[repo / ".grader" / "README.md"] = (
        "The grader used to grade this exercise (installed by requirements.txt).\n"
    )
    files[repo / "requirements.txt"] = requirements("./.grader")
    files[repo / ".github" / "workflows" / "classroom.yml"] = workflow(exercise.name)
    return files


def _text(content: str | Path) -> bytes:
    return content.encode() if isinstance(content, str) else content.read_bytes()


def init_ci(exercise: Exercise, repo: Path, *, force: bool = False) -> list[Path]:
    """Add the Classroom workflow and all it needs to an existing student repository; returns the
    files written. Refuses (GraderError, nothing written) where that would replace anything that
    differs, unless `force`, or where `repo` is the course's own project."""
    repo = repo.resolve()
    if (repo / "reference").is_dir() or (repo / "exercises").is_dir():
        raise GraderError(
            f"{repo} is the course's project, not a student repository: "
            f"`grade release {exercise.name} --out DIR` builds the template repository"
        )
    if exercise.public_dir.resolve() == repo:
        source = exercise.public_dir
        if not (source / PUBLIC_GOLDEN_NAME).is_file() or not exercise.public_tests:
            raise GraderError(
                f"{repo} has {CONFIG_NAME} but not the public tests and their {PUBLIC_GOLDEN_NAME}: "
                "run `grade init-ci` with the course's project at hand "
                f"(GRADER_ROOT=/path/to/course grade init-ci {exercise.name})"
            )
    files = ci_files(exercise, repo)
    differ = sorted(
        p.relative_to(repo).as_posix()
        for p, content in files.items()
        if p.is_file()
        and not (isinstance(content, Path) and p.resolve() == content.resolve())
        and p.read_bytes() != _text(content)
    )
    if differ and not force:
        shown = ", ".join(differ[:8]) + (f" and {len(differ) - 8} more" if len(differ) > 8 else "")
        one = len(differ) == 1
        lines = " / ".join(requirements("./.grader").splitlines())
        raise GraderError(
            f"refused: {shown} already {'exists' if one else 'exist'} here and "
            f"{'differs' if one else 'differ'} from what the workflow needs; move "
            f"{'it' if one else 'them'} away (requirements.txt may instead get the lines "
            f"{lines} by hand), or run again with --force to replace {'it' if one else 'them'}"
        )
    written = []
    for path, content in files.items():
        data = _text(content)
        if path.is_file() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    gitignore = repo / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE, encoding="utf-8")
        written.append(gitignore)
    return written


def init_ci_command(argv: list[str], console: Console) -> int:
    """`grade init-ci [EXERCISE] [--force]`, in the student repository."""
    from grader.config import load_config
    from grader.exercise import find_exercise

    p = argparse.ArgumentParser(
        prog="grade init-ci",
        description="Add GitHub Classroom's 'Autograding Tests' workflow to this student "
        "repository, with everything it needs: the grader (.grader/, requirements.txt), "
        "grading.toml, the public tests and their golden values (and the stubs where the "
        "repository has no submission yet). Refuses to replace a file that differs.",
    )
    p.add_argument(
        "exercise", nargs="?", help="the exercise (default: the one whose grading.toml is here)"
    )
    p.add_argument("--force", action="store_true", help="replace files that differ")
    args = p.parse_args(argv)
    repo = Path.cwd()
    name = args.exercise
    if name is None:
        if not (repo / CONFIG_NAME).is_file():
            raise GraderError(f"no {CONFIG_NAME} here: name the exercise, e.g. `grade init-ci ex2`")
        name = load_config(repo / CONFIG_NAME).name
    try:
        exercise = find_exercise(name, start=repo)
    except ExerciseNotFound as exc:
        raise ExerciseNotFound(
            f"{exc}: init-ci copies the exercise's public tests from the course's project; run it "
            f"with the project at hand: GRADER_ROOT=/path/to/course grade init-ci {name}"
        ) from None
    written = init_ci(exercise, repo, force=args.force)
    for path in written[:12]:
        console.print(f"wrote {path.relative_to(repo.resolve())}")
    if len(written) > 12:
        console.print(f"… and {len(written) - 12} more")
    console.print(
        f"{len(written)} files written: commit them (git add .github .grader requirements.txt "
        f"tests {CONFIG_NAME} {PUBLIC_GOLDEN_NAME}) and push; the workflow grades every push"
        if written
        else "already complete: nothing to write"
    )
    return 0
