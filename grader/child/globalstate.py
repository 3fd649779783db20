"""torch's global state, put back before every test: one function's bug never costs another's points.

A submission's `gd_step` that leaves grad mode off, a `set_default_dtype(float64)` at the top of
a notebook, anomaly or deterministic mode switched on: each changes what every later test
computes. The reset is built before the submission loads, from torch's own functions as they
were then, so a submission that replaces them does not change what the reset does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def resetter(threads: int) -> Callable[[], None]:
    set_grad_enabled = torch._C._set_grad_enabled
    set_default_dtype = torch.set_default_dtype
    set_default_device = getattr(torch, "set_default_device", None)
    set_anomaly = torch.autograd.set_detect_anomaly
    deterministic = torch.use_deterministic_algorithms
    set_threads = torch.set_num_threads
    float32 = torch.float32

    def reset() -> None:
        set_grad_enabled(True)
        set_default_dtype(float32)
        if set_default_device is not None:
            set_default_device(None)
        set_anomaly(False)
        deterministic(False)
        set_threads(threads)

    return reset
