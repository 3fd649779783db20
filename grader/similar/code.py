"""Code similarity of a class, per graded function, after everything a copier changes for free.

Each graded function (or class) is read with `ast`, so comments and formatting are gone; its
docstrings and signature are dropped (the stub's text, not the student's); its local names are
renamed in order of first use (`v0`, `v1`, ...), import aliases spelled out (`F` ->
`torch.nn.functional`), and the module-level helpers it calls appended. The normalised text is
fingerprinted by winnowing, the stub's own fingerprints removed as boilerplate.
Functions are compared name by name, so reordering them changes nothing, and a `.py` moved into a
notebook reads the same. A fingerprint counts by how rare it is in the class (log N/df): what
every student writes (`return v0.sum()`) weighs nothing.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from grader import syntax
from grader.similar.sources import cells_of

K = 16  # characters of normalised code in a fingerprint's k-gram
WINDOW = 4  # winnowing window: any match of K + WINDOW - 1 characters is found
PRIOR = 3  # rare fingerprints' worth added to what a pair is measured against
_BASE = np.uint64(0x100000001B3)  # the k-gram polynomial's base (FNV's 64-bit prime)
_BUILTINS = frozenset(dir(builtins)) | {"self", "cls"}


@dataclass
class Function:
    original: str  # as the student wrote it (for the side-by-side view)
    where: str  # the cell or file it came from
    normal: str  # what is fingerprinted
    hashes: set[int] = field(default_factory=set)


def functions_of(text: str, graded: set[str]) -> dict[str, Function]:
    """The graded definitions of a kept copy, normalised (later definitions win, as they run)."""
    aliases: dict[str, str] = {}
    found: dict[str, tuple[ast.stmt, str, str]] = {}
    helpers: dict[str, ast.stmt] = {}
    for label, source in cells_of(text):
        try:
            tree = syntax.parse(source)
        except (SyntaxError, ValueError):
            continue
        lines = source.splitlines()
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                aliases.update(_aliases(node))
                continue
            name = _defined_name(node)
            if name is None:
                continue
            if name in graded:
                first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
                found[name] = (node, "\n".join(lines[first - 1 : node.end_lineno]), label)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Assign):
                helpers[name] = node
    out = {}
    for name, (node, original, label) in found.items():
        normal = normalise(node, aliases=aliases, helpers=helpers, graded=graded)
        out[name] = Function(original, "" if label == "file" else label, normal)
    return out


def _aliases(node: ast.Import | ast.ImportFrom) -> dict[str, str]:
    out = {}
    for alias in node.names:
        if isinstance(node, ast.Import):
            out[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
        elif alias.name != "*":
            out[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}".lstrip(".")
    return out


def _defined_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    ):
        return node.targets[0].id
    return None


def normalise(
    node: ast.stmt, *, aliases: dict[str, str], helpers: dict[str, ast.stmt], graded: set[str]
) -> str:
    """The definition's body without docstrings, names or formatting, with its helpers after it."""
    parts: list[str] = []
    renamer = _Renamer(aliases, graded)
    seen: set[str] = set()
    queue = [node]  # the graded definition is read once: only helpers, shared, are copied
    while queue and len(parts) < 8:
        current = queue.pop(0)
        current = current if current is node else copy.deepcopy(current)
        used = _strip(current)
        for name in sorted(used & set(helpers) - seen):
            seen.add(name)
            queue.append(helpers[name])
        body = _body(current)
        renamer.visit(body)
        parts.append("\n".join(ast.unparse(stmt) for stmt in body.body))
    return "\n".join(parts)


