"""Wraps the callables an exercise forbids so that a call from outside torch is noted by name.

Only calls whose caller is not torch itself count: `nn.ReLU.forward` calling `F.relu` is torch's
business; a submission calling `F.relu` is the student's. The parent decides what a noted call
costs; the names noted travel with the end of each test.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Any

import torch

_TORCH_DIR = os.path.dirname(torch.__file__)


def _resolve(dotted: str) -> tuple[Any, str]:
    """'torch.nn.functional.relu' -> (torch.nn.functional, 'relu'); also 'torch.Tensor.relu'."""
    owner_path, _, attr = dotted.rpartition(".")
    parts = owner_path.split(".")
    owner: Any = importlib.import_module(parts[0])
    for part in parts[1:]:
        owner = getattr(owner, part)
    return owner, attr


class ForbiddenCalls:
    def __init__(self, forbidden: dict[str, list[str]]) -> None:
        self.names = sorted({name for names in forbidden.values() for name in names})
        self._called: set[str] = set()

    def reset(self) -> None:
        self._called = set()

    def called(self) -> list[str]:
        return sorted(self._called)

    def _note(self, name: str) -> None:
        caller = sys._getframe(2).f_code.co_filename
        if not caller.startswith(_TORCH_DIR):
            self._called.add(name)

    def install(self) -> None:
        for dotted in self.names:
            try:
                owner, attr = _resolve(dotted)
                original = getattr(owner, attr)
            except (ImportError, AttributeError):
                continue
            setattr(owner, attr, self._wrap(dotted, original))

    def _wrap(self, dotted: str, original: Any) -> Any:
        note = self._note
        if isinstance(original, type):

            def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
                note(dotted)
                original.__init__(self, *args, **kwargs)  # type: ignore[misc]

            wrapped = type(
                original.__name__,
                (original,),
                {"__init__": __init__, "__module__": original.__module__},
            )
            return wrapped

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            note(dotted)
            return original(*args, **kwargs)

        return wrapper
