"""What a TA uploads and reads after `grade batch`: names from a class zip as their makers meant
them, Moodle's worksheet comment and feedback-files zip, feedback that names the student and no
folder of the grader's, and the class summary page.

The class zips are made here the way the tools students and LMSs use make them: names as raw
UTF-8 bytes without the UTF-8 flag (Info-ZIP, Windows' own zips), flagged UTF-8 (Python, 7-Zip),
true cp437 (old DOS tools), and by Debian's `zip` itself. One small Moodle class is graded once,
for real, in a subprocess (`graded_class`; the browser test reads the same results).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader.batch.discover import discover, safe_key, unpack_class_zip
from grader.reports import classbook
from grader.reports.markdown import without_paths
from grader.result import GradeResult

UTF8_FLAG = 0x800
MOODLE = "{}_{}_assignsubmission_file_"
SOLUTION = ROOT / "reference" / "ex2" / "solution.py"
STUB_NOTEBOOK = ROOT / "exercises" / "ex2" / "ex2.ipynb"


class RawName(zipfile.ZipInfo):
    """A member whose name is written as the given bytes, with or without the UTF-8 flag, as a
    tool other than Python's zipfile writes it (zipfile itself always flags non-ASCII names)."""

    def __init__(self, raw: bytes, *, utf8_flag: bool) -> None:
        super().__init__(raw.decode("utf-8" if utf8_flag else "cp437"), (2026, 1, 5, 10, 0, 0))
        self.raw, self.utf8_flag = raw, utf8_flag

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # noqa: N802 - zipfile's hook
        flags = self.flag_bits | UTF8_FLAG if self.utf8_flag else self.flag_bits & ~UTF8_FLAG
        return self.raw, flags


