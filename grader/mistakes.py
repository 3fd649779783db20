"""An exercise's catalogue of student mistakes: named edits of its reference solution.

The catalogue is data beside the reference (`reference/EXERCISE/mistakes.toml`, never shipped to
students). Each entry is one small edit of `solution.py` inside one graded function, and the
student mistake it stands for:

    [[mistake]]
    id = "softmax-dim0"                     # unique, lower-case words joined by '-'
    function = "softmax"                    # the graded function (or class) the edit is in
    says = "softmax over dim 0 instead of the last dimension"   # how feedback names it
    find = "dim=-1"                         # text that occurs exactly once in that function
    replace = "dim=0"
    equivalent = false                      # true: behaves like the reference (must survive)
    named = true                            # false: audit only, never named in feedback

`grade audit` grades every entry (plus generic operators) to see which the tests catch; the
outputs of the named ones are recorded beside the golden values, so that feedback can say
"looks like softmax over dim 0" when a submission's value matches a known-wrong one.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader import syntax
from grader._exceptions import ConfigError
from grader.exercise import Exercise

CATALOGUE_NAME = "mistakes.toml"


class Mistake(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    function: str = Field(min_length=1)
    says: str = Field(min_length=1)
    find: str = Field(min_length=1)
    replace: str
    equivalent: bool = False
    named: bool = True

    @model_validator(mode="after")
    def _an_edit(self) -> Mistake:
        if self.find == self.replace:
            raise ValueError(f"{self.id}: `find` and `replace` are the same text")
        return self


class _Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mistake: list[Mistake] = []


def catalogue_path(exercise: Exercise) -> Path | None:
    if exercise.reference_dir is None:
        return None
    return exercise.reference_dir / CATALOGUE_NAME


def load_catalogue(exercise: Exercise) -> list[Mistake]:
    """The exercise's mistakes, checked against its reference; [] where it has no catalogue."""
    path = catalogue_path(exercise)
    if path is None or not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        entries = _Catalogue.model_validate(data).mistake
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ConfigError(f"{path}: two mistakes have the id {entry.id!r}")
        seen.add(entry.id)
    source = exercise.solution_path.read_text(encoding="utf-8")
    for entry in entries:
        apply(source, entry, where=path)  # every edit must apply to today's reference
    return entries


def function_span(source: str, name: str) -> tuple[int, int]:
    """Character offsets of the top-level `def`/`class` `name` in `source` (decorators included)."""
    try:
        return _spans(source)[name]
    except KeyError:
        raise KeyError(name) from None


@functools.lru_cache(maxsize=4)
def _spans(source: str) -> dict[str, tuple[int, int]]:
    """Every top-level definition's offsets, from one parse (a catalogue edits one source over
    and over: parsing it once per edit cost seconds)."""
    tree = syntax.parse(source)
    starts = _line_starts(source)
    spans: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            spans.setdefault(node.name, (starts[first - 1], starts[end]))
    return spans


def edited_function(source: str, mistake: Mistake) -> str:
    """The mistake's function alone, edited, at its own line of `source` (blank lines before it)."""
    start, end = function_span(source, mistake.function)
    edited = apply(source, mistake)
    end += len(edited) - len(source)
    return "\n" * source.count("\n", 0, start) + edited[start:end]


def apply(source: str, mistake: Mistake, *, where: Path | None = None) -> str:
    """`source` with the mistake's edit made inside its function."""
    place = f"{where}: " if where else ""
    try:
        start, end = function_span(source, mistake.function)
    except KeyError:
        raise ConfigError(
            f"{place}{mistake.id}: the reference has no top-level {mistake.function!r}"
        ) from None
    body = source[start:end]
    count = body.count(mistake.find)
    if count != 1:
        raise ConfigError(
            f"{place}{mistake.id}: {mistake.find!r} occurs {count} times in "
            f"{mistake.function!r}, not once"
        )
    return source[:start] + body.replace(mistake.find, mistake.replace) + source[end:]


def _line_starts(source: str) -> list[int]:
    """Offset of the start of each line, plus the end of the text."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts
