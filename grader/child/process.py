"""The child process's life, shared by a cold child and a warm worker: boot, stdin, settle, leave."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from typing import Any

# Modules pytest imports only once a session has started (its debugger hooks, its argument
# parser's completion, readline for the capture), and one that torch's optimizers import on
# their first step: importing them at boot keeps them out of every run (10 ms and more).
LATE_IMPORTS = ("pdb", "readline", "_pytest._argcomplete", "torch.profiler._cupti_monitor")


def boot() -> None:
    """Import and settle everything a run needs before any job exists."""
    import torch

    torch.set_num_threads(1)  # before any tensor op: a forked child must not inherit a thread pool
    import _pytest.config
    import torch.fx.experimental.symbolic_shapes  # noqa: F401  - sympy, for ops on the meta device

    plugins = (f"_pytest.{name}" for name in getattr(_pytest.config, "default_plugins", ()))
    for name in (*plugins, *LATE_IMPORTS):  # what each session would import
        with contextlib.suppress(ImportError):
            importlib.import_module(name)

    import grader.child.plugin  # noqa: F401
    from grader.child.dynamo import defer_dynamo_import

    defer_dynamo_import()  # optimizers without torch._dynamo (a second of imports) unless compiling
    gc.freeze()  # what is imported now is never walked by a collection (85 ms each), nor copied by one in a fork


def empty_stdin() -> None:
    """Make fd 0 an empty file: `input()` and reads of stdin meet end-of-file, never the parent's pipe."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def settle(job: dict[str, Any]) -> None:
    """What every run sets for itself (a forked child's worker never ran a tensor op)."""
    import torch

    torch.set_num_threads(int(job.get("threads", 1)))


def leave(code: int) -> None:
    """End the process without Python's teardown (torch's alone takes half a second)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code in (0, 1) else code)
