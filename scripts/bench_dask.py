"""The class of 40 graded on a two-worker local Dask cluster, beside `--jobs 2` on this machine.

`dask_figure()` is what `make bench` prints (scripts/bench.py calls it last): the median wall time
of `grade batch ex2 CLASS --jobs 2` and of `grade batch ex2 CLASS --cluster local --jobs 2` (the
same two warm grading workers, behind a Dask scheduler and two Dask workers), whole commands from
start to exit, every student graded (--force), the golden values of every variant recorded
beforehand (both runs ship or read the same cache), and Dask's overhead in percent of the first.

Usage: python scripts/bench_dask.py [--runs N] [--class-size N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADE = str(Path(sys.executable).parent / "grade")
TARGET = 0.20  # Dask's overhead, at most


def _batch(folder: Path, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [GRADE, "batch", "ex2", str(folder), "--out", str(out), "--force", *extra],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "100"},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"grade batch {' '.join(extra)} failed:\n{proc.stdout[-2000:]}")
    rows = (out / "gradebook.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert all(",graded," in row for row in rows), rows
    return wall


def dask_figure(class_size: int = 40, runs: int = 3) -> str:
    """Two lines: both medians, and Dask's overhead against the target."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench import make_class

    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        make_class(folder, class_size)
        kinds = {
            "--jobs 2": ["--jobs", "2"],
            "--cluster local": ["--cluster", "local", "--jobs", "2"],
        }
        _batch(folder, Path(tmp) / "warm-up", *kinds["--jobs 2"])  # records the variants once
        walls: dict[str, list[float]] = {kind: [] for kind in kinds}
        for i in range(runs):  # interleaved: the machine's load falls on both alike
            for kind, extra in kinds.items():
                walls[kind].append(_batch(folder, Path(tmp) / f"{i}-{kind[2:]}", *extra))
    local, dask = (statistics.median(walls[kind]) for kind in kinds)
    overhead = dask / local - 1
    return (
        f"batch of {class_size}, --jobs 2:                    {local:5.1f} s   "
        f"(min {min(walls['--jobs 2']):.1f}, max {max(walls['--jobs 2']):.1f})\n"
        f"batch of {class_size}, --cluster local --jobs 2:    {dask:5.1f} s   "
        f"(min {min(walls['--cluster local']):.1f}, max {max(walls['--cluster local']):.1f}) · "
        f"Dask's overhead {overhead * 100:+.0f}%  (target ≤ {TARGET * 100:.0f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--class-size", type=int, default=40)
    args = parser.parse_args()
    print(dask_figure(args.class_size, args.runs))


if __name__ == "__main__":
    main()
