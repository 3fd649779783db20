"""`make bench-peers`: `grade batch` beside nbgrader and otter-grader, grading the same class.

The class is the one `make bench` grades (scripts/bench.py's `make_class`): notebooks with the
reference solution, every 4th with a bug in `relu`, all with notebook clutter. Each peer is
installed into its own virtualenv under .bench/peers/<tool>/ (once; a stamp file says so) and
grades with the same tests as ours: one graded item per test function of
exercises/ex2/tests/test_public.py and reference/ex2/tests/test_hidden.py, worth its
`@pytest.mark.points`, each calling our test function through scripts/peers/peer_check.py, which
compares every checked value with the reference solution's (recorded once, before timing).

Timed, each as one whole command (wall seconds; peak RSS of the largest process in its tree):

  ours      grade batch ex2 CLASS --out DIR --jobs 2 --force      (figure (e) of make bench)
  nbgrader  nbgrader autograde ex2 --force                        (serial, a fresh kernel a notebook)
  otter     otter run -a autograder.zip NOTEBOOK, for each notebook: serially, then two at a time

Ours is the median of --our-runs runs, the peers of --runs runs, each after one untimed warm-up
(ours: the whole class; peers: one correct and one relu-bug notebook, whose scores are checked
first, so that a broken setup stops before the long runs). Every tool's scores are then checked:
correct notebooks get full marks, relu-bug notebooks lose points on relu tests only, and each
notebook's score equals ours; anything else stops with an error.

Usage: python scripts/bench_peers.py [--runs N] [--our-runs N] [--class-size N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = ROOT / ".bench" / "peers"
sys.path[:0] = [str(HERE), str(ROOT)]

from bench import RSS_WRAPPER, make_class  # noqa: E402 - scripts/bench.py, next to this file

PIN = {"nbgrader": ["nbgrader==0.9.6"], "otter": ["otter-grader==7.0.0"]}
COMMON = ["torch", "ipykernel", "pytest", "numpy", "matplotlib"]  # torch pinned by constraints.txt
SOLUTION = ROOT / "reference/ex2/solution.py"
TEST_FILES = {
    "public": ROOT / "exercises/ex2/tests/test_public.py",
    "hidden": ROOT / "reference/ex2/tests/test_hidden.py",
}
Scores = dict[str, dict[str, tuple[float, float]]]  # student -> test -> (score, max score)


# -- environments ----------------------------------------------------------------------------------


def install(tool: str, python: str) -> Path:
    """The tool's virtualenv (its bin folder), created and filled unless its stamp says it is done."""
    venv = PEERS / tool
    stamp = venv / ".installed-stamp"
    wanted = " ".join([*PIN[tool], *COMMON]) + " -c " + (ROOT / "constraints.txt").read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return venv / "bin"
    start = time.perf_counter()
    print(f"installing {' '.join(PIN[tool])} into {venv.relative_to(ROOT)} ...", flush=True)
    if not (venv / "bin/python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            *PIN[tool],
            *COMMON,
        ],
        check=True,
    )
    stamp.write_text(wanted)
    print(f"installed {tool} in {time.perf_counter() - start:.0f} s", flush=True)
    return venv / "bin"


