"""Hostile submission: looks for the reference solution, the hidden tests and their golden values on disk.

Attack: nothing is implemented; at import time it tries the absolute paths of this project
(/work/main/reference/ex2/...), the same paths relative to its working directory, the hidden golden
cache, and then walks the file system (for a few seconds) for any `solution.py`, `test_hidden.py`
or `hidden-*.json`. A solution it can read is executed into its own namespace, which would give it
full marks.
Outcome it must get: exactly 0 points (the sandbox shows it none of those files).
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

import glob
import os
import time

_WANTED = ("solution.py", "test_hidden.py", "grading.toml")
_found = []


def _try(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return
    _found.append(path)
    if "def softmax" in text and "def train" in text and "NotImplementedError" not in text:
        exec(compile(text, path, "exec"), globals())  # a real solution: take its functions


for _root in ("/work/main", "/work/main/reference", "../../work/main", "../../../work/main", "../../.."):
    for _name in ("reference/ex2/solution.py", "ex2/solution.py", "solution.py", "reference/ex2/tests/test_hidden.py",
                  "tests/test_hidden.py", "reference/ex2/grading.toml"):
        _try(os.path.join(_root, _name))
for _pattern in ("/work/*/reference/*/solution.py", "/work/*/reference/*/.golden-cache/*.json", "/**/reference/**/solution.py",
                 "../**/solution.py", "/tmp/**/solution.py", "/root/**/solution.py", "/home/**/solution.py"):
    for _path in glob.glob(_pattern, recursive=not _pattern.startswith("/**")):
        _try(_path)

_SKIP = {"/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/boot", "/snap", "/var/lib", "/etc"}
_deadline = time.monotonic() + 4
for _dirpath, _dirnames, _filenames in os.walk("/"):
    if time.monotonic() > _deadline:
        break
    _dirnames[:] = [d for d in _dirnames if os.path.join(_dirpath, d) not in _SKIP and d not in (".venv", "site-packages", ".git", ".mirror", ".library")]
    for _filename in _filenames:
        if _filename in _WANTED or (_filename.startswith("hidden-") and _filename.endswith(".json")):
            _try(os.path.join(_dirpath, _filename))

print("found:", _found)
