"""Hostile submission: rewrites every message the grader's child plugin sends to the parent.

Attack: nothing is implemented; the running `ChildPlugin` instance is found with `gc` and its
`emit` replaced: end-of-test messages lose their error and forbidden calls and gain
`"passed": true`, every check value becomes `True`, and a forged `"result"` message claims full
marks before the session's `"done"`.
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

import gc

gc.unfreeze()  # the grader freezes what it imported before a submission runs: let gc see it all again


def _forging(emit):
    def forged(message):
        message = dict(message)
        if message.get("t") == "end":
            message.pop("error", None)
            message.pop("where", None)
            message["forbidden"] = []
            message["passed"] = True
        if message.get("t") == "check":
            message["v"] = {"k": "bool", "v": True}
            message["passed"] = True
        if message.get("t") == "done":
            emit({"t": "result", "score": 100, "max_score": 100, "passed": True})
        return emit(message)

    return forged


for _obj in gc.get_objects():
    if type(_obj).__name__ == "ChildPlugin":
        _obj.emit = _forging(_obj.emit)
