"""The static forbidden-call scanner (grader/static_calls.py), run in the trusted parent.

Real submissions that cheat one way each (tests/submissions/forbidden/), the honest ones (reference,
tests/submissions/ex2/, the test notebooks) and honest idioms that must not be charged, the
deny-by-default cases, and robustness (random damage never raises; the whole reference is fast).
No grading runs: `forbidden_uses` is called on the cells `load_submission` builds.
"""

from __future__ import annotations

import ast
import random
import textwrap
import time
from pathlib import Path

import pytest

import grader.static_calls as static_calls
from grader._exceptions import SubmissionError
from grader.config import load_config
from grader.static_calls import UNRESOLVABLE, Use, forbidden_uses
from grader.submission import Cell, load_submission

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "reference" / "ex2" / "solution.py"
CHEATS = ROOT / "tests" / "submissions" / "forbidden"
HONEST = ROOT / "tests" / "submissions" / "ex2"
FORBIDDEN = load_config(ROOT / "reference" / "ex2" / "grading.toml").forbidden_calls()
LISTED = sorted(FORBIDDEN)  # the graded names with a forbidden list: relu and the Losses part
EVERYONE_DENIED = {f: {UNRESOLVABLE} for f in LISTED}


def scan_file(path: Path) -> dict[str, list[Use]]:
    return forbidden_uses(load_submission(path, module="ex2").cells, FORBIDDEN)


def scan(*sources: str, forbidden: dict[str, list[str]] | None = None) -> dict[str, list[Use]]:
    """Each source one notebook cell, in order."""
    cells = [Cell(i, f"cell {i + 1}", textwrap.dedent(s)) for i, s in enumerate(sources)]
    return forbidden_uses(cells, FORBIDDEN if forbidden is None else forbidden)


def charged(result: dict[str, list[Use]]) -> dict[str, set[str]]:
    return {f: {u.name for u in uses} for f, uses in result.items() if uses}


# -- the cheating submissions -----------------------------------------------------------------------

# file -> (function -> the names it is charged with, a snippet of the line a use must point at)
CHEAT_CASES = {
    "layer_class_by_module_path": (
        {"relu": {"torch.nn.ReLU"}},
        "torch.nn.modules.activation.ReLU()(x)",
    ),
    "reference_saved_at_import": ({"relu": {"torch.relu"}}, "_fast_relu = torch.relu"),
    "aten_op_by_another_name": ({"relu": {"torch.relu"}}, "torch.ops.aten.relu.default(x)"),
    "torch_c_variable_functions": (
        {"softmax": {"torch.softmax"}},
        "torch._C._VariableFunctions.softmax",
    ),
    "detector_silenced_via_gc": (
        {**EVERYONE_DENIED, "relu": {"torch.relu", UNRESOLVABLE}},
        "return torch.relu(x)",
    ),
    "forged_code_filename": (
        {**EVERYONE_DENIED, "relu": {"torch.relu", UNRESOLVABLE}},
        "exec(compile(",
    ),
    "default_argument": ({"relu": {"torch.relu"}}, "_f=torch.relu"),
    "getattr_computed_name": ({"relu": {"torch.relu"}}, 'getattr(torch, "re" + "lu")'),
    "from_import_alias": ({"relu": {"torch.relu"}}, "return r(x)"),
    "functional_alias": ({"softmax": {"torch.nn.functional.softmax"}}, "F.softmax(z, dim=dim)"),
    "tensor_method": ({"softmax": {"torch.Tensor.softmax"}}, "z.softmax(dim)"),
    "helper_function": (
        {"cross_entropy": {"torch.log_softmax"}},
        "torch.log_softmax(logits, dim=1)",
    ),
    "eval_string": ({"relu": {"torch.relu", UNRESOLVABLE}}, 'eval("torch.relu")'),
}


def test_every_cheat_file_has_a_case():
    assert sorted(p.stem for p in CHEATS.glob("*.py")) == sorted(CHEAT_CASES)


