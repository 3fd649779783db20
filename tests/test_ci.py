"""CI and the platforms courses use: GitHub annotations and summary, Classroom's payload, JUnit,
the student template repository, and Gradescope's bundle run the way Gradescope runs it."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import xmlschema
import yaml
from conftest import ROOT, SUBMISSIONS

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"


def _golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; `make goldens` (UPDATE_GOLDENS=1) rewrites it."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed: review it, then `make goldens`"
    )


@pytest.fixture(scope="module")
def github_run(tmp_path_factory):
    """`grade ex2 ex2.py` as GitHub Actions runs it in a student's repository (public tests only)."""
    repo = tmp_path_factory.mktemp("repo")
    shutil.copy(SUBMISSIONS / "bug_mse_loss.py", repo / "ex2.py")
    summary, output = repo / "summary.md", repo / "output.txt"
    env = {
        **os.environ,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GRADER_ROOT": str(ROOT),
        "COLUMNS": "120",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "ex2",
            "ex2.py",
            "--public-only",
            "--junit",
            "junit.xml",
            "--json",
            "results.json",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, repo, summary.read_text(), output.read_text()


def test_annotations_point_at_the_students_function(github_run):
    proc, repo, _, _ = github_run
    assert proc.returncode == 0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    line = next(
        i
        for i, text in enumerate((repo / "ex2.py").read_text().splitlines(), 1)
        if text.startswith("def mse_loss")
    )
    _golden(
        "annotations.txt", "\n".join(lines).replace(f"line={line}", "line=<def mse_loss>") + "\n"
    )
    assert all(f"::error file=ex2.py,line={line}," in x for x in lines)


def test_step_summary_markdown(github_run):
    _, _, summary, _ = github_run
    assert "This score covers the public tests only: 58 of 60 points." in summary
    assert "Your final grade adds the hidden tests (40 more points)" in summary
    _golden(
        "step_summary.md",
        re.sub(r"<sub>Protections: .*</sub>", "<sub>Protections: …</sub>", summary),
    )


def test_classroom_payload_decoded_field_by_field(github_run):
    _, repo, _, output = github_run
    outputs = dict(line.split("=", 1) for line in output.splitlines())
    payload = json.loads(base64.b64decode(outputs["result"]))
    results = json.loads((repo / "results.json").read_text())
    assert payload["version"] == 1
    assert payload["status"] == "fail"  # mse_loss is wrong
    # what can be graded before the deadline: the public tests' 60 points (hidden ones come later)
    assert payload["max_score"] == 60
    assert set(payload) == {"version", "status", "max_score", "tests"}
    assert len(payload["tests"]) == len(results["tests"])
    for test in payload["tests"]:
        assert set(test) >= {"name", "status", "message", "score"}
        assert test["status"] in ("pass", "fail")
        assert isinstance(test["score"], float | int)
    assert (
        sum(t["score"] for t in payload["tests"])
        == results["score"]
        == float(outputs["score"])
        == 58
    )
    failed = [t for t in payload["tests"] if t["status"] == "fail"]
    assert failed and all(t["score"] == 0 and t["message"] for t in failed)


def test_junit_is_valid_and_counts_failures(github_run):
    _, repo, _, _ = github_run
    schema = xmlschema.XMLSchema(ROOT / "tests" / "data" / "junit.xsd")
    schema.validate(repo / "junit.xml")
    text = (repo / "junit.xml").read_text()
    results = json.loads((repo / "results.json").read_text())
    failed = sum(t["status"] == "failed" for t in results["tests"])
    assert f'failures="{failed}"' in text.split("\n")[1]
    assert text.count("<testcase ") == len(results["tests"])


def test_fail_under_and_exit_codes_in_ci(tmp_path):
    shutil.copy(SUBMISSIONS / "bug_mse_loss.py", tmp_path / "ex2.py")
    env = {**os.environ, "GRADER_ROOT": str(ROOT), "GITHUB_ACTIONS": "true"}

    def run(*a: str) -> int:
        argv = [sys.executable, "-m", "grader", "ex2", "ex2.py", "--public-only", *a]
        return subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        ).returncode

    assert run("--fail-under", "58.5") == 1
    assert run("--fail-under", "58") == 0


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "ex2-template"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "release", "ex2", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_release_holds_no_hidden_material(release):
    names = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    assert {
        "ex2.py",
        "ex2.ipynb",
        "README.md",
        "grading.toml",
        "golden.json",
        "tests/test_public.py",
        "requirements.txt",
        ".github/workflows/classroom.yml",
    } <= names
    hidden_source = (ROOT / "reference/ex2/tests/test_hidden.py").read_text()
    hidden_tests = re.findall(r"^def (test_\w+)", hidden_source, flags=re.M)
    solution = (ROOT / "reference/ex2/solution.py").read_text()
    secret_lines = {
        line.strip()
        for line in solution.split("# BEGIN SOLUTION")[1].split("# END SOLUTION")[0].splitlines()
        if line.strip()
    }
    for path in release.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not any(name in text for name in hidden_tests), path
        if (
            ".grader" not in path.relative_to(release).parts
        ):  # the grader's own source names its markers
            assert "BEGIN SOLUTION" not in text and "test_hidden" not in text, path
        if path.suffix == ".py" and path.name == "ex2.py":
            assert not secret_lines & {line.strip() for line in text.splitlines()}, path
    assert not any("reference" in n.split("/") for n in names)


