"""Turn what a student hands in (a .py, a notebook, a folder, a zip) into cells of source code.

Nothing here runs the student's code: the parent only reads, unpacks and parses.
"""

from __future__ import annotations

import ast
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader._exceptions import SubmissionError
from grader.notebook import (
    is_definition,
    keep_statement,
    needed_globals,
    notebook_cells,
    parse,
    statements,
)

MAX_SOURCE_BYTES = 20 * 1024 * 1024
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_ZIP_MEMBERS = 1000


@dataclass(frozen=True)
class Cell:
    index: int
    label: str  # what tracebacks and reports call it: "ex2.py", "In [12]" or "cell 3 (`def f(x):`)"
    source: str
    first_line: str = ""  # the notebook cell's first line of code, for reports
    definition: bool = True  # an import, def or class: runs even after its cell failed


@dataclass(frozen=True)
class Submission:
    path: Path
    kind: str  # "py" or "ipynb"
    cells: list[Cell]
    notes: list[str] = field(default_factory=list)

    def by_statement(self, *, graded: set[str], definitions_only: bool) -> Submission:
        """A notebook as one unit per top-level statement (labelled with its cell), so that a
        statement that raises, hangs or exits costs only itself; with `definitions_only`, only the
        statements grading needs (see grader.notebook)."""
        needed = needed_globals([c.source for c in self.cells], graded)
        units: list[Cell] = []
        for cell in self.cells:
            first = first_code_line(cell.source)
            for node, source in statements(cell.source):
                if not definitions_only or keep_statement(node, needed):
                    units.append(Cell(len(units), cell.label, source, first, is_definition(node)))
        return Submission(self.path, self.kind, units, self.notes)

    def definitions(self) -> dict[str, int]:
        """Top-level function and class names -> their line, for a .py file (for CI annotations)."""
        if self.kind != "py":
            return {}
        try:
            tree = parse(self.cells[0].source)
        except (SyntaxError, ValueError):
            return {}
        return {
            n.name: n.lineno
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }

    def compile_error(self) -> str | None:
        """For a .py file: the syntax error that keeps the whole file from loading, if any."""
        if self.kind != "py":
            return None
        try:
            parse(self.cells[0].source)
        except SyntaxError as exc:
            return f"{self.cells[0].label}, line {exc.lineno}: SyntaxError: {exc.msg}"
        except ValueError as exc:  # source with NUL bytes
            return f"{self.cells[0].label}: {exc}"
        return None


def first_code_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return re.sub(r"^pass  # (IPython: )?", "", line.strip())[:80]
    return ""


def load_submission(path: Path, *, module: str) -> Submission:
    """Read `path`: a `<module>.py`, a `<module>.ipynb`, a folder holding one, or a zip of either."""
    if not path.exists():
        raise SubmissionError(f"no such file or folder: {path}")
    if path.is_dir():
        return _from_folder(path, module=module)
    if path.suffix == ".zip":
        return _from_zip(path, module=module)
    if path.suffix == ".py":
        return _from_py(path, _read_bytes(path))
    if path.suffix == ".ipynb":
        return _from_notebook(path, _read_bytes(path))
    raise SubmissionError(
        f"{path.name}: expected a .py file, a .ipynb notebook, a folder or a .zip"
    )


