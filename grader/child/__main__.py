"""Child bootstrap: import what every run needs, read the job, run pytest, leave without teardown.

Started as `python -I -c ...` by the parent, either as a cold child (the job is a JSON object on
stdin) or as a warm worker (`serve`: see `grader/child/worker.py`) whose forked children each read
one job. Either way stdin is then replaced by an empty file so that `input()` meets end-of-file.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from grader.child.process import boot, empty_stdin, leave, settle


def main() -> None:
    signal.signal(
        signal.SIGXFSZ, signal.SIG_IGN
    )  # past the file-size limit a write fails, not the process
    boot()  # while the parent gets the job ready
    job = json.loads(sys.stdin.buffer.read())
    empty_stdin()
    os.chdir(job["cwd"])
    settle(job)
    from grader.child.plugin import run

    leave(run(job))


def dispatch(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        from grader.child.worker import main as serve

        serve(argv[1:])
    else:
        main()


if __name__ == "__main__":
    dispatch(sys.argv[1:])
