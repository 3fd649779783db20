"""The grade of one submission: a pydantic model every report is a pure function of."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

EVIDENCE = (
    "tamper? ",
    "audit: ",
)  # flags from reading the source, and from the child's audit hooks


class Status(StrEnum):
    passed = "passed"
    failed = "failed"


class Visibility(StrEnum):
    visible = "visible"  # a public test: the student has its source
    hidden = "hidden"  # name, points and a one-line reason only


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestResult(_Model):
    __test__ = False  # not a pytest test class

    name: str
    description: str = ""
    part: str
    tags: list[str]
    max_score: float
    score: float
    status: Status
    reason: str = ""
    output: str = ""
    visibility: Visibility
    where: str = ""
    flags: list[str] = []


class PartResult(_Model):
    name: str
    score: float
    max_score: float
    not_graded: float = 0.0


class LoadError(_Model):
    """A cell (or the file) that raised while the submission was loaded."""

    label: str
    error: str
    where: str = ""
    first_line: str = ""  # the cell's first line of code, to find it in the notebook


class GradeResult(_Model):
    exercise: str
    title: str
    submission: str
    score: float
    max_score: float
    graded_max_score: float
    hidden_run: bool
    parts: list[PartResult]
    tests: list[TestResult]
    load_errors: list[LoadError] = []
    error: str = ""  # why the submission could not run at all
    error_kind: str = (
        ""  # "unreadable" (no usable submission), "compile", "load" (died while loading)
    )
    devices: list[str] = []
    protections: list[str] = []
    flags: list[str] = []
    notes: list[str] = []
    definitions: dict[str, int] = {}  # spec name -> line of its definition in a .py submission
    variant: int | None = (
        None  # the input variant of the instructor's grade (None: the public inputs)
    )
    # What `grade similar` compares across a class (an instructor's grade only): the code graded
    # (a notebook's cells after `# %% [cell N]` lines) and, per check, the value produced, hashed.
    source: str = ""
    outputs: dict[str, str] = {}
    duration_s: float = 0.0
    running_s: float = (
        0.0  # of which the submission and its tests ran in the sandbox (loading, tests)
    )

    @property
    def not_graded(self) -> float:
        return self.max_score - self.graded_max_score

    @property
    def evidence(self) -> list[str]:
        """Flags that say the submission reached for the grader's machinery (a human should look)."""
        return [f for f in self.flags if f.startswith(EVIDENCE)]
