"""The grader's exceptions, one tree; the CLI catches `GraderError` and prints one line.

GraderError
├── ConfigError          an exercise's grading.toml or layout is wrong (instructor's mistake)
├── ExerciseNotFound     no such exercise where we looked
├── SubmissionError      the submission cannot be read at all (student's mistake)
└── GoldenError          golden values are missing, stale or unreadable
"""


class GraderError(Exception):
    """Base of every error the grader raises on purpose."""


class ConfigError(GraderError):
    pass


class ExerciseNotFound(GraderError):
    pass


class SubmissionError(GraderError):
    pass


class GoldenError(GraderError):
    pass
