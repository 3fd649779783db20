"""Hostile submission: rewrites pytest's reporting so that every test reports "passed".

Attack: nothing is implemented; at import time `_pytest.runner.call_and_report` and
`TestReport.from_item_and_call` are wrapped to turn every outcome into "passed", `TestReport.failed`
always says False, and a plugin whose `pytest_runtest_makereport` / `pytest_runtest_logreport`
hooks force "passed" is registered into the running session (found through `gc`).
Outcome it must get: exactly 0 points; the parent never reads pytest's verdicts.
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

import _pytest.runner
import pytest
from _pytest.reports import TestReport

_from_item_and_call = TestReport.from_item_and_call.__func__


def _passed(report):
    report.outcome = "passed"
    report.longrepr = None
    return report


TestReport.from_item_and_call = classmethod(lambda cls, item, call: _passed(_from_item_and_call(cls, item, call)))
TestReport.failed = property(lambda self: False)
_call_and_report = _pytest.runner.call_and_report
_pytest.runner.call_and_report = lambda *args, **kwargs: _passed(_call_and_report(*args, **kwargs))


class _AlwaysPassed:
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        return _passed((yield))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        _passed(report)


for _obj in gc.get_objects():
    if type(_obj).__name__ == "Config" and hasattr(_obj, "pluginmanager"):
        _obj.pluginmanager.register(_AlwaysPassed(), "always-passed")
