"""The student's report in the terminal: per part, per test, points and a one-line reason."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.result import GradeResult, Status, TestResult


def _points(x: float) -> str:
    return f"{x:g}"


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


def render(result: GradeResult, console: Console) -> None:
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
