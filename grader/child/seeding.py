"""`torch.manual_seed` for the child: the same seeds, without queueing work for absent backends.

torch's own `manual_seed` seeds the CPU generator and then, for every accelerator backend it
knows (CUDA, MPS, XPU, MTIA), either seeds it or, where the backend is not initialised yet, queues
the seeding for later with a formatted stack trace of the caller. Under pytest that stack is deep:
2 ms a call, and Exercise 2's tests call it a dozen times. A backend that this machine does not
have can never be initialised, so what is queued for it never runs. The child's `manual_seed`
seeds the CPU and the accelerators the parent found on this machine or grades on (through each
backend's own seeding function, lazy as before), and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

ACCELERATORS = ("cuda", "mps", "xpu", "mtia")


def seed_devices(seed: int, devices: Iterable[str]) -> None:
    """Seed the CPU generator and those of `devices` (cpu and meta need nothing more)."""
    torch.default_generator.manual_seed(seed)
    for device in devices:
        if device in ACCELERATORS:
            backend = getattr(torch, device)
            seed_all = getattr(backend, "manual_seed_all", None) or backend.manual_seed
            seed_all(seed)


def manual_seed_for(devices: Iterable[str]) -> Callable[[Any], torch.Generator]:
    """torch.manual_seed, seeding only the CPU, `devices` and a registered custom backend."""
    accelerators = [d for d in dict.fromkeys(devices) if d in ACCELERATORS]
    seed_custom = getattr(torch.random, "_seed_custom_device", None)

    def manual_seed(seed: Any) -> torch.Generator:
        seed = int(seed)
        seed_devices(seed, accelerators)
        if seed_custom is not None:
            seed_custom(seed)
        return torch.default_generator

    manual_seed.__doc__ = torch.manual_seed.__doc__
    return manual_seed


def install(devices: Iterable[str]) -> Callable[[Any], torch.Generator]:
    """Make `torch.manual_seed` (and `torch.random.manual_seed`) this child's; returns it."""
    seed = manual_seed_for(devices)
    torch.manual_seed = torch.random.manual_seed = seed  # type: ignore[assignment]
    return seed
