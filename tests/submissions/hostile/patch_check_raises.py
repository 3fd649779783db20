"""Hostile submission: forges the outcome of the grader's `check.raises`.

Attack: nothing is implemented; `grader.check.Check.raises` is replaced by a function that never
calls the submission and reports that exactly the expected exception was raised. Tests that only
check that bad input raises `ValueError` (stack_images, MLP, train) are its target.
Outcome it must get: exactly 0 points (it implements nothing).
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

from grader.check import Check
from grader.wire import encode


def _claim_raised(self, expected, fn, *args, **kwargs):
    outcome = {"raised": expected.__name__, "matches": True, "message": ""}
    self._send(encode(outcome), {"rule": "raises", "expected": expected.__name__}, "")


Check.raises = _claim_raised
