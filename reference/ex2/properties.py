"""Trusted property checks of Exercise 2: judged by the grader's parent on values a submission produced.

Each rule is `rule(value, *, seed) -> (passed, message)`, the message one line for the student.
`seed` is the run's input seed, the one the test drew its training data from: what a rule expects
(θ*, the circles) is derived from it exactly as the hidden test derives its data, so a value
recorded for one seed (or θ* = [3, 2] read from the lecture) fails for another. The value comes
from untrusted code, so every rule validates its type and shapes before using it. The held-out
data of `circles_accuracy` is drawn here, from a stream the test never uses, and never exists in
the child.

The helpers `_stream`, `_theta_star`, `_circles_geometry` and `_make_circles` have twins in
`tests/test_hidden.py`: keep the two in step.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

import torch

THETA_TOLERANCE = 0.05
CIRCLES_THRESHOLD = 0.95
CIRCLES_HELD_OUT = 2000

# input streams of the run's seed (the hidden test uses the same numbers for the same things)
THETA_STREAM = 530
CIRCLES_GEOMETRY_STREAM = 531
CIRCLES_HELD_OUT_STREAM = 20240921  # never used by a test: the held-out points exist only here


def _stream(seed: int, stream: int) -> int:
    """A 63-bit seed for one input stream of the run's `seed` (any int, however large)."""
    digest = hashlib.blake2b(f"ex2/{seed}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _theta_star(seed: int) -> tuple[float, float]:
    """The true [weight, bias] of the regression data for `seed`: |w| in [1, 4], b in [-3, 3],
    never close to the lecture's [3, 2]."""
    rng = random.Random(_stream(seed, THETA_STREAM))
    while True:
        theta = (rng.choice((-1.0, 1.0)) * rng.uniform(1.0, 4.0), rng.uniform(-3.0, 3.0))
        if max(abs(theta[0] - 3.0), abs(theta[1] - 2.0)) > 0.25:
            return theta


def _circles_geometry(seed: int) -> tuple[tuple[float, float], float, float, int]:
    """(centre, inner radius, outer radius, label of the inner circle) of the circles for `seed`."""
    rng = random.Random(_stream(seed, CIRCLES_GEOMETRY_STREAM))
    angle, distance = rng.uniform(0.0, 2 * math.pi), rng.uniform(0.75, 1.25)
    inner = rng.uniform(0.4, 0.6)
    outer = inner + rng.uniform(0.9, 1.1)
    return (distance * math.cos(angle), distance * math.sin(angle)), inner, outer, rng.randrange(2)


def _make_circles(n: int, generator: torch.Generator, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two noisy concentric circles of `seed`'s geometry, labels alternating 0, 1, 0, 1, ..."""
    (cx, cy), inner, outer, inner_label = _circles_geometry(seed)
    y = torch.arange(n) % 2
    radius = torch.where(y == inner_label, inner, outer) + 0.1 * torch.randn(n, generator=generator)
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    return torch.stack([cx + radius * angle.cos(), cy + radius * angle.sin()], dim=1), y


def _tensors(value: Any, shapes: dict[str, tuple[int | None, ...]]) -> dict[str, torch.Tensor] | str:
    """The value as a dict of finite floating tensors with these keys and shapes, or what is wrong."""
    expected = f"expected a state_dict with keys {', '.join(shapes)}"
    if not isinstance(value, dict) or set(value) != set(shapes):
        got = sorted(str(k) for k in value)[:6] if isinstance(value, dict) else type(value).__name__
        return f"{expected}, got {got}"
    out = {}
    for key, shape in shapes.items():
        t = value[key]
        if not isinstance(t, torch.Tensor) or t.device.type != "cpu" or not t.is_floating_point():
            return f"{expected}: {key} is not a floating-point tensor"
        if t.ndim != len(shape) or any(want is not None and got != want for got, want in zip(t.shape, shape, strict=True)):
            return f"{expected}: {key} has shape {tuple(t.shape)}"
        if not torch.isfinite(t).all():
            return f"{key} holds NaN or infinite values"
        out[key] = t.detach().to(torch.float64)
    return out


def theta_recovered(value: Any, *, seed: int) -> tuple[bool, str]:
    """`value` is the state_dict of an `nn.Linear(1, 1)`: its [weight, bias] must be the θ* that
    generated the test's data for `seed`, within THETA_TOLERANCE."""
    params = _tensors(value, {"weight": (1, 1), "bias": (1,)})
    if isinstance(params, str):
        return False, params
    theta = (params["weight"].item(), params["bias"].item())
    errors = [abs(got - want) for got, want in zip(theta, _theta_star(seed), strict=True)]
    if max(errors) <= THETA_TOLERANCE:
        return True, f"θ within {THETA_TOLERANCE} of the data's true θ*"
    # no number: hidden feedback says which part is off, never a value near θ* (a trained θ
    # that is almost right would show it to three digits)
    off = " and ".join(name for name, e in zip(("weight", "bias"), errors, strict=True) if e > THETA_TOLERANCE)
    return False, f"the {off} {'are' if ' and ' in off else 'is'} more than {THETA_TOLERANCE} from the data's true θ*"


def circles_accuracy(value: Any, *, seed: int) -> tuple[bool, str]:
    """`value` is the state_dict of a trained relu `MLP(2, H, 2)`: ≥ 0.95 accuracy on held-out
    points of `seed`'s circles."""
    params = _tensors(value, {"hidden.weight": (None, 2), "hidden.bias": (None,), "output.weight": (2, None), "output.bias": (2,)})
    if isinstance(params, str):
        return False, params
    width = params["hidden.weight"].shape[0]
    if params["hidden.bias"].shape[0] != width or params["output.weight"].shape[1] != width:
        return False, f"hidden.weight has {width} rows but hidden.bias or output.weight do not match"
    X, y = _make_circles(CIRCLES_HELD_OUT, torch.Generator().manual_seed(_stream(seed, CIRCLES_HELD_OUT_STREAM)), seed)
    X = X.to(torch.float64)
    hidden = (X @ params["hidden.weight"].T + params["hidden.bias"]).clamp(min=0)
    logits = hidden @ params["output.weight"].T + params["output.bias"]
    acc = (logits.argmax(dim=1) == y).to(torch.float64).mean().item()
    if acc >= CIRCLES_THRESHOLD:
        return True, f"held-out accuracy {acc:.3f} ≥ {CIRCLES_THRESHOLD}"
    return False, f"held-out accuracy {acc:.3f}, below {CIRCLES_THRESHOLD}"
