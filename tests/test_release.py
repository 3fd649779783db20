"""What leaves the instructor's hands for CI, beyond tests/test_ci.py's runs: `grade init-ci` in an
existing student repository, `grade release` and `grade gradescope` refusing stale stubs, the
bundle's setup.sh Python check and README, and GitHub's annotation limits."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SUBMISSIONS

from grader.release import SETUP_SH, min_python, requirements, setup_sh
from grader.reports import github


def grade(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def student_repo(base: Path) -> Path:
    """A student's own repository: their ex2.py, a README, their own .gitignore; no grader."""
    repo = base / "my-ex2"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    shutil.copy(SUBMISSIONS / "bug_mse_loss.py", repo / "ex2.py")
    (repo / "README.md").write_text("my solutions\n")
    (repo / ".gitignore").write_text("*.pyc\n")
    return repo


# -- grade init-ci ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_init_ci_adds_everything_the_workflow_needs(tmp_path: Path) -> None:
    repo = student_repo(tmp_path)
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    run = grade("init-ci", "ex2", cwd=repo, env={"GRADER_ROOT": str(ROOT)})
    assert run.returncode == 0, run.stdout + run.stderr
    names = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts}
    assert {
        ".github/workflows/classroom.yml",
        "requirements.txt",
        "grading.toml",
        "golden.json",
        "tests/test_public.py",
        ".grader/pyproject.toml",
        ".grader/grader/cli.py",
    } <= names
    assert "ex2.ipynb" not in names  # the student has their file: no stub beside it
    assert not any(n.startswith("reference") or "test_hidden" in n for n in names)
    for path, data in before.items():  # the student's own files untouched
        assert path.read_bytes() == data, path
    # the workflow's steps, run here as GitHub runs them (the grader is installed: PATH)
    workflow = yaml.safe_load((repo / ".github/workflows/classroom.yml").read_text())
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    grade_step = next(s for s in steps if s.get("id") == "grade")
    assert steps[-1]["if"] == "always()"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "./.grader"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0 and "Would install grader-" in pip.stdout, pip.stdout + pip.stderr
    output = repo / "gh_output"
    env = {k: v for k, v in os.environ.items() if k != "GRADER_ROOT"} | {
        "GITHUB_OUTPUT": str(output),
        "GITHUB_ACTIONS": "true",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    proc = subprocess.run(
        grade_step["run"],
        shell=True,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    payload = json.loads(base64.b64decode(outputs["result"]))
    assert (payload["max_score"], sum(t["score"] for t in payload["tests"])) == (60, 58)
    # again: nothing left to add
    again = grade("init-ci", "ex2", cwd=repo, env={"GRADER_ROOT": str(ROOT)})
    assert again.returncode == 0 and "nothing to write" in again.stdout, again.stdout


def test_init_ci_refuses_to_replace_what_differs(tmp_path: Path) -> None:
    repo = student_repo(tmp_path)
    (repo / "requirements.txt").write_text("matplotlib\n")
    run = grade("init-ci", "ex2", cwd=repo, env={"GRADER_ROOT": str(ROOT)})
    assert run.returncode == 3, run.stdout + run.stderr
    assert "refused: requirements.txt already exists here and differs" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (repo / ".github").exists() and not (repo / ".grader").exists()
    assert (repo / "requirements.txt").read_text() == "matplotlib\n"
    forced = grade("init-ci", "ex2", "--force", cwd=repo, env={"GRADER_ROOT": str(ROOT)})
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert (repo / "requirements.txt").read_text() == requirements("./.grader")
    assert (repo / ".github/workflows/classroom.yml").is_file()


def test_init_ci_refuses_without_the_course_or_in_the_course(tmp_path: Path) -> None:
    repo = student_repo(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "GRADER_ROOT"}
    alone = subprocess.run(
        [sys.executable, "-m", "grader", "init-ci", "ex2"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode == 3 and "GRADER_ROOT=/path/to/course" in alone.stderr, alone.stderr
    assert not (repo / ".github").exists()
    course = grade("init-ci", "ex2", cwd=ROOT)
    assert course.returncode == 3 and "is the course's project" in course.stderr, course.stderr
    assert not (ROOT / ".github" / "workflows" / "classroom.yml").exists()


# -- stale stubs are not released ------------------------------------------------------------------


def course_copy(base: Path) -> Path:
    """The course project's exercise and reference, as data, without their caches."""
    course = base / "course"
    ignore = shutil.ignore_patterns(".golden-cache", "__pycache__", ".grader-secret")
    shutil.copytree(ROOT / "exercises" / "ex2", course / "exercises" / "ex2", ignore=ignore)
    shutil.copytree(ROOT / "reference" / "ex2", course / "reference" / "ex2", ignore=ignore)
    return course


def test_release_and_gradescope_refuse_stale_stubs(tmp_path: Path) -> None:
    course = course_copy(tmp_path)
    env = {"GRADER_ROOT": str(course)}
    solution = course / "reference" / "ex2" / "solution.py"
    # the instructor reworded a task in the reference and did not run `grade build ex2`
    text = solution.read_text(encoding="utf-8")
    first_doc = text.index('"""', text.index("def ")) + 3
    solution.write_text(text[:first_doc] + "Reworded. " + text[first_doc:], encoding="utf-8")
    out = tmp_path / "template"
    release = grade("release", "ex2", "--out", str(out), cwd=tmp_path, env=env)
    assert release.returncode == 3, release.stdout + release.stderr
    assert "out of date in exercises/ex2: ex2.py, ex2.ipynb" in release.stderr
    assert "run `grade build ex2` first" in release.stderr
    assert not out.exists()
    bundle = tmp_path / "autograder.zip"
    gradescope = grade("gradescope", "ex2", "--out", str(bundle), cwd=tmp_path, env=env)
    assert gradescope.returncode == 3 and "out of date" in gradescope.stderr, gradescope.stderr
    assert not bundle.exists()
    # undone, the same copy releases
    solution.write_text(text, encoding="utf-8")
    again = grade("release", "ex2", "--out", str(out), cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr


# -- the Gradescope bundle's setup.sh and README ---------------------------------------------------


def fake_tools(folder: Path, python_version: str) -> Path:
    """apt-get that does nothing, and a python3 of the given version that logs what it is asked."""
    folder.mkdir()
    (folder / "apt-get").write_text("#!/bin/sh\nexit 0\n")
    major, minor = (int(x) for x in python_version.split(".")[:2])
    (folder / "python3").write_text(
        f"""#!/bin/sh
echo "$@" >> {folder}/python3.log
if [ "$1" = "--version" ]; then echo "Python {python_version}"; exit 0; fi
if [ "$1" = "-c" ]; then exit {int((major, minor) < min_python())}; fi
exit 0
"""
    )
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder


@pytest.mark.parametrize(("version", "ok"), [("3.10.12", False), ("3.12.3", True)])
def test_setup_sh_checks_the_python_version(tmp_path: Path, version: str, ok: bool) -> None:
    tools = fake_tools(tmp_path / "bin", version)
    script = tmp_path / "setup.sh"
    script.write_text(setup_sh())
    proc = subprocess.run(
        ["/bin/bash", str(script)],
        env={"PATH": str(tools)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    log = (tools / "python3.log").read_text()
    if ok:  # on to the venv (the rest needs Gradescope's /autograder)
        assert "-m venv /autograder/venv" in log, proc.stderr
    else:
        assert proc.returncode == 1
        needed = "{}.{}".format(*min_python())
        assert f"the grader needs Python {needed} or newer; this image has Python 3.10.12" in (
            proc.stderr
        )
        assert "venv" not in log
    assert "{major}" in SETUP_SH and "{" not in setup_sh().replace("${", "")


# -- GitHub's annotation limits --------------------------------------------------------------------


def test_at_most_one_annotation_per_function_and_ten_in_all(grade_file) -> None:
    # the stub (graded as test_student_path grades it): every function fails, most more than once
    stub = grade_file(ROOT / "exercises" / "ex2" / "ex2.py")
    failing: dict[str, list[str]] = {}
    for t in stub.tests:
        if t.status == "failed":
            failing.setdefault(t.tags[0], []).append(t.name)
    functions = list(failing)
    assert len(functions) > 10
    lines = github.annotations(stub, file="ex2.py")
    assert len(lines) == github.MAX_ANNOTATIONS
    assert all(line.startswith("::error file=ex2.py") for line in lines)
    for function, line in zip(functions[:9], lines[:9], strict=True):
        assert f"::{function}: " in line, (function, line)
        assert sum(f"::{function}: " in other for other in lines) == 1
        tests = failing[function]
        if len(tests) > 1:  # one annotation naming every failing test of the function
            assert f"title={function}%3A {len(tests)} tests fail" in line
            assert all(name in line for name in tests)
    assert any(len(failing[f]) > 1 for f in functions[:9])
    assert f"title={len(functions) - 9} more functions fail" in lines[-1]
    assert ", ".join(functions[9:]) in lines[-1]
