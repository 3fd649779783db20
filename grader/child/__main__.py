"""Child bootstrap: read the job from stdin, settle the process, run pytest, leave without teardown.

Started as `python -I -m grader.child` by the parent (or forked from a warm worker). The job is a
JSON object on stdin; stdin is then replaced by an empty file so that `input()` meets end-of-file.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading


def main() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the file-size limit a write fails, not the process
    # boot first (the parent is getting the job ready meanwhile), then wait for the job
    import torch

    torch.set_num_threads(1)
    from grader.child.plugin import run

    # The first optimizer a process builds imports torch._dynamo (about a second): start on it
    # while the job is on its way; a test that needs it first waits on the import lock.
    threading.Thread(target=importlib.import_module, args=("torch._dynamo",), daemon=True).start()
    job = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.chdir(job["cwd"])
    torch.set_num_threads(int(job.get("threads", 1)))

    code = run(job)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code in (0, 1) else code)


def dispatch(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        from grader.child.worker import main as serve

        serve(argv[1:])
    else:
        main()


if __name__ == "__main__":
    dispatch(sys.argv[1:])
