"""Hostile submission: reads every file descriptor it inherited, looking for the reference.

Attack: nothing is implemented; at import time it reads (without blocking) from file descriptors
0 to 255, from their start where they can seek, and also from /proc/self/fd/N reopened, hoping the
grader left the reference, the hidden tests or golden values open. Source of a solution is executed
into its own namespace.
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

import fcntl
import os

_seen = []
for _fd in range(256):
    _chunks = []
    try:
        _flags = fcntl.fcntl(_fd, fcntl.F_GETFL)
    except OSError:
        continue
    try:
        fcntl.fcntl(_fd, fcntl.F_SETFL, _flags | os.O_NONBLOCK)
        try:
            _chunks.append(os.pread(_fd, 1 << 20, 0))
        except OSError:
            _chunks.append(os.read(_fd, 1 << 20))
    except OSError:
        pass
    finally:
        fcntl.fcntl(_fd, fcntl.F_SETFL, _flags)
    try:
        _again = os.open(f"/proc/self/fd/{_fd}", os.O_RDONLY | os.O_NONBLOCK)
        try:
            _chunks.append(os.read(_again, 1 << 20))
        finally:
            os.close(_again)
    except OSError:
        pass
    for _data in _chunks:
        _text = _data.decode(errors="replace")
        _seen.append((_fd, len(_data)))
        if "def softmax" in _text and "def train" in _text and "NotImplementedError" not in _text:
            exec(compile(_text, f"fd {_fd}", "exec"), globals())
