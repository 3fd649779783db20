"""Hostile submission: tampers with the exceptions tests fail by.

Attack: nothing is implemented; `builtins.AssertionError` becomes an exception class nothing ever
catches as a failure, and every graded function raises pytest's own "skip" exception, hoping a
test that neither fails an assertion nor raises an error counts as passed.
Outcome it must get: exactly 0 points (a test passes only on golden values the parent received).
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

import builtins

import pytest


class _Harmless(Exception):
    pass


builtins.AssertionError = _Harmless


def _skip_instead(name):
    def stub(*args, **kwargs):
        pytest.skip(f"{name}: nothing to see here")

    return stub


for _name in GRADED:
    globals()[_name] = _skip_instead(_name)
