"""Keep torch.compile's machinery out of a child that never compiles anything.

A torch optimizer imports the whole of `torch._dynamo` (some 800 modules, about a second) the
first time it is used, only to tell Dynamo how to trace it:

- `add_param_group`, `zero_grad`, `state_dict` and `load_state_dict` are wrapped in
  `torch._disable_dynamo`, which imports `torch._dynamo` to build the disabled version on the
  first call (so are the Python reference ops behind the `meta` device, such as `cat`);
- `step` is wrapped in `_use_grad`, which imports `torch._dynamo` on every call to put a
  `graph_break()` (a function that does nothing when called outside tracing) around the update.

Until something imports `torch._dynamo`, nothing can be traced, so both wrappers amount to plain
calls. Each of these methods gets a stand-in that does exactly what torch's wrapper does when
nothing is traced, and hands over to torch's wrapper as soon as `torch._dynamo` is imported (say,
by `torch.compile`). Where a torch version wraps differently from what is checked here, nothing is
changed, and the import happens as it would anyway.
"""

from __future__ import annotations

import functools
import gc
import sys
import types
from collections.abc import Callable
from typing import Any

# What torch's `_use_grad` refers to, in order: another body means another wrapper, left alone.
USE_GRAD_NAMES = (
    "torch._dynamo",
    "cast",
    "Optimizer",
    "is_grad_enabled",
    "set_grad_enabled",
    "defaults",
    "_dynamo",
    "graph_break",
)


def dynamo_imported() -> bool:
    return "torch._dynamo" in sys.modules


def defer_dynamo_import() -> int:
    """Give the optimizers' wrapped methods their stand-ins; how many were given one."""
    import torch
    import torch.optim.optimizer as optimizer

    if dynamo_imported():
        return 0
    return _defer_disabled(torch) + _defer_graph_breaks(torch, optimizer)


def _defer_disabled(torch: Any) -> int:
    """`torch._disable_dynamo` keeps its disabled version as `fn.__dynamo_disable`: preset it, for
    every function wrapped so far (the optimizers' methods, the reference ops of the meta device)."""
    disable_dynamo = getattr(torch, "_disable_dynamo", None)
    if disable_dynamo is None:
        return 0
    code = disable_dynamo(lambda: None).__code__
    if "__dynamo_disable" not in code.co_names or "fn" not in code.co_freevars:
        return 0
    seeded = 0
    for wrapper in gc.get_referrers(
        code
    ):  # each wrapper's function object refers to the shared code
        if (
            not isinstance(wrapper, types.FunctionType)
            or wrapper.__code__ is not code
            or wrapper.__closure__ is None
        ):
            continue
        fn = wrapper.__closure__[code.co_freevars.index("fn")].cell_contents
        if callable(fn) and getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = _direct_until_dynamo(wrapper, fn)
            seeded += 1
    return seeded


def _direct_until_dynamo(wrapper: Callable[..., Any], fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not dynamo_imported():
            return fn(*args, **kwargs)
        fn.__dynamo_disable = None  # type: ignore[attr-defined]  # torch's wrapper builds its own now
        return wrapper(*args, **kwargs)

    return call


def _defer_graph_breaks(torch: Any, optimizer: Any) -> int:
    """Replace each optimizer's `_use_grad`-wrapped `step` by one without the graph breaks."""
    make = getattr(optimizer, "_use_grad_for_differentiable", None)
    if make is None:
        return 0
    code = make(lambda *a, **k: None).__code__
    if code.co_names != USE_GRAD_NAMES or code.co_freevars != ("func",):
        return 0
    replaced = 0
    for cls in vars(torch.optim).values():
        wrapper = (
            vars(cls).get("step")
            if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)
            else None
        )
        if (
            wrapper is not None
            and getattr(wrapper, "__code__", None) is code
            and wrapper.__closure__ is not None
        ):
            cls.step = _step_until_dynamo(torch, wrapper, wrapper.__closure__[0].cell_contents)
            replaced += 1
    return replaced


def _step_until_dynamo(
    torch: Any, wrapper: Callable[..., Any], func: Callable[..., Any]
) -> Callable[..., Any]:
    """torch's `_use_grad` without `torch._dynamo.graph_break()` around `func`, while nothing traces."""

    @functools.wraps(func)
    def step(*args: Any, **kwargs: Any) -> Any:
        if dynamo_imported():
            return wrapper(*args, **kwargs)
        self = args[0]
        prev_grad = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(self.defaults["differentiable"])
            return func(*args, **kwargs)
        finally:
            torch.set_grad_enabled(prev_grad)

    return step
