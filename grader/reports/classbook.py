"""A class's results: the gradebook CSV, Moodle's grading worksheet, and the class summary."""

from __future__ import annotations

import csv
import io
import statistics
from html import escape
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from grader.reports.html import page


def gradebook_csv(rows: list[dict[str, Any]], parts: list[str]) -> str:
    """One row a student: what a spreadsheet imports (UTF-8, header row, plain numbers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "student",
            "full_name",
            "identifier",
            "score",
            "max_score",
            *parts,
            "status",
            "late",
            "error",
            "flags",
            "variant",
        ]
    )
    for r in rows:
        held = r["status"] == "needs review"
        writer.writerow(
            [
                r["student"],
                r["full_name"],
                r["identifier"],
                "" if held else f"{r['score']:g}",
                f"{r['max_score']:g}",
                *(f"{r['parts'].get(p, 0):g}" for p in parts),
                r["status"],
                "yes" if r["late"] else "",
                r["error"],
                "; ".join(r["flags"]),
                "" if r.get("variant") is None else r["variant"],
            ]
        )
    return out.getvalue()


def moodle_worksheet_csv(rows: list[dict[str, Any]]) -> str:
    """The columns Moodle's 'Upload grading worksheet' matches on: Identifier, Full name, Grade."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Identifier", "Full name", "Grade", "Maximum Grade", "Feedback comments"])
    for r in rows:
        if r["identifier"].startswith("Participant "):
            if r["status"] == "needs review":
                writer.writerow(
                    [
                        r["identifier"],
                        r["full_name"],
                        "",
                        f"{r['max_score']:g}",
                        "grade held for review",
                    ]
                )
                continue
            comment = r["error"] or f"{r['score']:g}/{r['max_score']:g}: see feedback.html"
            writer.writerow(
                [r["identifier"], r["full_name"], f"{r['score']:g}", f"{r['max_score']:g}", comment]
            )
    return out.getvalue()


def statistics_of(
    rows: list[dict[str, Any]], test_rates: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    scores = [r["score"] for r in rows if r["status"] == "graded"]
    maximum = max((r["max_score"] for r in rows), default=100.0) or 100.0
    bins = [0] * 10
    for s in scores:
        bins[min(9, int(10 * s / maximum))] += 1
    hardest = sorted(test_rates.items(), key=lambda kv: kv[1][0] / max(kv[1][1], 1))
    return {
        "students": len(rows),
        "graded": len(scores),
        "mean": statistics.fmean(scores) if scores else 0.0,
        "median": statistics.median(scores) if scores else 0.0,
        "max_score": maximum,
        "bins": bins,
        "hardest": [(name, passed, total) for name, (passed, total) in hardest],
        "flagged": [
            (r["student"], r["error"] or "; ".join(r["flags"]))
            for r in rows
            if r["flags"] or r["status"] != "graded"
        ],
    }


def summary_renderable(stats: dict[str, Any]) -> Group:
    head = Text(
        f"{stats['graded']} of {stats['students']} graded · mean {stats['mean']:.1f} · median {stats['median']:.1f} "
        f"of {stats['max_score']:g}",
        style="bold",
    )
    hist = Table(title="score distribution", show_header=False, box=None, title_justify="left")
    top = max(stats["bins"]) or 1
    step = stats["max_score"] / 10
    for i, count in enumerate(stats["bins"]):
        hist.add_row(
            f"{i * step:>5g}–{(i + 1) * step:<5g}",
            Text("█" * round(20 * count / top), style="cyan"),
            str(count),
        )
    hard = Table(title="tests most students fail", title_justify="left")
    hard.add_column("test")
    hard.add_column("passed", justify="right")
    for name, passed, total in stats["hardest"][:8]:
        hard.add_row(name, f"{passed}/{total}")
    parts: list[Any] = [head, hist, hard]
    if stats["flagged"]:
        flagged = Table(title="to look at", title_justify="left")
        flagged.add_column("student")
        flagged.add_column("why", overflow="fold")
        for student, why in stats["flagged"][:20]:
            flagged.add_row(student, why)
        parts.append(flagged)
    return Group(*parts)


def summary_html(stats: dict[str, Any], title: str) -> str:
    width, height, gap = 400, 160, 4
    top = max(stats["bins"]) or 1
    bar_w = width / 10
    bars = []
    for i, count in enumerate(stats["bins"]):
        h = height * count / top
        bars.append(
            f"<rect x='{i * bar_w + gap / 2:.1f}' y='{height - h:.1f}' width='{bar_w - gap:.1f}' height='{h:.1f}' fill='#4c8eda'>"
            f"<title>{i * 10}–{(i + 1) * 10}%: {count}</title></rect>"
            f"<text x='{i * bar_w + bar_w / 2:.1f}' y='{height + 14}' font-size='10' text-anchor='middle'>{i * 10}%</text>"
        )
    svg = f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 20}' role='img' aria-label='score histogram'>{''.join(bars)}</svg>"
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td class=num>{p}/{t}</td></tr>" for n, p, t in stats["hardest"]
    )
    flagged = "".join(
        f"<tr><td>{escape(s)}</td><td>{escape(w)}</td></tr>" for s, w in stats["flagged"]
    )
    body = (
        f"<h1>{escape(title)}</h1><p><strong>{stats['graded']}</strong> of {stats['students']} graded · mean {stats['mean']:.1f} · "
        f"median {stats['median']:.1f} of {stats['max_score']:g}</p><h2>Score distribution</h2>{svg}"
        f"<h2>Pass rate per test</h2><table><tr><th>test</th><th class=num>passed</th></tr>{rows}</table>"
        + (
            f"<h2>To look at</h2><table><tr><th>student</th><th>why</th></tr>{flagged}</table>"
            if flagged
            else ""
        )
    )
    return page(title, body)


def render_summary(console: Console, stats: dict[str, Any]) -> None:
    console.print(summary_renderable(stats))
