"""Child bootstrap: read the job from stdin, settle the process, run pytest, leave without teardown.

Started as `python -I -m grader.child` by the parent (or forked from a warm worker). The job is a
JSON object on stdin; stdin is then replaced by an empty file so that `input()` meets end-of-file.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys


def main() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the file-size limit a write fails, not the process
    # boot first (the parent is getting the job ready meanwhile), then wait for the job
    import torch

    torch.set_num_threads(1)
    from grader.child.dynamo import defer_dynamo_import
    from grader.child.plugin import run

    defer_dynamo_import()  # optimizers without torch._dynamo (a second of imports) unless compiling
    gc.freeze()  # torch's objects stay: no collection walks them again (85 ms each)
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
