"""A class's results: the gradebook CSV, Moodle's grading worksheet, and the class summary."""

from __future__ import annotations

import csv
import io
import statistics
import time
import zipfile
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from grader.reports.html import page
from grader.reports.markdown import without_paths
from grader.result import GradeResult
from grader.similar.cli import PAGE, STANDS_OUT

MAX_LISTED = 12  # failing functions named in a Moodle comment


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


def moodle_comment(row: dict[str, Any]) -> str:
    """Moodle's feedback comment, which students do see: the score, each part, what fails."""
    if row["status"] == "needs review":
        return "grade held for review"
    if row["error"] and row["status"] != "graded":
        return f"{row['score']:g}/{row['max_score']:g}: not graded: {row['error']}"
    parts = ", ".join(
        f"{name} {score:g}/{row.get('part_max', {}).get(name, 0):g}"
        for name, score in row["parts"].items()
    )
    text = f"{row['score']:g}/{row['max_score']:g}" + (f" ({parts})" if parts else "")
    if failing := row.get("failing"):
        shown = failing[:MAX_LISTED]
        more = f" and {len(failing) - len(shown)} more" if len(failing) > len(shown) else ""
        text += ". Failing: " + ", ".join(shown) + more
    if row["error"]:
        text += f". {row['error']}"
    return text


def moodle_worksheet_csv(rows: list[dict[str, Any]]) -> str:
    """The columns Moodle's 'Upload grading worksheet' matches on: Identifier, Full name, Grade."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Identifier", "Full name", "Grade", "Maximum Grade", "Feedback comments"])
    for r in rows:
        if r["identifier"].startswith("Participant "):
            held = r["status"] == "needs review"
            writer.writerow(
                [
                    r["identifier"],
                    r["full_name"],
                    "" if held else f"{r['score']:g}",
                    f"{r['max_score']:g}",
                    moodle_comment(r),
                ]
            )
    return out.getvalue()


def moodle_folder(row: dict[str, Any]) -> str:
    """The participant's folder as Moodle names it in a download, and reads it back in an upload
    of feedback files: `Full Name_12345_assignsubmission_file_`."""
    number = row["identifier"].removeprefix("Participant ")
    return f"{row['full_name']}_{number}_assignsubmission_file_"


def moodle_feedback_zip(rows: list[dict[str, Any]], students: Path) -> bytes:
    """Moodle's 'Upload multiple feedback files in a zip': one folder per participant, named as in
    the download, holding that student's feedback.html (names UTF-8, flagged as such)."""
    out = io.BytesIO()
    now = time.localtime()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for r in rows:
            feedback = students / r["student"] / "feedback.html"
            held = r["status"] == "needs review"  # its score stays with the staff until looked at
            if not r["identifier"].startswith("Participant ") or held or not feedback.is_file():
                continue
            # dated now: Moodle takes a feedback file that is newer than the one it holds
            info = zipfile.ZipInfo(f"{moodle_folder(r)}/feedback.html", now)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, feedback.read_bytes())
    return out.getvalue()


def test_rates(results: list[GradeResult]) -> dict[str, tuple[int, int, str]]:
    """Per test over the graded students: passed, out of, and the most common failure message."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {}
    for result in results:
        for t in result.tests:
            total[t.name] += 1
            if t.status == "passed":
                passed[t.name] += 1
            elif t.reason:
                reasons.setdefault(t.name, Counter())[without_paths(t.reason, result)] += 1
    return {
        name: (
            passed[name],
            total[name],
            _short(reasons[name].most_common(1)[0][0]) if name in reasons else "",
        )
        for name in total
    }


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _identical(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """student -> the other students whose submission has the same bytes (stubs aside: flagged
    as such)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("digest") and not r.get("untouched"):
            groups.setdefault(r["digest"], []).append(r)
    return {
        r["student"]: [_who(other) for other in group if other is not r]
        for group in groups.values()
        if len(group) > 1
        for r in group
    }


def _who(row: dict[str, Any]) -> str:
    return row["full_name"] + (f" ({row['identifier']})" if row["identifier"] else "")