def test_release_grades_stubs_zero_and_reference_code_full_public_points(release, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GRADER_ROOT"}
    copy = tmp_path / "student"
    shutil.copytree(release, copy)
    stub = subprocess.run(
        [sys.executable, "-m", "grader", "ex2", "--json", "r.json"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert stub.returncode == 0, stub.stdout
    assert json.loads((copy / "r.json").read_text())["score"] == 0
    assert "hidden tests not run: 40 of 100 points not graded" in stub.stdout
    shutil.copy(ROOT / "reference/ex2/solution.py", copy / "ex2.py")
    full = subprocess.run(
        [sys.executable, "-m", "grader", "ex2", "--json", "r.json"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    data = json.loads((copy / "r.json").read_text())
    assert (data["score"], data["max_score"], data["extra_data"]["hidden_tests_run"]) == (
        60,
        100,
        False,
    ), full.stdout


def test_workflow_steps_run_locally_give_the_grade(release, tmp_path):
    workflow = yaml.safe_load((release / ".github/workflows/classroom.yml").read_text())
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["name"] == "Autograding Tests"
    assert set(workflow["on"]) >= {"push", "pull_request"}
    steps = job["steps"]
    grade_step = next(s for s in steps if s.get("id") == "grade")
    reporter = steps[-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    assert reporter["if"] == "always()"  # a failed grade step still reports its score
    assert reporter["with"]["runners"] == "grade"
    assert reporter["env"]["GRADE_RESULTS"] == "${{ steps.grade.outputs.result }}"
    install = next(s for s in steps if "requirements.txt" in s.get("run", ""))
    assert "torch==2.13.0" in (release / "requirements.txt").read_text()
    # run the steps in order, here: install (into a fresh venv), grade, then decode as the reporter does
    repo = tmp_path / "repo"
    shutil.copytree(release, repo)
    shutil.copy(SUBMISSIONS / "bug_softmax.py", repo / "ex2.py")
    # install: the requirements' grader line is a buildable package (torch comes from the pinned CPU wheel)
    assert install["run"] == "python -m pip install -r requirements.txt"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "./.grader",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0 and "Would install grader-" in pip.stdout, pip.stdout + pip.stderr
    output = repo / "gh_output"
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "GRADER_ROOT"} | {
        "GITHUB_OUTPUT": str(output),
        "GITHUB_ACTIONS": "true",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
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
    result = dict(line.split("=", 1) for line in output.read_text().splitlines())["result"]
    reported = sum(t["score"] for t in json.loads(base64.b64decode(result))["tests"])
    direct = subprocess.run(
        [sys.executable, "-m", "grader", "ex2", "ex2.py", "--json", "direct.json"],
        cwd=repo,
        env={k: v for k, v in os.environ.items() if k != "GRADER_ROOT"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert direct.returncode == 0
    assert reported == json.loads((repo / "direct.json").read_text())["score"] == 60


@pytest.fixture(scope="module")
def gradescope_tree(tmp_path_factory):
    """A temporary /autograder laid out as Gradescope lays it out: source/ holds the unzipped bundle."""
    base = tmp_path_factory.mktemp("gs")
    bundle = base / "autograder.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "gradescope", "ex2", "--out", str(bundle)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return bundle


def _run_gradescope(bundle: Path, root: Path, submission: Path) -> dict:
    (root / "submission").mkdir(parents=True)
    shutil.copy(submission, root / "submission" / ("ex2" + submission.suffix))
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        names = zf.namelist()
    assert {"setup.sh", "run_autograder"} <= set(names)
    run = root / "source" / "run_autograder"
    run.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "GRADER_ROOT"} | {
        "AUTOGRADER_ROOT": str(root),
        "AUTOGRADER_PYTHON": sys.executable,
    }
    proc = subprocess.run(
        [str(run)], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_gradescope_bundle_checks_python_and_says_how_to_test_it(gradescope_tree):
    from grader.release import setup_sh

    with zipfile.ZipFile(gradescope_tree) as zf:
        readme = zf.read("README.md").decode()
        assert zf.read("setup.sh").decode() == setup_sh()
    assert "sys.version_info <" in setup_sh()  # tests/test_release.py runs it
    assert "Test Autograder" in readme and "AUTOGRADER_ROOT=" in readme
    assert '"visibility": "after_due_date"' in readme


def test_gradescope_bundle_grades_reference_full_and_stub_zero(gradescope_tree, tmp_path):
    full = _run_gradescope(gradescope_tree, tmp_path / "a", ROOT / "reference/ex2/solution.py")
    # no top-level total that holds the hidden points: Gradescope adds up the tests it may show
    assert "score" not in full and full["max_score"] == 100
    assert sum(t["score"] for t in full["tests"]) == 100
    hidden = [t for t in full["tests"] if t["hidden"]]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    assert "Public tests: 60 of 60 points" in full["output"]
    assert f"{len(hidden)} hidden tests (40 points)" in full["output"]
    assert all(t["visibility"] == "visible" for t in full["tests"] if not t["hidden"])
    zero = _run_gradescope(gradescope_tree, tmp_path / "b", ROOT / "exercises/ex2/ex2.ipynb")
    assert sum(t["score"] for t in zero["tests"]) == 0 and zero["max_score"] == 100
