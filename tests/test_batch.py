"""`grade batch`: a realistic class download graded end to end, row by row.

tests/classes/ex2/ is a class as the platforms download it, built from the project's real
submissions (tests/submissions, tests/notebooks, the untouched stubs, the reference solution):
one file per student, one folder per student, Moodle folders, Canvas files with a late
resubmission, a student's zip, a helper file beside ex2.py, a broken notebook, files that are not
submissions, several files of one student, and two hostile students (an infinite loop in `relu`,
`os._exit(0)` at import). Git keeps no empty folder, so the tests add the empty one (`felix/`) to
their copy. tests/classes/ex2-moodle.zip is a smaller Moodle class, graded from the zip itself.

Every expected grade is what `grade ex2 PATH` gives for that student's file or folder (`grade` with
the command's defaults, one cold child per submission): the batch must give each student exactly
that, test by test. The batches run with `--timeout 3` to keep the hostile loop cheap; the single
grades keep the exercise's 10 s (a cold child on a loaded two-core machine needs more than 3 s for
the training tests), so the only text allowed to differ is the number in "timed out after N s".
Statuses, identities and late flags are hard-coded from the layout.

Every batch runs as the instructor runs it, `python -m grader batch ...`, in a subprocess whose
TMPDIR is private to the test: every grading child's scratch folder (in its command line and its
environment) lies there, which is how the tests tell their children from anyone else's.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

from grader.exercise import Exercise
from grader.grading import Options, grade
from grader.result import GradeResult, Status

CLASS = ROOT / "tests" / "classes" / "ex2"
MOODLE_ZIP = ROOT / "tests" / "classes" / "ex2-moodle.zip"
TIMEOUT = 3.0  # seconds per test in the batches: the hostile loop costs little
PARTS = ["Tensors", "Autograd", "Models", "Losses", "Training"]
HEADER = [
    "student",
    "full_name",
    "identifier",
    "score",
    "max_score",
    *PARTS,
    "status",
    "late",
    "error",
    "flags",
    "variant",
]
STUDENT_FILES = {"record.json", "results.json", "feedback.md", "feedback.html"}


@dataclass(frozen=True)
class Row:
    """What the gradebook must say of one student."""

    name: str  # full_name as the platform shows it
    identifier: str
    late: bool
    status: str
    graded: str | None = None  # what `grade ex2 PATH` grades, relative to the class folder
    problem: str = ""  # the error of a student that is not a submission
    twin: str = (
        ""  # the zip class: the class file with the same bytes, whose single grade it must get
    )

    @property
    def id(self) -> str:
        return f"{self.name} {self.identifier}".strip()


MOODLE = "{}_{}_assignsubmission_file_"

CLASS_ROWS = [
    # one file per student
    Row("alice", "", False, "graded", "alice.ipynb"),  # a Colab notebook
    Row("bob", "", False, "graded", "bob.py"),  # the reference solution
    Row("chen", "", False, "graded", "chen.py"),
    Row("diego", "", False, "graded", "diego.py"),
    Row("emma", "", False, "graded", "emma.ipynb"),  # magics
    Row("farid", "", False, "graded", "farid.py"),  # a syntax error: graded, 0
    Row("gita", "", False, "graded", "gita.ipynb"),  # the untouched stub notebook
    Row("hana", "", False, "graded", "hana.py"),  # the untouched stub
    Row("ivan", "", False, "unusable", "ivan.ipynb"),  # truncated JSON
    Row("jonas", "", False, "graded", "jonas.py"),  # hostile: relu never returns
    Row("kemal", "", False, "graded", "kemal.py"),  # hostile: os._exit(0) at import
    Row("lena", "", False, "graded", "lena.py"),
    Row("mia", "", False, "graded", "mia.ipynb"),
    Row("noah", "", False, "graded", "noah.py"),
    Row("olivia", "", False, "graded", "olivia.ipynb"),
    Row("omar", "", False, "graded", "omar.py"),
    Row("dave", "", False, "graded", "dave.zip"),  # a zip holding ex2.py
    Row(
        "readme",
        "",
        False,
        "not a submission",
        problem="readme.txt is not a submission (.py, .ipynb or .zip)",
    ),
    # one folder per student
    Row("carol", "", False, "graded", "carol"),
    Row("dmitri", "", False, "graded", "dmitri"),
    Row("erin", "", False, "graded", "erin"),  # a helper module beside ex2.py
    Row("felix", "", False, "not a submission", problem="empty folder"),
    Row("gina", "", False, "graded", "gina"),  # with .ipynb_checkpoints/
    Row("hugo", "", False, "graded", "hugo"),  # ex2.py and ex2.ipynb: the notebook
    Row("quinn", "", False, "unusable", "quinn"),  # solution.py and utils.py: which one?
    # Moodle
    Row("Jane Smith", "Participant 123456", False, "graded", MOODLE.format("Jane Smith", 123456)),
    Row("José Núñez", "Participant 123457", False, "graded", MOODLE.format("José Núñez", 123457)),
    # a Moodle student who uploaded a zip: graded as `grade ex2 .../ex2.zip` grades it
    Row(
        "Anna-Lena Müller",
        "Participant 123458",
        False,
        "graded",
        MOODLE.format("Anna-Lena Müller", 123458) + "/ex2.zip",
    ),
    Row(
        "Tom Lee", "Participant 123459", False, "unusable", MOODLE.format("Tom Lee", 123459)
    ),  # nbformat 3
    # two participants with the same full name are two students
    Row("Wei Zhang", "Participant 123460", False, "graded", MOODLE.format("Wei Zhang", 123460)),
    Row("Wei Zhang", "Participant 123461", False, "graded", MOODLE.format("Wei Zhang", 123461)),
    # Canvas
    Row(
        "smithjane", "12345", True, "graded", "smithjane_LATE_12345_67890_ex2-1.ipynb"
    ),  # the newest, late
    Row("leeminho", "23456", False, "graded", "leeminho_23456_78901_ex2.py"),
    Row("pateltara", "34567", True, "graded", "pateltara_LATE_34567_89012_ex2.py"),
    Row("parkmin", "45678", False, "graded", "parkmin_45678_90123_ex2.py"),  # and a utils.py
    Row(
        "kimyuna",
        "56789",
        False,
        "not a submission",
        problem="several files, none clearly the submission: kimyuna_56789_90125_notes.py, kimyuna_56789_90126_final.py",
    ),
]

ZIP_ROWS = [  # each graded one is byte for byte a file of the big class: `twin`
    Row(
        "Ada Lovelace",
        "Participant 200001",
        False,
        "graded",
        MOODLE.format("Ada Lovelace", 200001) + "/ex2.ipynb",
        twin="alice.ipynb",
    ),
    Row(
        "Alan Turing",
        "Participant 200002",
        False,
        "graded",
        MOODLE.format("Alan Turing", 200002) + "/ex2.py",
        twin="diego.py",
    ),
    Row(
        "Grace Hopper",
        "Participant 200003",
        False,
        "graded",
        MOODLE.format("Grace Hopper", 200003) + "/ex2.py",
        twin="bob.py",
    ),
    Row(
        "Edsger Dijkstra",
        "Participant 200004",
        False,
        "graded",
        MOODLE.format("Edsger Dijkstra", 200004) + "/ex2.ipynb",
        twin="gita.ipynb",
    ),
    Row(
        "Barbara Liskov",
        "Participant 200005",
        False,
        "graded",
        MOODLE.format("Barbara Liskov", 200005) + "/Lab 2/ex2.py",
        twin="chen.py",
    ),
    Row(
        "Donald Knuth",
        "Participant 200006",
        False,
        "unusable",
        "Donald Knuth_200006_assignsubmission_onlinetext_",
    ),
]

# the interrupted class: ten students of the big one (eight to grade)
RESUME_ENTRIES = [
    "bob.py",
    "chen.py",
    "diego.py",
    "lena.py",
    "noah.py",
    "omar.py",
    "gita.ipynb",
    "carol",
    "farid.py",
    "readme.txt",
]


# -- running the command -------------------------------------------------------------------------


def batch_argv(submissions: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "grader",
        "batch",
        "ex2",
        str(submissions),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--timeout",
        f"{TIMEOUT:g}",
        *extra,
    ]


def batch_env(tmpdir: Path) -> dict[str, str]:
    tmpdir.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmpdir), "COLUMNS": "200", "NO_COLOR": "1"}


@dataclass
class BatchRun:
    code: int
    out: str

    @property
    def reused(self) -> int:
        counts = re.findall(r"(\d+) reused", self.out)
        assert counts, f"no progress line in the output:\n{self.out}"
        return int(counts[-1])


def run_batch(submissions: Path, out: Path, tmpdir: Path, *extra: str) -> BatchRun:
    proc = subprocess.run(
        batch_argv(submissions, out, *extra),
        cwd=ROOT,
        env=batch_env(tmpdir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return BatchRun(proc.returncode, proc.stdout + proc.stderr)


def grader_children(marker: Path) -> list[str]:
    """Live grading processes of this test's batches (scratch folders under `marker`)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmdline = (d / "cmdline").read_bytes()
            if b"grader.child" not in cmdline:
                continue
            environ = (d / "environ").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if str(marker).encode() in cmdline or str(marker).encode() in environ:
            shown = cmdline.replace(bytes(1), b" ")[-200:].decode(errors="replace")
            found.append(f"{d.name}: {shown}")
    return found


