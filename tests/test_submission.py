"""What a student hands in: a .py, a notebook, a folder holding one, or a zip; unsafe and unreadable ones.

The packaged submissions live in tests/submissions/ex2/packaged/: zips as students' tools make them
(one from macOS Finder), one with a `../` member, one whose headers claim 3.9 GB, and folders.
"""

from __future__ import annotations

import zipfile

import pytest
from conftest import ROOT, SUBMISSIONS

from grader._exceptions import SubmissionError
from grader.grading import Options, grade
from grader.result import Status
from grader.submission import MAX_ZIP_BYTES, MAX_ZIP_MEMBERS, load_submission

PACKAGED = SUBMISSIONS / "packaged"
DEFS_ONLY = (
    "notebook graded on its definitions only: demo code (training runs, plots, prints) was skipped"
)
REFERENCE = ROOT / "reference/ex2/solution.py"


def passed_everything(result) -> bool:
    return all(t.status is Status.passed for t in result.tests)


def zero_with(result, message: str) -> bool:
    return (result.error, result.score, result.load_errors) == (message, 0, []) and all(
        t.status is Status.failed and t.reason == message for t in result.tests
    )


# -- zips ----------------------------------------------------------------------------------------------


def test_traversal_zip_holds_a_dot_dot_member():
    names = zipfile.ZipFile(PACKAGED / "traversal.zip").namelist()
    assert names == ["ex2.py", "../evil.py"]


def test_zip_with_path_traversal_is_refused_through_the_cli(cli):
    run = cli("ex2", str(PACKAGED / "traversal.zip"))
    message = "traversal.zip contains an unsafe path ('../evil.py'): refused"
    assert run.code == 3, run.out
    assert message in run.out and "Traceback" not in run.out
    assert run.result is not None
    assert (run.result["score"], run.result["extra_data"]["error"]) == (0, message)
    assert all(t["status"] == "failed" for t in run.result["tests"])
    assert not (ROOT.parent / "evil.py").exists() and not (PACKAGED.parent / "evil.py").exists()


@pytest.mark.parametrize(
    "member", ["/tmp/evil.py", "..\\evil.py", "ex2/../../evil.py", "C:/evil.py", "\\evil.py"]
)
def test_unsafe_zip_members_are_refused_before_anything_is_read(tmp_path, member):
    path = tmp_path / "sub.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ex2.py", REFERENCE.read_text())
        z.writestr(member, "print('pwned')\n")
    with pytest.raises(SubmissionError) as exc:
        load_submission(path, module="ex2")
    assert str(exc.value) == f"sub.zip contains an unsafe path ({member!r}): refused"


def test_zip_claiming_an_absurd_size_is_refused(ex2):
    path = PACKAGED / "huge_declared_size.zip"
    assert (
        sum(m.file_size for m in zipfile.ZipFile(path).infolist()) == 3_900_000_000 > MAX_ZIP_BYTES
    )
    assert path.stat().st_size < 100_000
    result = grade(ex2, path, Options(devices=["cpu", "meta"], hidden=True))
    assert zero_with(result, "huge_declared_size.zip unpacks to more than 50 MB")


