"""Which forbidden callables each graded function can reach, decided by reading the source.

The trusted parent reads the submission (it never runs it) and answers, per graded function or
class, the forbidden uses reachable from it. What the child notes at run time is only a hint.

Deny by default. A reference the scanner can resolve is compared, as an object, with the forbidden
objects of the torch imported here: `torch.nn.modules.activation.ReLU` is `torch.nn.ReLU`,
`torch._C._VariableFunctions.relu` is `torch.relu`. An attribute of an unknown object named like a
forbidden name (`x.softmax(1)`, `act.relu_()`) counts as that name, and so does a torch callable
under another path with the same name (`torch.special.softmax`, `torch.ops.aten.relu`). What cannot
be resolved as safe counts as `UNRESOLVABLE` for every function with a forbidden list that reaches
it: a computed `getattr`/`vars`/`__dict__`/`globals()` name, `eval`/`exec`/`compile`, torch's
internals that are no public object (`torch.ops...`, `torch._C._nn...`), frames, `gc`,
`sys.modules`, `ctypes`, `__wrapped__`/`__code__`/`__globals__`/`__subclasses__`..., pickles,
`importlib`/`__import__` by a computed name.

How a use reaches a function:
- it is written in the function (its body, default values, decorators, annotations) or, for a
  class, anywhere in the class (its body and its methods);
- or it is written in something the function reads by name, transitively: a helper the submission
  defines, a module-level alias (`r = torch.relu`), an import (`from torch import relu as r`), a
  container module-level code filled (`d.update(r=torch.relu)`), an attribute some code patched
  (`torch.maximum = torch.relu` counts where `.maximum` is read);
- or it is written in module-level code that can rebind names behind the scanner's back (`exec`,
  `globals()[name] = ...`, frames, `gc.get_objects`...): such code, and all it reaches, counts for
  every graded function.
A module-level binding made surely (a def with plain defaults and no decorator, a lambda, an import
that resolves) replaces the earlier ones, as it does when the code runs; any other adds to them.
Function bodies that can never run (read by no graded function and no import-time code) are not read.

Known limits (a determined student can still, statically): reach a forbidden function through an
object torch builds (`nn.TransformerEncoderLayer(...).activation` is `F.relu`), call a different op
that computes the same thing (`F.softmin(-z)`, `torch.distributions.Categorical(logits=z).probs`),
or use a third-party module the scanner does not know that resolves names from strings.
"""

from __future__ import annotations

import ast
import builtins
import enum
import functools
import importlib
import inspect
import operator
import sys
import timeit
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from grader import syntax
from grader.notebook import parse
from grader.submission import Cell

UNRESOLVABLE = (
    "<unresolvable>"  # Use.name of a deny-by-default use: nothing it could be was proven safe
)

_NAME = (
    "\x00name\x00"  # stands for the resolved name in a hit's text until it is charged to a function
)
_MAX_VALUES = 12
_MAX_STRING_DEPTH = 3

# -- what is denied ------------------------------------------------------------------------------

# attribute names that reach behind functions, into namespaces, frames or the class graph
_DENIED_ATTRS = {
    "__dict__": "a namespace as a dict",
    "__globals__": "a function's globals",
    "__builtins__": "the builtins namespace",
    "__wrapped__": "the function behind a wrapper",
    "__code__": "a function's code",
    "__closure__": "a function's closure",
    "__defaults__": "a function's defaults",
    "__kwdefaults__": "a function's defaults",
    "__subclasses__": "walks the class graph",
    "__mro__": "walks the class graph",
    "__getattribute__": "attribute lookup by string",
    "__getattr__": "attribute lookup by string",
    "__setattr__": "attribute store by string",
    "__delattr__": "attribute removal by string",
    "__import__": "imports by string",
    "__loader__": "a module's loader",
    "__reduce__": "pickling internals",
    "__reduce_ex__": "pickling internals",
    "f_globals": "a frame's globals",
    "f_locals": "a frame's locals",
    "f_builtins": "a frame's builtins",
    "f_back": "the calling frame",
    "f_code": "a frame's code",
    "tb_frame": "a traceback's frame",
    "tb_next": "a traceback",
    "gi_frame": "a generator's frame",
    "cr_frame": "a coroutine's frame",
    "ag_frame": "a generator's frame",
    "co_consts": "a code object's constants",
}
# of those, the ones through which code can rebind any name (module-level use counts for everyone)
_OPAQUE_ATTRS = {
    "__dict__",
    "__globals__",
    "__builtins__",
    "__setattr__",
    "__delattr__",
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_back",
    "tb_frame",
    "tb_next",
    "gi_frame",
    "cr_frame",
    "ag_frame",
    "__code__",
}

# attribute names of the callables that reach objects by a string or rebind names: on an unknown object
# they are denied (`x.eval()` stays allowed: it is nn.Module.eval; `print.__self__`, the builtins module,
# is resolved, so its `eval` is known)
_DANGEROUS_NAMES = {
    "getattr",
    "setattr",
    "delattr",
    "exec",
    "vars",
    "__self__",
    "globals",
    "locals",
    "__import__",
    "import_module",
    "attrgetter",
    "methodcaller",
    "get_objects",
    "get_referrers",
    "get_referents",
    "_getframe",
    "breakpoint",
    "reload",
}

_ALLOWED_ONLY: dict[str, set[str]] = {  # module -> the only attributes that stay allowed
    "gc": {
        "collect",
        "enable",
        "disable",
        "isenabled",
        "get_count",
        "get_threshold",
        "set_threshold",
        "freeze",
        "unfreeze",
        "get_freeze_count",
        "get_stats",
    },
    "sys": {
        "version",
        "version_info",
        "hexversion",
        "platform",
        "maxsize",
        "float_info",
        "int_info",
        "path",
        "argv",
        "stdout",
        "stderr",
        "stdin",
        "executable",
        "getrecursionlimit",
        "setrecursionlimit",
        "byteorder",
        "implementation",
        "exit",
        "float_repr_style",
        "getsizeof",
        "maxunicode",
        "prefix",
        "base_prefix",
        "exec_prefix",
        "dont_write_bytecode",
        "flags",
        "api_version",
        "copyright",
    },
    "inspect": {
        "signature",
        "Signature",
        "Parameter",
        "getsource",
        "getsourcelines",
        "getdoc",
        "cleandoc",
        "isclass",
        "isfunction",
        "ismethod",
        "ismodule",
        "isbuiltin",
        "isroutine",
        "isgenerator",
        "isgeneratorfunction",
        "iscoroutinefunction",
        "isabstract",
    },
    "importlib": {"import_module"},
    "types": {
        "SimpleNamespace",
        "MappingProxyType",
        "GeneratorType",
        "NoneType",
        "MethodType",
        "ModuleType",
        "GenericAlias",
        "UnionType",
    },
    "string": {
        "ascii_letters",
        "ascii_lowercase",
        "ascii_uppercase",
        "digits",
        "hexdigits",
        "octdigits",
        "punctuation",
        "printable",
        "whitespace",
        "capwords",
        "Template",
    },
    "timeit": {
        "default_timer",
        "timeit",
        "repeat",
        "Timer",
    },  # timeit/repeat/Timer: checked at the call
    "torch.jit": {
        "script",
        "trace",
        "ignore",
        "unused",
        "export",
        "is_scripting",
        "is_tracing",
        "ScriptModule",
        "ScriptFunction",
        "freeze",
        "optimize_for_inference",
        "fork",
        "wait",
        "annotate",
        "Final",
        "Attribute",
        "script_method",
        "interface",
        "isinstance",
        "enable_onednn_fusion",
    },
    "torch.testing": {"assert_close", "make_tensor", "assert_allclose"},
}
for _name in (
    "ctypes",
    "_ctypes",
    "importlib.util",
    "importlib.machinery",
    "importlib.abc",
    "importlib.resources",
    "pydoc",
    "pkgutil",
    "marshal",
    "pickle",
    "_pickle",
    "copyreg",
    "dill",
    "cloudpickle",
    "shelve",
    "joblib",
    "runpy",
    "code",
    "codeop",
    "doctest",
    "unittest.mock",
    "mock",
    "pdb",
    "bdb",
    "trace",
    "annotationlib",
    "subprocess",
    "multiprocessing",
    "pty",
    "torch.overrides",
    "torch.serialization",
    "torch.package",
    "torch.hub",
    "torch.library",
    "torch.utils.cpp_extension",
    "torch.utils.model_zoo",
    "torch.fx",
    "torch.export",
    "logging.config",
):
    _ALLOWED_ONLY[_name] = set()
_DENIED_ONLY: dict[str, set[str]] = {  # module -> attributes that are denied (the rest is allowed)
    "torch": {"load"},
    "numpy": {"load"},
    "typing": {"get_type_hints", "ForwardRef", "_eval_type", "evaluate_forward_ref"},
    "os": {
        "system",
        "popen",
        "execv",
        "execve",
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execvp",
        "execvpe",
        "spawnv",
        "spawnve",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnvp",
        "spawnvpe",
        "posix_spawn",
        "posix_spawnp",
    },
}
# denied modules whose use can rebind names anywhere (so module-level use counts for every function)
_OPAQUE_MODULES = {
    "gc",
    "sys",
    "ctypes",
    "_ctypes",
    "inspect",
    "importlib",
    "importlib.util",
    "importlib.machinery",
    "importlib.abc",
    "types",
    "pickle",
    "_pickle",
    "marshal",
    "copyreg",
    "dill",
    "cloudpickle",
    "shelve",
    "joblib",
    "runpy",
    "code",
    "codeop",
    "doctest",
    "unittest.mock",
    "mock",
    "pdb",
    "bdb",
    "trace",
    "pydoc",
    "pkgutil",
    "torch.library",
    "torch.utils.cpp_extension",
    "torch.package",
    "torch.hub",
    "torch.serialization",
    "torch.utils.model_zoo",
}
# torch namespaces where aten ops live under other names (beyond any `_private` component)
_TORCH_INTERNAL = (
    "torch.ops",
    "torch.classes",
    "torch._C",
    "torch._ops",
    "torch._refs",
    "torch._prims",
    "torch._decomp",
)

