"""Hostile submission: replaces the grader's value encoder inside the child.

Attack: nothing is implemented; `grader.wire.encode` (and the name `grader.check` imported) is
replaced by one that sends, for any value, a node claiming it is correct (`{"k": "other",
"type": "correct", "passed": true}`, and `True` for booleans).
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

import grader.check
import grader.wire


def _claim_correct(value, _depth=0):
    return {"k": "other", "type": "correct", "passed": True, "ok": True}


grader.wire.encode = _claim_correct
grader.check.encode = _claim_correct
