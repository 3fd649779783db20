"""What leaves the instructor's hands: a student template repository and a Gradescope bundle.

`grade release ex2 --out DIR` builds the repository students clone (GitHub Classroom template):
the stubs, the public tests and their golden values, the student README, the grader itself, a
pinned requirements file and the Classroom workflow; nothing of `reference/`. `grade gradescope
ex2 --out autograder.zip` builds the bundle Gradescope runs: `setup.sh`, `run_autograder`, and
the grader with the exercise *and* its reference (it grades with the hidden tests).
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

import grader
from grader._exceptions import GraderError
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
python3 -m venv /autograder/venv
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
if [ ! -s "$ROOT/results/results.json" ]; then
  echo '{{"score": 0, "output": "The autograder failed before it could grade this submission; please contact the course staff."}}' > "$ROOT/results/results.json"
fi
# 0 graded, 3 unusable submission (a zero result is written): both are results, not autograder failures
if [ "$code" -eq 0 ] || [ "$code" -eq 3 ]; then exit 0; fi
exit "$code"
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


def build_release(exercise: Exercise, out: Path) -> list[Path]:
    """The student template repository; returns the files written."""
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
    files: dict[str, Path | str] = {
        "setup.sh": SETUP_SH,
        "run_autograder": RUN_AUTOGRADER.format(exercise=exercise.name),
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
