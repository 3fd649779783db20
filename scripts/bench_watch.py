"""Watch mode's figure: seconds from a save to its report, for one-function edits.

`grade ex2 --watch ex2.py --public-only` runs on a copy of the reference; `relu` is broken and
mended in turn, each save timed until the report's last line ("watching …") is printed.

Usage: python scripts/bench_watch.py [--edits N]
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD = "return x.clamp(min=0)"
BAD = "return x * 1.0"


def _reader(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's output lines, read by a thread (select does not see a text stream's buffer)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until_ready(lines: queue.Queue[str], timeout: float) -> str:
    """The output up to and including the next "watching" line."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if line.startswith("watching "):
            return "".join(seen)
    raise RuntimeError("no report from grade --watch:\n" + "".join(seen)[-2000:])


def save_to_report(edits: int = 6) -> list[float]:
    """Seconds from each save to its report, over `edits` one-function edits."""
    source = (ROOT / "reference/ex2/solution.py").read_text(encoding="utf-8")
    assert GOOD in source
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        path = Path(tmp) / "ex2.py"
        path.write_text(source, encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "ex2", str(path), "--watch", "--public-only"],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "GRADER_ROOT": str(ROOT), "COLUMNS": "100", "NO_COLOR": "1"},
        )
        try:
            lines = _reader(proc)
            _until_ready(lines, 300)
            times = []
            for i in range(edits):
                path.write_text(source.replace(GOOD, BAD) if i % 2 == 0 else source)
                saved = time.monotonic()
                _until_ready(lines, 60)
                times.append(time.monotonic() - saved)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
    return times


def watch_figure() -> str:
    times = save_to_report()
    return (
        f"watch mode, save to report (one-function edit):  {statistics.median(times):5.2f} s   "
        f"(min {min(times):.2f}, max {max(times):.2f}; target < 0.5 s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=6)
    args = parser.parse_args()
    times = save_to_report(args.edits)
    print(
        f"save to report: median {statistics.median(times):.2f} s, "
        + ", ".join(f"{t:.2f}" for t in times)
    )