def _read_bytes(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise SubmissionError(
            f"{path.name} is {size // 1024 // 1024} MB: too large to be a submission"
        )
    return path.read_bytes()


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"{name} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None


def _from_py(path: Path, data: bytes) -> Submission:
    return Submission(path, "py", [Cell(0, path.name, _decode(path.name, data))])


def _from_notebook(path: Path, data: bytes) -> Submission:
    cells = [Cell(c.number, c.label, c.source) for c in notebook_cells(path.name, data)]
    return Submission(path, "ipynb", cells)


def _pick(candidates: list[str], *, module: str, where: str) -> str:
    """Choose the one submission file among names in a folder or a zip."""
    wanted = [c for c in candidates if PurePosixPath(c).name in (f"{module}.py", f"{module}.ipynb")]
    if not wanted:
        wanted = [c for c in candidates if PurePosixPath(c).suffix in (".py", ".ipynb")]
    if not wanted and where.startswith("folder"):  # a folder holding only the student's zip
        wanted = [c for c in candidates if PurePosixPath(c).suffix == ".zip"]
        wanted = [c for c in wanted if not PurePosixPath(c).name.startswith(("test_", "."))]
        wanted = [c for c in wanted if "__MACOSX" not in c and ".ipynb_checkpoints" not in c]
    if not wanted:
        raise SubmissionError(f"{where} holds no {module}.py or {module}.ipynb")
    if len(wanted) > 1:
        shallowest = min(len(PurePosixPath(c).parts) for c in wanted)
        top = [c for c in wanted if len(PurePosixPath(c).parts) == shallowest]
        notebooks = [c for c in top if c.endswith(".ipynb")]
        if len(top) == 1:
            return top[0]
        if len(notebooks) == 1 and len(top) == 2:
            return notebooks[0]
        raise SubmissionError(
            f"{where} holds several candidate files ({', '.join(sorted(wanted)[:5])}): keep one"
        )
    return wanted[0]


def _from_folder(folder: Path, *, module: str) -> Submission:
    names = [str(p.relative_to(folder).as_posix()) for p in folder.rglob("*") if p.is_file()]
    chosen = folder / _pick(names, module=module, where=f"folder {folder.name}")
    return load_submission(chosen, module=module)


def refuse_unsafe_paths(archive: str, members: list[zipfile.ZipInfo]) -> None:
    """No absolute paths, no `..`, no drive letters: nothing that unpacks outside its folder."""
    for member in members:
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if member.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise SubmissionError(
                f"{archive} contains an unsafe path ({member.filename!r}): refused"
            )


def _from_zip(path: Path, *, module: str) -> Submission:
    try:
        archive = zipfile.ZipFile(io.BytesIO(_read_bytes(path)))
    except zipfile.BadZipFile:
        raise SubmissionError(f"{path.name} is not a valid zip archive") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_ZIP_MEMBERS:
        raise SubmissionError(f"{path.name} holds {len(members)} files: too many for a submission")
    if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
        raise SubmissionError(
            f"{path.name} unpacks to more than {MAX_ZIP_BYTES // 1024 // 1024} MB"
        )
    refuse_unsafe_paths(path.name, members)
    chosen = _pick([m.filename for m in members], module=module, where=path.name)
    data = archive.read(chosen)
    inner = path.parent / f"{path.name}:{chosen}"
    if chosen.endswith(".ipynb"):
        return _from_notebook(inner, data)
    return _from_py(inner, data)


def unusable(submission: Submission, names: set[str]) -> str | None:
    """Why nothing of `submission` could be graded, in one message; None when it can be graded.

    A .py file that does not compile or is empty, and a file or notebook that defines none of the
    exercise's names (another exercise's file, an empty template), cannot earn a single point:
    the student gets this message instead of the same failure once per test.
    """
    if submission.kind == "py":
        why = _py_cannot_run(submission.cells[0])
        if why is not None:
            return why
    elif not submission.cells:
        return f"{submission.path.name} has no code cells: was it saved?"
    return _defines_none_of(submission, names)


def _py_cannot_run(cell: Cell) -> str | None:
    """Why the one cell of a .py file cannot run at all (empty, does not compile), or None."""
    if not cell.source.strip():
        return f"{cell.label} is empty: write your code into it (or grade the file you worked in)"
    try:
        parse(cell.source)
    except SyntaxError as exc:
        return (
            f"{cell.label}, line {exc.lineno}: SyntaxError: {exc.msg}"
            + _show_line(cell.source, exc.lineno, exc.offset)
            + "\nA file that does not compile cannot run at all: fix this line, then grade again."
        )
    except ValueError as exc:  # NUL bytes
        return f"{cell.label}: {exc}"
    return None


def _defines_none_of(submission: Submission, names: set[str]) -> str | None:
    """Why no cell of `submission` that compiles defines any of `names`, or None when one does
    (or when a star import may)."""
    defined: set[str] = set()
    broken: list[str] = []
    for cell in submission.cells:
        try:
            tree = parse(cell.source)
        except SyntaxError as exc:
            broken.append(f"{cell.label}, line {exc.lineno}: SyntaxError: {exc.msg}")
            continue
        except ValueError:
            continue
        found = _names_defined(tree)
        if found is None:
            return None
        defined |= found
    if defined & names:
        return None
    where = submission.path.name
    if broken:
        return f"{where}: no cell that compiles defines any of this exercise's names; " + "; ".join(
            broken[:3]
        )
    listed = ", ".join(sorted(names)[:4]) + (", …" if len(names) > 4 else "")
    return (
        f"{where} defines none of this exercise's names ({listed}): "
        "is it the right file (not another exercise's, not an empty copy)?"
    )


def _names_defined(tree: ast.AST) -> set[str] | None:
    """Every name `tree` defines or imports; None when it has a star import, which may define
    anything (`from helpers import *`)."""
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        name = _name_bound(node)
        if name is not None:
            defined.add(name)
    return defined


def _name_bound(node: ast.AST) -> str | None:
    """The name `node` binds on its own: a def or class, an assigned name, an import's alias."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id
    if isinstance(node, ast.alias):
        return (node.asname or node.name).split(".")[0]
    return None


def _show_line(source: str, line: int | None, offset: int | None) -> str:
    """The line a syntax error names, quoted under the message, with a caret where Python stopped."""
    lines = source.splitlines()
    if line is None or not 0 < line <= len(lines):
        return ""
    text = lines[line - 1].rstrip()[:100]
    gutter = f"    {line} | "
    shown = f"\n{gutter}{text}"
    if offset is not None and 0 < offset <= len(text) + 1:
        shown += "\n" + " " * (len(gutter) + offset - 1) + "^"
    return shown
