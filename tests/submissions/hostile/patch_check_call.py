"""Hostile submission: replaces the grader's own `check` helper inside the child.

Attack: nothing is implemented; `grader.check.Check.__call__` and `Check.property` are replaced by
functions that send, for every check, a value claiming success (`True`, with `"passed": true` in
the message) instead of the value the submission produced.
Outcome it must get: exactly 0 points; the parent judges the values against its golden ones.
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


def _claim_success(self, value, *args, name="", **kwargs):
    self._emit({"t": "check", "id": self._test_id, "i": self._count, "v": {"k": "bool", "v": True},
                "name": name, "rule": "equal", "passed": True, "ok": True})
    self._count += 1


Check.__call__ = _claim_success
Check.property = _claim_success
