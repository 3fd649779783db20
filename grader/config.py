"""The exercise's grading config (`grading.toml`), validated by pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader._exceptions import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Limits enforced from outside the child; each can be overridden on the command line."""

    test_timeout: float = Field(10.0, gt=0, description="seconds a single test may run")
    load_timeout: float = Field(30.0, gt=0, description="seconds loading the submission may take")
    total_timeout: float = Field(600.0, gt=0, description="seconds for the whole submission")
    memory_mb: int = Field(2048, gt=0, description="memory the child may use, in MiB")
    output_kb: int = Field(1024, gt=0, description="output kept from the child, in KiB")


class Tolerance(_Strict):
    rtol: float = Field(1e-5, ge=0)
    atol: float = Field(1e-6, ge=0)


class Part(_Strict):
    name: str
    points: float = Field(gt=0)
    functions: list[str]
    forbidden: list[str] = []


class ExerciseConfig(_Strict):
    name: str
    title: str
    module: str = Field(description="the submission's file stem: ex2 -> ex2.py or ex2.ipynb")
    limits: Limits = Limits()
    tolerance: Tolerance = Tolerance()
    parts: list[Part]
    forbidden: dict[str, list[str]] = {}
    variants: int = Field(
        8, ge=1, le=1024, description="input variants of the instructor's grade, one per student"
    )

    @model_validator(mode="after")
    def _names_are_known(self) -> ExerciseConfig:
        known = self.function_names()
        unknown = sorted(set(self.forbidden) - known)
        if unknown:
            raise ValueError(f"forbidden names functions that no part lists: {', '.join(unknown)}")
        return self

    def function_names(self) -> set[str]:
        return {f for part in self.parts for f in part.functions}

    @property
    def max_score(self) -> float:
        return sum(part.points for part in self.parts)

    def part_of(self, function: str) -> str | None:
        for part in self.parts:
            if function in part.functions:
                return part.name
        return None

    def forbidden_calls(self) -> dict[str, list[str]]:
        """Every function's forbidden callables: its part's plus its own."""
        out: dict[str, list[str]] = {}
        for part in self.parts:
            for function in part.functions:
                names = [*part.forbidden, *self.forbidden.get(function, [])]
                if names:
                    out[function] = sorted(set(names))
        return out


def load_config(path: Path) -> ExerciseConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no grading config at {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return ExerciseConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid grading config {path}: {problems}") from None
