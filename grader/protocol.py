"""The child-to-parent protocol, typed in one place: message kinds, messages, and the judge's verdict.

The child writes one JSON object a line on its result channel. Every field of every message is
the student's to forge once the submission has loaded, so the parent reads them only through
`clean_*` below and a strict state machine (`grader.runner`): a message is a claim, never a fact.
Nothing downstream parses the grader's own wording: verdicts are objects.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

# a recording's run of a catalogue mistake: test id ~mistake/<id>/<node id>
MUTANT = "~mistake/"


class Kind(enum.StrEnum):
    """What a message says (its `"t"` field)."""

    COLLECTED = "collected"  # the child's collection: believed only in a trusted recording
    CELL = "cell"  # loading the submission: this cell starts
    LOADED = "loaded"  # loading done, with the errors of failed cells
    START = "start"  # a test starts
    CHECK = "check"  # a value handed to `check`
    END = "end"  # a test ended (its error, output, run-time hints)
    AUDIT = "audit"  # what the child's audit hooks saw: evidence for a human, never a point
    DONE = "done"  # every test ran


class CollectedTest(TypedDict):
    id: str
    points: float | None
    tags: list[str]
    doc: list[str]
    uses: NotRequired[list[str]]  # other graded names the test calls
    how: NotRequired[list[str]]  # "vectorised", "autograd": how the function must compute
    derived: NotRequired[dict[str, str]]  # check name -> how the test derives it


class Collected(TypedDict):
    t: Literal["collected"]
    tests: list[CollectedTest]


class CellStart(TypedDict):
    t: Literal["cell"]
    i: int


class LoadErrorMessage(TypedDict):
    cell: int
    label: str
    error: str
    where: str


class Loaded(TypedDict):
    t: Literal["loaded"]
    errors: list[LoadErrorMessage]
    shimmed: list[str]


class Start(TypedDict):
    t: Literal["start"]
    id: str


class CheckMessage(TypedDict):
    t: Literal["check"]
    id: str
    i: int
    v: dict[str, Any]  # the value, as `grader.wire` encodes it
    name: str
    rule: str  # "equal", "raises" or "property"
    rtol: NotRequired[float | None]
    atol: NotRequired[float | None]
    constant: NotRequired[bool | None]
    expected: NotRequired[str]
    property: NotRequired[str]


class End(TypedDict):
    t: Literal["end"]
    id: str
    forbidden: list[str]
    output: str
    error: NotRequired[str]
    where: NotRequired[str]
    ops: NotRequired[dict[str, int]]  # "matmul", "autograd": counted by the child (a hint)


class Audit(TypedDict):
    t: Literal["audit"]
    events: list[str]


class Done(TypedDict):
    t: Literal["done"]


Message = Collected | CellStart | Loaded | Start | CheckMessage | End | Audit | Done


class Outcome(enum.StrEnum):
    passed = "passed"
    failed = "failed"


@dataclass(frozen=True)
class Verdict:
    """The judge's word on one run of a test: what happened, in a line for the student."""

    outcome: Outcome
    text: str = ""
    flag: str = ""  # for the human reading the gradebook ("timed out", "output truncated")

    @classmethod
    def fail(cls, text: str, *, flag: str = "") -> Verdict:
        return cls(Outcome.failed, text, flag)


PASSED = Verdict(Outcome.passed)

# What a string from the child may hold once it reaches a report: no terminal escapes, no control
# characters, no lone surrogates (which no UTF-8 writer accepts), no rich markup surprises later.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: object, limit: int) -> str:
    """A string from the child, made safe to show: cut to `limit` characters."""
    if not isinstance(value, str):
        return ""
    text = value[: limit * 4]
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    text = _CONTROL.sub("", _ANSI.sub("", text))
    return text[:limit]


def clean_list(value: object, *, items: int, limit: int) -> list[str]:
    if not isinstance(value, list):
        return []
    return [clean_text(x, limit) for x in value[:items] if isinstance(x, str)]


def kind_of(message: dict[str, Any]) -> Kind | None:
    try:
        return Kind(str(message.get("t")))
    except ValueError:
        return None
