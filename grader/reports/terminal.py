"""The student's report in the terminal.

By default a compact report that fits a screen: the score and the parts, a "fix first" line, then
one row per function (its tests folded), failing functions first, the functions not written yet
on one line, public and hidden tests apart, the protections on one line. `--verbose` shows every
test with its description (`render(..., verbose=True)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich import box
from rich.columns import Columns
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.result import GradeResult, Status, TestResult, Visibility

_UNWRITTEN = re.compile(r"^NotImplementedError(?::\s*(?:(?P<name>[\w.]+):\s*)?(?P<task>.*))?$")
_UNDEFINED = re.compile(r"does not define `(?P<name>[\w.]+)`")
MAX_REASON = 160  # characters of a failure's reason in the compact report


def _points(x: float) -> str:
    return f"{x:g}"


# -- functions: a function's tests folded into one row ------------------------------------------


@dataclass
class FunctionRow:
    """One graded function in one group of tests (public or hidden)."""

    name: str
    part: str
    visibility: Visibility
    tests: list[TestResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    @property
    def failed(self) -> list[TestResult]:
        return [t for t in self.tests if t.status is Status.failed]

    @property
    def kind(self) -> str:
        """ "passed", "failed", "unwritten" (the stub's NotImplementedError is still there) or
        "missing" (the submission does not define it)."""
        failed = self.failed
        if not failed:
            return "passed"
        if len(failed) == len(self.tests):
            names = [unwritten_name(t.reason) for t in failed]
            if None not in names and any(n in (self.name, "") for n in names):
                return "unwritten"  # (a test that also reaches another unwritten one included)
            undefined = [_undefined(t.reason) for t in failed]
            if None not in undefined and self.name in undefined:
                return "missing"
        return "failed"

    @property
    def task(self) -> str:
        """What the stub's NotImplementedError says to do."""
        for t in self.failed:
            m = _UNWRITTEN.match(t.reason)
            if m and m.group("task"):
                return m.group("task").strip()
        return ""

    @property
    def where(self) -> str:
        return next((t.where for t in self.failed if t.where), "")

    def reason(self) -> str:
        """The first failing test's reason, in the words a student can act on."""
        first = self.failed[0]
        other = unwritten_name(first.reason)
        text = first.reason or "failed"
        if other and other != self.name:
            text = f"needs `{other.split('.')[0]}`, which is not written yet"
        if len(text) > MAX_REASON:
            text = text[: MAX_REASON - 1] + "…"
        more = len(self.failed) - 1
        if more:
            text += f" (and {more} more failing test{'s' if more > 1 else ''})"
        return text


def unwritten_name(reason: str) -> str | None:
    """For a stub's `NotImplementedError: name: task`, the name (`MLP.__init__` -> `MLP`); "" for a
    bare NotImplementedError; None for any other reason."""
    m = _UNWRITTEN.match(reason)
    if not m:
        return None
    return (m.group("name") or "").split(".")[0]


def _undefined(reason: str) -> str | None:
    m = _UNDEFINED.search(reason)
    return m.group("name") if m else None


def function_rows(result: GradeResult) -> list[FunctionRow]:
    """One row per (visibility, function), in the exercise's order."""
    rows: dict[tuple[str, str], FunctionRow] = {}
    for t in result.tests:
        name = t.tags[0] if t.tags else t.name.removeprefix("test_")
        key = (t.visibility.value, name)
        if key not in rows:
            rows[key] = FunctionRow(name, t.part, t.visibility)
        rows[key].tests.append(t)
    order = {p.name: i for i, p in enumerate(result.parts)}
    return sorted(rows.values(), key=lambda r: order.get(r.part, len(order)))


def fix_first(result: GradeResult) -> Text | None:
    """The one thing to fix first: the file that does not load, a cell that raised while loading,
    the first function that fails (public tests first), else the first function not written yet."""
    line = Text("Fix first: ", style="bold")
    if result.error:
        return line.append(result.error.splitlines()[0], style="red")
    rows = function_rows(result)
    for kind in ("failed", "missing", "unwritten"):
        candidates = [r for r in rows if r.kind == kind]
        candidates.sort(key=lambda r: r.visibility is Visibility.hidden)
        if not candidates:
            continue
        row = candidates[0]
        line.append(row.name, style="bold cyan")
        others = len({r.name for r in candidates}) - 1
        more = f" (nor {others} more, listed below)" if others else ""
        if kind == "missing" and result.load_errors:
            e = result.load_errors[0]
            line = Text("Fix first: ", style="bold")
            line.append(f"{e.where or e.label}: ", style="yellow")
            line.append(e.error, style="red")
            line.append(f", so the submission does not define `{row.name}`{more}")
            return line
        if row.where:
            line.append(f" ({row.where})", style="yellow")
        if kind == "unwritten":
            task = row.task
            return line.append(": not written yet" + (f": {task}" if task else ""), style="default")
        if kind == "missing":
            return line.append(f": your file does not define it{more}", style="red")
        return line.append(f": {row.reason()}", style="red")
    return None


def _names(rows: list[FunctionRow]) -> str:
    return ", ".join(r.name for r in rows)


def _section(title: str, rows: list[FunctionRow], seen: set[tuple[str, str]]) -> list[object]:
    """A group of tests (public or hidden): one row per failing function, the functions not
    written yet and those missing on one line each, the passing ones side by side. `seen`: the
    (kind, name) lines listed in an earlier group, not listed again."""
    out: list[object] = []
    score = sum(r.score for r in rows)
    total = sum(r.max_score for r in rows)
    out.append(Text(f"{title}: {_points(score)}/{_points(total)} points", style="bold"))
    failing = [r for r in rows if r.kind == "failed"]
    if failing:
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1), expand=True)
        table.add_column(width=1, no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis", max_width=22)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(ratio=1, overflow="fold")
        for row in failing:
            detail = Text(row.reason(), style="red")
            if row.where:
                detail.append(f"  [{row.where}]", style="yellow")
            table.add_row(
                Text("✗", style="bold red"),
                row.name,
                f"{_points(row.score)}/{_points(row.max_score)}",
                detail,
            )
        out.append(Padding(table, (0, 0, 0, 2)))
    for kind, words, style in (
        ("unwritten", "not written yet", "yellow"),
        ("missing", "not defined in your file", "red"),
    ):
        these = [r for r in rows if r.kind == kind]
        if not these:
            continue
        lost = sum(r.max_score for r in these)
        line = Text(f"{'…' if kind == 'unwritten' else '✗'} {words} ", style=style)
        line.append(f"({len(these)}, {_points(lost)} points): ", style=style)
        if all((kind, r.name) in seen for r in these):
            line.append("the same functions as above")
        else:
            line.append(_names(these))
        seen.update((kind, r.name) for r in these)
        out.append(Padding(line, (0, 0, 0, 2)))
    passing = [r for r in rows if r.kind == "passed"]
    if passing:
        cells = [
            Text.assemble(("✓ ", "green"), f"{r.name} {_points(r.score)}/{_points(r.max_score)}")
            for r in passing
        ]
        out.append(Padding(Columns(cells, padding=(0, 2)), (0, 0, 0, 2)))
    return out


def render(result: GradeResult, console: Console, *, verbose: bool = False) -> None:
    if verbose:
        render_verbose(result, console)
        return
    console.print(compact(result))


def _score_lines(result: GradeResult) -> list[Text]:
    """The title, the score (and what the hidden tests left ungraded), and the score per part."""
    head = Text(f"{result.title}", style="bold")
    head.append(f" · {result.submission}", style="dim")
    style = "green" if result.score == result.max_score else ("yellow" if result.score else "red")
    score = Text(
        f"{_points(result.score)} / {_points(result.max_score)} points", style="bold " + style
    )
    if not result.hidden_run:
        score.append(
            f" · hidden tests not run: {_points(result.not_graded)} of "
            f"{_points(result.max_score)} points not graded (they run when your instructor grades)",
            style="yellow",
        )
    parts = Text("Parts: ", style="dim")
    for i, part in enumerate(result.parts):
        if i:
            parts.append(" · ", style="dim")
        parts.append(f"{part.name} {_points(part.score)}/{_points(part.max_score)}")
    return [head, score, parts]


def _load_error_lines(result: GradeResult) -> list[Text]:
    """The first five cells or lines that raised while loading, and how many more did."""
    if not result.load_errors:
        return []
    lines = [Text("Cells or lines that raised while loading (their names may be missing):")]
    for e in result.load_errors[:5]:
        text = Text(f"  {e.where or e.label}: ", style="yellow")
        text.append(e.error)
        if e.first_line and not e.label.startswith("cell "):
            text.append(f"  (the cell starting `{e.first_line}`)", style="dim")
        lines.append(text)
    if len(result.load_errors) > 5:
        lines.append(Text(f"  … and {len(result.load_errors) - 5} more", style="dim"))
    return lines


def _test_sections(result: GradeResult) -> list[object]:
    """The public, then the hidden tests by function; one line when every test failed alike."""
    if result.error:
        return [
            Text(f"Every test failed for this reason ({len(result.tests)} tests).", style="dim")
        ]
    lines: list[object] = []
    rows = function_rows(result)
    public = [r for r in rows if r.visibility is Visibility.visible]
    hidden = [r for r in rows if r.visibility is Visibility.hidden]
    seen: set[tuple[str, str]] = set()
    if public:
        lines += [Text(""), *_section("Public tests", public, seen)]
    if hidden:
        lines += [Text(""), *_section("Hidden tests", hidden, seen)]
    return lines


def _footer_lines(result: GradeResult) -> list[Text]:
    """Test counts, devices and time; then flags, notes and protections where there are any."""
    failed = sum(1 for t in result.tests if t.status is Status.failed)
    lines = [
        Text(
            f"{len(result.tests)} tests: {len(result.tests) - failed} passed, {failed} failed · "
            f"devices: {', '.join(result.devices)} · {result.duration_s:.1f} s · "
            "--verbose shows every test",
            style="dim",
        )
    ]
    if result.flags:
        lines.append(Text("noted: " + "; ".join(result.flags), style="magenta"))
    for note in result.notes:
        lines.append(Text(note, style="dim"))
    if result.protections:
        lines.append(
            Text(
                f"protections ({len(result.protections)}): " + ", ".join(result.protections),
                style="dim",
                no_wrap=True,
                overflow="ellipsis",
            )
        )
    return lines


def compact(result: GradeResult) -> Group:
    lines: list[object] = [*_score_lines(result)]
    if (first := fix_first(result)) is not None:
        lines += [Text(""), first]
    lines += _load_error_lines(result)
    lines += _test_sections(result)
    lines.append(Text(""))
    lines += _footer_lines(result)
    return Group(*lines)  # type: ignore[arg-type]


# -- the verbose report: every test ---------------------------------------------------------------


def _test_row(t: TestResult, table: Table) -> None:
    mark = Text("✓", style="green") if t.status is Status.passed else Text("✗", style="bold red")
    name = Text(t.name.removeprefix("test_"))
    if t.visibility == "hidden":
        name.append(" ·hidden", style="dim")
    if t.status is Status.passed:
        detail = Text(t.description, style="dim", no_wrap=True, overflow="ellipsis")
    else:
        detail = Text(t.reason or "failed", style="red")
    if t.status is Status.failed and t.where:
        detail.append(f"  [{t.where}]", style="yellow")
    table.add_row(mark, name, f"{_points(t.score)}/{_points(t.max_score)}", detail)


def render_verbose(result: GradeResult, console: Console) -> None:
    if result.error:
        console.print(
            Panel(
                Text(result.error, style="bold red"),
                title="Could not grade this submission",
                border_style="red",
            )
        )
    if result.load_errors:
        text = Text()
        for e in result.load_errors:
            text.append(f"{e.where or e.label}: ", style="yellow")
            text.append(f"{e.error}")
            if e.first_line:
                text.append(f"  (the cell starting `{e.first_line}`)", style="dim")
            text.append("\n")
        console.print(
            Panel(
                text,
                title="Some of your code raised while loading (its names may be missing)",
                border_style="yellow",
            )
        )
    for part in result.parts:
        tests = [t for t in result.tests if t.part == part.name]
        title = f"{part.name} — {_points(part.score)}/{_points(part.max_score)}"
        if part.not_graded:
            title += f" ({_points(part.not_graded)} not graded here)"
        table = Table(
            box=box.SIMPLE,
            show_header=False,
            title=title,
            title_justify="left",
            title_style="bold",
            expand=True,
            pad_edge=False,
        )
        table.add_column(width=1)
        table.add_column(overflow="fold", max_width=46)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(overflow="fold", ratio=1, min_width=24)
        for t in tests:
            _test_row(t, table)
        console.print(table)
    console.print(summary(result))


def summary(result: GradeResult) -> Panel:
    score = Text(f"{_points(result.score)} / {_points(result.max_score)} points", style="bold")
    lines: list[Text] = [score]
    if not result.hidden_run:
        lines.append(
            Text(
                f"hidden tests not run: {_points(result.not_graded)} of {_points(result.max_score)} points not graded "
                "(they run when your instructor grades)",
                style="yellow",
            )
        )
    failed = sum(1 for t in result.tests if t.status is Status.failed)
    lines.append(
        Text(
            f"{len(result.tests) - failed} tests passed, {failed} failed · devices: {', '.join(result.devices)} · {result.duration_s:.1f} s",
            style="dim",
        )
    )
    if result.flags:
        lines.append(Text("noted: " + "; ".join(result.flags), style="magenta"))
    for note in result.notes:
        lines.append(Text(note, style="dim"))
    lines.append(Text("protections: " + ", ".join(result.protections), style="dim"))
    style = "green" if result.score == result.max_score else ("yellow" if result.score else "red")
    return Panel(
        Group(*lines),
        title=f"{result.title}: {result.submission}",
        border_style=style,
        expand=False,
    )