def peer_env(bin_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(bin_dir.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def support_folder(dest: Path, bin_dir: Path) -> list[dict[str, Any]]:
    """peer_check.py, our test files, properties.py and the reference's values (golden.pt) in
    `dest`; returns the tests (name, group, points, spec) in file order."""
    (dest / "tests").mkdir(parents=True)
    shutil.copy(HERE / "peers" / "peer_check.py", dest)
    shutil.copy(ROOT / "reference/ex2/properties.py", dest)
    for group, path in TEST_FILES.items():
        (dest / "tests" / group).mkdir()
        shutil.copy(path, dest / "tests" / group)
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import peer_check; "
        "peer_check.record(Path(sys.argv[2])); print(json.dumps(peer_check.describe()))"
    )
    out = subprocess.run(
        [str(bin_dir / "python"), "-c", code, str(dest), str(SOLUTION)],
        capture_output=True,
        text=True,
        env=peer_env(bin_dir),
        cwd=dest,
    )
    if out.returncode:
        raise SystemExit(f"recording the reference's values failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- timing ----------------------------------------------------------------------------------------


def timed(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    """Wall seconds of one run of `argv`, and the peak RSS (MB) of the largest process in its tree."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, *argv],
        cwd=cwd,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - start
    log, _, rss = proc.stderr.rpartition("maxrss=")
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n{log[-4000:]}")
    return wall, int(rss.split()[0]) / 1024


def repeat(label: str, run: Callable[[], tuple[float, float]], runs: int) -> dict[str, Any]:
    walls, peaks = [], []
    for i in range(runs):
        wall, peak = run()
        walls.append(wall)
        peaks.append(peak)
        print(f"  {label}: run {i + 1}/{runs} {wall:6.1f} s, peak {peak:5.0f} MB", flush=True)
    return {
        "label": label,
        "walls": walls,
        "median": statistics.median(walls),
        "peak_mb": max(peaks),
    }


# Runs the peer's command lines (JSON list in argv[1]) `argv[2]` at a time; stops at the first failure.
DRIVER = """
import concurrent.futures, json, subprocess, sys
jobs, width = json.loads(sys.argv[1]), int(sys.argv[2])
def one(argv):
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
with concurrent.futures.ThreadPoolExecutor(width) as pool:
    for proc in pool.map(one, jobs):
        if proc.returncode:
            sys.stderr.write(proc.stderr[-4000:])
            sys.exit(3)
"""


# -- ours ------------------------------------------------------------------------------------------


def ours_scores(out: Path) -> Scores:
    scores: Scores = {}
    for path in sorted(out.glob("students/*/results.json")):
        result = json.loads(path.read_text())
        scores[path.parent.name] = {
            t["name"]: (float(t["score"]), float(t["max_score"])) for t in result["tests"]
        }
    return scores


# -- nbgrader --------------------------------------------------------------------------------------

NBGRADER_CONFIG = """c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "bench"
"""

NBGRADER_TEST = """import os, sys
if os.path.abspath("peer_support") not in sys.path:
    sys.path.insert(0, os.path.abspath("peer_support"))
import peer_check
{body}"""

NBGRADER_SCORES = """
import json, sys
from nbgrader.api import Gradebook
out = {}
with Gradebook("sqlite:///gradebook.db", "bench") as gb:
    for student in gb.students:
        try:
            nb = gb.find_submission_notebook("ex2", "ex2", student.id)
        except Exception:
            continue
        out[student.id] = {g.name: [g.score, g.max_score] for g in nb.grades}
print(json.dumps(out))
"""


def nbgrader_course(
    course: Path, bin_dir: Path, support: Path, class_dir: Path, tests: list[dict[str, Any]]
) -> None:
    """A course folder: the master notebook (solution cells, one test cell a test function), the
    released assignment, and each student's code re-wrapped into the released notebook's cells."""
    import nbformat

    env = peer_env(bin_dir)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(course)))
    source = course / "source" / "ex2"
    source.mkdir(parents=True)
    shutil.copytree(
        support, source / "peer_support"
    )  # copied into each student's folder by autograde
    nbformat.write(nbgrader_master(tests), source / "ex2.ipynb")
    proc = subprocess.run(
        [str(bin_dir / "nbgrader"), "generate_assignment", "ex2", "--force"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"nbgrader generate_assignment failed:\n{proc.stderr[-4000:]}")

    released = nbformat.read(course / "release" / "ex2" / "ex2.ipynb", as_version=4)
    for path in sorted(class_dir.glob("*.ipynb")):
        submission = nbgrader_submission(released, path)
        dest = course / "submitted" / path.stem / "ex2"
        dest.mkdir(parents=True)
        nbformat.write(submission, dest / "ex2.ipynb")


def nbgrader_meta(**kw: Any) -> dict[str, Any]:
    """A cell's nbgrader metadata: a plain cell, but for what `kw` sets."""
    return {
        "nbgrader": {
            "schema_version": 3,
            "task": False,
            "grade": False,
            "solution": False,
            "locked": False,
            **kw,
        }
    }


def nbgrader_master(tests: list[dict[str, Any]]) -> Any:
    """The instructor's notebook: the reference solution's cells, the solution parts marked, then
    one locked, graded test cell a test function (hidden tests between nbgrader's markers)."""
    import nbformat

    from grader.stubs import _segments

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(
        nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt")
    )
    for i, (kind, text) in enumerate(_segments(SOLUTION.read_text())):
        nb.cells.append(nbgrader_solution_cell(i, kind, text))
    nb.cells.append(
        nbformat.v4.new_code_cell("model = MLP(2, 16, 2)\nprint(model)\nplt.plot([1, 2])")
    )
    for test in tests:
        call = f'peer_check.run("{test["name"]}", globals())'
        if test["group"] == "hidden":
            call = f"### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS"
        cell = nbformat.v4.new_code_cell(
            NBGRADER_TEST.format(body=call),
            metadata=nbgrader_meta(
                grade=True, locked=True, grade_id=test["name"], points=test["points"]
            ),
        )
        nb.cells.append(cell)
    return nb


def nbgrader_solution_cell(i: int, kind: str, text: str) -> Any:
    """The master notebook's cell for the reference's `i`th segment: markdown, plain code, or a
    solution cell when it holds a `# BEGIN SOLUTION` part."""
    import nbformat

    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(text)
    if "BEGIN SOLUTION" not in text:
        return nbformat.v4.new_code_cell(text)
    begin = [line for line in text.splitlines() if "# BEGIN SOLUTION" in line]
    if text.count("# END SOLUTION") < len(
        begin
    ):  # the cell ends where the code ends, before the last marker
        text += "\n" + begin[-1].replace("BEGIN", "END")
    return nbformat.v4.new_code_cell(
        text, metadata=nbgrader_meta(solution=True, grade_id=f"solution_{i}")
    )


def nbgrader_submission(released: Any, path: Path) -> Any:
    """The released notebook with the cells of the student's notebook at `path` put in: their
    code, exactly, in place of each non-graded cell."""
    import nbformat

    student = nbformat.read(path, as_version=4)
    mine = nbformat.from_dict(json.loads(nbformat.writes(released)))
    body = [c for c in mine.cells if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    if len(body) != len(student.cells) or any(
        a.cell_type != b.cell_type for a, b in zip(body, student.cells, strict=True)
    ):
        raise SystemExit(f"{path.name} does not have the released notebook's cells")
    for cell, theirs in zip(body, student.cells, strict=True):
        cell.source = theirs.source  # the student's code, exactly
    return mine


def nbgrader_scores(course: Path, bin_dir: Path) -> Scores:
    out = subprocess.run(
        [str(bin_dir / "python"), "-c", NBGRADER_SCORES],
        cwd=course,
        env=peer_env(bin_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        s: {t: (float(v[0] or 0.0), float(v[1])) for t, v in grades.items()}
        for s, grades in raw.items()
    }


# -- otter -----------------------------------------------------------------------------------------

OTTER_TEST = """from otter.test_files import test_case

OK_FORMAT = False

name = "{name}"
points = {points}


@test_case(points={points}, hidden={hidden})
def {name}(env):
    import os, sys
    if os.path.abspath("peer_support") not in sys.path:
        sys.path.insert(0, os.path.abspath("peer_support"))
    import peer_check
    peer_check.run("{name}", env)
"""


def otter_autograder(
    folder: Path, bin_dir: Path, support: Path, tests: list[dict[str, Any]]
) -> Path:
    """autograder.zip built by `otter generate`: one test file a test function, peer_support/ as support files."""
    (folder / "tests").mkdir(parents=True)
    shutil.copytree(
        support, folder / "peer_support"
    )  # copied into each submission's folder by otter run
    for test in tests:
        (folder / "tests" / f"{test['name']}.py").write_text(
            OTTER_TEST.format(
                name=test["name"], points=test["points"], hidden=test["group"] == "hidden"
            )
        )
    (folder / "otter_config.json").write_text(json.dumps({"lang": "python"}))
    proc = subprocess.run(
        [
            str(bin_dir / "otter"),
            "generate",
            "-t",
            "tests",
            "-o",
            "autograder.zip",
            "--no-requirements",
            "--no-environment",
            "peer_support",
        ],
        cwd=folder,
        env=peer_env(bin_dir),
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"otter generate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return folder / "autograder.zip"


def otter_jobs(bin_dir: Path, zip_path: Path, notebooks: list[Path], out: Path) -> list[list[str]]:
    jobs = []
    for nb in notebooks:
        (out / nb.stem).mkdir(parents=True, exist_ok=True)
        jobs.append(
            [
                str(bin_dir / "otter"),
                "run",
                "-a",
                str(zip_path),
                "-o",
                str(out / nb.stem),
                "--no-logo",
                str(nb),
            ]
        )
    return jobs


def otter_scores(out: Path) -> Scores:
    scores: Scores = {}
    for path in sorted(out.glob("*/results.json")):
        result = json.loads(path.read_text())
        scores[path.parent.name] = {
            t["name"]: (float(t["score"]), float(t["max_score"]))
            for t in result["tests"]
            if "max_score" in t
        }
    return scores


# -- checking the scores ---------------------------------------------------------------------------


def verify(
    tool: str, scores: Scores, students: list[str], tests: list[dict[str, Any]], ours: Scores | None
) -> str:
    """One line on what the tool's grading gave; SystemExit when it is not what correct grading gives."""
    names = {t["name"] for t in tests}
    relu = {t["name"] for t in tests if t["spec"] and t["spec"][0] == "relu"}
    total = sum(t["points"] for t in tests)
    problems, full, bug_fails = [], 0, set()
    for student in students:
        got = scores.get(student)
        if got is None or set(got) != names:
            missing = sorted(names - set(got or {}))
            problems.append(
                f"{student}: {'no result' if got is None else f'{len(missing)} tests missing, e.g. {missing[:3]}'}"
            )
            continue
        failed = {t for t, (score, top) in got.items() if score < top - 1e-9}
        if abs(sum(top for _, top in got.values()) - total) > 1e-6:
            problems.append(f"{student}: out of {sum(top for _, top in got.values())}, not {total}")
        buggy = int(student[-2:]) % 4 == 3
        full += not failed
        bug_fails |= failed if buggy else set()
        if buggy and not (failed and failed <= relu):
            problems.append(f"{student} (relu bug): failed {sorted(failed) or 'nothing'}")
        if not buggy and failed:
            problems.append(f"{student} (correct): failed {sorted(failed)}")
        if ours is not None and student in ours:
            mine = sum(s for s, _ in ours[student].values())
            theirs = sum(s for s, _ in got.values())
            if abs(mine - theirs) > 1e-6:
                problems.append(f"{student}: {theirs:g} points, ours {mine:g}")
    if problems:
        raise SystemExit(
            f"{tool}: grading is not right, so its timing means nothing:\n  "
            + "\n  ".join(problems[:20])
        )
    n_bug = sum(int(s[-2:]) % 4 == 3 for s in students)
    fails = ", ".join(sorted(bug_fails)) or "-"
    return f"{tool:<10} full marks {full}/{len(students)} · {n_bug} relu-bug notebooks lose only relu tests ({fails})"


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="timed runs of each peer (median); default 1, they are slow",
    )
    parser.add_argument("--our-runs", type=int, default=3, help="timed runs of ours (median)")
    parser.add_argument("--class-size", type=int, default=40)
    parser.add_argument(
        "--python", default="python3", help="interpreter the peers' virtualenvs are made from"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (courses, results, logs)"
    )
    args = parser.parse_args()

    bins = {tool: install(tool, args.python) for tool in PIN}
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    try:
        run_all(args, bins, work)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run_all(args: argparse.Namespace, bins: dict[str, Path], work: Path) -> None:
    n = args.class_size
    class_dir = work / "class"
    class_dir.mkdir()
    make_class(class_dir, n)
    notebooks = sorted(class_dir.glob("*.ipynb"))
    students = [p.stem for p in notebooks]
    probe = [s for s in students if s in ("student00", "student03")]  # one correct, one relu bug
    print(
        f"machine: {os.cpu_count()} cores · python {sys.version.split()[0]} · class of {n} notebooks "
        f"({sum(int(s[-2:]) % 4 == 3 for s in students)} with a relu bug)",
        flush=True,
    )

    print("setting up: reference values, nbgrader course, otter autograder.zip ...", flush=True)
    support = work / "support"
    tests = support_folder(support, bins["nbgrader"])
    print(
        f"  {len(tests)} test functions ({sum(t['group'] == 'public' for t in tests)} public), "
        f"{sum(t['points'] for t in tests):g} points",
        flush=True,
    )
    course = work / "nbgrader"
    course.mkdir()
    nbgrader_course(course, bins["nbgrader"], support, class_dir, tests)
    zip_path = otter_autograder(work / "otter", bins["otter"], support, tests)

    rows = []
    # ours
    grade = [str(Path(sys.executable).parent / "grade")]
    env = {**os.environ, "COLUMNS": "100"}
    out = work / "ours"
    argv = [*grade, "batch", "ex2", str(class_dir), "--out", str(out), "--jobs", "2", "--force"]
    timed(argv, cwd=ROOT, env=env, ok=(0, 1))  # warm-up: file caches, golden-value cache
    rows.append(
        repeat(
            "ours: grade batch --jobs 2",
            lambda: timed(argv, cwd=ROOT, env=env, ok=(0, 1)),
            args.our_runs,
        )
    )
    ours = ours_scores(out)
    checks = [verify("ours", ours, students, tests, None)]

    # nbgrader
    nb_env = peer_env(bins["nbgrader"])
    autograde = [str(bins["nbgrader"] / "nbgrader"), "autograde", "ex2", "--force"]
    timed(
        [*autograde, f"--student=student0[{''.join(s[-1] for s in probe)}]"], cwd=course, env=nb_env
    )  # warm-up
    verify("nbgrader", nbgrader_scores(course, bins["nbgrader"]), probe, tests, ours)
    rows.append(
        repeat(
            "nbgrader autograde (serial)",
            lambda: timed(autograde, cwd=course, env=nb_env),
            args.runs,
        )
    )
    checks.append(
        verify("nbgrader", nbgrader_scores(course, bins["nbgrader"]), students, tests, ours)
    )

    # otter
    ot_env = peer_env(bins["otter"])
    otter_out = work / "otter-results"
    probe_jobs = otter_jobs(
        bins["otter"], zip_path, [p for p in notebooks if p.stem in probe], otter_out
    )
    timed(
        [sys.executable, "-c", DRIVER, json.dumps(probe_jobs), "1"], cwd=work, env=ot_env
    )  # warm-up
    verify("otter", otter_scores(otter_out), probe, tests, ours)
    for width, label in ((1, "otter run (serial)"), (2, "otter run (2 at a time)")):
        shutil.rmtree(otter_out)
        jobs = otter_jobs(bins["otter"], zip_path, notebooks, otter_out)
        driver = [sys.executable, "-c", DRIVER, json.dumps(jobs), str(width)]
        rows.append(repeat(label, lambda d=driver: timed(d, cwd=work, env=ot_env), args.runs))
        checks.append(verify(f"otter x{width}", otter_scores(otter_out), students, tests, ours))

    mpl = matplotlib_import(bins["nbgrader"])
    report(rows, checks, n, mpl)


def matplotlib_import(bin_dir: Path) -> float:
    """Seconds the peers' kernels spend importing matplotlib for the notebooks' plotting cells."""
    py = str(bin_dir / "python")
    bare = min(timed([py, "-c", "pass"], cwd=ROOT)[0] for _ in range(3))
    mpl = min(timed([py, "-c", "import matplotlib.pyplot"], cwd=ROOT)[0] for _ in range(3))
    return max(0.0, mpl - bare)


def report(rows: list[dict[str, Any]], checks: list[str], n: int, mpl: float) -> None:
    ours = rows[0]["median"]
    print()
    print(f"{'tool':<30} {'wall s':>8} {'s/notebook':>11} {'peak MB':>8} {'peer/ours':>10}   runs")
    for row in rows:
        spread = (
            f"{len(row['walls'])} (min {min(row['walls']):.1f}, max {max(row['walls']):.1f})"
            if len(row["walls"]) > 1
            else "1"
        )
        print(
            f"{row['label']:<30} {row['median']:8.1f} {row['median'] / n:11.2f} {row['peak_mb']:8.0f} "
            f"{row['median'] / ours:9.1f}x   {spread}"
        )
    print()
    for line in checks:
        print(line)
    print()
    print(
        "same tests everywhere: our test functions, the reference's values, the rules of grader/compare.py "
        "(scripts/peers/peer_check.py); the peers do not check forbidden calls or run a sandbox as ours does."
    )
    print(
        f"the peers' kernels import the real matplotlib for the notebooks' plotting cells ({mpl:.2f} s a notebook here); "
        f"ours stands in a stub for it."
    )


if __name__ == "__main__":
    main()
