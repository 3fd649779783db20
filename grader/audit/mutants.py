"""Mutants of a reference solution: the exercise's catalogue of mistakes plus generic operators.

A generic operator edits one line of one graded function (a regular expression over the code,
never over docstrings or comments) and names the mutant `operator:function:line`. Every mutant is
a whole `solution.py`; the ones whose edit changes nothing, does not compile or breaks the
module's import, and the second of two with the same text, are dropped before grading (a generic
edit that a catalogue entry already makes is graded once, under the catalogue's id: that is how
the catalogue declares a generic mutant equivalent).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from grader import syntax
from grader.exercise import Exercise
from grader.mistakes import apply, load_catalogue


@dataclass(frozen=True)
class Mutant:
    id: str
    function: str
    says: str  # the student mistake it stands for
    source: str  # the whole mutated solution
    equivalent: bool = False  # declared to behave like the reference: expected to survive
    generic: bool = False  # made by an operator, not taken from the catalogue
    line: int = 0  # first line of the solution the edit touches
    before: str = ""  # that line, then as the edit leaves it
    after: str = ""


@dataclass(frozen=True)
class Dropped:
    id: str
    why: str  # "changes nothing", "does not compile", "does not import", "same as <id>"


# -- generic operators: (name, says, edit of one code line -> the edited lines) ------------------

Edit = Callable[[str, "_Context"], Iterator[str]]


@dataclass(frozen=True)
class _Context:
    function: str
    returns_tensor: bool  # annotated `-> torch.Tensor` and takes a tensor: results on its device
    first_line_of_body: bool


_DIM_SWAP = {"0": "1", "1": "0", "-1": "0", "2": "1", "3": "2"}
_RECEIVER_MODULES = {"torch", "nn", "np", "F", "self", "math", "random"}


def _sub_each(pattern: str, line: str, replace: Callable[[re.Match[str]], str]) -> Iterator[str]:
    """`line` with one match of `pattern` replaced, for each match in turn."""
    for m in re.finditer(pattern, line):
        yield line[: m.start()] + replace(m) + line[m.end() :]


def _device(line: str, ctx: _Context) -> Iterator[str]:
    yield from _sub_each(r"device=(?!\"cpu\")[\w.]+", line, lambda m: 'device="cpu"')
    m = re.match(r"^(\s*)return (.+)$", line)
    if m and ctx.returns_tensor:
        yield f"{m[1]}return ({m[2]}).cpu()"


def _dims(line: str, ctx: _Context) -> Iterator[str]:
    def swap(m: re.Match[str]) -> str:
        return f"{m[1]}{_DIM_SWAP.get(m[2], '0')}"

    yield from _sub_each(r"(\bdim=)(-?\d+)", line, swap)
    yield from _sub_each(r"(\bdim=)(dim)\b", line, lambda m: "dim=0")
    yield from _sub_each(r"(\.(?:unsqueeze|squeeze|gather|flip|argmax)\()(-?\d+)", line, swap)
    yield from _sub_each(r"\.T\b", line, lambda m: "")


def _mean_for_sum(line: str, ctx: _Context) -> Iterator[str]:
    yield from _sub_each(r"\.sum\(", line, lambda m: ".mean(")
    yield from _sub_each(r"\.mean\(", line, lambda m: ".sum(")


def _in_place(line: str, ctx: _Context) -> Iterator[str]:
    import torch

    def to_in_place(m: re.Match[str]) -> str:
        return f"{m[1]}.{m[2]}_("

    for m in re.finditer(r"(\w+(?:\[[^\]]*\])?(?:\(\))?)\.(\w+)\(", line):
        receiver, name = m[1], m[2]
        if receiver in _RECEIVER_MODULES or name.endswith("_") or name.startswith("_"):
            continue
        if hasattr(torch.Tensor, name) and hasattr(torch.Tensor, name + "_"):
            yield line[: m.start()] + to_in_place(m) + line[m.end() :]


def _off_by_one(line: str, ctx: _Context) -> Iterator[str]:
    code = line.split("#", 1)[0]
    for m in re.finditer(r"(?<![\w.\-=])(\d+)(?![\w.])", code):
        if line[: m.start()].endswith(("dim=", "dim = ")):
            continue
        yield line[: m.start()] + str(int(m[1]) + 1) + line[m.end() :]


def _detach(line: str, ctx: _Context) -> Iterator[str]:
    m = re.match(r"^(\s*)return (.+)$", line)
    if m and ctx.returns_tensor:
        yield f"{m[1]}return ({m[2]}).detach()"


def _dtype(line: str, ctx: _Context) -> Iterator[str]:
    yield from _sub_each(r"torch\.float32\b", line, lambda m: "torch.float64")
    yield from _sub_each(r"torch\.float64\b", line, lambda m: "torch.float32")
    yield from _sub_each(r"dtype=(?!torch\.)[\w.]+", line, lambda m: "dtype=torch.float32")


OPERATORS: dict[str, tuple[str, Edit]] = {
    "device": ("device hard-coded to the CPU", _device),
    "dims": ("dimensions swapped", _dims),
    "mean-sum": ("mean for sum (or sum for mean)", _mean_for_sum),
    "in-place": ("an operation made in place", _in_place),
    "off-by-one": ("an integer off by one", _off_by_one),
    "detach": ("result detached from the autograd graph", _detach),
    "dtype": ("another dtype", _dtype),
}


def _code_lines(source: str, tree: ast.Module, function: str) -> Iterator[tuple[int, bool]]:
    """(line number, first line of the body?) of each line of `function` that holds code:
    not its `def`/`class` lines, docstrings, comments or blank lines."""
    node = next(
        n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == function
    )
    skip: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
            first = sub.body[0]
            skip.update(range(sub.lineno, first.lineno))  # the signature
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines = source.splitlines()
    end = node.end_lineno or node.lineno
    first_body = True
    for number in range(node.lineno, end + 1):
        text = lines[number - 1].strip()
        if number in skip or not text or text.startswith("#"):
            continue
        yield number, first_body
        first_body = False


def _returns_tensor(tree: ast.Module, function: str) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            tensor_args = any(
                a.annotation is not None and ast.unparse(a.annotation) == "torch.Tensor"
                for a in node.args.args
            )
            returns = node.returns is not None and ast.unparse(node.returns) == "torch.Tensor"
            return tensor_args and returns
    return False


def generic_mutants(source: str, functions: list[str]) -> list[Mutant]:
    lines = source.splitlines(keepends=True)
    tree = syntax.parse(source)
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    mutants: list[Mutant] = []
    for function in functions:
        if function not in defined:
            continue
        returns_tensor = _returns_tensor(tree, function)
        for number, first in _code_lines(source, tree, function):
            line = lines[number - 1]
            text, newline = line.rstrip("\n"), line[len(line.rstrip("\n")) :]
            ctx = _Context(function, returns_tensor, first)
            masked = _mask_strings(text)
            for op, (says, edit) in OPERATORS.items():
                for k, edited in enumerate(
                    dict.fromkeys(_unmask(text, masked, e) for e in edit(masked, ctx))
                ):
                    if edited == text:
                        continue
                    suffix = f".{k + 1}" if k else ""
                    mutated = "".join(lines[: number - 1]) + edited + newline
                    mutated += "".join(lines[number:])
                    mutants.append(
                        Mutant(
                            id=f"{op}:{function}:{number}{suffix}",
                            function=function,
                            says=says,
                            source=mutated,
                            generic=True,
                            line=number,
                            before=text.strip(),
                            after=edited.strip(),
                        )
                    )
    return mutants


def _mask_strings(line: str) -> str:
    """`line` with the inside of each string literal blanked (same length): no edit lands there."""
    return re.sub(r"([\"'])((?:\\.|(?!\1).)*)\1", lambda m: m[1] + "~" * len(m[2]) + m[1], line)


def _unmask(text: str, masked: str, edited: str) -> str:
    """The edit made to `masked`, made to `text` (outside strings, where the two agree)."""
    start = 0
    while start < min(len(masked), len(edited)) and masked[start] == edited[start]:
        start += 1
    end = 0
    while (
        end < min(len(masked), len(edited)) - start
        and masked[len(masked) - 1 - end] == edited[len(edited) - 1 - end]
    ):
        end += 1
    return text[:start] + edited[start : len(edited) - end] + text[len(text) - end :]


def catalogue_mutants(exercise: Exercise, source: str) -> list[Mutant]:
    mutants = []
    for mistake in load_catalogue(exercise):
        mutated = apply(source, mistake)
        line, before, after = _changed_line(source, mutated)
        mutants.append(
            Mutant(
                id=mistake.id,
                function=mistake.function,
                says=mistake.says,
                source=mutated,
                equivalent=mistake.equivalent,
                line=line,
                before=before,
                after=after,
            )
        )
    return mutants


def _changed_line(old: str, new: str) -> tuple[int, str, str]:
    a, b = old.splitlines(), new.splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            tail = len(a) - len(b)
            return i + 1, x.strip(), "\n".join(s.strip() for s in b[i : i + 1 + max(0, -tail)])
    return min(len(a), len(b)), "", ""


def _imports(source: str) -> str:
    """Why the module does not import, or ''. Runs the mutant's top level (definitions only in a
    reference: it is the instructor's own code)."""
    try:
        code = compile(source, "solution.py", "exec")
    except SyntaxError as exc:
        return f"does not compile ({exc.msg})"
    try:
        exec(code, {"__name__": "audit_mutant"})  # noqa: S102 - the reference, edited
    except Exception as exc:  # noqa: BLE001 - a broken import is a reason to drop it
        return f"does not import ({type(exc).__name__}: {exc})"
    return ""


def mutants_of(exercise: Exercise, *, generic: bool = True) -> tuple[list[Mutant], list[Dropped]]:
    """Every mutant worth grading (catalogue first), and the ones dropped with why."""
    source = exercise.solution_path.read_text(encoding="utf-8")
    functions = [f for part in exercise.config.parts for f in part.functions]
    candidates = catalogue_mutants(exercise, source)
    if generic:
        candidates += generic_mutants(source, functions)
    kept: list[Mutant] = []
    dropped: list[Dropped] = []
    seen: dict[str, str] = {_normal(source): "the reference"}
    for mutant in candidates:
        normal = _normal(mutant.source)
        if normal in seen:
            dropped.append(Dropped(mutant.id, f"same as {seen[normal]}"))
            continue
        if why := _imports(mutant.source):
            dropped.append(Dropped(mutant.id, why))
            continue
        seen[normal] = mutant.id
        kept.append(mutant)
    return kept, dropped


def _normal(source: str) -> str:
    """The source with runs of spaces made one and trailing spaces dropped, so that two edits
    that differ only there count as the same text."""
    return re.sub(r"(?<=\S)[ \t]{2,}", " ", re.sub(r"[ \t]+\n", "\n", source))
