"""Hostile submission: monkeypatches every comparison torch and NumPy offer to say "equal".

Attack: nothing is implemented; at import time `torch.allclose`, `torch.equal`, `torch.isclose`,
their `Tensor` methods and NumPy's `allclose` / `array_equal` / `isclose` are replaced by functions
that always report a match, hoping the grader compares with them next to the student's code.
Outcome it must get: exactly 0 points; the parent compares with the golden values itself.
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

import numpy as np


def _always(*args, **kwargs):
    return True


def _all_true(a, *args, **kwargs):
    return torch.ones_like(torch.as_tensor(a), dtype=torch.bool)


torch.allclose = _always
torch.equal = _always
torch.isclose = _all_true
torch.Tensor.allclose = _always
torch.Tensor.equal = _always
torch.Tensor.isclose = _all_true
np.allclose = _always
np.array_equal = _always
np.isclose = _all_true
