"""Hostile submission: looks for expected values in its callers' frames and in the heap.

Attack: nothing is implemented; every graded function walks its callers' frames (`sys._getframe`,
`inspect.stack()`) and every object `gc` knows, for anything that looks like an expected answer
(local variables named expected/golden/want/answer/reference, golden-value records, dicts holding
"golden" or "checks"), and returns the first one found.
Outcome it must get: exactly 0 points (the child never holds a golden value).
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
import inspect
import sys

_heap = []
_NAMES = ("expected", "golden", "want", "wanted", "answer", "reference", "ref", "target_value", "goldens")


def _find_answer():
    frame = sys._getframe(1)
    while frame is not None:
        for key, value in frame.f_locals.items():
            if key.lower() in _NAMES:
                return value
        frame = frame.f_back
    for info in inspect.stack(context=0):
        for key, value in info.frame.f_locals.items():
            if key.lower() in _NAMES:
                return value
    if not _heap:  # the heap is searched once per process: it is large
        _heap.append(None)
        for obj in gc.get_objects():
            kind = type(obj).__name__
            if kind in ("GoldenTest", "GoldenSet", "Golden") or (
                    isinstance(obj, dict) and ("golden" in obj or ("checks" in obj and "points" in obj))):
                _heap[0] = obj
                break
    return _heap[0]


def _searching(name):
    def stub(*args, **kwargs):
        return _find_answer()

    stub.__name__ = name
    return stub


for _name in GRADED:
    globals()[_name] = _searching(_name)
