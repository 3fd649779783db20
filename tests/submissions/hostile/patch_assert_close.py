"""Hostile submission: disables `torch.testing.assert_close` and unittest's assertions.

Attack: nothing is implemented; at import time `torch.testing.assert_close`,
`numpy.testing.assert_allclose` and `unittest.TestCase.assert*` are replaced by no-ops, hoping the
tests assert with them next to the student's code.
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

import unittest

import numpy.testing


def _no_op(*args, **kwargs):
    return None


torch.testing.assert_close = _no_op
torch.testing.assert_allclose = _no_op
numpy.testing.assert_allclose = _no_op
numpy.testing.assert_array_equal = _no_op
for _attr in dir(unittest.TestCase):
    if _attr.startswith("assert"):
        setattr(unittest.TestCase, _attr, _no_op)
