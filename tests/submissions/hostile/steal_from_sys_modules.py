"""Hostile submission: takes implementations of the graded functions from modules already loaded.

Attack: nothing is implemented; every graded name is looked up in `sys.modules` (any module but its
own: the reference solution, were it imported, or the hidden tests) under its own name and as the
`_known_good_<name>` helpers the hidden tests define to isolate functions from each other.
Outcome it must get: exactly 0 points (the child holds no implementation of a graded function).
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

import sys

_me = sys.modules.get(__name__)
_taken = []
for _module_name, _module in list(sys.modules.items()):
    if _module is None or _module is _me or _module_name.startswith(("torch", "numpy", "_pytest", "pytest", "builtins")):
        continue
    if "hidden" not in _module_name and "solution" not in _module_name and "reference" not in _module_name:
        continue
    for _name in GRADED:
        for _candidate in (_name, f"_known_good_{_name}"):
            _fn = getattr(_module, _candidate, None)
            if callable(_fn):
                globals()[_name] = _fn
                _taken.append(f"{_module_name}.{_candidate}")
print("taken:", _taken)