_PUBLIC_NAMESPACES = (
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.special",
    "torch.linalg",
    "torch.fft",
    "torch.nn.init",
    "torch.autograd",
    "torch.func",
    "torch.optim",
    "torch.distributions",
    "torch.utils.data",
    "torch.cuda",
    "torch.backends",
    "torch.random",
    "torch.testing",
)
_PLAIN_TYPES = (
    int,
    float,
    complex,
    bool,
    str,
    bytes,
    type(None),
    torch.dtype,
    torch.device,
    torch.Size,
)

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_COMPOUND = (
    (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)
    + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
    + ((ast.Match,) if hasattr(ast, "Match") else ())
)


@dataclass(frozen=True)
class Use:
    name: str  # the forbidden dotted name it resolves to, or UNRESOLVABLE (deny by default)
    label: str  # the Cell's label: "ex2.py" or "cell 7"
    line: int
    how: str  # short human text: "F.softmax (import torch.nn.functional as F)", "getattr(torch, <computed>)"


def forbidden_uses(
    cells: Sequence[Cell], forbidden: Mapping[str, Sequence[str]]
) -> dict[str, list[Use]]:
    """graded function/class name -> the forbidden uses reachable from it (every key of `forbidden`).

    `forbidden` is ExerciseConfig.forbidden_calls(): function name -> forbidden dotted names. The
    cells of one submission share one module namespace, in order; cells that do not parse are
    skipped. Never raises: if the scanner itself fails, every function with a forbidden list gets
    one unresolvable use (fail closed).
    """
    try:
        scanner = _Scanner(
            _forbidden_index(frozenset(n for names in forbidden.values() for n in names))
        )
        scanner.scan(cells, graded=list(forbidden))
        return scanner.charges(forbidden)
    except Exception as exc:  # noqa: BLE001 — fail closed, never take the grader down
        label = cells[0].label if cells else "submission"
        why = f"the forbidden-call scanner failed ({type(exc).__name__}): nothing could be proven safe"
        return {
            f: ([Use(UNRESOLVABLE, label, 0, why)] if names else [])
            for f, names in forbidden.items()
        }


# -- the forbidden objects -----------------------------------------------------------------------


class _Index:
    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        self.by_id: dict[int, list[str]] = {}
        self.by_last: dict[str, list[str]] = {}
        self._keep: list[Any] = []  # the objects stay alive, so their ids stay theirs
        for dotted in self.names:
            self.by_last.setdefault(dotted.rpartition(".")[2], []).append(dotted)
            obj = _lookup(dotted)
            if obj is not None:
                self.by_id.setdefault(id(obj), []).append(dotted)
                self._keep.append(obj)


_INDEX_CACHE: dict[frozenset[str], _Index] = {}


def _forbidden_index(names: frozenset[str]) -> _Index:
    if names not in _INDEX_CACHE:
        _INDEX_CACHE[names] = _Index(names)
    return _INDEX_CACHE[names]


