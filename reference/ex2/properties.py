"""Trusted property checks of Exercise 2: judged by the grader's parent on values a submission produced.

Each rule is `rule(value) -> (passed, message)`, the message one line for the student. The value
comes from untrusted code, so every rule validates its type and shapes before using it. The
held-out data of `circles_accuracy` is generated here and never exists in the child.
"""

from __future__ import annotations

import math
from typing import Any

import torch

THETA_STAR = (3.0, 2.0)
THETA_TOLERANCE = 0.05
CIRCLES_THRESHOLD = 0.95
CIRCLES_HELD_OUT = 2000
CIRCLES_SEED = 20240921  # not the seed of the test's training data


def make_circles(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two noisy concentric circles (radii 0.5 and 1.5), labels alternating 0, 1, 0, 1, ...

    The same recipe as in the hidden test that trains on them; keep the two in step.
    """
    y = torch.arange(n) % 2
    radius = torch.where(y == 0, 0.5, 1.5) + 0.1 * torch.randn(n, generator=generator)
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1), y


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


def theta_recovered(value: Any) -> tuple[bool, str]:
    """`value` is the state_dict of an `nn.Linear(1, 1)`: its [weight, bias] must be θ* = [3, 2]."""
    params = _tensors(value, {"weight": (1, 1), "bias": (1,)})
    if isinstance(params, str):
        return False, params
    theta = (params["weight"].item(), params["bias"].item())
    shown = f"θ = [{theta[0]:.3f}, {theta[1]:.3f}]"
    error = max(abs(got - want) for got, want in zip(theta, THETA_STAR, strict=True))
    if error <= THETA_TOLERANCE:
        return True, f"{shown}, within {THETA_TOLERANCE} of θ* = [3, 2]"
    return False, f"{shown}, more than {THETA_TOLERANCE} from θ* = [3, 2]"


def circles_accuracy(value: Any) -> tuple[bool, str]:
    """`value` is the state_dict of a trained relu `MLP(2, H, 2)`: ≥ 0.95 accuracy on held-out circles."""
    params = _tensors(value, {"hidden.weight": (None, 2), "hidden.bias": (None,), "output.weight": (2, None), "output.bias": (2,)})
    if isinstance(params, str):
        return False, params
    width = params["hidden.weight"].shape[0]
    if params["hidden.bias"].shape[0] != width or params["output.weight"].shape[1] != width:
        return False, f"hidden.weight has {width} rows but hidden.bias or output.weight do not match"
    X, y = make_circles(CIRCLES_HELD_OUT, torch.Generator().manual_seed(CIRCLES_SEED))
    X = X.to(torch.float64)
    hidden = (X @ params["hidden.weight"].T + params["hidden.bias"]).clamp(min=0)
    logits = hidden @ params["output.weight"].T + params["output.bias"]
    acc = (logits.argmax(dim=1) == y).to(torch.float64).mean().item()
    if acc >= CIRCLES_THRESHOLD:
        return True, f"held-out accuracy {acc:.3f} ≥ {CIRCLES_THRESHOLD}"
    return False, f"held-out accuracy {acc:.3f}, below {CIRCLES_THRESHOLD}"
