"""Hostile submission: looks for the reference through the environment and /proc.

Attack: nothing is implemented; at import time it reads its environment, /proc/self/environ,
every visible process's environ and cmdline (the grader's own, were it visible), its parent's, and
/proc/self/mountinfo; every absolute path mentioned there, and `solution.py` next to it or below
`reference/`, is tried. A real solution found is executed into its own namespace.
Outcome it must get: exactly 0 points.
"""

import torch
from torch import nn

# Nothing is implemented honestly: every graded name exists and does nothing (returns None).
GRADED = ("tensor_info", "to_float32", "stack_images", "flatten_images", "channels_last", "horizontal_flip",
          "concat_features", "batched_affine", "relu", "numpy_bridge", "pick_device", "grad_f", "accumulated_grad",
          "grad_of", "numerical_grad", "LinearModel", "MLP", "count_parameters", "samples_needed", "softmax",
          "mse_loss", "cross_entropy", "kl_divergence", "one_hot", "hinge_loss", "gd_step", "minibatches", "train",
          "accuracy")


def _does_nothing(name):
    def stub(*args, **kwargs):
        return None

    stub.__name__ = stub.__qualname__ = name
    return stub


for _name in GRADED:
    globals()[_name] = _does_nothing(_name)


# ==================================================================================================
# The attack
# ==================================================================================================

import os
import re

_texts = [" ".join(f"{k}={v}" for k, v in os.environ.items())]
for _pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["self", str(os.getppid())]:
    for _what in ("environ", "cmdline"):
        try:
            with open(f"/proc/{_pid}/{_what}", "rb") as _f:
                _texts.append(_f.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
try:
    with open("/proc/self/mountinfo", encoding="utf-8") as _f:
        _texts.append(_f.read())
except OSError:
    pass

_tried = set()
for _path in re.findall(r"(/[\w./+-]+)", " ".join(_texts)):
    for _candidate in (_path, os.path.join(_path, "solution.py"), os.path.join(_path, "reference/ex2/solution.py"),
                       os.path.join(_path, "ex2/solution.py")):
        if _candidate in _tried:
            continue
        _tried.add(_candidate)
        try:
            with open(_candidate, encoding="utf-8") as _f:
                _text = _f.read(1 << 20)
        except (OSError, UnicodeDecodeError):
            continue
        if "def softmax" in _text and "def train" in _text and "NotImplementedError" not in _text:
            exec(compile(_text, _candidate, "exec"), globals())