def _strip(node: ast.stmt) -> set[str]:
    """Docstrings and annotations removed from `node` and every definition in it, in one walk;
    the names it uses (the helpers it may call among them)."""
    used: set[str] = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name):
            used.add(inner.id)
        elif isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = inner.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                inner.body = body[1:] or [ast.Pass()]
            if not isinstance(inner, ast.ClassDef):
                inner.returns = None  # (already queued: the names in it are seen)
                for arg in [*inner.args.posonlyargs, *inner.args.args, *inner.args.kwonlyargs]:
                    if arg.annotation is not None:  # (not queued yet: its names are taken here)
                        used |= {n.id for n in ast.walk(arg.annotation) if isinstance(n, ast.Name)}
                        arg.annotation = None
        elif isinstance(inner, ast.AnnAssign):
            inner.annotation = ast.Name("_")
    return used


def _body(node: ast.stmt) -> ast.Module:
    """What follows the signature: the statements (a lambda's expression)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return ast.Module(body=node.body, type_ignores=[])
    if isinstance(node, ast.Assign):
        return ast.Module(body=[ast.Expr(node.value)], type_ignores=[])
    return ast.Module(body=[node], type_ignores=[])


class _Renamer(ast.NodeTransformer):
    """Local names become v0, v1, ... in order of first use; import aliases their full name."""

    def __init__(self, aliases: dict[str, str], graded: set[str]) -> None:
        self.aliases, self.graded = aliases, graded
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in self.aliases:
            return self.aliases[name]
        if name in _BUILTINS or name in self.graded:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._rename(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._rename(node.arg)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self._rename(node.name)
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self._rename(node.name)
        self.generic_visit(node)
        return node


def fingerprint(text: str, boilerplate: frozenset[int] = frozenset()) -> set[int]:
    """The winnowed k-gram hashes of `text` (Schleimer, Wilkerson and Aiken, "Winnowing", 2003:
    the smallest hash of every WINDOW consecutive k-grams of K characters), less the boilerplate
    ones. The hash is the same in every process: a polynomial one of the k-gram's code points,
    mixed by splitmix64's finaliser (Python's `hash` of a str is salted per process, and a screen
    run twice would score the same pair differently)."""
    if len(text) < K:
        return set()
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes) - K + 1
    hashes = np.zeros(n, dtype=np.uint64)
    for j in range(K):  # (uint64 arithmetic wraps: the polynomial is taken modulo 2**64)
        hashes = hashes * _BASE + codes[j : j + n]
    hashes ^= hashes >> np.uint64(30)
    hashes *= np.uint64(0xBF58476D1CE4E5B9)
    hashes ^= hashes >> np.uint64(27)
    hashes *= np.uint64(0x94D049BB133111EB)
    hashes ^= hashes >> np.uint64(31)
    windows = np.lib.stride_tricks.sliding_window_view(hashes, min(WINDOW, n))
    return set(windows.min(axis=1).tolist()) - boilerplate


@dataclass
class CodeIndex:
    """The class's fingerprints, weighted by rarity, and the pairwise code similarity."""

    names: list[str]  # graded functions, in a fixed order
    weights: dict[tuple[str, int], float]  # (function, hash) -> log(N / df), idioms left out
    functions: list[dict[str, Function]]  # per student
    mass: np.ndarray  # students x functions: the weight of each student's kept fingerprints
    shared: np.ndarray  # students x students: the weight both hold, summed over functions

    def similarity(self) -> np.ndarray:
        """Students x students in [0, 1]: shared weight over the mean weight of the functions
        both wrote (a copied half of the exercise scores as high as a copied whole), plus a few
        rare fingerprints' worth, so that a match or two in code made of idioms stays low."""
        present = (self.mass > 0).astype(float)
        denom = 0.5 * (self.mass @ present.T + present @ self.mass.T)
        prior = PRIOR * math.log(max(len(self.functions), 2))
        return np.clip(self.shared / (denom + prior), 0.0, 1.0)

    def per_function(self, a: int, b: int) -> list[tuple[str, float]]:
        """(function, similarity) of what students a and b both wrote that is alike, the most
        telling first (the most rare fingerprints in common, not the shortest exact match)."""
        out = []
        for name in self.names:
            fa, fb = self.functions[a].get(name), self.functions[b].get(name)
            if fa is None or fb is None:
                continue
            wa = sum(self.weights.get((name, h), 0.0) for h in fa.hashes)
            wb = sum(self.weights.get((name, h), 0.0) for h in fb.hashes)
            both = sum(self.weights.get((name, h), 0.0) for h in fa.hashes & fb.hashes)
            if both > 0:
                out.append((both, name, min(1.0, both / (0.5 * (wa + wb)))))
        return [(name, sim) for _, name, sim in sorted(out, key=lambda x: -x[0])]