def no_children_left(marker: Path, grace: float = 10.0) -> list[str]:
    deadline = time.monotonic() + grace
    while (left := grader_children(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    """Rows keyed by 'full name identifier' (unique in these classes)."""
    text = (out / "gradebook.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == HEADER
    rows: dict[str, dict[str, str]] = {}
    for row in reader:
        key = f"{row['full_name']} {row['identifier']}".strip()
        assert key not in rows, f"two gradebook rows for {key}"
        rows[key] = row
    return rows


def record(out: Path, student: str) -> dict:
    return json.loads((out / "students" / student / "record.json").read_text(encoding="utf-8"))


def fmt(x: float) -> str:
    return f"{x:g}"


# -- the expected grades: each submission graded alone -----------------------------------------------


def grade_alone(ex2: Exercise, paths: Iterable[tuple[Path, str]]) -> dict[Path, GradeResult]:
    """`grade ex2 PATH --student WHO` for every (path, who), two at a time (this machine has two
    cores), longest first. WHO is the identity a batch grades the student as: their input variant."""
    items = sorted(set(paths), key=lambda p: (p[0].name != "jonas.py", str(p[0])))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(
            lambda item: grade(ex2, item[0], Options(hidden=True, student=item[1])), items
        )
        return {path: result for (path, _), result in zip(items, results, strict=True)}


def who(row: Row) -> str:
    """The identity `grade batch` gives this student (grader.batch.run.identity_of)."""
    return row.identifier or row.name


def limits_apart(text: str) -> str:
    """The batch ran with --timeout 3, the single grade with the exercise's limit."""
    return re.sub(r"timed out after [0-9.]+ s", "timed out after N s", text)


def assert_row_is_single_grade(
    row: dict[str, str], expected: Row, alone: GradeResult | None, out: Path
) -> None:
    """The gradebook row of one student, column by column, and its record test by test."""
    assert row["full_name"] == expected.name
    assert row["identifier"] == expected.identifier
    assert row["late"] == ("yes" if expected.late else "")
    assert row["status"] == expected.status, (
        f"{expected.id}: status {row['status']!r} ({row['error']})"
    )
    assert row["max_score"] == "100"
    if alone is None:  # not a submission: nothing ran
        assert row["error"] == expected.problem
        assert row["score"] == "0" and all(row[p] == "0" for p in PARTS)
        assert row["flags"] == ""
        return
    got = {k: limits_apart(row[k]) for k in ("score", *PARTS, "error", "flags")}
    want = {
        "score": fmt(alone.score),
        **{p.name: fmt(p.score) for p in alone.parts},
        "error": limits_apart(alone.error),
        "flags": limits_apart("; ".join(alone.flags)),
    }
    assert got == want, (
        f"{expected.id}: the batch's grade differs from `grade ex2 {expected.graded}`"
    )
    rec = record(out, row["student"])
    assert rec["status"] == expected.status
    assert rec["student"] == {
        "key": row["student"],
        "name": expected.name,
        "identifier": expected.identifier,
        "late": expected.late,
    }
    result = GradeResult.model_validate(rec["result"])
    assert result.hidden_run and (result.graded_max_score, result.error_kind) == (
        alone.graded_max_score,
        alone.error_kind,
    )
    assert (result.devices, result.protections) == (
        alone.devices,
        alone.protections,
    )  # the same sandbox
    assert [(t.name, t.part, t.status, t.score, limits_apart(t.reason)) for t in result.tests] == [
        (t.name, t.part, t.status, t.score, limits_apart(t.reason)) for t in alone.tests
    ]
    results_json = json.loads(
        (out / "students" / row["student"] / "results.json").read_text(encoding="utf-8")
    )
    assert results_json["score"] == alone.score


# -- the big class, graded once ----------------------------------------------------------------------


@dataclass
class ClassRun:
    submissions: Path
    out: Path
    tmpdir: Path
    run: BatchRun
    seconds: float
    left_behind: list[str]


@pytest.fixture(scope="module")
def big_class(tmp_path_factory: pytest.TempPathFactory) -> ClassRun:
    root = tmp_path_factory.mktemp("class")
    submissions = root / "ex2"
    shutil.copytree(CLASS, submissions)
    (submissions / "felix").mkdir()  # the empty folder
    out, tmpdir = root / "results", root / "tmp"
    started = time.monotonic()
    run = run_batch(submissions, out, tmpdir)
    seconds = time.monotonic() - started
    return ClassRun(submissions, out, tmpdir, run, seconds, no_children_left(tmpdir, grace=5))


@pytest.fixture(scope="module")
def moodle_zip_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("moodle-zip")
    with zipfile.ZipFile(MOODLE_ZIP) as z:
        z.extractall(folder)
    return folder


@pytest.fixture(scope="module")
def alone(ex2: Exercise, big_class: ClassRun) -> dict[Path, GradeResult]:
    """Every gradable student of the big class graded alone, after the big batch."""
    return grade_alone(
        ex2, [(big_class.submissions / r.graded, who(r)) for r in CLASS_ROWS if r.graded]
    )


def test_the_class_download_holds_every_kind_of_submission() -> None:
    names = {p.name for p in CLASS.iterdir()}
    assert len(names) >= 30
    assert (CLASS / "readme.txt").is_file() and (CLASS / "erin" / "plot_helpers.py").is_file()
    json.loads((CLASS / "alice.ipynb").read_text(encoding="utf-8"))
    with pytest.raises(json.JSONDecodeError):
        json.loads((CLASS / "ivan.ipynb").read_text(encoding="utf-8"))
    assert "os._exit(0)" in (CLASS / "kemal.py").read_text(encoding="utf-8")
    assert (CLASS / "gita.ipynb").read_bytes() == (ROOT / "exercises/ex2/ex2.ipynb").read_bytes()
    assert (CLASS / "bob.py").read_bytes() == (ROOT / "reference/ex2/solution.py").read_bytes()
    with zipfile.ZipFile(CLASS / "dave.zip") as z:
        assert z.namelist() == ["ex2.py"]
    with zipfile.ZipFile(MOODLE_ZIP) as z:
        assert len({n.split("/")[0] for n in z.namelist()}) == len(ZIP_ROWS)


def test_the_batch_grades_the_whole_class(big_class: ClassRun) -> None:
    """Exit 0, one row a student, no grader bug logged, the class outputs written, nothing left running."""
    assert big_class.run.code == 0, big_class.run.out
    assert not (big_class.out / "errors.log").exists(), (big_class.out / "errors.log").read_text()
    assert big_class.left_behind == []
    assert big_class.run.reused == 0
    rows = gradebook(big_class.out)
    keys = [row["student"] for row in rows.values()]
    assert len(set(keys)) == len(keys)
    for row in rows.values():
        # a safe folder name that keeps the student's letters (Anna-Lena_Müller_123458)
        assert re.fullmatch(r"[\w.-]+", row["student"]), row["student"]
        if not row["identifier"].startswith("Participant "):
            assert row["student"] == row["full_name"]
        assert {
            p.name for p in (big_class.out / "students" / row["student"]).iterdir()
        } == STUDENT_FILES
    graded = sum(row["status"] == "graded" for row in rows.values())
    summary = (big_class.out / "summary.html").read_text(encoding="utf-8")
    assert f"<strong>{graded}</strong> of {len(rows)} graded" in summary
    missing, unexpected = (
        {r.id for r in CLASS_ROWS} - set(rows),
        set(rows) - {r.id for r in CLASS_ROWS},
    )
    assert not missing and not unexpected, (
        f"missing from the gradebook: {sorted(missing)}; not expected: {sorted(unexpected)}"
    )


@pytest.mark.parametrize("expected", CLASS_ROWS, ids=lambda r: r.id)
def test_each_student_gets_the_grade_a_single_grade_gives(
    expected: Row, big_class: ClassRun, alone: dict[Path, GradeResult]
) -> None:
    rows = gradebook(big_class.out)
    assert expected.id in rows, f"no gradebook row for {expected.id}"
    result = alone[big_class.submissions / expected.graded] if expected.graded else None
    assert_row_is_single_grade(rows[expected.id], expected, result, big_class.out)


def test_the_sure_grades_of_the_class(big_class: ClassRun) -> None:
    """Independent of any single grade: the reference, the stubs, a late Canvas resubmission."""
    rows = gradebook(big_class.out)
    for who in ("bob", "carol", "alice", "smithjane 12345"):
        assert rows[who]["score"] == "100", who
    for who in ("gita", "hana", "farid", "ivan", "Tom Lee Participant 123459"):
        assert rows[who]["score"] == "0", who
    # smithjane's first upload is the untouched stub (0 points): the late -1 upload is the one graded
    assert record(big_class.out, "smithjane")["result"]["submission"].endswith(
        "smithjane_LATE_12345_67890_ex2-1.ipynb"
    )


def test_the_moodle_worksheet(big_class: ClassRun) -> None:
    text = (big_class.out / "moodle_worksheet.csv").read_text(encoding="utf-8")
    sheet = list(csv.DictReader(io.StringIO(text)))
    rows = gradebook(big_class.out)
    moodle = [r for r in CLASS_ROWS if r.identifier.startswith("Participant ")]
    assert sorted(s["Identifier"] for s in sheet) == sorted(r.identifier for r in moodle)
    for s in sheet:
        row = rows[f"{s['Full name']} {s['Identifier']}"]
        assert (s["Grade"], s["Maximum Grade"]) == (row["score"], "100")


def test_problems_are_reported_per_student_and_never_stop_the_batch(big_class: ClassRun) -> None:
    """An empty folder, a text file, several files of one student, an ambiguous folder: one row each."""
    assert big_class.run.code == 0
    rows = gradebook(big_class.out)
    assert (rows["felix"]["status"], rows["felix"]["error"]) == ("not a submission", "empty folder")
    assert (rows["readme"]["status"], rows["readme"]["error"]) == (
        "not a submission",
        "readme.txt is not a submission (.py, .ipynb or .zip)",
    )
    assert rows["kimyuna 56789"]["status"] == "not a submission"
    assert rows["kimyuna 56789"]["error"].startswith("several files, none clearly the submission")
    assert (
        rows["quinn"]["status"] == "unusable"
        and "several candidate files" in rows["quinn"]["error"]
    )
    for who in ("felix", "readme", "kimyuna", "quinn"):
        assert (big_class.out / "students" / who / "feedback.html").is_file()
    # the students around them were graded: before and after them in the class's order
    assert {
        rows[who]["status"]
        for who in ("erin", "gina", "hugo", "kemal", "leeminho 23456", "smithjane 12345")
    } == {"graded"}
    summary = (big_class.out / "summary.html").read_text(encoding="utf-8")
    for who in ("felix", "readme", "kimyuna", "quinn"):  # a row each, linked from "to look at"
        assert f"<tr id='{who}'>" in summary and f"<a href='#{who}'>" in summary


def test_hostile_students_do_not_stop_the_batch_and_get_the_right_score(
    big_class: ClassRun,
) -> None:
    rows = gradebook(big_class.out)
    # jonas: a correct solution whose relu spins forever: exactly the relu tests fail, by timeout
    jonas = GradeResult.model_validate(record(big_class.out, "jonas")["result"])
    failed = [t for t in jonas.tests if t.status is Status.failed]
    assert failed and all("relu" in t.tags for t in failed)
    assert all(f"timed out after {TIMEOUT:g} s" in t.reason for t in failed), [
        t.reason for t in failed
    ]
    assert jonas.score == 100 - sum(t.max_score for t in failed)
    assert all(t.status is Status.passed for t in jonas.tests if "relu" not in t.tags)
    assert rows["jonas"]["status"] == "graded"
    # kemal: os._exit(0) while loading is 0 points, not "all passed"
    assert (rows["kemal"]["score"], rows["kemal"]["status"]) == ("0", "graded")
    assert (
        rows["kemal"]["error"] == "the submission exited the process (exit status 0) while loading"
    )
    # their neighbours in the class were graded after them
    assert rows["bob"]["score"] == rows["carol"]["score"] == "100"
    assert big_class.left_behind == []


# -- interrupted and resumed -----------------------------------------------------------------------


def test_a_batch_killed_midway_resumes_without_grading_anyone_twice(
    tmp_path: Path, big_class: ClassRun
) -> None:
    submissions, out, tmpdir = tmp_path / "ex2", tmp_path / "results", tmp_path / "tmp"
    submissions.mkdir()
    for name in RESUME_ENTRIES:
        (shutil.copytree if (CLASS / name).is_dir() else shutil.copyfile)(
            CLASS / name, submissions / name
        )
    log = tmp_path / "first.log"
    with log.open("w") as f:
        proc = subprocess.Popen(
            batch_argv(submissions, out),
            cwd=ROOT,
            env=batch_env(tmpdir),
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            while (
                len(list(out.glob("students/*/record.json"))) < 3
                and proc.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert proc.poll() is None, (
                f"the batch ended before it could be killed:\n{log.read_text()}"
            )
            running = grader_children(tmpdir)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert running, (
        "no grading child of this batch seen while it ran: the process scan sees nothing"
    )
    assert no_children_left(tmpdir) == [], "grading processes outlived the killed batch"

    # nothing half-written is taken for a result: every record there is complete and right
    clean = gradebook(big_class.out)
    before = {}
    for path in out.glob("students/*/record.json"):
        rec = json.loads(path.read_text(encoding="utf-8"))
        folder = path.parent
        assert {"record.json", "results.json", "feedback.md", "feedback.html"} <= {
            p.name for p in folder.iterdir()
        }
        assert rec["student"]["key"] == folder.name
        assert fmt(rec["result"]["score"]) == clean[folder.name]["score"]
        assert (
            json.loads((folder / "results.json").read_text(encoding="utf-8"))["score"]
            == rec["result"]["score"]
        )
        before[folder.name] = (path.stat().st_ino, path.stat().st_mtime_ns)
    assert 3 <= len(before) < len(RESUME_ENTRIES), f"not killed midway: {sorted(before)}"

    resumed = run_batch(submissions, out, tmpdir)
    assert resumed.code == 0, resumed.out
    assert resumed.reused == len(before), resumed.out
    for student, stamp in before.items():
        path = out / "students" / student / "record.json"
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp, f"{student} was graded again"
    rows = gradebook(out)
    assert len(rows) == len(RESUME_ENTRIES)
    for key, row in rows.items():
        assert row == clean[key], f"{key}: resumed {row} != clean run {clean[key]}"
        folder = out / "students" / row["student"]
        assert {p.name for p in folder.iterdir()} >= STUDENT_FILES
        assert record(out, row["student"])["result"]["score"] == float(row["score"])
    assert not (out / "errors.log").exists()
    assert no_children_left(tmpdir) == []

    # the fingerprint is the submission's bytes: a changed file is graded again, and only it
    stamps = {
        p.parent.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.glob("students/*/record.json")
    }
    shutil.copyfile(
        CLASS / "bob.py", submissions / "gita.py"
    )  # gita finished the exercise, as a .py this time
    (submissions / "gita.ipynb").unlink()
    changed = run_batch(submissions, out, tmpdir)
    assert changed.code == 0, changed.out
    assert changed.reused == len(RESUME_ENTRIES) - 1, changed.out
    assert gradebook(out)["gita"]["score"] == "100"
    assert {k: v for k, v in stamps.items() if k != "gita"} == {
        p.parent.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.glob("students/*/record.json")
        if p.parent.name != "gita"
    }


# -- a zip of a class, idempotent runs, --force -------------------------------------------------------


def test_a_moodle_zip_is_graded_reused_and_forced(
    tmp_path: Path,
    ex2: Exercise,
    moodle_zip_class: Path,
    big_class: ClassRun,
    alone: dict[Path, GradeResult],
) -> None:
    out, tmpdir = tmp_path / "results", tmp_path / "tmp"
    first = run_batch(MOODLE_ZIP, out, tmpdir)
    assert first.code == 0, first.out
    assert first.reused == 0
    rows = gradebook(out)
    assert sorted(rows) == sorted(r.id for r in ZIP_ROWS)
    singles = grade_alone(ex2, [(moodle_zip_class / r.graded, who(r)) for r in ZIP_ROWS])
    for expected in ZIP_ROWS:
        if expected.twin:
            assert (moodle_zip_class / expected.graded).read_bytes() == (
                CLASS / expected.twin
            ).read_bytes()
        single = singles[moodle_zip_class / expected.graded]
        assert_row_is_single_grade(rows[expected.id], expected, single, out)
    assert (
        rows["Grace Hopper Participant 200003"]["score"]
        == rows["Ada Lovelace Participant 200001"]["score"]
        == "100"
    )
    assert rows["Edsger Dijkstra Participant 200004"]["score"] == "0"
    assert "holds no ex2.py or ex2.ipynb" in rows["Donald Knuth Participant 200006"]["error"]
    sheet = list(
        csv.DictReader(io.StringIO((out / "moodle_worksheet.csv").read_text(encoding="utf-8")))
    )
    assert {(s["Identifier"], s["Full name"], s["Grade"]) for s in sheet} == {
        (r.identifier, r.name, rows[r.id]["score"]) for r in ZIP_ROWS
    }
    stamps = {
        p.parent.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.glob("students/*/record.json")
    }
    assert len(stamps) == len(ZIP_ROWS)
    book = (out / "gradebook.csv").read_text(encoding="utf-8")

    again = run_batch(MOODLE_ZIP, out, tmpdir)  # unpacked afresh, same bytes: nobody graded again
    assert again.code == 0, again.out
    assert again.reused == len(ZIP_ROWS), again.out
    assert {
        p.parent.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.glob("students/*/record.json")
    } == stamps
    assert (out / "gradebook.csv").read_text(encoding="utf-8") == book

    forced = run_batch(MOODLE_ZIP, out, tmpdir, "--force")
    assert forced.code == 0, forced.out
    assert forced.reused == 0, forced.out
    for student, stamp in stamps.items():
        path = out / "students" / student / "record.json"
        assert (path.stat().st_ino, path.stat().st_mtime_ns) != stamp, (
            f"--force did not grade {student} again"
        )
    assert (out / "gradebook.csv").read_text(encoding="utf-8") == book
    assert no_children_left(tmpdir) == []
