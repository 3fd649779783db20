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
import os
import shutil
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from grader.batch.discover import discover, safe_key, unpack_class_zip
from grader.reports import classbook
from grader.reports.markdown import without_paths

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
