"""The similarity screen: a class graded for real, with three planted pairs among independent work.

The class (tests/submissions/similar/ and two of tests/submissions/ex2/):

    ana    loops.py                      ben    the same, variables renamed, functions reordered
    carla  compact.py                    dario  the same code moved into a notebook, with magics
    eva    bug_softmax.py (one wrong     femi   the same, reformatted (2-space indent, 60 columns,
           answer: softmax overflows)           other quotes, comments gone)
    gus    alternative.py                hanna  helpers.py   (independent, correct)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from grader.exercise import Exercise
from grader.similar import behaviour, code, page
from grader.similar.behaviour import Shared
from grader.similar.outputs import relation, value_hash
from grader.similar.sources import cells_of, source_text

ROOT = Path(__file__).resolve().parent.parent
SIMILAR = ROOT / "tests" / "submissions" / "similar"
EX2 = ROOT / "tests" / "submissions" / "ex2"
CLASS = {
    "ana.py": SIMILAR / "loops.py",
    "ben.py": SIMILAR / "loops_renamed_reordered.py",
    "carla.py": SIMILAR / "compact.py",
    "dario.ipynb": SIMILAR / "compact_moved.ipynb",
    "eva.py": EX2 / "bug_softmax.py",
    "femi.py": SIMILAR / "softmax_bug_reformatted.py",
    "gus.py": EX2 / "alternative.py",
    "hanna.py": SIMILAR / "helpers.py",
}
PLANTED = {frozenset(("ana", "ben")), frozenset(("carla", "dario")), frozenset(("eva", "femi"))}
INDEPENDENT = ["ana", "carla", "eva", "gus", "hanna"]  # one of each planted pair, and the rest


def grade_cli(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@dataclass
class Screened:
    results: Path
    pairs: list[dict]
    page: str
    out: str
    batch_out: str
    summary: str  # the batch's summary.html
    batch_page: str  # the similarity.html the batch wrote


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> Screened:
    root = tmp_path_factory.mktemp("similar")
    submissions, results, tmp = root / "class", root / "results", root / "tmp"
    submissions.mkdir()
    tmp.mkdir()
    for name, source in CLASS.items():
        shutil.copy(source, submissions / name)
    batch = grade_cli(
        "batch", "ex2", str(submissions), "--out", str(results), "--jobs", "2", tmp=tmp
    )
    assert batch.returncode == 0, batch.stdout + batch.stderr
    summary = (results / "summary.html").read_text(encoding="utf-8")
    screen = (results / "similarity.html").read_text(encoding="utf-8")  # the batch's own
    run = grade_cli(
        "similar", "ex2", str(results), "--json", str(root / "pairs.json"), "--top", "0", tmp=tmp
    )
    assert run.returncode == 0, run.stdout + run.stderr
    pairs = json.loads((root / "pairs.json").read_text(encoding="utf-8"))["pairs"]
    html = (results / "similarity.html").read_text(encoding="utf-8")
    return Screened(results, pairs, html, run.stdout, batch.stdout, summary, screen)


@pytest.mark.slow
def test_the_planted_pairs_are_the_top_three(screened: Screened) -> None:
    assert len(screened.pairs) == 8 * 7 // 2  # --top 0: every pair, best first
    scores = [p["score"] for p in screened.pairs]
    assert scores == sorted(scores, reverse=True)
    top = {frozenset((p["a"], p["b"])) for p in screened.pairs[:3]}
    assert top == PLANTED
    assert min(scores[:3]) >= 0.9
    independent = [p for p in screened.pairs if p["a"] in INDEPENDENT and p["b"] in INDEPENDENT]
    assert len(independent) == 10
    assert max(p["score"] for p in independent) <= 0.3  # well below the planted ones
    assert screened.pairs[3]["score"] <= 0.3


@pytest.mark.slow
def test_only_the_shared_wrong_answer_is_behaviour_evidence(screened: Screened) -> None:
    by_pair = {frozenset((p["a"], p["b"])): p for p in screened.pairs}
    assert by_pair[frozenset(("eva", "femi"))]["behaviour"] > 0.2
    others = [p for key, p in by_pair.items() if key != frozenset(("eva", "femi"))]
    assert all(p["behaviour"] == 0 for p in others)  # right answers weigh nothing
    # the page shows the evidence: the shared wrong check, and the copied functions side by side
    section = screened.page.split("id=p1")[1].split("</details>")[0]
    assert "eva" in section and "femi" in section
    assert "test_softmax_large_logits" in section and "nan" in section
    dario = screened.page.split("carla ↔ dario")[1].split("</details>")[0]
    assert "cell " in dario  # where in the notebook the function is
    assert dario.count("<pre>def ") + dario.count("<pre>class ") >= 6  # side by side


@pytest.mark.slow
def test_the_batch_keeps_the_code_and_the_values_it_compares(screened: Screened) -> None:
    record = json.loads((screened.results / "students" / "dario" / "record.json").read_text())
    kept = record["result"]["source"]
    assert kept.startswith("# %% [cell ")
    assert "pass  # IPython: %matplotlib inline" in kept  # magics already Python
    outputs = record["result"]["outputs"]
    assert len(outputs) > 50 and set(outputs.values()) == {"+"}  # a correct student: all right
    eva = json.loads((screened.results / "students" / "eva" / "record.json").read_text())
    wrong = {k: v for k, v in eva["result"]["outputs"].items() if v != "+"}
    assert wrong and all("softmax" in k for k in wrong)


# -- the pieces, without grading ----------------------------------------------------------------


def graded(ex2: Exercise) -> set[str]:
    return ex2.config.function_names()


def test_renaming_reordering_and_notebooks_normalise_away(ex2: Exercise) -> None:
    names = graded(ex2)
    loops = code.functions_of(source_text(SIMILAR / "loops.py", module="ex2") or "", names)
    renamed = code.functions_of(
        source_text(SIMILAR / "loops_renamed_reordered.py", module="ex2") or "", names
    )
    same = [n for n in names if loops[n].normal == renamed[n].normal]
    assert len(same) >= len(names) - 3, sorted(names - set(same))
    compact = code.functions_of(source_text(SIMILAR / "compact.py", module="ex2") or "", names)
    moved = code.functions_of(
        source_text(SIMILAR / "compact_moved.ipynb", module="ex2") or "", names
    )
    assert {n: f.normal for n, f in compact.items()} == {n: f.normal for n, f in moved.items()}
    assert moved["softmax"].where.startswith("cell ")
    # independent solutions of one function read differently
    assert loops["softmax"].normal != compact["softmax"].normal


def test_the_stub_is_boilerplate(ex2: Exercise) -> None:
    stub = (ex2.public_dir / "ex2.py").read_text(encoding="utf-8")
    solution = (ROOT / "reference" / "ex2" / "solution.py").read_text(encoding="utf-8")
    names = [f for part in ex2.config.parts for f in part.functions]
    index = code.index_class([stub, stub, solution], names, stub)
    assert index.functions[0] == {} and index.functions[1] == {}  # untouched stubs: nothing written
    assert index.similarity()[0, 1] == 0.0
    normal = index.functions[2]["softmax"].normal
    assert (
        "Softmax of the logits" not in normal and "def softmax" not in normal
    )  # docstring, signature
    assert normal.startswith("v0 = v1 - v1.amax(dim=v2, keepdim=True)\n")  # in order of use


def test_cells_of_a_kept_copy() -> None:
    assert cells_of("x = 1\n") == [("file", "x = 1\n")]
    text = "# %% [cell 2]\nimport torch\n\n# %% [cell 4]\ndef f():\n    pass\n\n"
    assert [label for label, _ in cells_of(text)] == ["cell 2", "cell 4"]


def test_how_a_value_is_wrong_does_not_depend_on_the_inputs() -> None:
    e = torch.arange(6.0).reshape(2, 3) + 1
    assert relation(e, e.T.contiguous()) == "shape(d1,d0)"
    assert relation(e, 2 * e) == "x2"
    assert relation(e, e + 0.5) == "+ const"
    assert relation(e, e.double()) == "dtype float64"
    assert relation(e, torch.full_like(e, float("nan"))) == "nan"
    assert relation(1.5, 3.0) == "x2"
    assert relation((e, 1), (e, 2)) == "[1] x2"
    big = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    assert relation(big, big.T.contiguous()) == "transposed"
    # the value's own hash: equal for equal values, tolerant of the last bits
    assert value_hash(e) == value_hash(e * (1 + 1e-7)) != value_hash(e + 1)


def test_the_page_escapes_what_students_wrote() -> None:
    view = page.PairView(
        "a<b>",
        "c&d",
        0.9,
        0.9,
        0.1,
        functions=[("relu", 1.0, "", "return '</pre><script>x</script>'", "", "pass")],
        shared=[Shared("t::test#0", "<img src=x>", True, 2, 1.5)],
    )
    html = page.render("ex2", [view], students=2, notes=["<i>"], shown=1)
    assert "<script>" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;/pre&gt;&lt;script&gt;" in html and "a&lt;b&gt;" in html


def test_usage_and_unusable_results_folders(tmp_path: Path) -> None:
    run = grade_cli("similar", "ex2", tmp=tmp_path)
    assert run.returncode == 2 and "usage: grade similar" in run.stderr
    run = grade_cli("similar", "ex2", str(tmp_path / "nowhere"), tmp=tmp_path)
    assert run.returncode == 3 and "no such results folder" in run.stderr
    assert "Traceback" not in run.stderr
    run = grade_cli("similar", "ex2", str(tmp_path), tmp=tmp_path)
    assert run.returncode == 3 and "grade batch" in run.stderr


def test_shared_wrong_values_weigh_by_rarity_across_variants() -> None:
    checks = [f"t.py::test_{k}[cpu]#0" for k in range(6)]
    right = dict.fromkeys(checks, "+")
    rare = {**right, checks[0]: "aaaa|shape(d1,d0)", checks[1]: "bbbb|x2"}
    rare_elsewhere = {**right, checks[0]: "cccc|shape(d1,d0)", checks[1]: "dddd|x2"}
    common = {**right, checks[2]: "eeee|nan"}
    outputs = [rare, rare_elsewhere, common, common, common, dict(common), right, right]
    variants: list[int | None] = [0, 5, 1, 1, 2, 3, 4, 4]  # the rare pair on two variants
    acts = behaviour.index_class(outputs, variants)
    sim = acts.similarity()
    assert sim[0, 1] > 0.4  # two rare mistakes in common, on other inputs
    assert sim[2, 3] < 0.5 * sim[0, 1]  # a mistake half the class makes
    assert sim[6, 7] == 0.0 and sim[0, 6] == 0.0  # right answers weigh nothing
    evidence = acts.evidence(0, 1)
    assert [e.relation for e in evidence] == ["shape(d1,d0)", "x2"] or [
        e.relation for e in evidence
    ] == ["x2", "shape(d1,d0)"]
    assert not any(e.same_value for e in evidence) and all(e.students == 2 for e in evidence)


@pytest.mark.slow
def test_the_same_class_scores_the_same_in_every_run(screened: Screened, tmp_path: Path) -> None:
    """Fingerprints do not depend on the process: the screen run again, and the batch's own
    screen (in the summary), give every pair the same scores."""
    again = grade_cli(
        "similar", "ex2", str(screened.results), "--json", str(tmp_path / "again.json"),
        "--out", str(tmp_path / "again.html"), "--top", "0", tmp=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))["pairs"] == (
        screened.pairs
    )
    section = screened.summary.split("<h2>Similar pairs</h2>")[1].split("<h2>")[0]
    shown = [
        (
            frozenset(re.findall(r"<a href='#([^']+)'>", row)),
            re.findall(r"class=num>([\d.]+)<", row),
        )
        for row in section.split("<tr>")[2:]
    ]
    expected = [
        (frozenset((p["a"], p["b"])), [f"{p[k]:.2f}" for k in ("score", "code", "behaviour")])
        for p in screened.pairs[:5]
    ]
    assert shown == expected


def test_the_batch_summary_shows_the_closest_pairs_and_links_their_evidence(
    screened: Screened,
) -> None:
    section = screened.summary.split("<h2>Similar pairs</h2>")[1].split("<h2>")[0]
    assert "<a href='similarity.html'>similarity screen</a>" in section
    rows = section.split("<tr>")[2:]  # after the header row: the closest five, best first
    assert len(rows) == 5
    shown = [frozenset(re.findall(r"<a href='#([^']+)'>", row)) for row in rows]
    assert set(shown[:3]) == PLANTED
    assert "similarity.html" in screened.batch_out and "worth a look: " in screened.batch_out
    first = screened.pairs[0]
    assert f"{first['a']} ↔ {first['b']}" in screened.batch_page  # the same ranking, its evidence
