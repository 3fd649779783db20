"""The report as one self-contained HTML page (no scripts, no external files)."""

from __future__ import annotations

from html import escape as _escape

from grader.reports.markdown import submission_name, without_paths
from grader.result import GradeResult, Status

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.pass{color:#1a7f37}.fail{color:#cf222e}.dim{color:#666}.num{text-align:right;white-space:nowrap}
.box{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}.warn{background:#fff8c5}.err{background:#ffebe9}
"""


def page(title: str, body: str, *, style: str = "") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no favicon request: the page stands alone, opened from a file or an LMS
        f'<link rel="icon" href="data:,"><title>{_escape(title)}</title>'
        f"<style>{STYLE}{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def render(result: GradeResult, *, student: str = "") -> str:
    """`student`: whom the feedback is for (a batch names them; a student's own run need not)."""

    def escape(text: str) -> str:
        return _escape(without_paths(text, result))

    heading = result.title + (f" — {student}" if student else "")
    out = [
        f"<h1>{escape(heading)}</h1>",
        f"<p><strong>{result.score:g} / {result.max_score:g} points</strong> <span class=dim>{escape(submission_name(result))}</span></p>",
    ]
    if not result.hidden_run:
        out.append(
            f"<div class='box warn'>Hidden tests not run: {result.not_graded:g} of {result.max_score:g} points not graded.</div>"
        )
    if result.error:
        out.append(
            f"<div class='box err'>Could not grade this submission: {escape(result.error)}</div>"
        )
    if result.load_errors:
        items = "".join(
            f"<li><code>{escape(e.where or e.label)}</code>: {escape(e.error)}"
            + (
                f" <span class=dim>(the cell starting <code>{escape(e.first_line)}</code>)</span>"
                if e.first_line
                else ""
            )
            + "</li>"
            for e in result.load_errors
        )
        out.append(f"<div class='box warn'>Code that raised while loading:<ul>{items}</ul></div>")
    out.append(
        "<table><tr><th>part</th><th class=num>points</th></tr>"
        + "".join(
            f"<tr><td>{escape(p.name)}</td><td class=num>{p.score:g} / {p.max_score:g}</td></tr>"
            for p in result.parts
        )
        + "</table>"
    )
    rows = []
    for t in result.tests:
        ok = t.status is Status.passed
        mark = "<span class=pass>✓</span>" if ok else "<span class=fail>✗</span>"
        name = escape(t.name) + (
            " <span class=dim>(hidden)</span>" if t.visibility == "hidden" else ""
        )
        detail = (
            escape(t.description)
            if ok
            else f"<span class=fail>{escape(t.reason)}</span>"
            + (f" <code>{escape(t.where)}</code>" if t.where else "")
        )
        rows.append(
            f"<tr><td>{mark}</td><td>{name}</td><td class=num>{t.score:g} / {t.max_score:g}</td><td>{detail}</td></tr>"
        )
    out.append(
        "<table><tr><th></th><th>test</th><th class=num>points</th><th>details</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    if result.flags:
        out.append(
            "<div class='box warn'>Noted:<ul>"
            + "".join(f"<li>{escape(f)}</li>" for f in result.flags)
            + "</ul></div>"
        )
    notes = [
        *result.notes,
        f"Protections: {', '.join(result.protections)}",
        f"Devices: {', '.join(result.devices)}",
    ]
    out.append("<p class=dim>" + "<br>".join(escape(n) for n in notes) + "</p>")
    return page(f"{heading}: {result.score:g}/{result.max_score:g}", "\n".join(out))
