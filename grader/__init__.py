"""grader: sandboxed, golden-value grading of PyTorch exercises."""

from grader._exceptions import (
    ConfigError,
    ExerciseNotFound,
    GoldenError,
    GraderError,
    SubmissionError,
)

__all__ = ["ConfigError", "ExerciseNotFound", "GoldenError", "GraderError", "SubmissionError"]
__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext grader`: the `%grade` magic (see grader.magic)."""
    from grader.magic import load_ipython_extension as load

    load(ipython)