def _written_functions(
    text: str | None,
    wanted: set[str],
    stub_functions: dict[str, Function],
    boiler: dict[str, frozenset[int]],
) -> dict[str, Function]:
    """One student's graded functions, fingerprinted without the stub's boilerplate; a function
    left as the stub wrote it is not theirs and is left out."""
    mine = functions_of(text, wanted) if text else {}
    for name, f in list(mine.items()):
        stub_f = stub_functions.get(name)
        if stub_f is not None and f.normal == stub_f.normal:
            del mine[name]  # the untouched stub: nothing written
            continue
        f.hashes = fingerprint(f.normal, boiler.get(name, frozenset()))
    return mine


def _holders(students: list[dict[str, Function]]) -> dict[tuple[str, int], list[int]]:
    """(function, fingerprint) -> the students whose function holds it."""
    holders: dict[tuple[str, int], list[int]] = {}
    for s, mine in enumerate(students):
        for name, f in mine.items():
            for h in f.hashes:
                holders.setdefault((name, h), []).append(s)
    return holders


def _mass(
    students: list[dict[str, Function]], graded: list[str], weights: dict[tuple[str, int], float]
) -> np.ndarray:
    """Students x graded functions: the weight of the fingerprints each function holds."""
    col = {name: j for j, name in enumerate(graded)}
    mass = np.zeros((len(students), len(graded)))
    for s, mine in enumerate(students):
        for name, f in mine.items():
            mass[s, col[name]] = sum(weights.get((name, h), 0.0) for h in f.hashes)
    return mass


def _shared(
    n: int, holders: dict[tuple[str, int], list[int]], weights: dict[tuple[str, int], float]
) -> np.ndarray:
    """Students x students: the weight of the fingerprints both hold, summed over functions."""
    shared = np.zeros((n, n))
    for key, who in holders.items():
        if len(who) >= 2 and key in weights:
            idx = np.array(who)
            shared[np.ix_(idx, idx)] += weights[key]
    return shared


@functools.lru_cache(maxsize=8)
def _stub(
    stub: str | None, graded: tuple[str, ...]
) -> tuple[dict[str, Function], dict[str, frozenset[int]]]:
    """The stub's graded functions, and the fingerprints of each (boilerplate to every student)."""
    stub_functions = functions_of(stub, set(graded)) if stub else {}
    boiler = {name: frozenset(fingerprint(f.normal)) for name, f in stub_functions.items()}
    return stub_functions, boiler


@functools.cache
def written(text: str | None, graded: tuple[str, ...], stub: str | None) -> dict[str, Function]:
    """One student's graded functions, fingerprinted; kept for the process, so that `grade batch`
    reads each student as they are graded and its screen, after the class, reads none again."""
    stub_functions, boiler = _stub(stub, graded)
    return _written_functions(text, set(graded), stub_functions, boiler)


def index_class(sources: list[str | None], graded: list[str], stub: str | None) -> CodeIndex:
    """Fingerprint every student's graded functions; weigh each fingerprint by its rarity."""
    students = [written(text, tuple(graded), stub) for text in sources]
    n = len(students)
    cap = max(4, n // 5)  # held by more than a fifth of the class: the course's idiom, not a copy
    holders = _holders(students)
    weights = {key: math.log(n / len(who)) for key, who in holders.items() if len(who) <= cap}
    mass = _mass(students, graded, weights)
    shared = _shared(n, holders, weights)
    return CodeIndex(list(graded), weights, students, mass, shared)
