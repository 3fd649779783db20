"""Which inputs a student's graded run draws: a variant picked by a course secret and their identity.

The instructor's grade never compares with a value a student has seen. Every test draws its
inputs from a seed; the public golden values students hold are those of seed 0. A graded run
uses the seed of one of `variants` variants (8 by default, so recording them stays cheap),
chosen by an HMAC of the student's identity under the course secret: the same on a regrade,
different between most students, and unknowable without the secret. The secret lives beside the
references (`reference/.grader-secret`, made on first use) or comes from `GRADER_SECRET`; keep it
with the course's private files and share it between the staff who grade.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from grader._exceptions import ConfigError
from grader.exercise import Exercise

SECRET_NAME = ".grader-secret"
SECRET_ENV = "GRADER_SECRET"


@dataclass(frozen=True)
class Variant:
    index: int  # 0 .. variants-1: what results name
    seed: int  # the tests' input seed (never 0: that is the public one)


def secret_path(exercise: Exercise) -> Path:
    if exercise.reference_dir is None:
        raise ConfigError(f"{exercise.name}: grading variants need the reference")
    return exercise.reference_dir.parent / SECRET_NAME


def course_secret(exercise: Exercise) -> bytes:
    """The course's secret: `GRADER_SECRET`, else `reference/.grader-secret` (made on first use)."""
    if env := os.environ.get(SECRET_ENV):
        return env.encode()
    path = secret_path(exercise)
    try:
        if not path.exists():
            _create_secret(path)
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the course secret {path}: {exc}") from None
    if len(text) < 16:
        raise ConfigError(f"{path} holds too short a secret: at least 16 characters")
    return text.encode()


def _create_secret(path: Path) -> None:
    """Write a new secret whole, then link it into place: batch threads (or two grades) that find
    none at once each try, one wins, and every reader sees the whole of the winner's."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".grader-secret-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _mac(secret: bytes, message: str) -> int:
    return int.from_bytes(hmac.new(secret, message.encode(), hashlib.sha256).digest()[:8], "big")


def identity(student: str) -> str:
    """The same student under the spellings a class download gives them (case, accents, spaces)."""
    return " ".join(unicodedata.normalize("NFC", student).casefold().split())


def variant_for(exercise: Exercise, student: str, *, variants: int | None = None) -> Variant:
    count = variants or exercise.config.variants
    secret = course_secret(exercise)
    index = _mac(secret, f"student\0{exercise.name}\0{identity(student)}") % count
    return variant_seed(exercise, index, secret=secret)


def variant_seed(exercise: Exercise, index: int, *, secret: bytes | None = None) -> Variant:
    secret = secret if secret is not None else course_secret(exercise)
    seed = (
        _mac(secret, f"seed\0{exercise.name}\0{index}") % (2**47) + 1
    )  # small enough for `seed * k + j`
    return Variant(index, seed)
