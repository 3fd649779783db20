"""The report as Markdown: a student's feedback file, a CI step summary."""

from __future__ import annotations

from grader.result import GradeResult, Status


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: GradeResult) -> str:
    lines = [
        f"# {result.title}",
        "",
        f"**{result.score:g} / {result.max_score:g} points** — `{result.submission}`",
        "",
    ]
    if not result.hidden_run:
        lines += [
            f"> Hidden tests not run: {result.not_graded:g} of {result.max_score:g} points not graded "
            "(they run when your instructor grades).",
            "",
        ]
    if result.error:
        lines += [f"> **Could not grade this submission:** {_cell(result.error)}", ""]
    if result.load_errors:
        lines += ["## Code that raised while loading", ""]
        lines += [
            f"- `{e.where or e.label}`: {_cell(e.error)}"
            + (f" (the cell starting `{e.first_line}`)" if e.first_line else "")
            for e in result.load_errors
        ]
        lines.append("")
    lines += ["## Parts", "", "| part | points |", "|---|---:|"]
    lines += [f"| {p.name} | {p.score:g} / {p.max_score:g} |" for p in result.parts]
    lines += ["", "## Tests", "", "| | test | points | details |", "|---|---|---:|---|"]
    for t in result.tests:
        mark = "✅" if t.status is Status.passed else "❌"
        name = t.name + (" *(hidden)*" if t.visibility == "hidden" else "")
        detail = (
            t.description
            if t.status is Status.passed
            else t.reason + (f" (`{t.where}`)" if t.where else "")
        )
        lines.append(
            f"| {mark} | {_cell(name)} | {t.score:g} / {t.max_score:g} | {_cell(detail)} |"
        )
    lines.append("")
    if result.flags:
        lines += ["## Noted", "", *[f"- {_cell(f)}" for f in result.flags], ""]
    if result.notes:
        lines += [*[f"- {_cell(n)}" for n in result.notes], ""]
    lines += [
        f"<sub>Protections: {', '.join(result.protections)}. Devices: {', '.join(result.devices)}.</sub>",
        "",
    ]
    return "\n".join(lines)
