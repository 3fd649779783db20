"""`make bench`: whole-process timings of the grader against the cost of importing torch.

Prints, for each figure, the median of several runs (with min and max) and the peak memory of the
largest process, then the ratios the speed targets are stated in:

  (a) python -c 'import torch'
  (b) the compute floor: Exercise 2's tests against the reference in one plain process, no sandbox
      (the child's own start-up, run directly: no parent, no isolation)
  (c) `grade ex2 reference/ex2/solution.py` from a cold start (what a student runs)
  (d) one submission through a warm worker (per-submission time, beyond the worker's start), beside
      two measures of what the submission and its tests cost by themselves: the time they ran in
      the child (pytest's own per-test work included), and the plain floor, the same test functions
      called directly in a warm process (no pytest, no sandbox, no fork); the rest is overhead
  (e) `grade batch ex2` over a class of 40 notebooks with --jobs 2, its variants recorded afresh;
      then again with them recorded (a regrade)
  (f) the same class on a two-worker local Dask cluster, beside --jobs 2 (scripts/bench_dask.py)

Usage: python scripts/bench.py [--runs N] [--class-size N]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


RSS_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "sys.stderr.write(f'\\nmaxrss={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n'); sys.exit(code)"
)


def run_cmd(
    argv: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Wall seconds of one run of `argv`, and the peak RSS (MB) of its largest process."""
    start = time.perf_counter()
    proc = subprocess.run(
        [PY, "-c", RSS_WRAPPER, *argv], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    maxrss = int(proc.stderr.rsplit("maxrss=", 1)[1].split()[0])
    return wall, maxrss / 1024


def measure(label: str, argv: list[str], runs: int, **kw: object) -> dict[str, float]:
    run_cmd(argv, **kw)  # warm-up: file caches, golden-value cache
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak = run_cmd(argv, **kw)
        walls.append(wall)
        peaks.append(peak)
    row = {
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "peak_mb": max(peaks),
    }
    print(
        f"{label:<58} {row['median']:7.2f} s  (min {row['min']:.2f}, max {row['max']:.2f})  peak {row['peak_mb']:6.0f} MB",
        flush=True,
    )
    return row


FLOOR = """
import json, os, sys, tempfile, threading, tomllib
from pathlib import Path
root = Path(sys.argv[1])
from grader.config import ExerciseConfig
config = ExerciseConfig.model_validate(tomllib.loads((root / "reference/ex2/grading.toml").read_text()))
tests = [("public", p) for p in sorted((root / "exercises/ex2/tests").glob("test_*.py"))]
tests += [("hidden", p) for p in sorted((root / "reference/ex2/tests").glob("test_*.py"))]
r, w = os.pipe()
job = {"fd": w, "cwd": tempfile.mkdtemp(), "devices": ["cpu", "meta"], "forbidden": config.forbidden_calls(), "module_name": "ex2",
       "test_files": [{"group": g, "name": p.name, "source": p.read_text()} for g, p in tests],
       "cells": [{"index": 0, "label": "solution.py", "source": (root / "reference/ex2/solution.py").read_text()}]}
threading.Thread(target=lambda: [None for _ in iter(lambda: os.read(r, 1 << 16), b"")], daemon=True).start()
stdin = tempfile.TemporaryFile()
stdin.write(json.dumps(job).encode())
stdin.seek(0)
os.dup2(stdin.fileno(), 0)
from grader.child.__main__ import main  # the child's own start: torch, pytest, the job from stdin, the tests
main()
"""

WARM = """
import json, sys, time, statistics
from pathlib import Path
from grader.exercise import find_exercise
from grader.grading import Options, grade, run_limits, secret_folders
from grader.pool import WarmWorker
from grader.sandbox import Sandbox
ex = find_exercise("ex2")
path = Path(sys.argv[1])
options = Options(devices=["cpu", "meta"])
worker = WarmWorker(Sandbox(hide=secret_folders(ex, path, options)), run_limits(ex, options))
worker.start()
grade(ex, path, Options(devices=["cpu", "meta"], worker=worker))  # warm-up
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    result = grade(ex, path, Options(devices=["cpu", "meta"], worker=worker))
    times.append((time.perf_counter() - t, result.running_s))
assert result.score == 100, result.score
worker.close()
print(json.dumps(times))
"""


# The test functions called directly, the way scripts/peers/peer_check.py calls them for the peers:
# fixtures by hand, the same seeding, one call per device. Warm: after two untimed passes.
PLAIN = """
import json, statistics, sys, time, types
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
import peer_check
solution = Path(sys.argv[2])
module = types.ModuleType("ex2")
exec(compile(solution.read_text(), str(solution), "exec"), module.__dict__)
sub = peer_check.submission(module.__dict__)
tests = peer_check.load_tests(Path(sys.argv[3]))
def once():
    start = time.perf_counter()
    for test in tests.values():
        for fixture, device in test.instances():
            values, error = peer_check.run_instance(test, sub, fixture, device)
            assert not error or device == "meta", (test.key(device), error)
    return time.perf_counter() - start
once(), once()
print(json.dumps([once() for _ in range(int(sys.argv[4]))]))
"""


def plain_floor(runs: int) -> list[float]:
    """Seconds of one pass of every test function, called directly against the reference, warm."""
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as tmp:
        for group, folder in (
            ("public", ROOT / "exercises/ex2/tests"),
            ("hidden", ROOT / "reference/ex2/tests"),
        ):
            (Path(tmp) / "tests" / group).mkdir(parents=True)
            for path in folder.glob("test_*.py"):
                shutil.copy(path, Path(tmp) / "tests" / group)
        out = subprocess.run(
            [
                PY,
                "-c",
                PLAIN,
                str(ROOT / "scripts/peers"),
                str(ROOT / "reference/ex2/solution.py"),
                tmp,
                str(runs),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_class(folder: Path, size: int) -> None:
    """`size` notebooks: correct ones, and ones with a bug in one function, all with notebook clutter."""
    import nbformat

    sys.path.insert(0, str(ROOT))
    from grader.stubs import _segments

    solution = (ROOT / "reference/ex2/solution.py").read_text()
    solution = "\n".join(
        line
        for line in solution.splitlines()
        if "# BEGIN SOLUTION" not in line and "# END SOLUTION" not in line
    )
    bugs = {"relu": ("return x.clamp(min=0)", "return x.clamp(min=0.1)")}
    for i in range(size):
        source = solution
        if i % 4 == 3:
            source = source.replace(*bugs["relu"])
        nb = nbformat.v4.new_notebook()
        nb.cells.append(
            nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt")
        )
        for kind, text in _segments(source):
            nb.cells.append(
                nbformat.v4.new_markdown_cell(text)
                if kind == "markdown"
                else nbformat.v4.new_code_cell(text)
            )
        nb.cells.append(
            nbformat.v4.new_code_cell("model = MLP(2, 16, 2)\nprint(model)\nplt.plot([1, 2])")
        )
        nbformat.write(nb, folder / f"student{i:02d}.ipynb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--class-size", type=int, default=40)
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "100"}
    grade = [str(Path(PY).parent / "grade")]
    print(
        f"machine: {os.cpu_count()} cores · python {sys.version.split()[0]} · {args.runs} runs each (median, min, max)"
    )
    a = measure("(a) python -c 'import torch'", [PY, "-c", "import torch"], args.runs)
    b = measure(
        "(b) compute floor: all tests vs the reference, one process",
        [PY, "-c", FLOOR, str(ROOT)],
        args.runs,
    )
    c = measure(
        "(c) grade ex2 reference (cold start, sandbox, hidden tests)",
        [*grade, "ex2", "reference/ex2/solution.py"],
        args.runs,
        env=env,
    )
    out = subprocess.run(
        [PY, "-c", WARM, "reference/ex2/solution.py", str(args.runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    warm = json.loads(out.stdout.strip().splitlines()[-1])
    totals = [total for total, _ in warm]
    d = statistics.median(totals)
    own = statistics.median(
        running for _, running in warm
    )  # the submission's and its tests' own time in the child
    overhead = statistics.median(total - running for total, running in warm)
    plain = statistics.median(plain_floor(max(args.runs, 5)))
    print(
        f"{'(d) one submission through a warm worker':<58} {d:7.2f} s  (min {min(totals):.2f}, max {max(totals):.2f})",
        flush=True,
    )
    print(f"{'    the submission and its tests ran in the child':<58} {own:7.2f} s", flush=True)
    print(f"{'    the same test functions called directly, warm':<58} {plain:7.2f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        make_class(folder, args.class_size)
        results = Path(tmp) / "results"
        # every run records its students' input variants afresh: the variant caches go first
        fresh = f'rm -f {ROOT}/reference/ex2/.golden-cache/*-s*.json; exec "$@"'
        e = measure(
            f"(e) grade batch ex2, {args.class_size} notebooks, --jobs 2 (variants recorded)",
            [
                "sh",
                "-c",
                fresh,
                "sh",
                *grade,
                "batch",
                "ex2",
                str(folder),
                "--out",
                str(results),
                "--jobs",
                "2",
                "--force",
            ],
            max(1, args.runs // 2),
            env=env,
        )
        rows = (results / "gradebook.csv").read_text().splitlines()[1:]
        assert len(rows) == args.class_size, rows
        # the same class again with its variants already recorded (a regrade, or a later batch)
        cached = measure(
            "    the same, variants already recorded (a regrade: --force)",
            [*grade, "batch", "ex2", str(folder), "--out", str(results), "--jobs", "2", "--force"],
            max(1, args.runs // 2),
            env=env,
        )
        shutil.rmtree(results, ignore_errors=True)
    print()
    print(
        f"cold grade / import torch:                 {c['median'] / a['median']:5.2f}x   (target ≤ 2)"
    )
    print(f"cold grade / compute floor:                {c['median'] / b['median']:5.2f}x")
    print(
        f"warm per-submission overhead:              {overhead * 1000:5.0f} ms beyond the time its code and tests ran in the child"
    )
    print(
        f"                                           {(d - plain) * 1000:5.0f} ms beyond the plain floor (target < 150 ms)"
    )
    print(
        f"batch of {args.class_size}, --jobs 2:                    {e['median']:5.1f} s   (target < 15 s) · "
        f"{e['median'] / args.class_size * 1000:.0f} ms a notebook"
    )
    print(
        f"                                           {cached['median']:5.1f} s   with the variants "
        f"already recorded ({(e['median'] - cached['median']):.1f} s of recording)"
    )
    print(
        f"peak memory, largest process of the batch: {e['peak_mb']:5.0f} MB  (target < 600 MB a worker)"
    )
    from bench_watch import watch_figure  # (scripts/ is on the path: this file runs as a script)

    print(watch_figure())
    from bench_similar import similar_figure  # (scripts/ is on the path of a script)

    print(similar_figure(), flush=True)
    from bench_dask import dask_figure  # the same class on a two-worker local Dask cluster

    print(dask_figure(args.class_size, max(1, args.runs // 2)))


if __name__ == "__main__":
    main()
