"""Hostile submission: makes `math.isclose` (and NumPy's) always true.

Attack: nothing is implemented; `math.isclose`, `numpy.isclose` and `numpy.allclose` are replaced
by functions that always say "close", hoping scalar answers are compared with them in the child.
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

import math

import numpy as np

math.isclose = lambda *args, **kwargs: True
np.isclose = lambda a, *args, **kwargs: np.ones_like(np.asarray(a), dtype=bool)
np.allclose = lambda *args, **kwargs: True
