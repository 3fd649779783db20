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
