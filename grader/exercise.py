"""Where an exercise's pieces live: the public folder students get and the instructor's reference."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from grader._exceptions import ExerciseNotFound
from grader.config import ExerciseConfig, load_config

CONFIG_NAME = "grading.toml"
PUBLIC_GOLDEN_NAME = "golden.json"


@dataclass(frozen=True)
class Exercise:
    name: str
    public_dir: Path  # exercises/<name>: stubs, public tests, their golden values, the config
    reference_dir: Path | None  # reference/<name>: solution, hidden tests; None in a student's copy

    @cached_property
    def config(self) -> ExerciseConfig:
        public = self.public_dir / CONFIG_NAME
        if not public.is_file() and self.reference_dir is not None:
            return load_config(self.reference_dir / CONFIG_NAME)  # before the first `grade build`
        return load_config(public)

    @property
    def public_tests(self) -> list[Path]:
        return sorted((self.public_dir / "tests").glob("test_*.py"))

    @property
    def hidden_tests(self) -> list[Path]:
        if self.reference_dir is None:
            return []
        return sorted((self.reference_dir / "tests").glob("test_*.py"))

    @property
    def public_golden_path(self) -> Path:
        return self.public_dir / PUBLIC_GOLDEN_NAME

    @property
    def solution_path(self) -> Path:
        if self.reference_dir is None:
            raise ExerciseNotFound(f"{self.name}: no reference solution in this copy")
        return self.reference_dir / "solution.py"

    def properties_paths(self) -> list[Path]:
        dirs = [self.public_dir, *([self.reference_dir] if self.reference_dir else [])]
        return [d / "properties.py" for d in dirs if (d / "properties.py").is_file()]

    def version(self, *, hidden: bool) -> str:
        """A hash of everything golden values depend on: changes when any of it changes."""
        files = list(self.public_tests)
        if hidden:
            files += [self.solution_path, *self.hidden_tests]
            assert self.reference_dir is not None
            catalogue = self.reference_dir / "mistakes.toml"  # its named mistakes are recorded too
            if catalogue.is_file():
                files.append(catalogue)
        digest = hashlib.sha256(self.config.model_dump_json().encode())
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:16]


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` holding an `exercises/` folder."""
    env = os.environ.get("GRADER_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "exercises").is_dir():
            return folder
    return None


def find_exercise(name: str, *, start: Path | None = None) -> Exercise:
    """Find `name` from the project root, or in the current folder when it is the exercise itself."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file() and load_config(folder / CONFIG_NAME).name == name:
            reference = folder.parent.parent / "reference" / name
            return Exercise(name, folder, reference if reference.is_dir() else None)
    root = project_root(here)
    if root is not None and any(
        (root / d / name / CONFIG_NAME).is_file() for d in ("exercises", "reference")
    ):
        reference = root / "reference" / name
        return Exercise(name, root / "exercises" / name, reference if reference.is_dir() else None)
    known = sorted(p.parent.name for p in root.glob(f"exercises/*/{CONFIG_NAME}")) if root else []
    hint = (
        f" (known: {', '.join(known)})" if known else " (run it inside the course's project folder)"
    )
    raise ExerciseNotFound(f"no exercise named {name!r}{hint}")
