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

import contextlib
import hashlib
import re
import unicodedata
import zipfile
from collections.abc import Callable
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
UTF8_FLAG = 0x800  # general purpose bit 11: the name is UTF-8
# a student's own words beside the submission: readme.txt, README.md, notes.txt, Notes ...
NOTE_FILE = re.compile(r"^(readme|notes?)([._ -].*)?$", re.IGNORECASE)
MAX_NOTE = 2000


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
    """A folder name that keeps the student's letters (`Anna_Müller`): Unicode letters and digits,
    `.`, `_` and `-`; nothing a file system or a shell treats specially; at most 120 bytes."""
    text = unicodedata.normalize("NFC", text)
    key = re.sub(r"[^\w.-]+", "_", text).strip("._-") or "student"
    while len(key.encode("utf-8")) > 120:
        key = key[:-1]
    return key


def zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its maker meant it.

    With the UTF-8 flag zipfile has decoded it already. Without it zipfile reads cp437, which
    Info-ZIP and Windows' own zips use for names that are really UTF-8 bytes (`Anna M├╝ller`): so
    the cp437 text is taken back to its bytes and read as UTF-8 where that is valid.
    """
    name = info.filename
    if info.flag_bits & UTF8_FLAG:
        return unicodedata.normalize("NFC", name)
    # really cp437 (or not UTF-8 either): zipfile's reading stays
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        name = name.encode("cp437").decode("utf-8")
    return unicodedata.normalize("NFC", name)


def discover(root: Path, *, module: str) -> list[Student]:
    if not root.exists():
        raise SubmissionError(f"no such folder or zip: {root}")
    if not root.is_dir():
        raise SubmissionError(f"{root} is not a folder (unzip it, or pass the .zip itself)")
    students: dict[str, Student] = {}
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name in IGNORED or entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        found = _folder_student(entry) if entry.is_dir() else _file_student(entry)
        existing = students.setdefault(found.key, found)
        if existing is not found:  # the same student again: their files together
            existing.files += found.files
            existing.late = existing.late or found.late
            if found.folder is not None and found.problem:  # an empty folder says so
                existing.problem = found.problem
            else:
                existing.problem = existing.problem or found.problem
    for student in students.values():
        _choose_file(student, module)
    return sorted(students.values(), key=lambda s: s.key)


def _folder_student(entry: Path) -> Student:
    """A student's folder: Moodle's `Name_ID_assignsubmission_file_`, or any folder by its name."""
    m = MOODLE.match(entry.name)
    if m:  # two participants may share a name: Moodle's id keeps them apart
        name, identifier = m.group("name"), f"Participant {m.group('id')}"
        student = Student(safe_key(f"{name}_{m.group('id')}"), name, identifier, folder=entry)
    else:
        student = Student(safe_key(entry.name), entry.name, "", folder=entry)
    if not any(p.is_file() for p in entry.rglob("*")):
        student.problem = "empty folder"
    return student


def _file_student(entry: Path) -> Student:
    """A student's file: Canvas's `login_late_user_file`, or any file by its name."""
    m = CANVAS.match(entry.name)
    if m:
        student = Student(
            safe_key(m.group("login")),
            m.group("login"),
            m.group("user"),
            late=bool(m.group("late")),
            files=[entry],
        )
    else:
        student = Student(safe_key(entry.stem), entry.stem, files=[entry])
    if entry.suffix not in SUBMISSION_SUFFIXES:
        student.problem = f"{entry.name} is not a submission (.py, .ipynb or .zip)"
    return student


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
    """Extract a class download safely (no absolute paths, no `..`, bounded size), names decoded
    as their maker meant them (see `zip_name`)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive.name} is not a readable zip archive ({exc})") from None
    with zf:
        members = zf.infolist()
        if sum(m.file_size for m in members) > MAX_CLASS_ZIP:
            raise SubmissionError(f"{archive.name} unpacks to more than 2 GB: refused")
        for member in members:
            member.filename = zip_name(member)
        refuse_unsafe_paths(archive.name, members)
        zf.extractall(into, members=members)
    entries = [p for p in into.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and not MOODLE.match(entries[0].name):
        return entries[0]  # a zip of the class folder itself
    return into


def _submission_files(student: Student) -> list[Path]:
    """What the student handed in, without their notes and what tools leave behind."""
    path = student.path
    if path is None:
        return []
    if path.is_file():
        return [path]
    skip = {".ipynb_checkpoints", "__MACOSX", "__pycache__"}
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not NOTE_FILE.match(p.name)
        and p.name not in IGNORED
        and not any(part in skip or part.startswith(".") for part in p.relative_to(path).parts)
    )


def submission_digest(student: Student) -> str:
    """A hash of the submission's bytes (names aside): equal for byte-identical submissions."""
    files = _submission_files(student)
    if not files:
        return ""
    digest = hashlib.sha256()
    for data in sorted(f.read_bytes() for f in files):
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def student_note(student: Student) -> str:
    """The text of a note the student left beside their submission (`readme.txt`, `NOTES.md`)."""
    if student.folder is None:
        return ""
    notes = sorted(
        p
        for p in student.folder.rglob("*")
        if p.is_file() and NOTE_FILE.match(p.name) and p.suffix.lower() in ("", ".txt", ".md")
    )
    texts = []
    for note in notes[:3]:
        try:
            text = note.read_bytes()[:MAX_NOTE].decode("utf-8", errors="replace").strip()
        except OSError:
            continue
        if text:
            texts.append(f"{note.name}: {text}")
    return "\n".join(texts)[:MAX_NOTE]


def untouched_stub(student: Student, *, module: str, is_stub: Callable[[Path], bool]) -> bool:
    """The student handed in the exercise's stub as it was given out (renamed or not)."""
    files = [f for f in _submission_files(student) if f.suffix in (".py", ".ipynb")]
    if student.folder is not None:
        files = [f for f in files if f.stem == module] or files
    return bool(files) and all(is_stub(f) for f in files)
