"""`grade similar` over a synthetic class of 300: how long the screen takes (target < 60 s on 2 cores).

The class is written straight into a results folder, as `grade batch` leaves it (a record per
student with the code and the per-check value fingerprints), so only the screen is timed. Each
student's functions are drawn from independent solutions (the reference, the alternative one,
those of tests/submissions/similar/) with a line of their own in most, and a few wrong
values from a pool of common and rare mistakes; one pair copies outright.

Usage: python scripts/bench_similar.py [--students N]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASES = [
    ROOT / "reference" / "ex2" / "solution.py",
    ROOT / "tests" / "submissions" / "ex2" / "alternative.py",
    ROOT / "tests" / "submissions" / "similar" / "loops.py",
    ROOT / "tests" / "submissions" / "similar" / "compact.py",
    ROOT / "tests" / "submissions" / "similar" / "helpers.py",
]


def make_class(results: Path, students: int, *, seed: int = 0) -> None:
    from grader.exercise import find_exercise
    from grader.similar.code import functions_of

    rng = random.Random(seed)
    names = find_exercise("ex2", start=ROOT).config.function_names()
    bases = [functions_of(p.read_text(encoding="utf-8"), names) for p in BASES]
    header = "import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
    checks = [f"hidden/test_hidden.py::test_{k // 3}[cpu]#{k % 3}" for k in range(200)]
    mistakes = [f"{rng.getrandbits(48):012x}|x{rng.choice([2, 0.5, -1])}" for _ in range(40)]
    first_source, first_outputs = "", dict[str, str]()
    for s in range(students):
        parts = [header]
        for name in sorted(names):
            base = rng.choice([b for b in bases if name in b])
            code = base[name].original
            if code.startswith(("def ", "class ")) and rng.random() < 0.7:  # a line of their own
                code += f"\n    _mine = {rng.randint(0, 10**9)} * {rng.choice('abcdefgh')}"
            parts.append(code + "\n\n")
        source = "".join(parts)
        outputs = {c: "+" for c in checks}
        for c in rng.sample(checks, rng.randint(0, 12)):
            outputs[c] = mistakes[min(int(rng.paretovariate(1.2)), len(mistakes)) - 1]
        if s == students - 1:  # a copy of the first student
            source, outputs = first_source, first_outputs
        if s == 0:
            first_source, first_outputs = source, dict(outputs)
        record = {
            "status": "graded",
            "student": {"key": f"student{s:03d}"},
            "result": {"source": source, "outputs": outputs, "variant": rng.randrange(8)},
        }
        folder = results / "students" / f"student{s:03d}"
        folder.mkdir(parents=True)
        (folder / "record.json").write_text(json.dumps(record), encoding="utf-8")


def similar_figure(students: int = 300) -> str:
    """One line for `make bench`: the screen's wall time over a synthetic class."""
    with tempfile.TemporaryDirectory(prefix="bench-similar-") as tmp:
        results = Path(tmp) / "results"
        make_class(results, students)
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "grader",
                "similar",
                "ex2",
                str(results),
                "--json",
                f"{tmp}/p.json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"grade similar failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        top = json.loads(Path(f"{tmp}/p.json").read_text())["pairs"][0]
        found = {top["a"], top["b"]} == {"student000", f"student{students - 1:03d}"}
    return (
        f"grade similar, {students} students ({students * (students - 1) // 2} pairs):"
        f"{wall:8.1f} s   (target < 60 s) · the copied pair {'first' if found else 'NOT first'}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=300)
    print(similar_figure(p.parse_args().students))


if __name__ == "__main__":
    main()