def class_flags(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """What a TA should look at, per student: the grader's flags, an untouched stub, identical
    submissions, a note the student left, why they were not graded."""
    same = _identical(rows)
    flags: dict[str, list[str]] = {}
    for r in rows:
        mine = []
        if r["status"] != "graded":
            mine.append(f"{r['status']}: {r['error']}" if r["error"] else r["status"])
        elif r["error"]:
            mine.append(r["error"])
        if r.get("untouched"):
            mine.append("untouched stub")
        if r["student"] in same:
            mine.append("identical to " + ", ".join(same[r["student"]]))
        if r.get("note"):
            mine.append("note: " + " ".join(r["note"].split())[:300])
        mine += r["flags"]
        flags[r["student"]] = mine
    return flags


def statistics_of(
    rows: list[dict[str, Any]],
    test_rates: dict[str, tuple[int, int, str]] | dict[str, tuple[int, int]],
    *,
    parts: list[str] | None = None,
) -> dict[str, Any]:
    graded = [r for r in rows if r["status"] == "graded"]
    scores = [r["score"] for r in graded]
    maximum = max((r["max_score"] for r in rows), default=100.0) or 100.0
    bins = [0] * 10
    for s in scores:
        bins[min(9, int(10 * s / maximum))] += 1
    hardest = sorted(test_rates.items(), key=lambda kv: (kv[1][0] / max(kv[1][1], 1), kv[0]))
    part_names = (
        parts
        if parts is not None
        else list(dict.fromkeys(name for r in rows for name in r["parts"]))
    )
    part_means = [
        (
            name,
            statistics.fmean(r["parts"].get(name, 0.0) for r in graded) if graded else 0.0,
            max((r.get("part_max", {}).get(name, 0.0) for r in rows), default=0.0),
        )
        for name in part_names
    ]
    flags = class_flags(rows)
    return {
        "students": len(rows),
        "graded": len(scores),
        "mean": statistics.fmean(scores) if scores else 0.0,
        "median": statistics.median(scores) if scores else 0.0,
        "max_score": maximum,
        "bins": bins,
        "parts": part_means,
        "hardest": [
            (name, passed, total, common[0] if common else "")
            for name, (passed, total, *common) in hardest
        ],
        "rows": [{**r, "class_flags": flags[r["student"]]} for r in rows],
        "flagged": [
            (r["student"], _who(r), "; ".join(flags[r["student"]]))
            for r in rows
            if flags[r["student"]]
        ],
    }


def _ungraded_rule(stats: dict[str, Any]) -> str:
    left_out = stats["students"] - stats["graded"]
    if not left_out:
        return f"Every one of the {stats['students']} students was graded."
    return (
        f"Mean, median, part means, pass rates and the histogram count the {stats['graded']} graded "
        f"students only; the {left_out} not graded (not a submission, unusable, interrupted) are "
        "left out of them, and stand in the gradebook with 0 and their reason."
    )


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
    parts_table = Table(title="mean per part", title_justify="left")
    parts_table.add_column("part")
    parts_table.add_column("mean", justify="right")
    for name, mean, maximum in stats["parts"]:
        parts_table.add_row(name, f"{mean:.1f} / {maximum:g}")
    hard = Table(title="tests most students fail", title_justify="left")
    hard.add_column("test")
    hard.add_column("passed", justify="right")
    hard.add_column("most common failure", overflow="fold")
    for name, passed, total, common in stats["hardest"][:8]:
        hard.add_row(name, f"{passed}/{total}", common)
    parts: list[Any] = [head, Text(_ungraded_rule(stats), style="dim"), hist, parts_table, hard]
    if stats["flagged"]:
        flagged = Table(title="to look at", title_justify="left")
        flagged.add_column("student")
        flagged.add_column("why", overflow="fold")
        for _, who, why in stats["flagged"][:20]:
            flagged.add_row(who, why)
        parts.append(flagged)
    return Group(*parts)


SUMMARY_STYLE = """
.bar{fill:#4c8eda}.count{font-size:11px;fill:#222}.axis{font-size:10px;fill:#666}
body{max-width:80rem}td.flags{min-width:18rem}.students ul{margin:0;padding-left:1rem}
svg{margin:.5rem 0}code{font-size:.9em}
"""


def _histogram(stats: dict[str, Any]) -> str:
    width, height, gap, label = 440, 160, 4, 16
    top = max(stats["bins"]) or 1
    bar_w = width / 10
    step = stats["max_score"] / 10
    bars = []
    for i, count in enumerate(stats["bins"]):
        h = (height - label) * count / top
        x = i * bar_w + gap / 2
        low, high = i * step, (i + 1) * step
        bars.append(
            f"<rect class=bar x='{x:.1f}' y='{height - h:.1f}' width='{bar_w - gap:.1f}' "
            f"height='{h:.1f}'><title>{low:g}–{high:g} points: {count}</title></rect>"
            f"<text class=count x='{x + (bar_w - gap) / 2:.1f}' y='{height - h - 3:.1f}' "
            f"text-anchor='middle'>{count}</text>"
            f"<text class=axis x='{x + (bar_w - gap) / 2:.1f}' y='{height + 14}' "
            f"text-anchor='middle'>{low:g}</text>"
        )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 20}' "
        f"role='img' aria-label='score histogram: students per tenth of {stats['max_score']:g} "
        f"points'>{''.join(bars)}</svg>"
    )