def write_zip(path: Path, members: list[tuple[bytes, bool, bytes]]) -> Path:
    """members: (name bytes, UTF-8 flag, content)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for raw, flag, data in members:
            zf.writestr(RawName(raw, utf8_flag=flag), data)
    return path


def folder_names(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()}


# -- zip names -----------------------------------------------------------------------------------


def test_names_in_a_zip_are_read_as_their_maker_meant_them(tmp_path: Path) -> None:
    anna, jose, jurgen = "Anna Müller", "José Núñez", "Jürgen Ångström"
    archive = write_zip(
        tmp_path / "class.zip",
        [
            # Info-ZIP / Windows: UTF-8 bytes, no flag (zipfile alone reads `Anna M├╝ller`)
            (f"{MOODLE.format(anna, 1)}/ex2.py".encode(), False, b"x = 1\n"),
            # flagged UTF-8
            (f"{MOODLE.format(jose, 2)}/ex2.py".encode(), True, b"x = 2\n"),
            # a DOS tool: really cp437, which is not valid UTF-8
            (f"{MOODLE.format(jurgen, 3)}/ex2.py".encode("cp437"), False, b"x = 3\n"),
            # macOS: decomposed letters, flagged
            (
                unicodedata.normalize("NFD", f"{MOODLE.format('Zoë Ärger', 4)}/ex2.py").encode(),
                True,
                b"x = 4\n",
            ),
        ],
    )
    with zipfile.ZipFile(archive) as zf:  # what the bug looked like
        assert any("M├╝ller" in n for n in zf.namelist())
    root = unpack_class_zip(archive, tmp_path / "out")
    assert folder_names(root) == {
        MOODLE.format(anna, 1),
        MOODLE.format(jose, 2),
        MOODLE.format(jurgen, 3),
        MOODLE.format("Zoë Ärger", 4),
    }
    students = discover(root, module="ex2")
    assert [(s.name, s.key, s.identifier) for s in students] == [
        ("Anna Müller", "Anna_Müller_1", "Participant 1"),
        ("José Núñez", "José_Núñez_2", "Participant 2"),
        ("Jürgen Ångström", "Jürgen_Ångström_3", "Participant 3"),
        ("Zoë Ärger", "Zoë_Ärger_4", "Participant 4"),
    ]
    assert all(s.path is not None and (s.path / "ex2.py").is_file() for s in students)


def test_a_zip_made_by_debians_zip_keeps_the_names(tmp_path: Path) -> None:
    """Info-ZIP's `zip` (Debian's) writes the names as the bytes it finds, without the flag."""
    zip_tool = shutil.which("zip")
    assert zip_tool, "Debian's zip is needed (apt-get install zip): make test installs it"
    folder = tmp_path / "download"
    for name, number in (("Anna Müller", 11), ("Łukasz Żółć", 12)):
        (folder / MOODLE.format(name, number)).mkdir(parents=True)
        (folder / MOODLE.format(name, number) / "ex2.py").write_text("x = 1\n")
    archive = tmp_path / "class.zip"
    subprocess.run(
        [zip_tool, "-q", "-r", str(archive), "."],
        cwd=folder,
        check=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    with zipfile.ZipFile(archive) as zf:
        assert not any(i.flag_bits & UTF8_FLAG for i in zf.infolist())
    root = unpack_class_zip(archive, tmp_path / "out")
    assert [(s.name, s.key) for s in discover(root, module="ex2")] == [
        ("Anna Müller", "Anna_Müller_11"),
        ("Łukasz Żółć", "Łukasz_Żółć_12"),
    ]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Anna Müller", "Anna_Müller"),
        ("José Núñez_123", "José_Núñez_123"),
        ("  ../../etc/passwd", "etc_passwd"),
        ("a/b\\c:d*e?f", "a_b_c_d_e_f"),
        (unicodedata.normalize("NFD", "Zoë"), "Zoë"),
        ("王小明", "王小明"),
        ("...", "student"),
    ],
)
def test_student_keys_keep_letters_and_stay_safe_folder_names(text: str, key: str) -> None:
    assert safe_key(text) == key


def test_a_long_name_is_cut_to_what_a_file_system_takes() -> None:
    key = safe_key("Ö" * 300)
    assert len(key.encode()) <= 120 and set(key) == {"Ö"}


# -- text a student sees ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('File "/tmp/grade-class-1x/Anna M_1_/ex2.py", line 4', 'File "ex2.py", line 4'),
        ("see /work/main/reference/ex2/solution.py", "see solution.py"),
        (
            "expected shape (4, 3), got (3, 4); 0/2 points",
            "expected shape (4, 3), got (3, 4); 0/2 points",
        ),
        ("C:\\Users\\ta\\Downloads\\ex2.py, line 3", "ex2.py, line 3"),
        ("a / b and/or https://pytorch.org/docs/x", "a / b and/or https://pytorch.org/docs/x"),
    ],
)
def test_paths_are_cut_to_their_last_name(text: str, shown: str) -> None:
    assert without_paths(text) == shown


def row(**kw: object) -> dict:
    base = {
        "student": "Anna_Müller_1",
        "full_name": "Anna Müller",
        "identifier": "Participant 1",
        "score": 44.5,
        "max_score": 100.0,
        "parts": {"Tensors": 20.0, "Losses": 4.5},
        "part_max": {"Tensors": 20.0, "Losses": 20.0},
        "failing": ["softmax", "mse_loss"],
        "status": "graded",
        "late": False,
        "variant": 3,
        "error": "",
        "flags": [],
    }
    return {**base, **kw}


def test_the_moodle_comment_carries_parts_and_failing_functions() -> None:
    sheet = classbook.moodle_worksheet_csv(
        [
            row(),
            row(
                student="Tom",
                full_name="Tom Lee",
                identifier="Participant 2",
                status="unusable",
                score=0.0,
                parts={},
                failing=[],
                error="not a notebook",
            ),
            row(
                student="Wei",
                full_name="Wei Zhang",
                identifier="Participant 3",
                failing=[f"f{i}" for i in range(20)],
            ),
            row(student="bob", full_name="bob", identifier=""),  # not from Moodle: not in the sheet
        ]
    )
    lines = list(csv.DictReader(io.StringIO(sheet)))
    assert [r["Full name"] for r in lines] == ["Anna Müller", "Tom Lee", "Wei Zhang"]
    assert lines[0]["Feedback comments"] == (
        "44.5/100 (Tensors 20/20, Losses 4.5/20). Failing: softmax, mse_loss"
    )
    assert lines[0]["Grade"] == "44.5"
    assert "feedback.html" not in sheet
    assert lines[1]["Feedback comments"] == "0/100: not graded: not a notebook"
    assert lines[2]["Feedback comments"].endswith("f11 and 8 more")


def test_a_held_grade_sends_no_feedback_file_to_moodle(tmp_path: Path) -> None:
    rows = [row(), row(student="Wei", full_name="Wei Zhang", identifier="Participant 3")]
    rows.append(row(student="bob", full_name="bob", identifier=""))
    for r in rows:
        (tmp_path / r["student"]).mkdir()
        (tmp_path / r["student"] / "feedback.html").write_text(f"<p>{r['full_name']}</p>")
    both = zipfile.ZipFile(io.BytesIO(classbook.moodle_feedback_zip(rows, tmp_path))).namelist()
    assert both == [
        "Anna Müller_1_assignsubmission_file_/feedback.html",
        "Wei Zhang_3_assignsubmission_file_/feedback.html",
    ]
    rows[1]["status"] = "needs review"
    held = zipfile.ZipFile(io.BytesIO(classbook.moodle_feedback_zip(rows, tmp_path))).namelist()
    assert held == both[:1]


def test_the_summary_escapes_what_students_named(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    rows = [
        row(
            student="x_script",
            full_name=evil,
            note=f"readme.txt: {evil}",
            digest="",
            untouched=False,
        ),
        row(student="Anna_Müller_1", digest="", untouched=True),
    ]
    rates = {"test_<b>": (0, 2, f"got {evil}")}
    html = classbook.summary_html(
        classbook.statistics_of(rows, rates, parts=["Tensors"]), "ex2 & co"
    )
    assert "<script>" not in html and "<b>" not in html.split("</style>")[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "ex2 &amp; co" in html
    assert "href='students/Anna_M%C3%BCller_1/feedback.html'" in html


# -- a Moodle class graded for real ----------------------------------------------------------------


@dataclass
class GradedClass:
    archive: Path
    out: Path
    tmpdir: Path
    output: str


# (full name, participant id, file in the folder, its content); names without the UTF-8 flag
CLASS = [
    ("Anna Müller", 300001, "ex2.py", SOLUTION),
    ("José Núñez", 300002, "ex2.py", SOLUTION),  # byte for byte Anna's
    ("Zoë Ärger", 300003, "ex2.ipynb", STUB_NOTEBOOK),  # handed in untouched
    ("Ola Nowak", 300004, "ex2.py", SUBMISSIONS / "bug_mse_loss.py"),
]
NOTE = "I used two late days, as agreed with Prof. Weiß"


_GRADED: list[GradedClass] = []  # once per session, whichever test module asks first


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> GradedClass:
    if not _GRADED:
        _GRADED.append(grade_class(tmp_path_factory.mktemp("moodle-class")))
    return _GRADED[0]


def grade_class(base: Path) -> GradedClass:
    members = [
        (f"{MOODLE.format(n, i)}/{f}".encode(), False, src.read_bytes()) for n, i, f, src in CLASS
    ]
    members.append(
        (f"{MOODLE.format('Anna Müller', 300001)}/readme.txt".encode(), False, NOTE.encode())
    )
    # an online-text submission only: not gradable, and counted as such
    members.append(
        (b"Kim Lee_300005_assignsubmission_onlinetext_/onlinetext.html", False, b"<p>hi</p>")
    )
    archive = write_zip(base / "Lab 2 - ex2-12345.zip", members)
    out, tmpdir = base / "results", base / "tmp"
    tmpdir.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "batch",
            "ex2",
            str(archive),
            "--out",
            str(out),
            "--jobs",
            "2",
        ],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmpdir), "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return GradedClass(archive, out, tmpdir, proc.stdout + proc.stderr)


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8")))
    return {r["full_name"]: r for r in rows}


@pytest.mark.slow
def test_the_gradebook_and_worksheet_keep_the_names(graded_class: GradedClass) -> None:
    book = gradebook(graded_class.out)
    assert set(book) == {n for n, *_ in CLASS} | {"Kim Lee"}
    assert book["Anna Müller"]["student"] == "Anna_Müller_300001"
    assert (graded_class.out / "students" / "Anna_Müller_300001" / "feedback.html").is_file()
    assert (book["Anna Müller"]["score"], book["Ola Nowak"]["score"]) == ("100", "97")
    sheet = {
        r["Full name"]: r
        for r in csv.DictReader(
            io.StringIO((graded_class.out / "moodle_worksheet.csv").read_text(encoding="utf-8"))
        )
    }
    assert set(sheet) == set(book)
    assert sheet["Ola Nowak"]["Identifier"] == "Participant 300004"
    comment = sheet["Ola Nowak"]["Feedback comments"]
    assert comment.startswith("97/100 (Tensors 20/20, Autograd 20/20, Models 20/20, Losses 17/20")
    assert comment.endswith("Failing: mse_loss")
    assert sheet["Anna Müller"]["Feedback comments"].startswith("100/100 (Tensors 20/20")
    assert "not graded" in sheet["Kim Lee"]["Feedback comments"]


@pytest.mark.slow
def test_the_feedback_zip_is_laid_out_as_moodle_reads_it(graded_class: GradedClass) -> None:
    with zipfile.ZipFile(graded_class.out / "moodle_feedback.zip") as zf:
        names = zf.namelist()
        assert all(i.flag_bits & UTF8_FLAG for i in zf.infolist() if not i.filename.isascii())
        assert sorted(names) == sorted(
            f"{MOODLE.format(n, i)}/feedback.html" for n, i, *_ in [*CLASS, ("Kim Lee", 300005)]
        )
        # each folder's file is that student's own feedback
        for name, number, *_ in CLASS:
            key = safe_key(f"{name}_{number}")
            ours = (graded_class.out / "students" / key / "feedback.html").read_bytes()
            assert zf.read(f"{MOODLE.format(name, number)}/feedback.html") == ours
    # the folder names are the download's, byte for byte once decoded
    with zipfile.ZipFile(graded_class.archive) as zf:
        download = {
            n.encode("cp437").decode("utf-8").split("/")[0].replace("onlinetext", "file")
            for n in zf.namelist()
        }
    assert {n.split("/")[0] for n in names} == download


@pytest.mark.slow
def test_feedback_names_the_student_and_no_folder_of_the_grader(graded_class: GradedClass) -> None:
    secret = [str(ROOT), str(graded_class.tmpdir), str(graded_class.out), "grade-class-", "/tmp/"]
    for name, number, *_ in CLASS:
        folder = graded_class.out / "students" / safe_key(f"{name}_{number}")
        md = (folder / "feedback.md").read_text(encoding="utf-8")
        page = (folder / "feedback.html").read_text(encoding="utf-8")
        assert md.splitlines()[0].endswith(f"— {name}")
        assert f"<h1>Exercise 2 — PyTorch basics — {name}</h1>" in page
        for text in (md, page):
            assert not [s for s in secret if s in text], (name, [s for s in secret if s in text])
            assert not re.search(r"(?<![\w/.:])/(?:home|root|tmp|work|var|Users)/", text)


@pytest.mark.slow
def test_the_summary_lists_students_parts_tests_and_flags(graded_class: GradedClass) -> None:
    html = (graded_class.out / "summary.html").read_text(encoding="utf-8")
    book = gradebook(graded_class.out)
    assert "<strong>4</strong> of 5 graded" in html
    assert "the 1 not graded" in html and "left out" in html
    # a student table: every student, their score and parts, a link to their feedback
    table = html.split("<table class=students>")[1].split("</table>")[0]
    for name, r in book.items():
        assert escape(name) in table
        assert f"students/{quote_key(r['student'])}/feedback.html" in table
    anna = table.split("<tr id='Anna_Müller_300001'>")[1].split("</tr>")[0]
    assert re.findall(r"<td class=num>([\d.]*)</td>", anna) == ["100", "20", "20", "20", "20", "20"]
    # per-part means over the graded four: Ola lost 3 of Losses, Zoë everything
    assert "<td>Losses</td><td class=num>14.2 / 20</td>" in html
    assert "<td>Tensors</td><td class=num>15.0 / 20</td>" in html
    # per-test pass rate with the most common message
    mse = html.split("<td>test_mse_loss</td>")[1].split("</tr>")[0]
    reasons = {
        t.reason
        for r in results(graded_class).values()
        for t in r.tests
        if t.name == "test_mse_loss"
    }
    assert "<td class=num>2/4</td>" in mse
    assert re.search(r"<td>(.+)</td>$", mse)[1] in {escape(r) for r in reasons if r}
    # histogram: a count over each bar, 3 in the top tenth, 1 in the lowest
    counts = [int(c) for c in re.findall(r"<text class=count[^>]*>(\d+)</text>", html)]
    assert counts == [1, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    # flags
    anna_flags, jose_flags, zoe_flags = (
        table.split(f"<tr id='{key}'>")[1].split("</tr>")[0]
        for key in ("Anna_Müller_300001", "José_Núñez_300002", "Zoë_Ärger_300003")
    )
    assert "identical to José Núñez (Participant 300002)" in anna_flags
    assert "identical to Anna Müller (Participant 300001)" in jose_flags
    assert f"note: readme.txt: {NOTE}" in anna_flags
    assert "untouched stub" in zoe_flags and "identical" not in zoe_flags
    assert "untouched stub" not in anna_flags
    # self-contained: nothing fetched from anywhere
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", html)
    assert "<script" not in html


def results(graded: GradedClass) -> dict[str, GradeResult]:
    return {
        p.parent.name: GradeResult.model_validate(
            json.loads(p.read_text(encoding="utf-8"))["result"]
        )
        for p in (graded.out / "students").glob("*/record.json")
    }


@pytest.mark.slow
def test_each_test_shows_its_most_common_failure(graded_class: GradedClass) -> None:
    graded = results(graded_class)
    ola, zoe = graded["Ola_Nowak_300004"], graded["Zoë_Ärger_300003"]
    rates = classbook.test_rates([zoe, ola, ola, graded["Anna_Müller_300001"]])
    passed, total, common = rates["test_mse_loss"]
    (reason,) = [t.reason for t in ola.tests if t.name == "test_mse_loss"]
    assert (passed, total, common) == (1, 4, reason)
    assert rates["test_relu"][:2] == (3, 4)  # only the stub fails it
    assert rates["test_relu"][2].startswith("NotImplementedError: relu")


def escape(text: str) -> str:
    from html import escape as html_escape

    return html_escape(text)


def quote_key(key: str) -> str:
    from urllib.parse import quote

    return quote(key)