def test_zip_with_too_many_files_is_refused(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(MAX_ZIP_MEMBERS + 1):
            z.writestr(f"data/{i}.txt", "")
        z.writestr("ex2.py", "")
    with pytest.raises(
        SubmissionError, match=r"^many\.zip holds 1002 files: too many for a submission$"
    ):
        load_submission(path, module="ex2")


def test_file_named_zip_that_is_not_a_zip(tmp_path):
    path = tmp_path / "ex2.zip"
    path.write_bytes(REFERENCE.read_bytes())
    with pytest.raises(SubmissionError, match=r"^ex2\.zip is not a valid zip archive$"):
        load_submission(path, module="ex2")


def test_macos_zip_of_a_folder_with_the_notebook_is_graded(grade_file):
    path = PACKAGED / "ex2_notebook_macos.zip"
    names = zipfile.ZipFile(path).namelist()
    assert {
        "ex2/ex2.ipynb",
        "__MACOSX/ex2/._ex2.ipynb",
        "ex2/.ipynb_checkpoints/ex2-checkpoint.ipynb",
    } <= set(names)
    submission = load_submission(path, module="ex2")
    assert (submission.kind, str(submission.path)) == (
        "ipynb",
        f"{PACKAGED}/ex2_notebook_macos.zip:ex2/ex2.ipynb",
    )
    result = grade_file(path)
    assert (result.score, result.error, result.load_errors, result.notes) == (
        100,
        "",
        [],
        [DEFS_ONLY],
    )
    assert passed_everything(result)


# -- folders -------------------------------------------------------------------------------------------


def test_folder_holding_the_notebook_is_graded_not_its_checkpoint(grade_file):
    folder = PACKAGED / "folder_with_notebook"
    assert (folder / ".ipynb_checkpoints" / "ex2-checkpoint.ipynb").is_file()
    assert load_submission(folder, module="ex2").path == folder / "ex2.ipynb"
    result = grade_file(folder)
    assert (result.score, result.error, result.load_errors, result.notes) == (
        100,
        "",
        [],
        [DEFS_ONLY],
    )


def test_folder_holding_both_py_and_notebook_grades_the_notebook(grade_file):
    """ex2.py is the stub left beside the notebook (0 points), ex2.ipynb the finished notebook (100)."""
    folder = PACKAGED / "folder_with_py_and_notebook"
    stub = (folder / "ex2.py").read_text()
    assert stub.count("raise NotImplementedError") == 31  # every function and method
    submission = load_submission(folder, module="ex2")
    assert (submission.kind, submission.path) == ("ipynb", folder / "ex2.ipynb")
    result = grade_file(folder)
    assert (result.score, result.error, result.notes) == (100, "", [DEFS_ONLY])


def test_folder_with_neither_file_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(
        SubmissionError, match=rf"^folder {tmp_path.name} holds no ex2\.py or ex2\.ipynb$"
    ):
        load_submission(tmp_path, module="ex2")


# -- unreadable files ------------------------------------------------------------------------------------


def test_non_utf8_py_gets_a_clear_error_and_zero(ex2, tmp_path):
    data = "# Übung 2 — Lösung\n".encode("latin-1", errors="replace") + REFERENCE.read_bytes()
    (tmp_path / "ex2.py").write_bytes(data)
    byte = next(i for i, b in enumerate(data) if b >= 0x80)
    result = grade(ex2, tmp_path / "ex2.py", Options(devices=["cpu", "meta"], hidden=True))
    assert zero_with(result, f"ex2.py is not UTF-8 text (byte {byte}): save it as UTF-8")


def test_empty_notebook_file_gets_a_clear_error_and_zero(ex2, tmp_path):
    (tmp_path / "ex2.ipynb").write_bytes(b"")
    result = grade(ex2, tmp_path / "ex2.ipynb", Options(devices=["cpu", "meta"], hidden=True))
    assert zero_with(result, "ex2.ipynb is empty (0 bytes of notebook): was it saved?")


def test_nbformat_3_notebook_in_a_zip_gets_a_clear_error_and_zero(ex2, tmp_path):
    path = tmp_path / "handin.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ex2.ipynb", (ROOT / "tests/notebooks/nbformat3.ipynb").read_bytes())
    result = grade(ex2, path, Options(devices=["cpu", "meta"], hidden=True))
    assert zero_with(
        result,
        "handin.zip:ex2.ipynb is notebook format 3: save it as format 4 (any recent Jupyter or Colab does)",
    )


def test_json_that_is_not_a_notebook(tmp_path):
    (tmp_path / "ex2.ipynb").write_text('{"name": "not a notebook"}')
    with pytest.raises(
        SubmissionError, match=r"^ex2\.ipynb is JSON but not a Jupyter notebook \(no cells\)$"
    ):
        load_submission(tmp_path / "ex2.ipynb", module="ex2")


def test_wrong_extension_is_refused(tmp_path):
    (tmp_path / "ex2.txt").write_bytes(REFERENCE.read_bytes())
    with pytest.raises(
        SubmissionError,
        match=r"^ex2\.txt: expected a \.py file, a \.ipynb notebook, a folder or a \.zip$",
    ):
        load_submission(tmp_path / "ex2.txt", module="ex2")


def test_py_submission_is_one_cell(tmp_path):
    (tmp_path / "ex2.py").write_text(REFERENCE.read_text())
    submission = load_submission(tmp_path / "ex2.py", module="ex2")
    assert (submission.kind, [c.label for c in submission.cells]) == ("py", ["ex2.py"])