@pytest.mark.parametrize("name", sorted(CHEAT_CASES))
def test_cheat_is_charged_to_the_function_it_helps(name):
    expected, snippet = CHEAT_CASES[name]
    path = CHEATS / f"{name}.py"
    result = scan_file(path)
    assert set(result) == set(FORBIDDEN)
    assert charged(result) == expected
    lines = path.read_text(encoding="utf-8").splitlines()
    function = "relu" if "relu" in expected else next(iter(expected))
    uses = result[function]
    assert all(u.label == path.name and u.how for u in uses)
    assert any(snippet in lines[u.line - 1] for u in uses), [(u.line, u.how) for u in uses]


def test_the_use_says_how_the_alias_was_made():
    [use] = scan_file(CHEATS / "functional_alias.py")["softmax"]
    assert use.how == "F.softmax (import torch.nn.functional as F)"
    uses = scan_file(CHEATS / "from_import_alias.py")["relu"]
    assert {u.how for u in uses} == {
        "from torch import relu as r",
        "r (from torch import relu as r)",
    }
    [use] = scan_file(CHEATS / "getattr_computed_name.py")["relu"]
    assert use.how == "getattr(torch, 're' + 'lu')"


def test_module_level_gc_digging_counts_for_every_function_with_a_list():
    result = scan_file(CHEATS / "detector_silenced_via_gc.py")
    for function in LISTED:
        assert any(
            u.name == UNRESOLVABLE and "gc.get_objects" in u.how for u in result[function]
        ), function


# -- honest submissions and idioms: nothing charged ------------------------------------------------


@pytest.mark.parametrize("path", [SOLUTION, *sorted(HONEST.glob("*.py"))], ids=lambda p: p.name)
def test_honest_submission_is_not_charged(path):
    result = scan_file(path)
    assert set(result) == set(FORBIDDEN)
    if path.name == "bug_relu.py":  # honest about it: its bug is calling torch.relu
        assert charged(result) == {"relu": {"torch.relu"}}
    else:
        assert charged(result) == {}, [(f, u) for f, uses in result.items() for u in uses]


def _notebooks() -> list[Path]:
    out = []
    for path in sorted((ROOT / "tests" / "notebooks").glob("*.ipynb")):
        try:
            load_submission(path, module="ex2")
        except SubmissionError:  # the unloadable ones are tested elsewhere
            continue
        out.append(path)
    return out


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_honest_notebook_is_not_charged(path):
    cells = load_submission(path, module="ex2").cells
    assert charged(forbidden_uses(cells, FORBIDDEN)) == {}


