"""Find the students in a class download: one file each, one folder each, Moodle's or Canvas's layout.

    alice.ipynb                                           -> alice
    bob/ex2.py                                            -> bob
    Jane Smith_123456_assignsubmission_file_/ex2.ipynb    -> Jane Smith (Moodle participant 123456)
    smithjane_12345_67890_ex2.ipynb                       -> smithjane (Canvas user 12345)
    smithjane_LATE_12345_67890_ex2-1.ipynb                -> smithjane, late

Several files of one student are grouped; anything that cannot be a submission is reported, never
fatal.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader._exceptions import SubmissionError
from grader.submission import refuse_unsafe_paths

MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_?$")
CANVAS = re.compile(
    r"^(?P<login>[a-z0-9]+)(?P<late>_LATE)?_(?P<user>\d+)_(?P<sub>\d+)_(?P<file>.+)$"
)
SUBMISSION_SUFFIXES = {".py", ".ipynb", ".zip"}
IGNORED = {".DS_Store", "Thumbs.db", "desktop.ini", "index.html", "grades.csv"}
MAX_CLASS_ZIP = 2 * 1024 * 1024 * 1024


@dataclass
class Student:
    key: str  # a file-system-safe identifier, unique in the class
    name: str  # as the platform shows it
    identifier: str = ""  # Moodle's "Participant 123456", Canvas's user id
    late: bool = False
    files: list[Path] = field(default_factory=list)
    folder: Path | None = None
    problem: str = ""  # why this entry cannot be graded (empty folder, not a submission)
    note: str = ""

    @property
    def path(self) -> Path | None:
        """What to grade: the folder, or the one file (the newest Canvas resubmission)."""
        if self.folder is not None:
            return self.folder
        return self.files[-1] if self.files else None


def safe_key(text: str) -> str:
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "student"
    return key[:80]


def discover(root: Path, *, module: str) -> list[Student]:
    if not root.exists():
        raise SubmissionError(f"no such folder or zip: {root}")
    if not root.is_dir():
        raise SubmissionError(f"{root} is not a folder (unzip it, or pass the .zip itself)")
    students: dict[str, Student] = {}

    def add(student: Student) -> Student:
        existing = students.get(student.key)
        if existing is None:
            students[student.key] = student
            return student
        existing.files += student.files
        existing.late = existing.late or student.late
        return existing

    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name in IGNORED or entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if entry.is_dir():
            m = MOODLE.match(entry.name)
            name, identifier = (
                (m.group("name"), f"Participant {m.group('id')}") if m else (entry.name, "")
            )
            # two participants may share a name: Moodle's id keeps them apart
            key = safe_key(f"{name}_{m.group('id')}") if m else safe_key(name)
            student = add(Student(key, name, identifier, folder=entry))
            if not any(p.is_file() for p in entry.rglob("*")):
                student.problem = "empty folder"
            continue
        m = CANVAS.match(entry.name)
        if m:
            student = add(
                Student(
                    safe_key(m.group("login")),
                    m.group("login"),
                    m.group("user"),
                    late=bool(m.group("late")),
                    files=[entry],
                )
            )
        else:
            student = add(Student(safe_key(entry.stem), entry.stem, files=[entry]))
        if entry.suffix not in SUBMISSION_SUFFIXES:
            student.problem = (
                student.problem or f"{entry.name} is not a submission (.py, .ipynb or .zip)"
            )
    for student in students.values():
        _choose_file(student, module)
    return sorted(students.values(), key=lambda s: s.key)


def _canvas_file(path: Path) -> str:
    m = CANVAS.match(path.name)
    return m.group("file") if m else path.name


def _choose_file(student: Student, module: str) -> None:
    """Several files for one student: the newest resubmission of the exercise's file, if that is clear.

    Canvas names resubmissions ex2-1.ipynb, ex2-2.ipynb; the highest number is the newest.
    """
    if student.folder is not None or len(student.files) < 2:
        return

    def base(path: Path) -> str:
        return re.sub(r"-\d+$", "", Path(_canvas_file(path)).stem)

    def number(path: Path) -> tuple[int, str]:
        m = re.search(r"-(\d+)$", Path(_canvas_file(path)).stem)
        return (int(m.group(1)) if m else 0, path.name)

    candidates = [f for f in student.files if f.suffix in SUBMISSION_SUFFIXES]
    named = [f for f in candidates if base(f) == module] or candidates
    if len({base(f) for f in named}) != 1:
        student.problem = "several files, none clearly the submission: " + ", ".join(
            f.name for f in student.files[:5]
        )
        return
    others = [f.name for f in student.files if f not in named]
    student.files = sorted(named, key=number)
    student.problem = ""
    if others:
        student.note = "ignored: " + ", ".join(others)


def unpack_class_zip(archive: Path, into: Path) -> Path:
    """Extract a class download safely (no absolute paths, no `..`, bounded size)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive.name} is not a readable zip archive ({exc})") from None
    with zf:
        members = zf.infolist()
        if sum(m.file_size for m in members) > MAX_CLASS_ZIP:
            raise SubmissionError(f"{archive.name} unpacks to more than 2 GB: refused")
        refuse_unsafe_paths(archive.name, members)
        zf.extractall(into)
    entries = [p for p in into.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and not MOODLE.match(entries[0].name):
        return entries[0]  # a zip of the class folder itself
    return into