def _lookup(dotted: str) -> Any:
    """The object a trusted dotted name names, from modules already imported here (no import)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj: Any = module
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except Exception:  # noqa: BLE001
            return None
        return obj
    return None


def _rank(names: Iterable[str], *, method: bool) -> tuple[str, ...]:
    def key(name: str) -> tuple[int, str]:
        owner = name.rpartition(".")[0]
        order = (
            ["torch.Tensor", "torch", "torch.nn.functional", "torch.nn"]
            if method
            else ["torch", "torch.nn.functional", "torch.nn", "torch.Tensor"]
        )
        return (order.index(owner) if owner in order else len(order), name)

    return tuple(sorted(set(names), key=key))


_PUBLIC: tuple[tuple, dict[int, str]] = ((), {})
_DENIED_IDS: tuple[tuple, dict[int, tuple[str, bool]]] = ((), {})


def _loaded(names: Iterable[str]) -> tuple:
    return tuple(name for name in names if name in sys.modules)


def _public_index() -> dict[int, str]:
    """id -> public dotted name of the objects of torch's public namespaces (and Tensor's methods).
    Rebuilt when more of those namespaces have been imported since."""
    global _PUBLIC
    key = _loaded(_PUBLIC_NAMESPACES)
    if _PUBLIC[0] != key or not _PUBLIC[1]:
        index: dict[int, str] = {}
        for name in reversed(key):
            for attr, value in list(vars(sys.modules[name]).items()):
                if not attr.startswith("_") and not isinstance(value, _PLAIN_TYPES):
                    index[id(value)] = f"{name}.{attr}"
        for klass in reversed(torch.Tensor.__mro__[:-1]):
            for attr, value in list(vars(klass).items()):
                if not attr.startswith("_"):
                    index[id(value)] = f"torch.Tensor.{attr}"
        index[id(torch.Tensor)] = "torch.Tensor"
        _PUBLIC = (key, index)
    return _PUBLIC[1]


def _denied_ids() -> dict[int, tuple[str, bool]]:
    """id -> (name, opaque) of the callables that denied module attributes hold, wherever they are
    reached (`from torch.serialization import load`). Rebuilt when more of those modules are imported."""
    global _DENIED_IDS
    key = _loaded([*_ALLOWED_ONLY, *_DENIED_ONLY])
    if _DENIED_IDS[0] != key or not _DENIED_IDS[1]:
        out: dict[int, tuple[str, bool]] = {}
        for modname in key:
            for attr, value in list(vars(sys.modules[modname]).items()):
                if (
                    not _module_denies(modname, attr)
                    or isinstance(value, types.ModuleType)
                    or not callable(value)
                ):
                    continue
                try:
                    home = getattr(value, "__module__", None)
                except Exception:  # noqa: BLE001
                    continue
                home = home if isinstance(home, str) else ""
                if home.lstrip("_") == modname.lstrip("_") or home.startswith(modname + "."):
                    out[id(value)] = (f"{modname}.{attr}", modname in _OPAQUE_MODULES)
        for obj in (
            torch.load,
            getattr(torch.jit, "load", None),
            getattr(torch.jit, "CompilationUnit", None),
        ):
            if obj is not None:
                out[id(obj)] = (
                    f"{getattr(obj, '__module__', 'torch')}.{getattr(obj, '__name__', '?')}",
                    True,
                )
        _DENIED_IDS = (key, out)
    return _DENIED_IDS[1]


_PLAIN_MODULES: dict[int, bool] = {}


def _plain_module(obj: Any) -> bool:
    """A module outside torch that holds only plain values, functions, classes and enum members (like
    `signal` or `math`): reading it by a computed name reaches nothing forbidden."""
    if not isinstance(obj, types.ModuleType):
        return False
    if id(obj) not in _PLAIN_MODULES:
        name = vars(obj).get("__name__")
        ok = (
            isinstance(name, str)
            and not name.startswith("torch")
            and name not in _ALLOWED_ONLY
            and name not in _DENIED_ONLY
            and name not in _OPAQUE_MODULES
            and obj not in (builtins, operator, importlib, functools)
        )
        for key, value in list(vars(obj).items()) if ok else ():
            if key.startswith("__") or isinstance(value, (*_PLAIN_TYPES, enum.Enum)):
                continue
            if isinstance(value, types.ModuleType):
                inner = vars(value).get("__name__")
                ok = (
                    isinstance(inner, str)
                    and not inner.startswith("torch")
                    and inner not in _ALLOWED_ONLY
                    and inner not in _DENIED_ONLY
                    and inner not in _OPAQUE_MODULES
                    and value is not builtins
                )
            elif isinstance(value, types.FunctionType | types.BuiltinFunctionType | type):
                ok = getattr(value, "__module__", None) is not None and not str(
                    value.__module__
                ).startswith("torch")
            else:
                ok = False
            if not ok:
                break
        _PLAIN_MODULES[id(obj)] = ok
    return _PLAIN_MODULES[id(obj)]


def _module_denies(modname: str, attr: str) -> bool:
    """A denied attribute: by the tables above, or a `_private` one of a module outside torch
    (`logging.config._resolve` resolves dotted names; torch's own are judged by `_is_internal`)."""
    if (
        attr.startswith("_")
        and not (attr.startswith("__") and attr.endswith("__"))
        and not modname.startswith("torch")
    ):
        return (modname, attr) != ("os", "_exit")  # leaving the process resolves nothing
    if modname in _ALLOWED_ONLY:
        return attr not in _ALLOWED_ONLY[modname]
    return attr in _DENIED_ONLY.get(modname, ())


@functools.lru_cache(maxsize=4096)
def _is_internal(path: str) -> bool:
    """A torch path where ops live under other names or private machinery: `torch._C...`, `torch.ops...`."""
    if not path.startswith("torch."):
        return False
    if any(path == p or path.startswith(p + ".") for p in _TORCH_INTERNAL):
        return True
    return any(
        p.startswith("_") and not (p.startswith("__") and p.endswith("__"))
        for p in path.split(".")[1:]
    )


# -- abstract values -----------------------------------------------------------------------------


class _Obj:
    """A known object of this process (a module, function, class... reached from an import)."""

    __slots__ = ("obj", "path", "origin")

    def __init__(self, obj: Any, path: str, origin: str = "") -> None:
        self.obj, self.path, self.origin = obj, path, origin

    def key(self) -> tuple:
        return ("o", id(self.obj))


class _Unk:
    """Something the scanner does not know (a tensor, a parameter); `path` when it is a dotted name."""

    __slots__ = ("path", "origin")

    def __init__(self, path: str = "", origin: str = "") -> None:
        self.path, self.origin = path, origin

    def key(self) -> tuple:
        return ("u", self.path)


class _Loc:
    """A function or class the submission defines at module level."""

    __slots__ = ("name", "kind")

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind

    def key(self) -> tuple:
        return ("l", self.name, self.kind)


class _Inst:
    """An instance of a class the submission defines (`self` in its methods)."""

    __slots__ = ("cls",)

    def __init__(self, cls: str) -> None:
        self.cls = cls

    def key(self) -> tuple:
        return ("i", self.cls)


_V = _Obj | _Unk | _Loc | _Inst
_UNK = _Unk()


def _dedupe(values: Iterable[_V]) -> list[_V]:
    if isinstance(values, list) and len(values) <= 1:
        return values
    seen: dict[tuple, _V] = {}
    for v in values:
        seen.setdefault(v.key(), v)
    out = list(seen.values())
    return out if len(out) <= _MAX_VALUES else [*out[:_MAX_VALUES], _UNK]


# -- where uses are recorded -----------------------------------------------------------------------


class _Hit:
    __slots__ = ("candidates", "label", "order", "line", "how", "opaque", "late")

    def __init__(
        self,
        candidates: tuple[str, ...],
        label: str,
        order: int,
        line: int,
        how: str,
        opaque: bool,
        late: bool,
    ) -> None:
        self.candidates, self.label, self.order, self.line = candidates, label, order, line
        self.how, self.opaque, self.late = how, opaque, late


class _Sink:
    """What a piece of code references: hits, global names read, attribute names read."""

    __slots__ = ("hits", "reads", "reads_late", "attrs", "attrs_late", "at_import")

    def __init__(self, *, at_import: bool = False) -> None:
        self.hits: list[_Hit] = []
        self.reads: set[str] = set()
        self.reads_late: set[str] = set()
        self.attrs: set[str] = set()
        self.attrs_late: set[str] = set()
        self.at_import = at_import


class _Scope:
    __slots__ = ("kind", "env", "locals", "globals", "nonlocals", "parent", "cls")

    def __init__(
        self,
        kind: str,
        parent: _Scope | None = None,
        locals_: Iterable[str] = (),
        globals_: Iterable[str] = (),
        nonlocals: Iterable[str] = (),
        cls: str | None = None,
    ) -> None:
        self.kind = kind  # module, class, function, comp
        self.env: dict[str, list[_V]] = {}
        self.locals = set(locals_)
        self.globals = set(globals_)
        self.nonlocals = set(nonlocals)
        self.parent = parent
        self.cls = cls

    def add(self, name: str, values: list[_V]) -> None:
        """`name` may now be `values` too, beside what it was bound to before."""
        self.env[name] = _dedupe([*self.env.get(name, []), *values])


class _ClassInfo:
    """A module-level class of the submission: its bases and (read when first asked) the names it defines."""

    __slots__ = ("bases", "node", "_defined")

    def __init__(self, bases: list[_V], node: ast.ClassDef) -> None:
        self.bases, self.node = bases, node
        self._defined: set[str] | None = None

    @property
    def defined(self) -> set[str]:
        """Names bound in the class body, and attributes its methods store on their first parameter."""
        if self._defined is None:
            defined: set[str] = set()
            selves: set[str] = set()
            for item in self.node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.args.args:
                    selves.add(item.args.args[0].arg)
            for n in ast.walk(self.node):
                if (
                    isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    and n is not self.node
                ):
                    defined.add(n.name)
                elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    defined.add(n.id)
                elif (
                    isinstance(n, ast.Attribute)
                    and isinstance(n.ctx, ast.Store)
                    and isinstance(n.value, ast.Name)
                    and n.value.id in selves
                ):
                    defined.add(n.attr)
            self._defined = defined
        return self._defined


_How = str | Callable[[], str]


def _how(how: _How) -> str:
    return how() if callable(how) else how


def _text(node: ast.AST, limit: int = 70) -> str:
    try:
        text = " ".join(ast.unparse(node).split())
    except Exception:  # noqa: BLE001
        text = type(node).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pair_text(target: ast.AST, value: ast.AST, line: int) -> str:
    return f"{_text(target)} = {_text(value, 50)}, line {line}"


def _const_str(node: ast.AST | None) -> str | None:
    """The string an expression always evaluates to (constants, `+` of constants, constant f-strings)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _const_str(node.left), _const_str(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr) and all(
        isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.values
    ):
        return "".join(v.value for v in node.values)  # type: ignore[attr-defined]
    return None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call | ast.Starred):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _params(args: ast.arguments) -> list[ast.arg]:
    out = [*args.posonlyargs, *args.args]
    if args.vararg:
        out.append(args.vararg)
    out.extend(args.kwonlyargs)
    if args.kwarg:
        out.append(args.kwarg)
    return out


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return True
    return isinstance(node, ast.Tuple) and all(_is_literal(e) for e in node.elts)


def _nonlocal_holder(scope: _Scope, name: str) -> _Scope | None:
    """The function scope that `nonlocal name`, declared in `scope`, refers to (None: there is none)."""
    holder = scope.parent
    while holder is not None and not (holder.kind == "function" and name in holder.env):
        holder = holder.parent
    return holder


def _at_line(stmt: ast.stmt, limit: int) -> str:
    return f"{_text(stmt, limit)}, line {stmt.lineno}"


def _nested_bodies(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists of a compound statement: body, else, finally, each handler's, each case's."""
    bodies: list[list[ast.stmt]] = [
        getattr(stmt, field, None) or [] for field in ("body", "orelse", "finalbody")
    ]
    bodies.extend(h.body for h in getattr(stmt, "handlers", []))
    bodies.extend(c.body for c in getattr(stmt, "cases", []))
    return bodies


def _module_name(module: types.ModuleType, fallback: str) -> str:
    """The name a module gives itself (`torch.nn.functional`), else `fallback`."""
    name = vars(module).get("__name__")
    return name if isinstance(name, str) else fallback


def _module_attr(module: types.ModuleType, attr: str, path: str) -> Any:
    """`module.attr` from its namespace, else the submodule imported as `path`; AttributeError if neither."""
    namespace = vars(module)
    if attr in namespace:
        return namespace[attr]
    if path in sys.modules:
        return sys.modules[path]
    raise AttributeError(attr)


def _object_attr(obj: Any, attr: str) -> Any:
    """`obj.attr` read without running any of its code (no descriptor, no `__getattr__`)."""
    if attr == "__self__" and isinstance(
        obj, types.BuiltinFunctionType | types.MethodType | types.MethodWrapperType
    ):
        return obj.__self__  # print.__self__ is the builtins module
    result = inspect.getattr_static(obj, attr)
    if isinstance(result, staticmethod | classmethod):
        return result.__func__
    return result


def _public_path(obj: Any, path: str) -> str:
    """How to name `obj`, reached by `path`: a module by its own name, an object of torch's
    internals by its public name when it has one."""
    if isinstance(obj, types.ModuleType) and isinstance(vars(obj).get("__name__"), str):
        return vars(obj)["__name__"]
    if _is_internal(path):
        return _public_index().get(id(obj), path)
    return path


# -- the scanner ---------------------------------------------------------------------------------------


class _Scanner:
    def __init__(self, index: _Index) -> None:
        self.fx = index
        self.denied_ids = _denied_ids()
        self.gbind: dict[str, list[tuple[list[_V], _Sink]]] = {}
        self.pseudo: dict[
            str, list[_Sink]
        ] = {}  # attribute name -> code that stores it on a shared object
        self.import_sinks: list[_Sink] = []
        self.pending: list[
            tuple[list[_Sink], Callable[[], None]]
        ] = []  # function bodies, read when they can run
        self.classes: dict[str, _ClassInfo] = {}
        self.module_scope = _Scope("module")
        self.scope = self.module_scope
        self.sinks: list[_Sink] = []
        self.silent = False
        self.late = False
        self.override = False
        self.star_unknown = False
        self.label, self.order = "", 0
        self.line = 0  # while reading code from a string: the line of the call that runs it
        self.string_depth = 0
        self.string_note = ""
        self.hit_count = 0
        self.default_values: dict[int, dict[str, list[_V]]] = {}
        self.special: dict[int, Callable[[ast.Call, list[list[_V]], Any], list[_V]]] = {
            id(getattr): self._sp_getattr,
            id(setattr): self._sp_setattr,
            id(vars): self._sp_vars,
            id(globals): self._sp_globals,
            id(locals): self._sp_globals,
            id(eval): self._sp_code,
            id(exec): self._sp_code,
            id(compile): self._sp_code,
            id(builtins.__import__): self._sp_import,
            id(importlib.import_module): self._sp_import_module,
            id(operator.attrgetter): self._sp_attrgetter,
            id(operator.methodcaller): self._sp_methodcaller,
            id(timeit.timeit): self._sp_timeit,
            id(timeit.repeat): self._sp_timeit,
            id(timeit.Timer): self._sp_timeit,
            id(breakpoint): self._sp_breakpoint,
        }
        self.dangerous = {
            id(f)
            for f in (
                getattr,
                setattr,
                delattr,
                vars,
                globals,
                locals,
                eval,
                exec,
                compile,
                builtins.__import__,
                breakpoint,
                importlib.import_module,
                operator.attrgetter,
                operator.methodcaller,
            )
        }
        self.opaque_builtins = {
            id(f) for f in (setattr, vars, globals, locals, eval, exec, compile, breakpoint)
        }
        # Statements, expressions and module-level compound headers by node type. A type missing
        # here is not skipped: every part of it is read (_generic), so new syntax fails closed.
        self.stmt_handlers: dict[type[ast.stmt], Callable[[Any], None]] = {
            ast.Expr: self._expr_stmt,
            ast.Assign: self._assign_stmt,
            ast.AnnAssign: self._ann_assign_stmt,
            ast.AugAssign: self._aug_assign_stmt,
            ast.Return: self._return_stmt,
            ast.Delete: self._delete_stmt,
            ast.Raise: self._raise_stmt,
            ast.Assert: self._assert_stmt,
            ast.Import: self._import,
            ast.ImportFrom: self._import,
            ast.FunctionDef: self._def,
            ast.AsyncFunctionDef: self._def,
            ast.ClassDef: self._class,
            ast.If: self._if_stmt,
            ast.While: self._while_stmt,
            ast.For: self._for_stmt,
            ast.AsyncFor: self._for_stmt,
            ast.With: self._with_stmt,
            ast.AsyncWith: self._with_stmt,
            ast.Try: self._try_stmt,
            ast.TryStar: self._try_stmt,
            ast.Match: self._match_stmt,
            ast.Global: self._global_stmt,
            ast.Nonlocal: self._nonlocal_stmt,
            ast.Pass: self._no_effect,
            ast.Break: self._no_effect,
            ast.Continue: self._no_effect,
        }
        self.expr_handlers: dict[type[ast.expr], Callable[[Any], list[_V]]] = {
            ast.Call: self._call,
            ast.Constant: self._constant_expr,
            ast.BinOp: self._binop_expr,
            ast.Compare: self._compare_expr,
            ast.UnaryOp: self._unaryop_expr,
            ast.Tuple: self._elements_expr,
            ast.List: self._elements_expr,
            ast.Set: self._elements_expr,
            ast.Subscript: self._subscript_expr,
            ast.Lambda: self._lambda_expr,
            **dict.fromkeys(_COMPREHENSIONS, self._comprehension),
            ast.IfExp: self._ifexp_expr,
            ast.BoolOp: self._boolop_expr,
            ast.NamedExpr: self._walrus_expr,
            ast.Starred: self._starred_expr,
        }
        self.compound_headers: dict[type[ast.stmt], Callable[[Any, _Sink], None]] = {
            ast.If: self._test_header,
            ast.While: self._test_header,
            ast.For: self._for_header,
            ast.AsyncFor: self._for_header,
            ast.With: self._with_header,
            ast.AsyncWith: self._with_header,
            ast.Try: self._try_header,
            ast.TryStar: self._try_header,
            ast.Match: self._match_header,
        }

    # -- recording ---------------------------------------------------------------------------------

    def _hit(
        self, node: ast.AST | None, candidates: Sequence[str], how: _How, *, opaque: bool = False
    ) -> None:
        self.hit_count += 1
        if self.silent:
            return
        how = _how(how)
        line = self.line or getattr(node, "lineno", 0) or 0
        if self.string_note:
            how = f"{how} [{self.string_note}]"
        hit = _Hit(tuple(candidates), self.label, self.order, line, how, opaque, self.late)
        for sink in self.sinks:
            sink.hits.append(hit)

    def _deny(self, node: ast.AST | None, how: _How, *, opaque: bool = False) -> None:
        self._hit(node, (), how, opaque=opaque)

    def _read(self, name: str) -> None:
        if not self.silent:
            for sink in self.sinks:
                (sink.reads_late if self.late else sink.reads).add(name)

    def _attr_read(self, attr: str) -> None:
        if not self.silent:
            for sink in self.sinks:
                (sink.attrs_late if self.late else sink.attrs).add(attr)

    def _gbind(self, name: str, values: list[_V], sink: _Sink, *, override: bool = False) -> None:
        if override:
            self.gbind[name] = [(values, sink)]
        else:
            self.gbind.setdefault(name, []).append((values, sink))

    def _gvalues(self, name: str) -> list[_V]:
        return _dedupe(v for values, _ in self.gbind.get(name, ()) for v in values)

    # -- driving -------------------------------------------------------------------------------------

    def scan(self, cells: Sequence[Cell], graded: Sequence[str]) -> None:
        for order, cell in enumerate(cells):
            try:
                tree = parse(cell.source)
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
                continue
            self.label, self.order = cell.label, order
            for stmt in tree.body:
                self._module_stmt(stmt, straight=True)
        # Function bodies, read against the module's final namespace, and only those that can run: the
        # ones reachable from a graded name or from code that runs at import (a module-level
        # `__getattr__` answers for names the module lacks). Reading a body can bind more (a `global`
        # store, a patched attribute), so this goes on until nothing new is reachable.
        self.late = True
        roots = [*graded, "__getattr__"]
        ran: set[int] = set()
        while True:
            reachable = self._reachable(roots, self.import_sinks)
            todo = [
                i
                for i, (sinks, _) in enumerate(self.pending)
                if i not in ran and any(id(s) in reachable for s in sinks)
            ]
            if not todo:
                break
            for i in todo:
                ran.add(i)
                self.pending[i][1]()

    def _reachable(self, names: Iterable[str], sinks: Iterable[_Sink]) -> set[int]:
        """ids of the sinks reachable from `names` and `sinks` through names read and attributes patched."""
        seen: set[int] = set()
        seen_names: set[str] = set()
        name_stack = list(names)
        sink_stack = list(sinks)
        while name_stack or sink_stack:
            while name_stack:
                name = name_stack.pop()
                if name not in seen_names:
                    seen_names.add(name)
                    sink_stack.extend(
                        self.pseudo.get(name[1:], [])
                        if name.startswith(".")
                        else [s for _, s in self.gbind.get(name, ())]
                    )
            while sink_stack:
                sink = sink_stack.pop()
                if id(sink) in seen:
                    continue
                seen.add(id(sink))
                name_stack.extend(sink.reads)
                name_stack.extend(sink.reads_late)
                name_stack.extend(
                    "." + a for a in (*sink.attrs, *sink.attrs_late) if a in self.pseudo
                )
        return seen

    def _module_stmt(self, stmt: ast.stmt, *, straight: bool, extra: Sequence[_Sink] = ()) -> None:
        saved = (self.sinks, self.scope, self.override)
        sink = _Sink(at_import=True)
        self.import_sinks.append(sink)
        self.sinks = [sink, *extra]
        self.scope = self.module_scope
        self.override = False
        try:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self.sinks = list(extra)
                self._def(stmt, straight=straight)
            elif isinstance(stmt, ast.ClassDef):
                self.sinks = list(extra)
                self._class(stmt)
            elif isinstance(stmt, ast.Import | ast.ImportFrom):
                self.sinks = list(extra)
                self._import(stmt, straight=straight)
            elif isinstance(stmt, _COMPOUND):
                self._module_compound(stmt, sink, extra)
            elif (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Tuple | ast.List)
                and isinstance(stmt.value, ast.Tuple | ast.List)
                and len(stmt.targets[0].elts) == len(stmt.value.elts)
                and not any(
                    isinstance(e, ast.Starred) for e in [*stmt.targets[0].elts, *stmt.value.elts]
                )
            ):
                for target, value in zip(
                    stmt.targets[0].elts, stmt.value.elts, strict=True
                ):  # a, b = x, y: one by one
                    part = _Sink(at_import=True)
                    self.import_sinks.append(part)
                    self.sinks = [part, *extra]
                    values = self._expr(value)
                    self._store(
                        target,
                        values,
                        part,
                        origin=functools.partial(_pair_text, target, value, stmt.lineno),
                    )
            else:
                self.override = (
                    straight
                    and isinstance(stmt, ast.Assign)
                    and isinstance(stmt.value, ast.Lambda)
                    and not (stmt.value.args.defaults or any(stmt.value.args.kw_defaults))
                    and all(isinstance(t, ast.Name) for t in stmt.targets)
                )
                self._stmt(stmt)
                self.override = False
                self._mutations(stmt, sink)
        except Exception as exc:  # noqa: BLE001 — fail closed: unreadable module-level code counts for everyone
            self.sinks = [sink, *extra]
            self._deny(
                stmt,
                f"{_text(stmt, 40)} (the scanner could not read this: {type(exc).__name__})",
                opaque=True,
            )
            for name in self._bound_by(stmt):
                self._gbind(name, [_UNK], sink)
        finally:
            self.sinks, self.scope, self.override = saved

    def _bound_by(self, stmt: ast.stmt) -> set[str]:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return {stmt.name}
        out = set()
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                out.add(n.id)
            elif isinstance(n, ast.alias) and n.name != "*":
                out.add(n.asname or n.name.split(".")[0])
            elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                out.add(n.name)
        return out

    def _module_compound(self, stmt: ast.stmt, sink: _Sink, extra: Sequence[_Sink]) -> None:
        """if/for/while/with/try/match at module level: the header in its own sink, each inner statement
        on its own, and what they bind adds to (never replaces) the names' earlier bindings."""
        header = self.compound_headers.get(type(stmt))
        if header is not None:
            header(stmt, sink)
        self._mutations(stmt, sink, header_only=True)
        for body in _nested_bodies(stmt):
            for inner in body:
                self._module_stmt(inner, straight=False, extra=extra)

    def _test_header(self, stmt: ast.If | ast.While, sink: _Sink) -> None:
        self._expr(stmt.test)

    def _for_header(self, stmt: ast.For | ast.AsyncFor, sink: _Sink) -> None:
        origin = functools.partial(_at_line, stmt, 40)
        self._store(stmt.target, [_UNK, *self._expr(stmt.iter)], sink, origin=origin)

    def _with_header(self, stmt: ast.With | ast.AsyncWith, sink: _Sink) -> None:
        origin = functools.partial(_at_line, stmt, 40)
        for item in stmt.items:
            values = self._expr(item.context_expr)
            if item.optional_vars is not None:
                self._store(item.optional_vars, [_UNK, *values], sink, origin=origin)

    def _try_header(self, stmt: ast.Try | ast.TryStar, sink: _Sink) -> None:
        for handler in stmt.handlers:
            if handler.type is not None:
                self._expr(handler.type)
            if handler.name:
                self._gbind(handler.name, [_UNK], sink)

    def _match_header(self, stmt: ast.Match, sink: _Sink) -> None:
        self._expr(stmt.subject)
        for case in stmt.cases:
            self._pattern(case.pattern, sink)
            if case.guard is not None:
                self._expr(case.guard)

    def _mutations(self, stmt: ast.stmt, sink: _Sink, *, header_only: bool = False) -> None:
        """Module-level code may change the data objects it calls methods of or passes to calls
        (`d.update(r=torch.relu)`, `exec(code, ns)`): those names take this statement's uses too."""
        nodes: list[ast.AST] = [stmt]
        if header_only:
            nodes = [
                getattr(stmt, f)
                for f in ("test", "iter", "subject")
                if getattr(stmt, f, None) is not None
            ]
            nodes += [i.context_expr for i in getattr(stmt, "items", [])]
        names: set[str] = set()
        for top in nodes:
            for n in ast.walk(top):
                if isinstance(n, ast.Call):
                    if isinstance(n.func, ast.Attribute) and (root := _root_name(n.func.value)):
                        names.add(root)
                    names.update(
                        a.id
                        for a in [*n.args, *(k.value for k in n.keywords)]
                        if isinstance(a, ast.Name)
                    )
                    names.update(
                        a.value.id
                        for a in n.args
                        if isinstance(a, ast.Starred) and isinstance(a.value, ast.Name)
                    )
        for name in names:
            values = self._gvalues(name)
            if not values or any(
                isinstance(v, _Unk | _Inst)
                or (
                    isinstance(v, _Obj)
                    and not isinstance(
                        v.obj,
                        types.ModuleType | type | types.FunctionType | types.BuiltinFunctionType,
                    )
                )
                for v in values
            ):
                self._gbind(name, [], sink)

    # -- definitions ------------------------------------------------------------------------------

    def _def(self, node: ast.FunctionDef | ast.AsyncFunctionDef, *, straight: bool = False) -> None:
        where = self.scope.kind
        if where == "module":
            body_sink, imp = _Sink(), _Sink(at_import=True)
            self.import_sinks.append(imp)
            self.sinks = [*self.sinks, body_sink, imp]
        certain = not node.decorator_list
        for decorator in node.decorator_list:
            self._expr(decorator, as_call=True)
        defaults = self._defaults(node.args)
        certain = certain and all(
            _is_literal(d) for d in [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
        )
        for annotation in [*(a.annotation for a in _params(node.args)), node.returns]:
            if annotation is not None and not self._annotation(annotation):
                certain = False
        self.default_values[id(node)] = defaults
        if where == "module":
            self.sinks = [s for s in self.sinks if s is not imp]
            self._gbind(
                node.name, [_Loc(node.name, "func")], body_sink, override=straight and certain
            )
            self._defer(node, cls=None)
        elif where == "class":
            self.scope.env.setdefault(node.name, []).append(_Unk())
            self._defer(node, cls=self.scope.cls)
        else:
            self._bind_name(node.name, [_Unk()], None)
            self._function(node)

    def _defaults(self, args: ast.arguments) -> dict[str, list[_V]]:
        out: dict[str, list[_V]] = {}
        positional = [*args.posonlyargs, *args.args]
        for arg, default in zip(
            positional[len(positional) - len(args.defaults) :], args.defaults, strict=True
        ):
            out[arg.arg] = self._expr(default)
        for kwarg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            if kw_default is not None:
                out[kwarg.arg] = self._expr(kw_default)
        return out

    def _annotation(self, node: ast.expr) -> bool:
        """Evaluate an annotation (strings too: typing can evaluate them); True when it surely evaluates."""
        text = _const_str(node)
        if text is not None:
            self._string_code(node, text, mode="eval", note="annotation")
            return True
        values = self._expr(node)
        return all(isinstance(v, _Obj | _Loc) for v in values) or isinstance(node, ast.Constant)

    def _defer(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, cls: str | None
    ) -> None:
        if self.silent:  # the recording pass defers it
            return
        keep_all = (
            isinstance(node, ast.Lambda) or self.string_depth > 0
        )  # code in a string counts where it runs
        sinks = [s for s in self.sinks if keep_all or not s.at_import]
        scope, label, order, line, note = (
            self.scope,
            self.label,
            self.order,
            self.line,
            self.string_note,
        )

        def run() -> None:
            self.sinks, self.scope, self.label, self.order = sinks, scope, label, order
            self.line, self.string_note = line, note
            try:
                self._function(node, cls=cls)
            except Exception as exc:  # noqa: BLE001 — fail closed for this definition
                self.silent = False
                self._deny(
                    node,
                    f"{getattr(node, 'name', 'lambda')} (the scanner could not read it: {type(exc).__name__})",
                )
            finally:
                self.scope, self.line, self.string_note = self.module_scope, 0, ""

        self.pending.append((sinks, run))

    def _function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, cls: str | None = None
    ) -> None:
        parent: _Scope | None = self.scope
        while parent is not None and parent.kind == "class":
            parent = parent.parent
        scope = _Scope(
            "function", parent
        )  # its locals: the names bound so far (loops are read twice)
        params = _params(node.args)
        for arg in params:
            scope.env[arg.arg] = [_UNK]
        for name, values in self.default_values.get(id(node), {}).items():
            scope.add(name, values)
        if (
            cls is not None
            and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and params
            and params[0] in [*node.args.posonlyargs, *node.args.args]
        ):
            decorators = {_text(d) for d in node.decorator_list}
            if "staticmethod" not in decorators:
                scope.env[params[0].arg] = [
                    _Loc(cls, "class") if "classmethod" in decorators else _Inst(cls)
                ]
        saved = self.scope
        self.scope = scope
        body: list[ast.AST] = list(node.body) if isinstance(node.body, list) else [node.body]
        try:
            for item in body:
                if isinstance(item, ast.stmt):
                    self._stmt(item)
                else:
                    self._expr(item)  # type: ignore[arg-type]
        finally:
            self.scope = saved

    def _class(self, node: ast.ClassDef) -> None:
        where = self.scope.kind
        if where == "module":
            body_sink, imp = _Sink(), _Sink(at_import=True)
            self.import_sinks.append(imp)
            self.sinks = [*self.sinks, body_sink, imp]
        for decorator in node.decorator_list:
            self._expr(decorator, as_call=True)
        bases: list[_V] = []
        for base in node.bases:
            bases.extend(self._expr(base))
        for keyword in node.keywords:
            self._expr(keyword.value)
        if where == "module":
            self.classes[node.name] = _ClassInfo(bases, node)
        scope = _Scope("class", self.scope, cls=node.name if where == "module" else None)
        saved = self.scope
        self.scope = scope
        try:
            for item in node.body:
                self._stmt(item)
        finally:
            self.scope = saved
        if where == "module":
            self._gbind(node.name, [_Loc(node.name, "class")], body_sink)
        else:
            self._bind_name(node.name, [_Unk()], None)

    # -- imports ------------------------------------------------------------------------------------

    def _module_value(self, name: str, origin: str) -> _V:
        module = sys.modules.get(name)
        return _Obj(module, name, origin) if module is not None else _Unk(name, origin)

    def _import(self, stmt: ast.Import | ast.ImportFrom, *, straight: bool = False) -> None:
        module_level = self.scope.kind == "module"
        outer = self.sinks
        for alias in stmt.names:
            sink = _Sink()
            if module_level:
                self.sinks = [*outer, sink]
            if isinstance(stmt, ast.Import):
                if alias.asname:
                    target, origin = (
                        alias.asname,
                        (
                            f"import {alias.name} as {alias.asname}"
                            if alias.asname != alias.name
                            else ""
                        ),
                    )
                    values: list[_V] = [self._module_value(alias.name, origin)]
                else:
                    target = alias.name.split(".")[0]
                    values = [self._module_value(target, "")]
                self._bind_import(target, values, sink, straight and isinstance(values[0], _Obj))
                continue
            if stmt.level:
                self._bind_import(alias.asname or alias.name, [_UNK], sink, False)
                continue
            module = stmt.module or ""
            base = self._module_value(module, "")
            if alias.name == "*":
                self._star(base, stmt, straight)
                continue
            origin = f"from {module} import {alias.name}" + (
                f" as {alias.asname}" if alias.asname else ""
            )
            before = self.hit_count
            values = [v for v in self._attr(base, alias.name, stmt, text=origin)]
            values = [self._with_origin(v, origin) for v in values]
            if self.hit_count == before:
                self._internal_check(values, stmt, origin)
            self._bind_import(
                alias.asname or alias.name,
                values,
                sink,
                straight and all(isinstance(v, _Obj) for v in values),
            )
        self.sinks = outer

    def _bind_import(self, name: str, values: list[_V], sink: _Sink, certain: bool) -> None:
        if self.scope.kind == "module":
            self._gbind(name, values, sink, override=certain)
        else:
            self._bind_name(name, values, None)

    def _star(self, base: _V, stmt: ast.ImportFrom, straight: bool) -> None:
        if not isinstance(base, _Obj) or not isinstance(base.obj, types.ModuleType):
            self.star_unknown = True
            return
        namespace = vars(base.obj)
        public = namespace.get("__all__")
        names = (
            [n for n in public if isinstance(n, str)]
            if isinstance(public, list | tuple)
            else [n for n in namespace if not n.startswith("_")]
        )
        origin = f"from {base.path} import *"
        outer = self.sinks
        for name in names:
            sink = _Sink()
            self.sinks = [*outer, sink] if self.scope.kind == "module" else outer
            values = [
                self._with_origin(v, origin)
                for v in self._attr(base, name, stmt, text=f"{name} ({origin})")
            ]
            self._bind_import(name, values, sink, straight)
        self.sinks = outer

    @staticmethod
    def _with_origin(v: _V, origin: str) -> _V:
        if isinstance(v, _Obj):
            return _Obj(v.obj, v.path, origin)
        if isinstance(v, _Unk):
            return _Unk(v.path, origin)
        return v

    # -- statements ---------------------------------------------------------------------------------

    def _stmt(self, node: ast.stmt) -> None:
        if self.scope.kind == "module" and isinstance(
            node,
            _COMPOUND
            + (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom),
        ):
            self._module_stmt(node, straight=False, extra=self.sinks)
            return
        handler = self.stmt_handlers.get(type(node))
        if handler is None:  # deny by default: every part of an unknown statement is read
            self._generic(node)
            return
        handler(node)

    def _expr_stmt(self, node: ast.Expr) -> None:
        self._expr(node.value)

    def _assign_stmt(self, node: ast.Assign) -> None:
        self._assign(node.targets, node.value, node)

    def _ann_assign_stmt(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        if node.value is not None:
            self._assign([node.target], node.value, node)

    def _aug_assign_stmt(self, node: ast.AugAssign) -> None:
        """`x += v`: x may stay what it was bound to, or become what v is."""
        current = (
            self._expr(node.target)
            if not isinstance(node.target, ast.Name)
            else self._load_name(node.target.id, node.target)
        )
        self._assign([node.target], node.value, node, also=current)

    def _return_stmt(self, node: ast.Return) -> None:
        if node.value is not None:
            self._expr(node.value)

    def _delete_stmt(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Attribute | ast.Subscript):
                self._expr(target.value)

    def _raise_stmt(self, node: ast.Raise) -> None:
        for part in (node.exc, node.cause):
            if part is not None:
                self._expr(part)

    def _assert_stmt(self, node: ast.Assert) -> None:
        self._expr(node.test)
        if node.msg is not None:
            self._expr(node.msg)

    def _if_stmt(self, node: ast.If) -> None:
        self._expr(node.test)
        self._stmts(node.body)
        self._stmts(node.orelse)

    def _while_stmt(self, node: ast.While) -> None:
        self._loop(node.body, node.test)
        self._stmts(node.orelse)

    def _for_stmt(self, node: ast.For | ast.AsyncFor) -> None:
        values = self._expr(node.iter)
        self._store(node.target, [_UNK, *values], None)
        self._loop(node.body, None)
        self._stmts(node.orelse)

    def _with_stmt(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            values = self._expr(item.context_expr)
            if item.optional_vars is not None:
                self._store(item.optional_vars, [_UNK, *values], None)
        self._stmts(node.body)

    def _try_stmt(self, node: ast.Try | ast.TryStar) -> None:
        self._stmts(node.body)
        for handler in node.handlers:
            if handler.type is not None:
                self._expr(handler.type)
            if handler.name:
                self._bind_name(handler.name, [_UNK], None)
            self._stmts(handler.body)
        self._stmts(node.orelse)
        self._stmts(node.finalbody)

    def _match_stmt(self, node: ast.Match) -> None:
        self._expr(node.subject)
        for case in node.cases:
            self._pattern(case.pattern, None)
            if case.guard is not None:
                self._expr(case.guard)
            self._stmts(case.body)

    def _global_stmt(self, node: ast.Global) -> None:
        self.scope.globals.update(node.names)

    def _nonlocal_stmt(self, node: ast.Nonlocal) -> None:
        self.scope.nonlocals.update(node.names)

    def _no_effect(self, node: ast.stmt) -> None:
        """pass, break, continue: nothing to read."""

    def _loop(self, body: list[ast.stmt], test: ast.expr | None) -> None:
        """A loop body twice: silently first, so that what a later iteration reads is bound."""
        for silent in (True, False) if not self.silent else (True,):
            outer, self.silent = self.silent, silent or self.silent
            try:
                if test is not None:
                    self._expr(test)
                self._stmts(body)
            finally:
                self.silent = outer

    def _stmts(self, body: list[ast.stmt]) -> None:
        for item in body:
            self._stmt(item)

    def _pattern(self, node: ast.AST, sink: _Sink | None) -> None:
        for n in ast.walk(node):
            if isinstance(n, ast.MatchAs | ast.MatchStar) and n.name:
                self._bind_name(n.name, [_UNK], sink)
            elif isinstance(n, ast.MatchMapping) and n.rest:
                self._bind_name(n.rest, [_UNK], sink)
            elif isinstance(n, ast.MatchValue):
                self._expr(n.value)
            elif isinstance(n, ast.MatchClass):
                self._expr(n.cls)
            elif isinstance(n, ast.MatchMapping):
                for key in n.keys:
                    self._expr(key)

    def _generic(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self._stmt(child)
            elif isinstance(child, ast.expr):
                self._expr(child)
            else:
                self._generic(child)

    def _assign(
        self, targets: list[ast.expr], value: ast.expr, stmt: ast.stmt, also: Sequence[_V] = ()
    ) -> None:
        rhs = _Sink()
        self.sinks.append(rhs)
        try:
            values = _dedupe([*also, *self._expr(value)])
        finally:
            self.sinks.remove(rhs)
        sink = self.sinks[0] if self.scope.kind == "module" and self.sinks else rhs

        def origin() -> str:
            return f"{_text(stmt, 50)}, line {stmt.lineno}"

        for target in targets:
            self._store(target, values, sink, origin=origin)

    def _store(
        self, target: ast.expr, values: list[_V], sink: _Sink | None, origin: _How = ""
    ) -> None:
        if isinstance(target, ast.Name):
            self._store_name(target.id, values, sink, origin)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._store(element, [_UNK, *values], sink, origin)
        elif isinstance(target, ast.Starred):
            self._store(target.value, [_UNK], sink, origin)
        elif isinstance(target, ast.Attribute):
            self._store_attr(target.value, target.attr, target, values, sink)
        elif isinstance(target, ast.Subscript):
            self._store_subscript(target, values, sink)
        else:
            self._expr(target)

    def _store_name(self, name: str, values: list[_V], sink: _Sink | None, origin: _How) -> None:
        """Known objects stored under a module-level name say where they came from (`origin`)."""
        if origin and self.scope.kind == "module" and any(isinstance(v, _Obj) for v in values):
            text = _how(origin)
            values = [_Obj(v.obj, v.path, text) if isinstance(v, _Obj) else v for v in values]
        self._bind_name(name, values, sink)

    def _store_subscript(self, target: ast.Subscript, values: list[_V], sink: _Sink | None) -> None:
        pattern = self._namespace_pattern(target.value, target.slice)
        if pattern is not None:
            self._store_namespace(pattern, target, values, sink)
            return
        self._expr(target.value)
        self._expr(target.slice)
        root = _root_name(target.value)
        if root and not self.silent and self._is_global(root):
            self._gbind(root, [], sink or self._innermost())

    def _store_namespace(
        self,
        pattern: tuple[str, str, ast.expr | None],
        target: ast.Subscript,
        values: list[_V],
        sink: _Sink | None,
    ) -> None:
        """`globals()[k] = v` binds the global k, `locals()[k] = v` the name k where it is written,
        `vars(X)[k] = v` and `X.__dict__[k] = v` store the attribute k of X."""
        kind, key, holder = pattern
        if kind == "globals":
            if not self.silent:
                self._gbind(key, values, sink or self._innermost())
        elif kind == "locals":
            self._bind_name(key, values, sink)
        elif holder is not None:
            self._store_attr(holder, key, target, values, sink)

    def _innermost(self) -> _Sink:
        return self.sinks[-1] if self.sinks else _Sink()

    def _store_attr(
        self, holder: ast.expr, attr: str, node: ast.AST, values: list[_V], sink: _Sink | None
    ) -> None:
        bases = self._expr(holder)
        if attr in _DENIED_ATTRS:
            self._deny(
                node,
                lambda: f"{_text(node)} = ... (replaces {_DENIED_ATTRS[attr]})",
                opaque=attr in _OPAQUE_ATTRS,
            )
        if self.silent:
            return
        sink = sink or self._innermost()
        root = _root_name(holder)
        if root and self._is_global(root):
            self._gbind(root, [], sink)
        if any(isinstance(v, _Obj) and v.obj is builtins for v in bases):
            self._gbind(attr, values, sink)  # a new builtin: every unbound name may be it
        if not isinstance(holder, ast.Name) or any(isinstance(v, _Obj) for v in bases):
            self.pseudo.setdefault(attr, []).append(
                sink
            )  # patched onto a shared object: readers of `.attr` see it

    def _bind_name(self, name: str, values: list[_V], sink: _Sink | None) -> None:
        scope = self._binding_scope(name)
        if scope.kind == "module":
            if not self.silent:
                self._gbind(name, values, sink or self._innermost(), override=self.override)
        elif scope.kind == "class":
            scope.add(name, values)
        elif name in scope.globals:
            if not self.silent:
                self._gbind(name, values, sink or self._innermost())
        elif name in scope.nonlocals:
            outer = _nonlocal_holder(scope, name)
            if outer is not None:
                outer.add(name, values)
        else:
            scope.add(name, values)

    def _binding_scope(self, name: str) -> _Scope:
        """The scope a store to `name` binds in: a walrus in a comprehension binds outside it."""
        scope = self.scope
        while scope.kind == "comp" and name not in scope.locals and scope.parent is not None:
            scope = scope.parent
        return scope

    def _is_global(self, name: str) -> bool:
        scope: _Scope | None = self.scope
        while scope is not None and scope.kind != "module":
            if name in scope.globals:
                return True
            if scope.kind in ("function", "comp") and (
                name in scope.env or name in scope.nonlocals
            ):
                return False
            if scope.kind == "class" and name in scope.env:
                return False
            scope = scope.parent
        return True

    # -- expressions --------------------------------------------------------------------------------

    def _expr(self, node: ast.expr, *, as_call: bool = False) -> list[_V]:
        """What `node` may evaluate to, recording what it reaches. `as_call`: `node` is what a call
        calls; the call judges a dangerous callable there (_call), so it is not denied as a value."""
        if isinstance(node, ast.Name):
            if type(node.ctx) is not ast.Load:
                return [_UNK]
            return self._load_name(node.id, node, as_call=as_call)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, as_call=as_call)
        handler = self.expr_handlers.get(type(node))
        if handler is None:  # deny by default: every part of an unknown expression is read
            self._generic(node)
            return [_UNK]
        return handler(node)

    def _constant_expr(self, node: ast.Constant) -> list[_V]:
        return [_UNK]

    def _binop_expr(self, node: ast.BinOp) -> list[_V]:
        """Both sides; a long sum nests deep on the left: walked as a loop, not by recursion."""
        rights: list[ast.expr] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp):
            rights.append(current.right)
            current = current.left
        self._expr(current)
        for right in reversed(rights):
            self._expr(right)
        return [_UNK]

    def _compare_expr(self, node: ast.Compare) -> list[_V]:
        self._expr(node.left)
        for part in node.comparators:
            self._expr(part)
        return [_UNK]

    def _unaryop_expr(self, node: ast.UnaryOp) -> list[_V]:
        self._expr(node.operand)
        return [_UNK]

    def _elements_expr(self, node: ast.Tuple | ast.List | ast.Set) -> list[_V]:
        for part in node.elts:
            self._expr(part)
        return [_UNK]

    def _subscript_expr(self, node: ast.Subscript) -> list[_V]:
        pattern = self._namespace_pattern(node.value, node.slice, computed=True)
        if pattern is not None:
            return self._namespace_read(pattern, node)
        self._expr(node.value)
        self._expr(node.slice)
        return [_UNK]

    def _lambda_expr(self, node: ast.Lambda) -> list[_V]:
        self.default_values[id(node)] = self._defaults(node.args)
        if self.scope.kind in ("module", "class"):
            self._defer(node, cls=None)
        else:
            self._function(node)
        return [_UNK]

    def _ifexp_expr(self, node: ast.IfExp) -> list[_V]:
        self._expr(node.test)
        return _dedupe([*self._expr(node.body), *self._expr(node.orelse)])

    def _boolop_expr(self, node: ast.BoolOp) -> list[_V]:
        return _dedupe([v for value in node.values for v in self._expr(value)])

    def _walrus_expr(self, node: ast.NamedExpr) -> list[_V]:
        values = self._expr(node.value)
        self._store(node.target, values, None)
        return values

    def _starred_expr(self, node: ast.Starred) -> list[_V]:
        return self._expr(node.value)

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
    ) -> list[_V]:
        first = node.generators[0]
        self._expr(first.iter)
        targets = {
            n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        }
        parent: _Scope | None = self.scope
        while parent is not None and parent.kind == "class":
            parent = parent.parent
        scope = _Scope("comp", parent, targets)
        saved = self.scope
        self.scope = scope
        try:
            for i, generator in enumerate(node.generators):
                if i:
                    self._expr(generator.iter)
                self._store(generator.target, [_UNK], None)
                for condition in generator.ifs:
                    self._expr(condition)
            if isinstance(node, ast.DictComp):
                self._expr(node.key)
                self._expr(node.value)
            else:
                self._expr(node.elt)
        finally:
            self.scope = saved
        return [_UNK]

    def _load_name(self, name: str, node: ast.AST, *, as_call: bool = False) -> list[_V]:
        values = self._local_values(name)
        if values is None:
            # a global: what it was bound to counts here too (a local was counted where it was set)
            values = self._load_global(name, node)
            for v in values:
                if isinstance(v, _Obj):
                    self._check_obj(
                        v, node, name if not v.origin else f"{name} ({v.origin})", name_rule=False
                    )
        if not as_call:
            self._deny_dangerous_values(values, node, name)
        return values

    def _local_values(self, name: str) -> list[_V] | None:
        """What `name` is bound to in the enclosing function, class or comprehension scopes; None
        when it is a global there (declared so, or bound in none of them)."""
        scope: _Scope | None = self.scope
        while scope is not None and scope.kind != "module":
            if name in scope.globals:
                return None
            if scope.kind == "class":
                if name in scope.env:
                    return scope.env[name]
            elif name in scope.env or name in scope.nonlocals:
                holder = _nonlocal_holder(scope, name) if name in scope.nonlocals else scope
                return (holder.env.get(name) if holder is not None else None) or [_UNK]
            scope = scope.parent
        return None

    def _deny_dangerous_values(self, values: list[_V], node: ast.AST, shown: _How) -> None:
        """A callable that reaches objects by a string (getattr, eval...) read as a value, not called:
        calls through wherever it goes cannot be followed."""
        for v in values:
            if isinstance(v, _Obj) and id(v.obj) in self.dangerous:
                self._deny(
                    node,
                    lambda: f"{_how(shown)} (used as a value: calls through it cannot be followed)",
                    opaque=id(v.obj) in self.opaque_builtins,
                )

    def _load_global(self, name: str, node: ast.AST) -> list[_V]:
        self._read(name)
        values = self._gvalues(name)
        if values:
            return values
        if name == "__builtins__":
            self._deny(node, "__builtins__ (the builtins namespace)", opaque=True)
            return [_UNK]
        if name in vars(builtins):
            return [_Obj(vars(builtins)[name], f"builtins.{name}")]
        if self.star_unknown:
            self._name_rule(
                name,
                node,
                f"{name} (from a `*` import of a module the scanner does not know)",
                method=False,
            )
        return [_Unk()]

    def _attribute(self, node: ast.Attribute, *, as_call: bool = False) -> list[_V]:
        chain: list[ast.Attribute] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            chain.append(current)
            current = current.value
        chain.reverse()
        before = self.hit_count
        values = self._expr(current)
        for step in chain:
            if len(values) == 1:
                values = self._attr(values[0], step.attr, step)
            else:
                values = _dedupe(
                    [v for value in values for v in self._attr(value, step.attr, step)]
                )
        if self.hit_count == before:
            self._internal_check(values, node, None)
        if not as_call:
            self._deny_dangerous_values(values, node, functools.partial(_text, node))
        return values

    def _attr(self, value: _V, attr: str, node: ast.AST, *, text: str | None = None) -> list[_V]:
        """The values of `value.attr`, recording what that reaches. `text`: how to show it (default: the node)."""
        shown: Callable[[], str] = (lambda: text) if text is not None else (lambda: _text(node))
        if attr in _DENIED_ATTRS:
            self._deny(
                node, lambda: f"{shown()} ({_DENIED_ATTRS[attr]})", opaque=attr in _OPAQUE_ATTRS
            )
            return [_Unk()]
        self._attr_read(attr)
        if isinstance(value, _Obj):
            return self._attr_of_object(value, attr, node, shown, text is not None)
        if isinstance(value, _Loc) and value.kind == "func":
            return [_Unk()]
        if isinstance(value, _Loc | _Inst):
            cls = value.cls if isinstance(value, _Inst) else value.name
            if self._defined_in(cls, attr, set()):
                return [_Unk()]
            self._unknown_attr(attr, node, shown, method=True)
            return [_Unk()]
        path = f"{value.path}.{attr}" if value.path else ""
        if value.path and _module_denies(value.path, attr):
            self._deny(
                node,
                lambda: f"{shown()} ({path} is not allowed here)",
                opaque=value.path in _OPAQUE_MODULES,
            )
            return [_Unk()]
        self._unknown_attr(attr, node, shown, method=not path.startswith("torch."), path=path)
        return [_Unk(path, value.origin)]

    def _unknown_attr(
        self, attr: str, node: ast.AST, shown: Callable[[], str], *, method: bool, path: str = ""
    ) -> None:
        """An attribute of something the scanner does not know: judged by its name."""
        if attr in _DANGEROUS_NAMES:
            self._deny(
                node,
                lambda: f"{shown()} (named like {attr}, on an object the scanner does not know)",
                opaque=attr
                not in ("getattr", "attrgetter", "methodcaller", "import_module", "__import__"),
            )
        elif _is_internal(path):
            self._name_rule(
                attr, node, shown, method=False, note="the same op in torch's internals"
            )
        else:
            self._name_rule(attr, node, shown, method=method)

    def _attr_of_object(
        self, value: _Obj, attr: str, node: ast.AST, shown: Callable[[], str], explicit: bool
    ) -> list[_V]:
        obj = value.obj
        unknown_path = f"{value.path}.{attr}"
        try:
            if isinstance(obj, types.ModuleType):
                modname = _module_name(obj, value.path)
                unknown_path = f"{modname}.{attr}"
                if _module_denies(modname, attr):
                    self._deny(
                        node,
                        lambda: f"{shown()} ({modname}.{attr} is not allowed here)",
                        opaque=modname in _OPAQUE_MODULES,
                    )
                    return [_Unk()]
                result = _module_attr(obj, attr, unknown_path)
            else:
                result = _object_attr(obj, attr)
        except Exception:  # noqa: BLE001 — not there (or an odd object): unknown, still judged by its name
            self._unknown_attr(attr, node, shown, method=False, path=unknown_path)
            return [_Unk(unknown_path, value.origin)]
        new = _Obj(result, _public_path(result, unknown_path), value.origin)
        origin = value.origin

        def how() -> str:
            return shown() + (f" ({origin})" if origin and not explicit else "")

        self._check_obj(new, node, how, name_rule=True)
        return [new]

    def _check_obj(self, value: _Obj, node: ast.AST, how: _How, *, name_rule: bool) -> None:
        obj = value.obj
        names = self.fx.by_id.get(id(obj))
        if names:
            ordered = sorted(names, key=lambda n: (n != value.path, n))
            note = "" if value.path in names else f" (this is {ordered[0]})"
            self._hit(node, ordered, lambda: _how(how) + note)
            return
        denied = self.denied_ids.get(id(obj))
        if denied is not None:
            self._deny(
                node, lambda: f"{_how(how)} ({denied[0]} is not allowed here)", opaque=denied[1]
            )
            return
        last = value.path.rpartition(".")[2]
        if name_rule and value.path.startswith("torch.") and last in self.fx.by_last:
            internal = _is_internal(value.path)
            self._name_rule(
                last,
                node,
                how,
                method=False,
                note="the same op in torch's internals"
                if internal
                else "another name of the same op",
            )

    def _name_rule(
        self, attr: str, node: ast.AST, how: _How, *, method: bool, note: str = ""
    ) -> None:
        names = self.fx.by_last.get(attr)
        if not names:
            return
        if not note:
            note = (
                "a method or attribute of an unknown object, named like "
                if method
                else "named like "
            )
            note += _NAME
        elif _NAME not in note:
            note += f": {_NAME}"
        self._hit(node, _rank(names, method=method), lambda: f"{_how(how)} ({note})")

    def _internal_check(self, values: list[_V], node: ast.AST, text: str | None) -> None:
        """The end of a dotted chain: something in torch's internals that is no public object is denied."""
        for v in values:
            if isinstance(v, _Obj):
                if (
                    not _is_internal(v.path)
                    or isinstance(v.obj, _PLAIN_TYPES)
                    or id(v.obj) in _public_index()
                ):
                    continue
            elif not (isinstance(v, _Unk) and _is_internal(v.path)):
                continue
            self._deny(node, lambda: f"{text or _text(node)} (torch internals: ops by other names)")
            return

    def _defined_in(self, cls: str, attr: str, seen: set[str]) -> bool:
        info = self.classes.get(cls)
        if info is None or cls in seen:
            return False
        seen.add(cls)
        if attr in info.defined:
            return True
        return any(
            isinstance(b, _Loc) and b.kind == "class" and self._defined_in(b.name, attr, seen)
            for b in info.bases
        )

    def _local_safe(self, values: list[_V]) -> bool:
        """Objects the submission defines, without torch in their classes: reading them by a computed name is fine."""

        def safe(cls: str, seen: set[str]) -> bool:
            info = self.classes.get(cls)
            if info is None or cls in seen:
                return info is not None
            seen.add(cls)
            return all(
                (isinstance(b, _Loc) and b.kind == "class" and safe(b.name, seen))
                or (isinstance(b, _Obj) and b.obj in (object, torch.nn.Module))
                for b in info.bases
            )

        for v in values:
            if isinstance(v, _Loc) and v.kind == "func":
                continue
            cls = v.cls if isinstance(v, _Inst) else (v.name if isinstance(v, _Loc) else None)
            if cls is None or not safe(cls, set()):
                return False
        return bool(values)

    # -- namespaces as dicts: globals()[k], vars(X)[k], X.__dict__[k] --------------------------------

    def _namespace_pattern(
        self, container: ast.expr, key_node: ast.AST, *, computed: bool = False
    ) -> tuple[str, str, ast.expr | None] | None:
        """`globals()[k]`, `vars(X)[k]`, `X.__dict__[k]` with a constant key: (kind, key, X). With
        `computed`, a key that is not constant is accepted too (as "")."""
        key = _const_str(key_node)
        if key is None:
            if not computed:
                return None
            key = ""
        if isinstance(container, ast.Attribute) and container.attr == "__dict__":
            return ("vars", key, container.value)
        if (
            isinstance(container, ast.Call)
            and isinstance(container.func, ast.Name)
            and not container.keywords
        ):
            name = container.func.id
            if self._is_global(name) and not self.gbind.get(name):
                if name == "globals" and not container.args:
                    return ("globals", key, None)
                if name in ("locals", "vars") and not container.args:
                    return (
                        ("globals", key, None)
                        if self.scope.kind == "module"
                        else ("locals", key, None)
                    )
                if (
                    name == "vars"
                    and len(container.args) == 1
                    and not isinstance(container.args[0], ast.Starred)
                ):
                    return ("vars", key, container.args[0])
        return None

    def _namespace_read(self, pattern: tuple[str, str, ast.expr | None], node: ast.AST) -> list[_V]:
        kind, key, holder = pattern
        if not key:  # read by a computed key: denied where it is read (a read rebinds nothing)
            if holder is not None:
                self._expr(holder)
            for part in (
                (node.slice,)
                if isinstance(node, ast.Subscript)
                else node.args
                if isinstance(node, ast.Call)
                else ()
            ):
                self._expr(part)
            self._deny(node, lambda: f"{_text(node, 50)} (a namespace read by a computed name)")
            return [_UNK]
        if kind == "globals":
            return self._load_global(key, node)
        if kind == "locals":
            return self._load_name(key, node)
        before = self.hit_count
        values = _dedupe(v for base in self._expr(holder) for v in self._attr(base, key, node))  # type: ignore[arg-type]
        if self.hit_count == before:
            self._internal_check(values, node, None)
        return values

    # -- calls ------------------------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> list[_V]:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and node.args
            and not isinstance(node.args[0], ast.Starred)
        ):
            pattern = self._namespace_pattern(func.value, node.args[0], computed=True)
            if pattern is not None:  # globals().get("k"), vars(X).get("k"), X.__dict__.get("k")
                values = self._namespace_read(pattern, node)
                for extra in node.args[1:]:
                    self._expr(extra)
                return values
        functions = self._expr(func, as_call=True)
        args = [self._expr(a) for a in node.args]
        kwargs = {k.arg: self._expr(k.value) for k in node.keywords}
        out: list[_V] = []
        for f in functions:
            if isinstance(f, _Obj):
                handler = self.special.get(id(f.obj))
                if handler is not None:
                    out.extend(handler(node, args, kwargs))
                    continue
            if isinstance(f, _Loc) and f.kind == "class":
                out.append(_Inst(f.name))
            else:
                out.append(_UNK)
        return _dedupe(out) or [_UNK]

    def _is(self, func: ast.expr, obj: Any) -> bool:
        silent, self.silent = self.silent, True
        try:
            return any(isinstance(v, _Obj) and v.obj is obj for v in self._expr(func, as_call=True))
        finally:
            self.silent = silent

    def _arg(self, node: ast.Call, index: int, name: str) -> ast.expr | None:
        positional = [a for a in node.args if not isinstance(a, ast.Starred)]
        if len(positional) == len(node.args) and index < len(positional):
            return positional[index]
        for keyword in node.keywords:
            if keyword.arg == name:
                return keyword.value
        return None

    def _sp_getattr(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        holder, name_node = self._arg(node, 0, ""), self._arg(node, 1, "")
        if holder is None or name_node is None:
            self._deny(node, f"{_text(node)} (arguments the scanner cannot follow)")
            return [_UNK]
        name = _const_str(name_node)
        if name is None:
            if not (
                self._local_safe(args[0])
                or all(isinstance(v, _Obj) and _plain_module(v.obj) for v in args[0])
            ):
                self._deny(node, lambda: f"getattr({_text(holder, 40)}, <computed>)")
            return [_UNK]
        before = self.hit_count
        values = _dedupe(v for base in args[0] for v in self._attr(base, name, node))
        if self.hit_count == before:
            self._internal_check(values, node, None)
        return values

    def _sp_setattr(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        holder, name_node = self._arg(node, 0, ""), self._arg(node, 1, "")
        name = _const_str(name_node) if name_node is not None else None
        if holder is None or name is None:
            if holder is None or not self._local_safe(args[0]):
                self._deny(
                    node,
                    f"setattr({_text(holder, 40) if holder is not None else '...'}, <computed>, ...)",
                    opaque=True,
                )
            return [_UNK]
        value: list[_V] = args[2] if len(args) > 2 else [_UNK]
        self._store_attr(holder, name, node, value, None)
        return [_UNK]

    def _sp_vars(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        self._deny(node, f"{_text(node, 40)} (a namespace as a dict)", opaque=True)
        return [_UNK]

    def _sp_globals(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        self._deny(node, f"{_text(node, 40)} (a namespace as a dict)", opaque=True)
        return [_UNK]

    def _sp_breakpoint(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        self._deny(node, "breakpoint()", opaque=True)
        return [_UNK]

    def _sp_code(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        name = (
            "eval"
            if self._is(node.func, eval)
            else "exec"
            if self._is(node.func, exec)
            else "compile"
        )
        self._deny(node, f"{name}(...) (runs code the scanner cannot follow)", opaque=True)
        source = self._arg(node, 0, "source")
        text = _const_str(source) if source is not None else None
        if text is None:
            return [_UNK]
        mode = "eval" if name == "eval" else "exec"
        mode_node = self._arg(node, 2, "mode")
        if mode_node is not None and _const_str(mode_node) in ("eval", "exec", "single"):
            mode = _const_str(mode_node)  # type: ignore[assignment]
        return self._string_code(node, text, mode=mode, note=f"in the string {name} runs")

    def _string_code(self, node: ast.AST, text: str, *, mode: str, note: str) -> list[_V]:
        """Read code held in a constant string as if it were written here (line: where it is run)."""
        if self.string_depth >= _MAX_STRING_DEPTH:
            self._deny(node, f"{_text(node, 40)} (code in a string in a string)")
            return [_UNK]
        try:
            tree: ast.Module | ast.Expression = (
                syntax.parse(text, "<string>", "eval") if mode == "eval" else syntax.parse(text)
            )
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            try:
                tree = syntax.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
                return [_UNK]
        saved = (self.line, self.string_depth, self.string_note)
        self.line = self.line or getattr(node, "lineno", 0)
        self.string_depth += 1
        self.string_note = note
        try:
            if isinstance(tree, ast.Expression):
                return self._expr(tree.body)
            for stmt in tree.body:
                self._stmt(stmt)
            return [_UNK]
        finally:
            self.line, self.string_depth, self.string_note = saved

    def _sp_import(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        name_node = self._arg(node, 0, "name")
        name = _const_str(name_node) if name_node is not None else None
        if name is None:
            self._deny(node, "__import__(<computed>)")
            return [_UNK]
        fromlist = self._arg(node, 3, "fromlist")
        wanted = (
            name
            if fromlist is not None
            and not (isinstance(fromlist, ast.Constant) and not fromlist.value)
            else name.split(".")[0]
        )
        return self._imported(node, wanted, "")

    def _sp_import_module(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        name_node = self._arg(node, 0, "name")
        name = _const_str(name_node) if name_node is not None else None
        if name is None or name.startswith("."):
            self._deny(node, "importlib.import_module(<computed>)")
            return [_UNK]
        return self._imported(node, name, "")

    def _imported(self, node: ast.AST, name: str, origin: str) -> list[_V]:
        value = self._module_value(name, origin)
        if isinstance(value, _Unk) or _is_internal(name):
            self._internal_check([value], node, None)
        return [value]

    def _sp_attrgetter(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        names = [_const_str(a) for a in node.args]
        if not names or node.keywords or any(n is None for n in names):
            self._deny(node, "operator.attrgetter(<computed>)")
            return [_UNK]
        for dotted in names:
            self._string_attrs(node, dotted.split("."))  # type: ignore[union-attr]
        return [_UNK]

    def _sp_methodcaller(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        name = _const_str(self._arg(node, 0, "name"))
        if name is None:
            self._deny(node, "operator.methodcaller(<computed>)")
            return [_UNK]
        self._string_attrs(node, [name])
        return [_UNK]

    def _string_attrs(self, node: ast.Call, parts: list[str]) -> None:
        """Attribute names given as strings, on whatever object they will be applied to."""
        for part in parts:
            if part in _DENIED_ATTRS:
                self._deny(
                    node, f"{_text(node, 50)} ({_DENIED_ATTRS[part]})", opaque=part in _OPAQUE_ATTRS
                )
            self._attr_read(part)
            self._name_rule(part, node, lambda: _text(node, 50), method=True)

    def _sp_timeit(self, node: ast.Call, args: list[list[_V]], kwargs: Any) -> list[_V]:
        for index, name in ((0, "stmt"), (1, "setup")):
            part = self._arg(node, index, name)
            if part is None or isinstance(part, ast.Lambda):
                continue
            if isinstance(part, ast.Name) and all(
                isinstance(v, _Loc) for v in self._load_name(part.id, part)
            ):
                continue
            self._deny(
                node,
                f"{_text(node.func, 20)}(...) with code in a string (runs code the scanner cannot follow)",
                opaque=True,
            )
            text = _const_str(part)
            if text is not None:
                self._string_code(node, text, mode="exec", note="in the string timeit runs")
        return [_UNK]

    # -- the answer ----------------------------------------------------------------------------------

    def _closure(self, start_names: Iterable[str], seen_sinks: set[int]) -> list[_Hit]:
        hits: list[_Hit] = []
        stack = list(start_names)
        seen: set[str] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            sinks = (
                self.pseudo.get(node[1:], [])
                if node.startswith(".")
                else [s for _, s in self.gbind.get(node, ())]
            )
            for sink in sinks:
                if id(sink) in seen_sinks:
                    continue
                seen_sinks.add(id(sink))
                hits.extend(sink.hits)
                stack.extend(sink.reads)
                stack.extend(sink.reads_late)
                stack.extend("." + a for a in (*sink.attrs, *sink.attrs_late) if a in self.pseudo)
        return hits

    def charges(self, forbidden: Mapping[str, Sequence[str]]) -> dict[str, list[Use]]:
        everyone: list[
            _Hit
        ] = []  # module-level code that may rebind anything: it counts for every function
        for sink in self.import_sinks:
            now = [h for h in sink.hits if not h.late]
            starts = [*sink.reads, *("." + a for a in sink.attrs if a in self.pseudo)]
            reached = now + self._closure(starts, {id(sink)})
            if any(h.opaque for h in reached):
                everyone.extend(reached)
        out: dict[str, list[Use]] = {}
        for function, names in forbidden.items():
            allowed = set(names)
            uses: dict[tuple, tuple[int, Use]] = {}
            hits = self._closure([function, "__getattr__"], set())
            for hit in [*hits, *everyone]:
                if not hit.candidates:
                    if not allowed:
                        continue
                    name = UNRESOLVABLE
                else:
                    name = next((c for c in hit.candidates if c in allowed), "")
                    if not name:
                        continue
                use = Use(name, hit.label, hit.line, hit.how.replace(_NAME, name))
                uses.setdefault((use.name, use.label, use.line, use.how), (hit.order, use))
            out[function] = [
                u
                for _, u in sorted(
                    uses.values(), key=lambda p: (p[0], p[1].line, p[1].name, p[1].how)
                )
            ]
        return out