IDIOMS = {
    "relu by clamp, maximum, where, mask": """
        import torch
        def relu(x):
            a = x.clamp(min=0)
            b = torch.clamp(x, min=0.0)
            c = torch.maximum(x, torch.zeros_like(x))
            d = torch.where(x > 0, x, torch.zeros((), dtype=x.dtype, device=x.device))
            e = x * (x > 0)
            return x.clamp_min(0) if a is not None else (b, c, d, e)
    """,
    "stable softmax": """
        import torch
        def softmax(z, dim=-1):
            shifted = z - z.max(dim=dim, keepdim=True).values
            e = torch.exp(shifted)
            return e / e.sum(dim=dim, keepdim=True)
    """,
    "softmax by logsumexp": """
        import torch
        def softmax(z, dim=-1):
            return (z - torch.logsumexp(z, dim=dim, keepdim=True)).exp()
    """,
    "cross entropy by gather and fancy indexing": """
        import torch
        def cross_entropy(logits, targets):
            n = logits.shape[0]
            picked = logits[torch.arange(n, device=logits.device), targets]
            also = logits.gather(1, targets.unsqueeze(1)).squeeze(1)
            return (torch.logsumexp(logits, dim=1) - picked).mean() + 0 * also.sum()
    """,
    "one hot three ways": """
        import torch
        import numpy as np
        def one_hot(targets, num_classes):
            a = torch.eye(num_classes, device=targets.device)[targets]
            b = torch.zeros(len(targets), num_classes).scatter_(1, targets.unsqueeze(1), 1.0)
            c = torch.from_numpy(np.eye(num_classes, dtype=np.float32)[targets.cpu().numpy()])
            return (targets[:, None] == torch.arange(num_classes, device=targets.device)).float()
    """,
    "mse and kl with elementary ops": """
        import torch
        def mse_loss(pred, target):
            return torch.sum((pred - target).pow(2)) / pred.shape[0]
        def kl_divergence(p, q):
            terms = torch.where(p > 0, p * (p / q).log(), torch.zeros_like(p))
            return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=1).mean() + 0 * terms.sum()
    """,
    "hinge loss may use relu (only relu may not)": """
        import torch
        import torch.nn.functional as F
        def hinge_loss(scores, targets, margin=1.0):
            true = scores.gather(1, targets.unsqueeze(1))
            margins = F.relu(scores - true + margin) + torch.relu(scores - true) * 0
            is_true = torch.nn.functional.pad(margins, (0, 0))
            return margins.masked_fill(is_true == 0, 0).sum(dim=1).mean()
    """,
    "MLP may use nn.ReLU, F.relu, torch.relu and F.softmax": """
        import torch
        from torch import nn
        import torch.nn.functional as F
        class MLP(nn.Module):
            act = nn.ReLU
            def __init__(self, d_in, d_hidden, d_out, activation="relu"):
                super().__init__()
                self.hidden = nn.Linear(d_in, d_hidden)
                self.output = nn.Linear(d_hidden, d_out)
                self.layers = nn.Sequential(self.hidden, nn.ReLU(), self.output)
                for i in range(2):
                    setattr(self, f"extra{i}", nn.Linear(d_out, d_out))
            def forward(self, x):
                h = F.relu(self.hidden(x)) + torch.relu(x.sum()) * 0
                return self.output(h.relu())
            def probabilities(self, x):
                return F.softmax(self.forward(x), dim=1) + getattr(self, "extra" + "0")(x).softmax(1) * 0
    """,
    "train may use F.cross_entropy; accuracy may use softmax": """
        import torch
        import torch.nn.functional as F
        def train(model, X, y, *, loss_fn=F.cross_entropy, epochs=1, lr=0.1):
            opt = torch.optim.SGD(model.parameters(), lr=lr)
            for _ in range(epochs):
                opt.zero_grad()
                loss = loss_fn(model(X), y)
                loss.backward()
                opt.step()
            return [loss.item()]
        def accuracy(model, X, y):
            model.eval()
            with torch.no_grad():
                return (model(X).softmax(dim=1).argmax(dim=1) == y).float().mean().item()
    """,
    "own helpers, classes, closures, comprehensions": """
        import math
        import torch
        class _Stable:
            @staticmethod
            def logsumexp(z, dim):
                m = z.amax(dim=dim, keepdim=True)
                return m + (z - m).exp().sum(dim=dim, keepdim=True).log()
            def softmax(self, z, dim):
                return (z - self.logsumexp(z, dim)).exp()
        _STABLE = _Stable()
        def _log_softmax(z, dim):
            return z - _Stable.logsumexp(z, dim)
        def softmax(z, dim=-1):
            scale = lambda t: t * 1.0
            parts = [scale(row) for row in z.unbind(0)] if z.dim() > 1 else [z]
            if (n := len(parts)) > 0:
                pass
            return _STABLE.softmax(z, dim) if n else _log_softmax(z, dim).exp()
        def cross_entropy(logits, targets, model=None):
            if model is not None:
                model.eval()
            log_probs = _log_softmax(logits, dim=1)
            return -log_probs[range(len(targets)), targets].mean() * math.log(math.e)
    """,
    "constant getattr and computed getattr on a plain module or own object": """
        import math
        import torch
        class Losses:
            def mse(self, pred, target):
                return ((pred - target) ** 2).sum() / pred.shape[0]
            def pick(self, name):
                return getattr(self, name)
        def mse_loss(pred, target):
            shape = getattr(pred, "shape")
            fn = getattr(math, "sq" + "rt")
            name = "s" + "qrt" if shape else "exp"
            root = getattr(math, name)
            return Losses().pick("mse")(pred, target) * fn(1.0) * root(1.0)
    """,
    "control flow: match, try, with, while, async, global, nonlocal": """
        import torch
        COUNT = 0
        def one_hot(targets, num_classes):
            global COUNT
            COUNT += 1
            out = torch.zeros(len(targets), num_classes)
            def bump():
                nonlocal out
                out = out + 0
            bump()
            match num_classes:
                case 0:
                    return out
                case int(n) if n > 0:
                    pass
            try:
                with torch.no_grad():
                    i = 0
                    while i < len(targets):
                        out[i, targets[i]] = 1.0
                        i += 1
            except (IndexError, RuntimeError) as error:
                raise ValueError(str(error)) from error
            finally:
                pass
            return out
        async def _later():
            return await _later()
    """,
    "notebook demo cells comparing with torch's own": """
        import gc, sys, inspect
        import torch
        sys.path.append(".")
        def relu(x):
            return x.clamp(min=0)
        def softmax(z, dim=-1):
            e = (z - z.amax(dim=dim, keepdim=True)).exp()
            return e / e.sum(dim=dim, keepdim=True)
        def compare(mine, theirs, x):
            return torch.allclose(mine(x), theirs(x))
        x = torch.randn(3, 4)
        assert torch.allclose(relu(x), torch.relu(x))
        print(compare(relu, torch.relu, x), compare(softmax, torch.softmax, x))
        print(softmax(x), torch.nn.functional.softmax(x, dim=-1))
        for name in ["relu", "softmax"]:
            print(name, globals()[name](x))
        gc.collect()
        print(inspect.getsource(relu))
        if __name__ == "__main__":
            y = torch.softmax(x, dim=1)
    """,
    "annotations, decorators, star imports of plain modules": """
        from __future__ import annotations
        import functools
        from math import *
        from typing import Callable
        import torch
        def memo(f: Callable) -> Callable:
            return functools.wraps(f)(lambda *a: f(*a))
        @memo
        def kl_divergence(p: "torch.Tensor", q: torch.Tensor) -> torch.Tensor:
            return (p * (p.log() - q.log())).sum(dim=1).mean() * exp(0)
    """,
}


