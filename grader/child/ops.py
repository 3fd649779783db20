"""Counting what a test's code dispatches: matrix products and autograd runs.

A `how` rule ("vectorised", "autograd") is judged partly from these counts, so they are sent to
the parent with the end of a test. They are the child's to forge: the parent uses a count only to
take points away (a forger escapes the check, never gains a point), and prefers its own reading
of the source where that can decide (see docs/security.md).
"""

from __future__ import annotations

from typing import Any

from torch.overrides import TorchFunctionMode

# torch functions (by __name__) that multiply matrices: one of them per batch where a loop makes one a row
MATMUL = frozenset(
    {
        "matmul",
        "__matmul__",
        "__rmatmul__",
        "mm",
        "bmm",
        "addmm",
        "addmm_",
        "addbmm",
        "baddbmm",
        "mv",
        "addmv",
        "dot",
        "vdot",
        "inner",
        "linear",
        "bilinear",
        "einsum",
        "tensordot",
        "chain_matmul",
        "multi_dot",
        "vecdot",
    }
)
AUTOGRAD = frozenset({"backward", "grad", "vjp", "jvp", "jacobian", "hessian"})


class OpCounter(TorchFunctionMode):
    """Counts, while active, the matrix products and autograd runs that reach torch's functions
    (calls made inside a counted function, `F.linear` inside `nn.Linear`, say, count once)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = {"matmul": 0, "autograd": 0}

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        name = getattr(func, "__name__", "")
        if name in MATMUL:
            self.counts["matmul"] += 1
        elif name in AUTOGRAD:
            self.counts["autograd"] += 1
        return func(*args, **(kwargs or {}))