def _student_table(stats: dict[str, Any]) -> str:
    names = [name for name, _, _ in stats["parts"]]
    head = (
        "<tr><th>student</th><th class=num>score</th>"
        + "".join(f"<th class=num>{escape(n)}</th>" for n in names)
        + "<th>status</th><th>flags</th><th>feedback</th></tr>"
    )
    body = []
    for r in stats["rows"]:
        who = escape(r["full_name"]) + (
            f" <span class=dim>{escape(r['identifier'])}</span>" if r["identifier"] else ""
        )
        held = r["status"] == "needs review"
        score = "" if held else f"{r['score']:g}"
        cells = "".join(
            f"<td class=num>{'' if held else format(r['parts'].get(n, 0), 'g')}</td>" for n in names
        )
        flags = "".join(f"<li>{escape(f)}</li>" for f in r["class_flags"])
        link = f"students/{quote(r['student'])}/feedback.html"
        body.append(
            f"<tr id='{escape(r['student'], quote=True)}'><td>{who}</td><td class=num>{score}</td>{cells}"
            f"<td>{escape(r['status'])}{' · late' if r['late'] else ''}</td>"
            f"<td class=flags>{'<ul>' + flags + '</ul>' if flags else ''}</td>"
            f"<td><a href='{escape(link, quote=True)}'>feedback</a></td></tr>"
        )
    return f"<table class=students>{head}{''.join(body)}</table>"


def summary_html(stats: dict[str, Any], title: str) -> str:
    parts = "".join(
        f"<tr><td>{escape(name)}</td><td class=num>{mean:.1f} / {maximum:g}</td></tr>"
        for name, mean, maximum in stats["parts"]
    )
    rates = "".join(
        f"<tr><td>{escape(n)}</td><td class=num>{p}/{t}</td><td>{escape(common)}</td></tr>"
        for n, p, t, common in stats["hardest"]
    )
    flagged = "".join(
        f"<tr><td><a href='#{escape(key, quote=True)}'>{escape(who)}</a></td>"
        f"<td>{escape(why)}</td></tr>"
        for key, who, why in stats["flagged"]
    )
    body = (
        f"<h1>{escape(title)}</h1><p><strong>{stats['graded']}</strong> of {stats['students']} graded · "
        f"mean {stats['mean']:.1f} · median {stats['median']:.1f} of {stats['max_score']:g}</p>"
        f"<p class=dim>{escape(_ungraded_rule(stats))}</p>"
        f"<h2>Score distribution</h2>{_histogram(stats)}"
        f"<h2>Mean per part</h2><table><tr><th>part</th><th class=num>mean</th></tr>{parts}</table>"
        + (
            f"<h2>To look at</h2><table><tr><th>student</th><th>why</th></tr>{flagged}</table>"
            if flagged
            else ""
        )
        + _similar_section(stats)
        + f"<h2>Students</h2>{_student_table(stats)}"
        f"<h2>Pass rate per test</h2><p class=dim>hardest first</p><table><tr><th>test</th>"
        f"<th class=num>passed</th><th>most common failure</th></tr>{rates}</table>"
    )
    return page(title, body, style=SUMMARY_STYLE)


def _similar_section(stats: dict[str, Any], shown: int = 5) -> str:
    """The closest pairs of the similarity screen, and a link to its evidence."""
    pairs, note = stats.get("similar") or [], stats.get("similar_note") or ""
    if not pairs:
        return f"<h2>Similar pairs</h2><p class=dim>{escape(note)}</p>" if note else ""

    def who(key: str) -> str:
        return f"<a href='#{escape(key, quote=True)}'>{escape(key)}</a>"

    rows = "".join(
        f"<tr><td>{who(p['a'])} and {who(p['b'])}</td><td class=num>{p['score']:.2f}</td>"
        f"<td class=num>{p['code']:.2f}</td><td class=num>{p['behaviour']:.2f}</td></tr>"
        for p in pairs[:shown]
    )
    verdict = (
        ""
        if pairs[0]["score"] >= STANDS_OUT
        else f"<p>No pair stands out: the closest scores {pairs[0]['score']:.2f} (below "
        f"{STANDS_OUT:g}; two students who solved it the usual way score about 0.2–0.3).</p>"
    )
    return (
        f"<h2>Similar pairs</h2>{verdict}<p class=dim>the graded functions' code (renaming, reordering and "
        "notebook cells do not hide it) and wrong hidden-test answers two students share, rare "
        "ones weighing most; a lead to read, not a verdict. The evidence side by side: "
        f"<a href='{PAGE}'>similarity screen</a></p><table><tr><th>students</th>"
        "<th class=num>score</th><th class=num>code</th><th class=num>behaviour</th></tr>"
        f"{rows}</table>"
    )


def render_summary(console: Console, stats: dict[str, Any]) -> None:
    console.print(summary_renderable(stats))
