"""The similarity screen as one self-contained HTML page: the ranked pairs, then each pair's evidence.

A pure function of the screen's findings; every text that came from a submission is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from grader.similar.behaviour import Shared


@dataclass
class PairView:
    a: str
    b: str
    score: float
    code: float
    behaviour: float
    functions: list[tuple[str, float, str, str, str, str]] = field(default_factory=list)
    # (name, similarity, where in a, code of a, where in b, code of b)
    shared: list[Shared] = field(default_factory=list)


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} table{border-collapse:collapse} td,th{padding:.25em .7em;text-align:left}
tr:nth-child(even){background:#f4f4f4} .num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:.7em;background:#c33;vertical-align:middle}
details{border:1px solid #ccc;border-radius:4px;margin:.6em 0;padding:.4em .8em}
summary{cursor:pointer;font-weight:600}
.side{display:grid;grid-template-columns:1fr 1fr;gap:.6em} .side>div{min-width:0}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.5em;overflow:auto;font-size:12px;margin:.2em 0}
.muted{color:#777} .note{background:#fff8e1;border-left:4px solid #e0a800;padding:.5em 1em}
"""


def render(
    title: str, pairs: list[PairView], *, students: int, notes: list[str], shown: int
) -> str:
    rows = "\n".join(
        f"<tr><td class=num>{k}</td><td><a href='#p{k}'>{escape(p.a)}</a></td>"
        f"<td><a href='#p{k}'>{escape(p.b)}</a></td><td class=num>{p.score:.2f} "
        f"<span class=bar style='width:{p.score * 80:.0f}px'></span></td>"
        f"<td class=num>{p.code:.2f}</td><td class=num>{p.behaviour:.2f}</td></tr>"
        for k, p in enumerate(pairs, 1)
    )
    details = "\n".join(_pair(k, p) for k, p in enumerate(pairs, 1))
    extra = "".join(f"<p class=note>{escape(n)}</p>" for n in notes)
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{escape(title)}</h1>
<p>{students} students, {students * (students - 1) // 2} pairs screened; the {shown} most similar
below. <b>code</b>: how much of the graded functions both wrote is the same after renaming,
reordering and reformatting (what most of the class writes alike counts for nothing).
<b>behaviour</b>: wrong values on the hidden checks that both produced, weighted by how few
others did (right values count for nothing). <b>score</b> combines the two. A high score is a
reason to look, not a verdict: open a pair to see the evidence.</p>
{extra}
<table><tr><th>#</th><th>student</th><th>student</th><th>score</th><th>code</th><th>behaviour</th></tr>
{rows}
</table>
{details}
</body></html>
"""


def _pair(k: int, p: PairView) -> str:
    functions = "\n".join(
        f"<h3>{escape(name)} <span class=muted>{sim:.0%} alike</span></h3><div class=side>"
        f"<div><span class=muted>{escape(p.a)} {escape(wa)}</span><pre>{escape(ca)}</pre></div>"
        f"<div><span class=muted>{escape(p.b)} {escape(wb)}</span><pre>{escape(cb)}</pre></div></div>"
        for name, sim, wa, ca, wb, cb in p.functions
    )
    if p.shared:
        items = "\n".join(
            f"<tr><td>{escape(s.check)}</td><td>{escape(s.relation)}</td>"
            f"<td>{'the same value' if s.same_value else 'wrong the same way'}</td>"
            f"<td class=num>{s.students}</td><td class=num>{s.weight:.2f}</td></tr>"
            for s in p.shared
        )
        shared = (
            "<h3>Wrong answers both gave</h3><table><tr><th>check</th><th>how it is wrong</th>"
            f"<th>match</th><th>students with it</th><th>weight</th></tr>{items}</table>"
        )
    else:
        shared = "<p class=muted>No wrong answer in common.</p>"
    code = functions or "<p class=muted>No function alike beyond what the class writes alike.</p>"
    return (
        f"<details id=p{k}{' open' if k <= 3 else ''}><summary>#{k} {escape(p.a)} ↔ "
        f"{escape(p.b)}: score {p.score:.2f} (code {p.code:.2f}, behaviour {p.behaviour:.2f})"
        f"</summary>{shared}<h3 class=muted>Functions alike</h3>{code}</details>"
    )