@pytest.mark.parametrize("name", sorted(IDIOMS))
def test_honest_idiom_is_not_charged(name):
    result = scan(IDIOMS[name])
    assert charged(result) == {}, [(f, u) for f, uses in result.items() for u in uses]


def test_notebook_cells_share_one_namespace_and_later_definitions_win():
    imported_then_defined = scan(
        "from torch.nn.functional import softmax\nimport torch",
        "def softmax(z, dim=-1):\n    return z.exp() / z.exp().sum(dim, keepdim=True)",
    )
    assert charged(imported_then_defined) == {}
    defined_then_imported = scan(
        "def softmax(z, dim=-1):\n    return z.exp() / z.exp().sum(dim, keepdim=True)",
        "from torch.nn.functional import softmax",
    )
    assert charged(defined_then_imported) == {"softmax": {"torch.nn.functional.softmax"}}
    [use] = defined_then_imported["softmax"]
    assert (use.label, use.line) == ("cell 2", 1)
    alias_in_another_cell = scan(
        "import torch\nS = torch.softmax", "def softmax(z, dim=-1):\n    return S(z, dim)"
    )
    assert charged(alias_in_another_cell) == {"softmax": {"torch.softmax"}}


# -- what is resolved and what is denied ------------------------------------------------------------

RESOLVED = {  # source -> (function, the names it is charged with)
    "from torch.nn import *\ndef relu(x):\n    return ReLU()(x)": ("relu", {"torch.nn.ReLU"}),
    "import torch\ndef relu(x):\n    return torch.nn.modules.activation.F.relu(x)": (
        "relu",
        {"torch.nn.functional.relu"},
    ),
    "import torch\ndef relu(x):\n    return torch._C._VariableFunctions.relu(x)": (
        "relu",
        {"torch.relu"},
    ),
    "import torch as t\ndef relu(x):\n    return t.Tensor.relu(x)": ("relu", {"torch.Tensor.relu"}),
    "def relu(x):\n    return x.relu_()": ("relu", {"torch.Tensor.relu_"}),
    "def relu(x):\n    y = x\n    return type(y).relu(y)": ("relu", {"torch.Tensor.relu"}),
    "import torch\ndef softmax(z, dim=-1):\n    return torch.special.softmax(z, dim)": (
        "softmax",
        {"torch.softmax"},
    ),
    "import torch\ndef relu(x):\n    f = torch.nn.functional\n    return f.relu(x)": (
        "relu",
        {"torch.nn.functional.relu"},
    ),
    "import torch\ndef relu(x):\n    return vars(torch)['relu'](x)": ("relu", {"torch.relu"}),
    "import torch\ndef softmax(z, dim=-1):\n    return torch.nn.functional.__dict__.get('softmax')(z, dim)": (
        "softmax",
        {"torch.nn.functional.softmax"},
    ),
    "def softmax(z, dim=-1):\n    return __import__('torch.nn.functional', fromlist=['x']).softmax(z, dim)": (
        "softmax",
        {"torch.nn.functional.softmax"},
    ),
    "import importlib\ndef softmax(z, dim=-1):\n    return importlib.import_module('torch').softmax(z, dim)": (
        "softmax",
        {"torch.softmax"},
    ),
    "F = __import__('torch').nn.functional\ndef mse_loss(p, t):\n    return F.mse_loss(p, t)": (
        "mse_loss",
        {"torch.nn.functional.mse_loss"},
    ),
    "import torch\nrelu = lambda x: torch.relu(x)": ("relu", {"torch.relu"}),
    "import torch\nrelu = torch.nn.ReLU()": ("relu", {"torch.nn.ReLU"}),
    "import torch\na, b = torch.exp, torch.relu\ndef relu(x):\n    return b(x)": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\nclass Act:\n    act = torch.relu\ndef relu(x):\n    return Act.act(x)": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\ndef relu(x):\n    return x.clamp(min=0)\nglobals()['relu'] = torch.relu": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\ntorch.maximum = torch.relu\ndef relu(x):\n    return torch.maximum(x)": (
        "relu",
        {"torch.relu"},
    ),
    "import builtins, torch\nbuiltins.positive = torch.relu\ndef relu(x):\n    return positive(x)": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\ndef _patch():\n    type(torch.zeros(1)).positive = torch.Tensor.relu\n_patch()\ndef relu(x):\n    return x.positive()": (
        "relu",
        {"torch.Tensor.relu"},
    ),
    "import torch\ntable = {}\ntable.update(r=torch.relu)\ndef relu(x):\n    return table['r'](x)": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\ndef deco(f):\n    return torch.relu\n@deco\ndef relu(x):\n    return x": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\ndef relu(x: 'torch.nn.ReLU'):\n    return x": ("relu", {"torch.nn.ReLU"}),
    "from mystery import *\ndef softmax(z, dim=-1):\n    return log_softmax(z, dim).exp()": (
        "softmax",
        {"torch.log_softmax"},
    ),
    "import torch, operator\ndef relu(x):\n    return operator.methodcaller('relu')(x)": (
        "relu",
        {"torch.Tensor.relu"},
    ),
    "import torch\nclass T(torch.Tensor):\n    pass\ndef relu(x):\n    return T.relu(x)": (
        "relu",
        {"torch.Tensor.relu"},
    ),
    "import torch\ndef relu(x):\n    return x.clamp(min=0)\ndef _setup():\n    global relu\n    relu = torch.relu\n_setup()": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\ndef __getattr__(name):\n    return torch.relu  # answers for the relu the module lacks": (
        "relu",
        {"torch.relu"},
    ),
    "import torch\ndef relu(x):\n    return print.__self__.getattr(torch, 'relu')(x)": (
        "relu",
        {"torch.relu"},
    ),
}


