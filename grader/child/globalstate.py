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
    """The reset; each setter runs only when its state changed (switching deterministic mode
    off, say, imports a second of torch the first time even when it is already off)."""
    set_grad_enabled = torch._C._set_grad_enabled
    set_default_dtype, get_default_dtype = torch.set_default_dtype, torch.get_default_dtype
    set_default_device = getattr(torch, "set_default_device", None)
    get_default_device = getattr(torch, "get_default_device", None)
    set_anomaly, anomaly = torch.autograd.set_detect_anomaly, torch.is_anomaly_enabled
    deterministic, is_deterministic = (
        torch.use_deterministic_algorithms,
        torch.are_deterministic_algorithms_enabled,
    )
    set_threads, get_threads = torch.set_num_threads, torch.get_num_threads
    float32, cpu = torch.float32, torch.device("cpu")

    def reset() -> None:
        set_grad_enabled(True)
        if get_default_dtype() != float32:
            set_default_dtype(float32)
        if (
            set_default_device is not None
            and get_default_device is not None
            and get_default_device() != cpu
        ):
            set_default_device(None)
        if anomaly():
            set_anomaly(False)
        if is_deterministic():
            deterministic(False)
        if get_threads() != threads:
            set_threads(threads)

    return reset
