"""Forgery: submissions that forge what the child tells the parent, graded as an instructor grades them.

Once a submission is loaded, the child process is the student's (DESIGN.md, "The child is the
student's"): every byte it sends, every object in it, every clock and every error text can be forged,
the grader's own code in the child included. Points may rest only on values the student can produce
only by computing them, on what the parent observes itself (time, memory, exit) and on what the parent
reads in the source. Each file in `tests/submissions/forgery/` is one attack on that principle; its
docstring says what it does and what a correct grader must give. Most start from the untouched stub
(garbage: every function raises NotImplementedError) plus the cheat, and must score 0; a few start
from a correct solution with one hidden flaw, which must cost exactly the flawed function's tests.

Every file is graded through the real command line, the way an instructor grades (the reference is
present, so the hidden tests run): `python -m grader ex2 FILE --json OUT --timeout 3` in a subprocess,
with the project root as working directory. The harness watches that process from outside: its wall
time (killed past a limit, so a hang costs a bounded wait and shows as a failure) and its own peak
resident memory (VmHWM, polled; killed past a safety cap so that a memory attack cannot hurt the
machine). A control grading of the reference solution says which tests a correct solution passes in
this grader, so that the solution-based attacks can demand that everything else still passes.

One more attack spans two submissions: constants first, then, as the same student, the values the
first grade's feedback gave away (`test_values_harvested_from_feedback_cannot_be_replayed_next_time`;
its second file is written by the test).

`FORGERY_ROOT=/path/to/another/checkout` grades with the grader and exercise of that checkout instead
(the submissions stay these).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("FORGERY_ROOT") or HERE.parent).resolve()
FORGERY = HERE / "submissions" / "forgery"
TIMEOUT = 3  # --timeout: seconds per test
LIMIT = 150  # seconds `grade` may take before the harness kills it (a hang is a failure, not a stuck suite)
MEMORY_CAP_MB = 4000  # the harness kills a parent past this: a safety valve for the machine, not the bound asserted
PARENT_MB = 1500  # the bound asserted on the parent's own peak memory
POLL = 0.05

ATTACKS = [
    "replay_public_golden",
    "dataless_tensors",
    "patch_encoder_no_data",
    "rearm_timeout",
    "meta_text_excuse",
    "property_raises",
    "crafted_exception",
    "nonexistent_checks",
    "hidden_feedback_leak",
    "forbidden_call_unreported",
    "rearm_slow_but_correct",
    "theta_star_hardcoded",
    "huge_test_ids",
    "rearm_load_timeout",
    "forged_rule_fields",
    "duplicate_check_hides_inplace",
]


# -- grading through the command line, watched from outside ---------------------------------------


@dataclass
class Graded:
    name: str
    code: int | None  # the exit status; None when the harness killed it
    result: dict[str, Any] | None  # the --json results file, when one was written
    out: str  # stdout and stderr together
    seconds: float
    peak_mb: float  # the `grade` process's own peak resident memory (VmHWM), as last seen
    killed: str = ""  # why the harness killed it, if it did

    @property
    def tests(self) -> list[dict[str, Any]]:
        return list(self.result["tests"]) if self.result else []

    def tagged(self, function: str) -> list[dict[str, Any]]:
        return [t for t in self.tests if function in t["tags"]]

    def named(self, name: str) -> dict[str, Any]:
        found = [t for t in self.tests if t["name"] == name]
        assert len(found) == 1, (
            f"{len(found)} tests named {name}: {[t['name'] for t in self.tests]}"
        )
        return found[0]

    def summary(self) -> str:
        if self.killed:
            head = f"killed by the harness ({self.killed}) after {self.seconds:.0f} s"
        else:
            head = f"exit {self.code} after {self.seconds:.0f} s"
        score = (
            f"score {self.result['score']:g}/{self.result['max_score']:g}"
            if self.result
            else "no results file"
        )
        return (
            f"{self.name}: {head}, {score}, parent peak {self.peak_mb:.0f} MB\n{self.out[-1500:]}"
        )


def _children_of() -> dict[int, list[int]]:
    table: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table.setdefault(ppid, []).append(int(entry))
    return table


def _descendants(pid: int) -> list[int]:
    table, out, stack = _children_of(), [], [pid]
    while stack:
        for child in table.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """The `grade` process we started and everything it started (its sandboxed children run in
    sessions of their own), each by its id."""
    for pid in [*_descendants(proc.pid), proc.pid]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def _peak_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def grade_cli(
    name: str, path: Path, out_dir: Path, *, limit: float = LIMIT, extra: tuple[str, ...] = ()
) -> Graded:
    out_json = out_dir / f"{name}.json"
    log = out_dir / f"{name}.log"
    out_json.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "grader",
        "ex2",
        str(path),
        "--json",
        str(out_json),
        "--timeout",
        str(TIMEOUT),
        *extra,
    ]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("GRADER_ROOT", None)
    env.pop("GITHUB_ACTIONS", None)
    started = time.monotonic()
    peak, killed = 0, ""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                peak = max(peak, _peak_kb(proc.pid))
                if proc.poll() is not None:
                    break
                if time.monotonic() - started > limit:
                    killed = f"still running after {limit:g} s"
                elif peak > MEMORY_CAP_MB * 1024:
                    killed = f"its own memory passed {MEMORY_CAP_MB} MB"
                if killed:
                    _kill_tree(proc)
                    break
                time.sleep(POLL)
        finally:
            if proc.poll() is None:
                _kill_tree(proc)
    seconds = time.monotonic() - started
    text = log.read_bytes().decode("utf-8", "replace")
    result = None
    if out_json.is_file():
        try:
            result = json.loads(out_json.read_text(encoding="utf-8"))
        except ValueError:
            result = None
    return Graded(
        name, None if killed else proc.returncode, result, text, seconds, peak / 1024, killed
    )


_GRADED: dict[str, Graded] = {}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("forgery")


@pytest.fixture(scope="module")
def graded(out_dir: Path):
    """Grade a forgery file once (memoised for the module)."""

    def run(name: str, *, limit: float = LIMIT) -> Graded:
        if name not in _GRADED:
            _GRADED[name] = grade_cli(name, FORGERY / f"{name}.py", out_dir, limit=limit)
        return _GRADED[name]

    return run


@pytest.fixture(scope="module")
def control(out_dir: Path) -> Graded:
    """The reference solution, graded the same way: what a correct solution gets in this grader."""
    g = grade_cli("control-reference-solution", ROOT / "reference" / "ex2" / "solution.py", out_dir)
    assert g.code == 0 and g.result is not None, g.summary()
    return g


# -- what a result must say ---------------------------------------------------------------------


def failed(g: Graded) -> list[dict[str, Any]]:
    return [t for t in g.tests if t["status"] != "passed"]


def passed(g: Graded) -> list[dict[str, Any]]:
    return [t for t in g.tests if t["status"] == "passed"]


def show(tests: list[dict[str, Any]]) -> list[tuple[str, float, str]]:
    return [(t["name"], t["score"], t["output"][:160]) for t in tests]


def assert_graded(g: Graded) -> None:
    """The grade ran to its end: not killed, exit 0 (graded, whatever the score), a results file."""
    assert not g.killed, g.summary()
    assert g.code == 0, g.summary()
    assert g.result is not None, g.summary()
    assert g.tests, g.summary()


def assert_zero(g: Graded) -> None:
    assert_graded(g)
    assert passed(g) == [], (
        f"{g.name} earned points it did not compute: {show(passed(g))}\n{g.summary()}"
    )
    assert g.result is not None and g.result["score"] == 0, g.summary()


def cheat_starts(name: str) -> int:
    """The line of a forgery file where its cheat begins (the banner after the solution or stub)."""
    lines = (FORGERY / f"{name}.py").read_text(encoding="utf-8").splitlines()
    for i in range(1, len(lines)):
        if lines[i - 1].startswith("# =====") and lines[i].startswith("# The "):
            return i + 1
    raise AssertionError(f"{name}.py has no banner before its cheat")


def blames_the_cheat(g: Graded, test: dict[str, Any]) -> bool:
    """Whether the reason names a line of the cheat (a grader that reads the source may fail tests
    for the cheat's own code: that is the cheat caught, not collateral damage)."""
    start = cheat_starts(g.name)
    return any(
        int(n) >= start for n in re.findall(rf"{re.escape(g.name)}\.py, line (\d+)", test["output"])
    )


def assert_costs_exactly(g: Graded, control: Graded, lost: set[str]) -> None:
    """The tests named in `lost` fail; every other test the reference passes here passes too, unless
    the grader fails it for the cheat's own code."""
    assert_graded(g)
    still = {t["name"] for t in failed(g) if t["name"] in lost}
    assert still == lost, (
        f"{g.name}: these must fail but passed: {show([t for t in g.tests if t['name'] in lost - still])}"
    )
    good = {t["name"] for t in passed(control)}
    collateral = [
        t
        for t in failed(g)
        if t["name"] not in lost and t["name"] in good and not blames_the_cheat(g, t)
    ]
    assert collateral == [], f"{g.name}: only {sorted(lost)} may fail: {show(collateral)}"


def names(tests: list[dict[str, Any]]) -> set[str]:
    return {t["name"] for t in tests}


def assert_rest_ran(g: Graded) -> None:
    """No test was left unrun for lack of time: the hang cost its own tests only."""
    not_run = [t for t in g.tests if "not run" in t["output"] or "ran out of time" in t["output"]]
    assert not_run == [], show(not_run)


# -- meta ---------------------------------------------------------------------------------------


def test_every_forgery_is_graded_and_says_what_it_must_get():
    files = {p.stem for p in FORGERY.glob("*.py")}
    assert files == set(ATTACKS)
    for path in FORGERY.glob("*.py"):
        doc = path.read_text(encoding="utf-8").split('"""')[1]
        assert (
            doc.startswith("Forgery: ")
            and "Attack: " in doc
            and "Outcome a correct grader must give" in doc
        ), path.name


# -- 1-3. values that were not computed ---------------------------------------------------------


@pytest.mark.slow
def test_replaying_the_public_golden_values_scores_zero(graded):
    """The public golden values ship with the exercise: replayed, they must be worth nothing in the
    instructor's grade (which runs on inputs the student cannot know)."""
    assert_zero(graded("replay_public_golden"))


@pytest.mark.slow
def test_tensors_without_data_score_zero(graded):
    """Sparse and meta tensors of the right shape and dtype carry no values: not a right value."""
    assert_zero(graded("dataless_tensors"))


@pytest.mark.slow
def test_encoder_patched_to_drop_tensor_data_scores_zero(graded):
    assert_zero(graded("patch_encoder_no_data"))


# -- 4, 10b, 10e. clocks that are the parent's ----------------------------------------------------


@pytest.mark.slow
def test_forged_start_messages_do_not_rearm_the_test_time_limit(graded):
    """relu never returns and keeps sending `start` for its test: it must time out after --timeout,
    the rest must still run, and the grade must end in about the time of a few timeouts."""
    g = graded("rearm_timeout")
    assert not g.killed, g.summary()
    assert g.seconds < 100, g.summary()
    assert_zero(g)
    assert_rest_ran(g)


@pytest.mark.slow
def test_forged_start_messages_do_not_let_a_slow_function_pass(graded, control):
    """A correct relu that takes three times the test limit, re-arming the clock: relu's tests fail
    (for timing out, or for breaking the protocol: either way the parent's own doing)."""
    g = graded("rearm_slow_but_correct")
    assert not g.killed, g.summary()
    assert_costs_exactly(g, control, names(g.tagged("relu")))
    assert_rest_ran(g)


@pytest.mark.slow
def test_forged_cell_messages_do_not_rearm_the_load_time_limit(graded):
    """A submission that loads forever, sending `cell` messages: the load times out (30 s for ex2)."""
    g = graded("rearm_load_timeout", limit=120)
    assert not g.killed, g.summary()
    assert g.seconds < 100, g.summary()
    assert_zero(g)
    assert g.result is not None and g.result["extra_data"]["error"], (
        "the load that never ended is not reported"
    )


# -- 5, 10a, 10g. verdicts that rest on the child's word ------------------------------------------


@pytest.mark.slow
def test_hard_coded_cpu_is_not_excused_by_an_error_that_says_meta(graded, control):
    g = graded("meta_text_excuse")
    assert_costs_exactly(g, control, {"test_relu_dtype_device_input", "test_one_hot_devices"})


@pytest.mark.slow
def test_forbidden_call_counts_even_when_the_child_does_not_report_it(graded, control):
    g = graded("forbidden_call_unreported")
    assert_costs_exactly(g, control, names(g.tagged("relu")))


@pytest.mark.slow
def test_second_value_for_a_check_does_not_hide_an_inplace_bug(graded, control):
    g = graded("duplicate_check_hides_inplace")
    assert_costs_exactly(g, control, {"test_relu_dtype_device_input"})


@pytest.mark.slow
def test_rule_and_tolerances_come_from_the_golden_record(graded):
    assert_zero(graded("forged_rule_fields"))


@pytest.mark.slow
def test_known_answer_written_into_the_model_is_not_training(graded):
    """θ* = [3, 2] is in the hidden test's docstring: writing it into the model trains nothing."""
    g = graded("theta_star_hardcoded")
    assert_zero(g)


# -- 6-8, 10d. taking the parent down -------------------------------------------------------------


@pytest.mark.slow
def test_value_that_makes_a_property_function_raise_costs_only_that_test(graded):
    """float8 state_dicts make the parent's property functions raise: the test fails, the grade goes on."""
    g = graded("property_raises")
    assert_graded(g)
    train = g.tagged("train")
    assert train and all(t["status"] != "passed" for t in train), show(train)
    assert {"test_train_recovers_lecture_theta", "test_train_mlp_separates_circles"} <= names(train)
    earned = [t for t in passed(g) if t["tags"] != ["MLP"]]
    assert earned == [], show(earned)  # only MLP's structure is honest work here


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@pytest.mark.slow
def test_crafted_exceptions_neither_crash_nor_fool_the_report(graded):
    g = graded("crafted_exception")
    assert_zero(g)
    assert g.result is not None
    shown = [t["output"] for t in g.tests] + [g.result["output"], g.result["extra_data"]["error"]]
    shown += [
        f"{e.get('label', '')} {e.get('error', '')} {e.get('where', '')}"
        for e in g.result["extra_data"]["load_errors"]
    ]
    dirty = [text[:120] for text in shown if _CONTROL.search(text)]
    assert dirty == [], f"escape or control characters reach the report: {dirty}"
    long = [text[:80] for text in shown if len(text) > 2000]
    assert long == [], f"texts over 2000 characters reach the report: {long}"
    for planted in ("\x1b[2J", "\x1b]0;", "\x07"):
        assert planted not in g.out, f"{planted!r} from the submission reaches the terminal"


@pytest.mark.slow
def test_checks_for_checks_that_do_not_exist_do_not_grow_the_parent(graded):
    g = graded("nonexistent_checks")
    assert not g.killed, g.summary()
    assert g.peak_mb < PARENT_MB, (
        f"the parent's peak memory reached {g.peak_mb:.0f} MB for 120 MB sent\n{g.summary()}"
    )
    assert_zero(g)


@pytest.mark.slow
def test_huge_forged_test_ids_do_not_grow_the_parent(graded):
    g = graded("huge_test_ids")
    assert not g.killed, g.summary()
    assert g.peak_mb < PARENT_MB, (
        f"the parent's peak memory reached {g.peak_mb:.0f} MB\n{g.summary()}"
    )
    assert_zero(g)


# -- 9. feedback that gives the answer away -----------------------------------------------------

LEAKED = [
    "grad_f",
    "accumulated_grad",
    "numerical_grad",
    "count_parameters",
    "samples_needed",
    "softmax",
    "mse_loss",
    "cross_entropy",
    "kl_divergence",
    "hinge_loss",
    "train",
    "accuracy",
]
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_WHERE = re.compile(r"\([^()]*\.py, line \d+\)")
_GOT = re.compile(r"\bgot ([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)")


def _numbers(node: Any) -> list[float]:
    """Every number in a golden value (the wire format: tensors as base64 bytes)."""
    import torch

    if isinstance(node, list):
        return [x for item in node for x in _numbers(item)]
    if not isinstance(node, dict):
        return []
    kind = node.get("k")
    if kind in ("int", "float"):
        try:
            return [float(node["v"])]
        except (TypeError, ValueError, OverflowError):
            return []
    if kind == "tensor" and node.get("data"):
        dtype = getattr(torch, str(node.get("dtype")), None)
        if not isinstance(dtype, torch.dtype) or dtype == torch.bool:
            return []
        raw = bytearray(base64.b64decode(node["data"]))
        return torch.frombuffer(raw, dtype=dtype).to(torch.float64).tolist() if raw else []
    if kind in ("tuple", "list"):
        return _numbers(node.get("v", []))
    if kind == "dict":
        return _numbers(list(node.get("v", {}).values()))
    return []


def hidden_golden() -> dict[str, tuple[list[float], set[str]]]:
    """Test function -> (every expected number of its hidden checks, its check labels), from every
    hidden golden record cached beside the reference (the seed variants included)."""
    found: dict[str, tuple[list[float], set[str]]] = {}
    for path in sorted((ROOT / "reference" / "ex2" / ".golden-cache").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        for key, test in data.get("tests", {}).items():
            if not key.startswith("hidden/"):
                continue
            function = key.split("::")[-1].split("[")[0]
            values, labels = found.setdefault(function, ([], set()))
            for check in test.get("checks", []):
                values += [x for x in _numbers(check.get("v")) if math.isfinite(x) and x != 0]
                if check.get("name"):
                    labels.add(str(check["name"]))
    return found


def unlabelled(text: str, labels: set[str]) -> str:
    """A reason without the test's own words: its check labels and where the error was raised."""
    text = _WHERE.sub(" ", text)
    for label in sorted(labels, key=len, reverse=True):
        text = text.replace(label, " ")
    return text


def reveals(text: str, expected: list[float], labels: set[str]) -> list[str]:
    """The numbers in `text` that are an expected value (to the 3 digits a message shows) or its size."""
    out = []
    text = unlabelled(text, labels)
    own = {m.group(1) for m in _GOT.finditer(text)}
    for token in _NUMBER.findall(text):
        value = float(token)
        if value == 0 or (re.fullmatch(r"[-+]?\d+", token) and abs(value) < 10):
            continue  # indices, counts, small shapes
        # The student's own value ("got -0.336543") may lie near the expected one when the answer
        # is nearly right (one small training step from the same start); it gives the expected
        # value away only if it is that value to every digit shown.
        close = 5e-6 if token in own else 5e-3
        if any(abs(abs(value) - abs(e)) <= close * abs(e) for e in expected):
            out.append(token)
    return out


@pytest.mark.slow
def test_hidden_feedback_gives_no_expected_value_away(graded):
    g = graded("hidden_feedback_leak")
    assert_zero(g)
    golden = hidden_golden()
    assert golden, (
        f"no hidden golden values cached under {ROOT / 'reference' / 'ex2' / '.golden-cache'}"
    )
    hidden = [t for t in g.tests if t["hidden"] and set(t["tags"]) & set(LEAKED)]
    assert len(hidden) >= 15
    words, leaks = [], []
    for t in hidden:
        expected, labels = golden.get(t["name"], ([], set()))
        if re.search(r"expected|off by|\bdiff", unlabelled(t["output"], labels), re.IGNORECASE):
            words.append((t["name"], t["output"]))
        if found := reveals(t["output"], expected, labels):
            leaks.append((t["name"], found, t["output"]))
    assert words == [], f"hidden feedback that speaks of the expected value: {words}"
    assert leaks == [], f"hidden feedback that holds expected values: {leaks}"


# -- feedback harvested across two submissions --------------------------------------------------

HARVEST = {
    "test_cross_entropy": "cross_entropy",
    "test_kl_divergence": "kl_divergence",
    "test_hinge_loss": "hinge_loss",
    "test_accuracy": "accuracy",
}  # one-check public tests of scalar-valued functions
_REPLAY = {
    "cross_entropy": "def cross_entropy(logits, targets):\n    return torch.tensor({v}, dtype=logits.dtype, device=logits.device)\n",
    "kl_divergence": "def kl_divergence(p, q):\n    return torch.tensor({v}, dtype=p.dtype, device=p.device)\n",
    "hinge_loss": "def hinge_loss(scores, targets, margin=1.0):\n    return torch.tensor({v}, dtype=scores.dtype, device=scores.device)\n",
    "accuracy": "def accuracy(model, X, y):\n    return {v}\n",
}


def _student_flag() -> tuple[str, ...]:
    """`--student NAME` where this grader has it (it picks the student's secret input variant)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "grader", "ex2", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return ("--student", "hidden_feedback_leak") if "--student" in help_text else ()


@pytest.mark.slow
def test_values_harvested_from_feedback_cannot_be_replayed_next_time(graded, out_dir):
    """A student submits constants (hidden_feedback_leak.py), reads "expected 2.64596, got 0" in the
    feedback of the instructor's grade, and submits again, as the same student, a file that returns
    the values read: the second submission must not earn those points (whether the feedback stops
    giving the values away or the next grade draws other inputs)."""
    first = graded("hidden_feedback_leak")
    assert_graded(first)
    harvested = {}
    for name, function in HARVEST.items():
        if m := re.search(
            r"expected ([-+]?[0-9.]+(?:e[-+]?\d+)?), got 0\b", first.named(name)["output"]
        ):
            harvested[function] = m.group(1)
    stub = (ROOT / "exercises" / "ex2" / "ex2.py").read_text(encoding="utf-8")
    replay = out_dir / "replay_harvested_feedback.py"
    replay.write_text(
        stub
        + "\n\n# values read off the previous grade's feedback\n\n"
        + "\n\n".join(_REPLAY[f].format(v=v) for f, v in harvested.items()),
        encoding="utf-8",
    )
    second = grade_cli("replay_harvested_feedback", replay, out_dir, extra=_student_flag())
    assert_graded(second)
    earned = [t for t in passed(second) if t["name"] in HARVEST]
    assert earned == [], (
        f"values read off the feedback ({harvested}) earn {sum(t['score'] for t in earned):g} points "
        f"when submitted again: {show(earned)}"
    )