@pytest.mark.parametrize("source", sorted(RESOLVED))
def test_resolved_to_its_forbidden_name(source):
    function, names = RESOLVED[source]
    assert charged(scan(source)) == {function: names}


DENIED = {  # source -> (function, the names it is charged with): UNRESOLVABLE where nothing was proven safe
    "import torch\ndef relu(x):\n    n = ''.join(['re', 'lu'])\n    return getattr(torch, n)(x)": (
        "relu",
        {UNRESOLVABLE},
    ),
    "import torch\ndef relu(x, n='relu'):\n    return vars(torch)[n](x)": ("relu", {UNRESOLVABLE}),
    "def relu(x, n='relu'):\n    return globals().get(n)(x)": ("relu", {UNRESOLVABLE}),
    "import torch.fx\ndef relu(x):\n    g = torch.fx.Graph()\n    return g.call_method('re' + 'lu', (x,))": (
        "relu",
        {UNRESOLVABLE},
    ),
    "import logging.config\ndef relu(x):\n    return logging.config._resolve('torch.relu')(x)": (
        "relu",
        {UNRESOLVABLE},
    ),
    "import torch\ndef relu(x):\n    return torch.__dict__[x.name](x)": ("relu", {UNRESOLVABLE}),
    "import operator, torch\ndef relu(x, n='relu'):\n    return operator.attrgetter(n)(torch)(x)": (
        "relu",
        {UNRESOLVABLE},
    ),
    "import importlib\ndef softmax(z, dim=-1, m='torch'):\n    return importlib.import_module(m).exp(z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "def softmax(z, dim=-1, m='torch'):\n    return __import__(m).exp(z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import torch\ndef softmax(z, dim=-1):\n    return torch.ops.aten.exp(z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import torch\ndef cross_entropy(l, t):\n    return torch._C._nn.cross_entropy_loss(l, t)": (
        "cross_entropy",
        {UNRESOLVABLE},
    ),
    "import torch\ndef relu(x):\n    return torch.relu.__wrapped__(x)": (
        "relu",
        {"torch.relu", UNRESOLVABLE},
    ),
    "import torch\ndef softmax(z, dim=-1):\n    return softmax.__globals__['torch'].exp(z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import sys\ndef relu(x):\n    return sys.modules['torch'].relu(x)": (
        "relu",
        {"torch.Tensor.relu", UNRESOLVABLE},
    ),
    "import ctypes\ndef relu(x):\n    ctypes.pythonapi.Py_IncRef\n    return x": (
        "relu",
        {UNRESOLVABLE},
    ),
    "import torch\ndef softmax(z, dim=-1):\n    return [c for c in object.__subclasses__()][0](z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import torch\ndef softmax(z, dim=-1):\n    return eval('z.exp()')": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import torch\ndef softmax(z, dim=-1):\n    g = getattr\n    return g(torch, 'exp')(z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import pickle\ndef softmax(z, dim=-1):\n    return pickle.loads(b'')(z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import torch\ndef softmax(z, dim=-1):\n    return torch.load('f.pt', weights_only=False)(z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import inspect, torch\ndef softmax(z, dim=-1):\n    return dict(inspect.getmembers(torch))['ex' + 'p'](z)": (
        "softmax",
        {UNRESOLVABLE},
    ),
    "import torch\ndef relu(x):\n    return print.__self__.eval('torch.' + x.name)(x)": (
        "relu",
        {UNRESOLVABLE},
    ),
    "def relu(x):\n    f = [print][0]\n    return f.__self__.exec('1')": ("relu", {UNRESOLVABLE}),
    "import traceback\ndef relu(x):\n    for frame, _ in traceback.walk_stack(None):\n        frame.f_globals\n    return x": (
        "relu",
        {UNRESOLVABLE},
    ),
    "import functools, torch\ndef relu(x):\n    return functools.reduce(getattr, ['nn', 'functional', 'relu'], torch)(x)": (
        "relu",
        {UNRESOLVABLE},
    ),
}


@pytest.mark.parametrize("source", sorted(DENIED))
def test_denied_by_default(source):
    function, names = DENIED[source]
    assert charged(scan(source)) == {function: names}


@pytest.mark.parametrize(
    "source",
    [
        "import torch\n_ns = {}\nexec('import torch', _ns)\ndef relu(x):\n    return x.clamp(min=0)",
        "import timeit\ntimeit.timeit('relu(x)', globals=globals())\ndef relu(x):\n    return x.clamp(min=0)",
        "import gc\nfor o in gc.get_referrers(print):\n    pass\ndef relu(x):\n    return x.clamp(min=0)",
        "def relu(x):\n    return x.clamp(min=0)\nfor name in ['relu']:\n    globals()[name] = print",
        "def _hack(name):\n    globals()[name] = print\n_hack('re' + 'lu')\ndef relu(x):\n    return x.clamp(min=0)",
    ],
)
def test_module_level_code_that_can_rebind_anything_counts_for_every_function(source):
    assert charged(scan(source)) == EVERYONE_DENIED


def test_module_level_code_that_cannot_rebind_anything_counts_for_nobody():
    source = """
        import gc, timeit, torch
        gc.collect()
        timeit.timeit(lambda: torch.relu(torch.ones(3)), number=10)
        print(torch.relu(torch.ones(3)), torch.softmax(torch.ones(3), 0))
        def relu(x):
            return x.clamp(min=0)
    """
    assert charged(scan(source)) == {}


def test_only_functions_whose_list_holds_the_name_are_charged():
    source = """
        import torch
        def relu(x):
            return torch.softmax(x, 0) * 0 + x.clamp(min=0)
        def softmax(z, dim=-1):
            return torch.relu(z) * 0 + torch.exp(z) / torch.exp(z).sum(dim, keepdim=True)
    """
    assert charged(scan(source)) == {}


def test_code_that_can_never_run_is_not_charged():
    source = """
        import torch
        def _never_called(name):
            return getattr(torch, name)(torch.ones(1)) + torch.relu(torch.ones(1))
        def relu(x):
            return x.clamp(min=0)
    """
    assert charged(scan(source)) == {}


def test_denials_go_only_to_functions_with_a_list():
    source = """
        import torch
        def train(model, name):
            return getattr(torch, name)
        def softmax(z, dim=-1):
            return getattr(torch, z.name)(z)
    """
    result = scan(source, forbidden={"train": [], "softmax": ["torch.softmax"]})
    assert charged(result) == {"softmax": {UNRESOLVABLE}}
    assert result["train"] == []


def test_a_helper_charges_every_graded_caller_transitively():
    source = """
        import torch.nn.functional as F
        def _inner(z):
            return F.log_softmax(z, dim=1)
        def _outer(z):
            return _inner(z)
        def cross_entropy(logits, targets):
            return -_outer(logits).gather(1, targets.unsqueeze(1)).mean()
        def kl_divergence(p, q):
            return (p * (p.log() - _outer(q.log()))).sum(dim=1).mean()
        def mse_loss(pred, target):
            return ((pred - target) ** 2).sum() / pred.shape[0]
    """
    result = scan(source)
    assert charged(result) == {
        "cross_entropy": {"torch.nn.functional.log_softmax"},
        "kl_divergence": {"torch.nn.functional.log_softmax"},
    }
    [use] = result["cross_entropy"]
    assert (use.line, use.how) == (4, "F.log_softmax (import torch.nn.functional as F)")


# -- robustness and speed ---------------------------------------------------------------------------


def _tripped(result: dict[str, list[Use]]) -> list[Use]:
    """Uses that only say the scanner itself failed somewhere (it fails closed)."""
    return [
        u
        for uses in result.values()
        for u in uses
        if "could not read" in u.how or "scanner failed" in u.how
    ]


def _statement_lists(tree: ast.AST) -> list[list[ast.stmt]]:
    return [
        body
        for node in ast.walk(tree)
        for field in ("body", "orelse", "finalbody")
        if isinstance(body := getattr(node, field, None), list)
        and body
        and isinstance(body[0], ast.stmt)
    ]


def _damaged_solutions(count: int) -> list[str]:
    """Damaged copies of the reference: many random lines deleted (does not parse), a few lines
    deleted (parses about two times in three), random statements deleted anywhere (always parses)."""
    text = SOLUTION.read_text(encoding="utf-8")
    lines = text.splitlines()
    rng = random.Random(20240611)
    out = []
    for n in range(count):
        if n % 3 == 0:
            out.append("\n".join(line for line in lines if rng.random() > 0.15))
        elif n % 3 == 1:
            start = rng.randrange(len(lines))
            out.append("\n".join(lines[:start] + lines[start + rng.randrange(1, 4) :]))
        else:
            tree = ast.parse(text)
            for body in rng.sample(_statement_lists(tree), 8):
                del body[rng.randrange(len(body))]
                if not body:
                    body.append(ast.Pass())
            out.append(ast.unparse(tree))
    return out


def test_random_damage_never_raises_nor_trips_the_scanner():
    for source in _damaged_solutions(150):
        result = forbidden_uses([Cell(0, "ex2.py", source)], FORBIDDEN)
        assert set(result) == set(FORBIDDEN)
        assert all(isinstance(u, Use) for uses in result.values() for u in uses)
        assert not _tripped(result), source


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 80 + "1" + ")" * 80,
        "import torch\ny = torch" + ".nn" * 300,
        "def relu(x):\n    return " + " + ".join(["x"] * 2000),
        "getattr()\nvars(*a)\nexec()\ncompile(*a)\n__import__()\nsetattr(x)\nimportlib.import_module()\n",
        "import operator, importlib\noperator.attrgetter()\nimportlib.import_module(name='torch')\nexec(source='1')\n",
        "def relu(x: 'not python at all ((('):\n    return eval('(((')",
        "class A(metaclass=type, **{}):\n    def f(self, /, a, *b, c=1, **d): return lambda: [y async for y in a]\n",
        "exec('exec(\"exec(\\'exec(1)\\')\")')",
        "match x:\n    case {'a': [1, *rest], **more} | Point(x=0) as p if p:\n        globals()[p] = rest\n",
        "def relu(x):\n    global relu\n    relu = relu\n    return relu(x)\nrelu = relu",
        "x = 1\n\x00",
        "",
    ],
)
def test_weird_source_never_raises_nor_trips_the_scanner(source):
    result = forbidden_uses(
        [Cell(0, "cell 1", source), Cell(1, "cell 2", "import torch")], FORBIDDEN
    )
    assert set(result) == set(FORBIDDEN)
    assert not _tripped(result)


def test_fails_closed_when_the_scanner_breaks(monkeypatch):
    def broken(self, cells):
        raise RuntimeError("boom")

    monkeypatch.setattr(static_calls._Scanner, "scan", broken)
    result = forbidden_uses(
        [Cell(0, "ex2.py", "def relu(x):\n    return x")], {"relu": ["torch.relu"], "train": []}
    )
    assert charged(result) == {"relu": {UNRESOLVABLE}} and result["train"] == []


def test_the_reference_is_scanned_in_a_few_milliseconds():
    cells = load_submission(SOLUTION, module="ex2").cells
    forbidden_uses(cells, FORBIDDEN)  # first call: builds the indexes of torch once per process
    best = min(_timed(cells) for _ in range(5))
    assert best < 0.05, f"{best * 1000:.1f} ms"


def _timed(cells: list[Cell]) -> float:
    start = time.perf_counter()
    forbidden_uses(cells, FORBIDDEN)
    return time.perf_counter() - start
