"""The verdicts: golden values against what the child sent and what the parent saw.

A test passes only if every check the reference recorded for it arrived and was judged right, on
every device it ran on, with no forbidden call. Points belong to a test function; its
parametrized instances (one per device) must all pass.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.compare import compare
from grader.config import ExerciseConfig
from grader.golden import GoldenSet, GoldenTest
from grader.protocol import PASSED, Outcome, Verdict, clean_text
from grader.result import PartResult, Status, TestResult, Visibility
from grader.runner import Observation, TestRun
from grader.wire import WireError, decode

Property = Callable[..., tuple[bool, str]]  # rule(value, *, seed) -> (passed, message)
ACCELERATORS = ("cuda", "mps", "xpu")
_PARAMS = re.compile(r"^(?P<base>[^\[]+)(?:\[(?P<params>.*)\])?$")
MAX_REASON = 240


_loaded: dict[tuple[tuple[str, int], ...], dict[str, Property]] = {}


def load_properties(paths: list[Path]) -> dict[str, Property]:
    """The exercise's trusted property functions (run in the parent, never in the child), loaded
    once per process while their files stay the same (a batch judges every student with them)."""
    key = tuple((str(path.resolve()), path.stat().st_mtime_ns) for path in paths)
    if key not in _loaded:
        _loaded[key] = _load_properties(paths)
    return _loaded[key]


def _load_properties(paths: list[Path]) -> dict[str, Property]:
    found: dict[str, Property] = {}
    for i, path in enumerate(paths):
        spec = importlib.util.spec_from_file_location(f"_grader_properties_{i}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update(
            {
                name: fn
                for name, fn in vars(module).items()
                if callable(fn) and not name.startswith("_")
            }
        )
    return found


def instances(key: str, devices: list[str]) -> list[tuple[str, str | None]]:
    """(node id, expected device) for each run of golden test `key` on `devices`."""
    m = _PARAMS.match(key)
    if not m or not m.group("params"):
        return [(key, None)]
    params = m.group("params").split("-")
    if "meta" in params:
        return [(key, "meta")] if "meta" in devices else []
    if "cpu" in params:
        out: list[tuple[str, str | None]] = []
        for device in devices:
            if device == "meta":
                continue
            swapped = "-".join(device if p == "cpu" else p for p in params)
            out.append((f"{m.group('base')}[{swapped}]", device))
        return out
    return [(key, None)]


def _meta_twin(key: str) -> str:
    m = _PARAMS.match(key)
    if not m or not m.group("params"):
        return ""
    return f"{m.group('base')}[{'-'.join('meta' if p == 'cpu' else p for p in m.group('params').split('-'))}]"


def _on_meta(twin: GoldenTest, i: int) -> bool:
    """Whether check `i` of the recorded meta run held a tensor on the meta device."""
    if i >= len(twin.checks):
        return True
    return '"meta"' in json.dumps(twin.checks[i].get("v", {}))


def function_of(key: str) -> str:
    return key.split("[", 1)[0]


@dataclass(frozen=True)
class Judge:
    config: ExerciseConfig
    properties: dict[str, Property]
    devices: list[str]
    memory_mb: int = 0
    output_kb: int = 1024
    seed: int = 0  # the run's input seed: property functions derive what they expect from it

    @functools.cached_property
    def forbidden(self) -> dict[str, list[str]]:
        return self.config.forbidden_calls()

    def grade(
        self,
        golden: GoldenSet,
        obs: Observation,
        *,
        load_failure: str = "",
        static: dict[str, list[str]] | None = None,
        loops: dict[str, list[str]] | None = None,
    ) -> list[TestResult]:
        """Every test function of `golden`, judged. `static` maps a graded name to the forbidden
        uses the parent found in its source (those decide; what the child noted is a hint);
        `loops`, a graded name to the Python loops the parent read in its own body (they decide
        a `vectorised` test)."""
        functions: dict[str, list[GoldenTest]] = {}
        for key, test in golden.tests.items():
            functions.setdefault(function_of(key), []).append(test)
        visibility = Visibility.visible if golden.group == "public" else Visibility.hidden
        return [
            self._grade_function(
                function, tests, obs, visibility, load_failure, golden, static or {}, loops or {}
            )
            for function, tests in functions.items()
        ]

    def _grade_function(
        self,
        function: str,
        tests: list[GoldenTest],
        obs: Observation,
        visibility: Visibility,
        load_failure: str,
        golden: GoldenSet,
        static: dict[str, list[str]],
        loops: dict[str, list[str]],
    ) -> TestResult:
        first = tests[0]
        used = sorted({use for tag in first.tags for use in static.get(tag, [])})
        failure, run = self._first_failure(tests, obs, visibility, load_failure, golden)
        flags: list[str] = []
        if not used:  # what the child noted of forbidden calls: a hint for a human
            flags += self._hints(tests, obs)
        if failure is not None and failure.flag:
            flags.append(failure.flag)  # what happened at run time stays on record for a human
        if used and not load_failure:  # but the parent's reading of the source decides
            failure = Verdict.fail(
                f"uses {used[0]}" + (f" (and {len(used) - 1} more)" if len(used) > 1 else "")
            )
            flags.append("forbidden call")
        looped = loops.get(first.tags[0], []) if "vectorised" in first.how else []
        if looped and not load_failure and (failure is None or failure.flag.startswith("how")):
            failure = Verdict.fail(
                f"loops in Python: {looped[0]}, where one tensor operation on the whole batch does"
            )
            flags.append("how: not vectorised")
        passed = failure is None
        output = run.output if run is not None and failure is not None else ""
        if visibility is Visibility.hidden:  # its output may echo its inputs: an excerpt only
            output = output[:200]
        return TestResult(
            name=function.split("::")[-1],
            description=first.doc,
            part=self.config.part_of(first.tags[0]) or "Other",
            tags=first.tags,
            max_score=first.points,
            score=first.points if passed else 0.0,
            status=Status.passed if passed else Status.failed,
            reason=_one_line(failure.text if failure is not None else ""),
            output=output,
            visibility=visibility,
            where=run.where if run is not None and failure is not None else "",
            flags=sorted(set(flags)),
        )

    def _first_failure(
        self,
        tests: list[GoldenTest],
        obs: Observation,
        visibility: Visibility,
        load_failure: str,
        golden: GoldenSet,
    ) -> tuple[Verdict | None, TestRun | None]:
        """The first failing run of a test function's instances (with that run), in order."""
        for test in tests:
            for node_id, device in instances(test.key, self.devices):
                run = obs.tests.get(node_id)
                twin = golden.tests.get(_meta_twin(test.key)) if device in ACCELERATORS else None
                verdict = self._instance(test, run, device, visibility, load_failure, twin)
                if verdict.outcome is Outcome.failed:
                    on = device and len(self.devices) > 1 and device != "cpu"
                    suffix = f" (on {device})" if on else ""
                    return Verdict.fail(verdict.text + suffix, flag=verdict.flag), run
        return None, None

    def _hints(self, tests: list[GoldenTest], obs: Observation) -> list[str]:
        """The forbidden calls the child noted in the runs of these tests."""
        flags = []
        for test in tests:
            for node_id, _device in instances(test.key, self.devices):
                run = obs.tests.get(node_id)
                hinted = sorted(
                    {name for tag in test.tags for name in self.forbidden.get(tag, [])}
                    & set(run.forbidden if run is not None else ())
                )
                if hinted:
                    flags.append(f"hint: the child noted a call of {', '.join(hinted)}")
        return flags

    def _instance(
        self,
        test: GoldenTest,
        run: TestRun | None,
        device: str | None,
        visibility: Visibility,
        load_failure: str,
        twin: GoldenTest | None,
    ) -> Verdict:
        """How this run of the test went.

        On an accelerator the golden values come from the CPU run; a value is expected on the
        accelerator when it followed the device in the recorded meta run (`twin`), or, without
        one, whenever the reference computed it on the CPU. On `meta` the golden values are the
        reference's own meta recording: every check it made there must arrive, whatever the child
        says went wrong (its error text is the student's to write).
        """
        function = f"`{test.tags[0]}`"
        if run is None or load_failure or run.failure or run.violations:
            return _not_run(run, function, load_failure)
        reveal = (
            visibility is Visibility.visible and not self.seed
        )  # a variant's values are secret, public tests too
        for i, rule in enumerate(test.checks):
            message = run.checks.get(i)
            label = str(rule.get("name") or (f"value {i + 1}" if len(test.checks) > 1 else ""))
            if message is None:
                return self._no_value(run, label, function)
            follows = device in ACCELERATORS and (twin is None or _on_meta(twin, i))
            text = self._judge_check(test, i, message, device if follows else None, reveal)
            if text is not None:
                return Verdict.fail(f"{label}: {text}" if label else text)
        if not run.ended:
            return Verdict.fail("did not finish")
        return self._how(test, run)

    def _judge_check(
        self, test: GoldenTest, i: int, message: dict[str, Any], device: str | None, reveal: bool
    ) -> str | None:
        """What is wrong with check `i`'s value, failing closed; None when it is right."""
        tol = self.config.tolerance
        try:
            text = self._check(test, i, message, device, reveal=reveal, tol=(tol.rtol, tol.atol))
        except Exception as exc:  # noqa: BLE001 - whatever the child sent, judging fails closed
            text = f"sent a value that could not be judged ({type(exc).__name__})"
        formula = test.derived.get(str(test.checks[i].get("name") or ""))
        if text is not None and formula:  # a value the test made from the submission's functions
            text = f"{text}; the test computes it as {formula}, from your own functions"
        return text

    def _no_value(self, run: TestRun, label: str, function: str) -> Verdict:
        """A check the reference made that never arrived: the error that stopped it, if any."""
        if not run.error:
            return Verdict.fail(f"produced no value for {label or 'the check'}")
        reason = _explain_error(self._memory(run.error))
        if reason.startswith("printed more than"):
            return Verdict.fail(
                f"{reason} in {function}",
                flag=f"output truncated at {self.output_kb / 1024:g} MB",
            )
        return Verdict.fail(reason)

    @staticmethod
    def _how(test: GoldenTest, run: TestRun) -> Verdict:
        """How the values were computed, from the child's counts against the reference's: they
        can only take points away (a forged count escapes this check, never earns a point)."""
        mine, reference = run.ops, test.ops
        if "autograd" in test.how and reference.get("autograd", 0) > 0 and not mine.get("autograd"):
            return Verdict.fail(
                "computes the gradient by hand: autograd never ran (the task says with "
                "autograd: backward() or torch.autograd.grad)",
                flag="how: not with autograd",
            )
        if "vectorised" in test.how and 0 < reference.get("matmul", 0) < mine.get("matmul", 0):
            return Verdict.fail(
                f"loops over the rows in Python: {mine['matmul']} matrix products where "
                f"{reference['matmul']} {'does' if reference['matmul'] == 1 else 'do'}",
                flag="how: not vectorised",
            )
        return PASSED

    def _memory(self, error: str) -> str:
        """Words a student understands for what the limits did to their code."""
        if (
            "MemoryError" in error
            or "can't allocate memory" in error
            or "out of memory" in error.lower()
        ):
            return f"used more memory than allowed ({self.memory_mb} MB): {error.split(':')[0]}"
        if (
            "[Errno 27] File too large" in error
        ):  # the file-size limit: pytest captures output in a file
            return f"printed more than {self.output_kb / 1024:g} MB of output"
        return error

    def _check(
        self,
        test: GoldenTest,
        i: int,
        message: dict[str, Any],
        device: str | None,
        *,
        reveal: bool,
        tol: tuple[float, float],
    ) -> str | None:
        rule = test.checks[i]
        kind = rule.get("rule")
        if message.get("rule") != kind:
            return "sent a value of another kind than the test checks"
        try:
            got = decode(message.get("v"))
        except (WireError, ValueError, TypeError, OverflowError) as exc:
            return f"sent an unreadable value ({exc})"
        if kind == "equal":
            return _check_equal(test, i, got, device, reveal=reveal, tol=tol)
        if kind == "raises":
            return _check_raises(str(rule.get("expected", "an exception")), got)
        if kind == "property":
            return self._check_property(str(rule.get("property")), got)
        return f"grader misconfigured: unknown rule {kind!r}"

    def _check_property(self, name: str, got: Any) -> str | None:
        fn = self.properties.get(name)
        if fn is None:
            return f"grader misconfigured: no property {name!r}"
        try:
            ok, text = fn(got, seed=self.seed)
        except Exception as exc:  # noqa: BLE001 - a property meeting a forged value fails that check
            return f"sent a value the property check could not use ({type(exc).__name__})"
        return None if ok is True else str(text)


def _check_equal(
    test: GoldenTest,
    i: int,
    got: Any,
    device: str | None,
    *,
    reveal: bool,
    tol: tuple[float, float],
) -> str | None:
    rule = test.checks[i]
    rtol = tol[0] if rule.get("rtol") is None else rule["rtol"]
    atol = tol[1] if rule.get("atol") is None else rule["atol"]
    text = compare(
        test.expected(i), got, rtol=rtol, atol=atol, expected_device=device, reveal=reveal
    )
    if text is None:
        return None
    for says, value in test.wrong(i):  # a known-wrong value, within the check's tolerance
        if compare(value, got, rtol=rtol, atol=atol, expected_device=device) is None:
            return f"looks like {says}" + (f" ({text})" if reveal else "")
    return text


def _check_raises(want: str, got: Any) -> str | None:
    if isinstance(got, dict) and got.get("matches") is True and isinstance(got.get("raised"), str):
        return None
    raised = got.get("raised") if isinstance(got, dict) else None
    if not raised or not isinstance(raised, str):
        return f"expected {want} to be raised, but nothing was raised"
    message_text = got.get("message", "") if isinstance(got, dict) else ""
    return f"expected {want} to be raised, got {raised[:80]}" + (
        f": {str(message_text)[:200]}" if message_text else ""
    )


def _not_run(run: TestRun | None, function: str, load_failure: str) -> Verdict:
    """The verdict on a test whose run went wrong before any value counted."""
    if load_failure:
        return Verdict.fail(load_failure)
    if run is None:
        return Verdict.fail("did not run")
    if run.failure:
        during = "during" if run.failure.startswith(("exited", "crashed", "was killed")) else "in"
        return Verdict.fail(f"{run.failure} {during} {function}", flag=run.failure.split(" (")[0])
    return Verdict.fail(run.violations[0], flag="broke the grading protocol")


_STATE_DICT = re.compile(r"Error\(s\) in loading state_dict for (?P<cls>\w+):")
_KEYS = r'((?:"[^"]*"(?:, )?)+)'


def _explain_error(error: str) -> str:
    """An error in words that say what to fix: `load_state_dict`'s missing and unexpected keys
    become the names the model has and the names the task gives its parameters."""
    m = _STATE_DICT.search(error)
    if not m:
        return error
    missing = re.search(r"Missing key\(s\) in state_dict: " + _KEYS, error)
    unexpected = re.search(r"Unexpected key\(s\) in state_dict: " + _KEYS, error)
    if not missing and not unexpected:
        return error  # a size mismatch: torch's own words say it
    parts = []
    if unexpected:
        parts.append(f"the task's {unexpected.group(1).rstrip(', ')} are not parameters of it")
    if missing:
        parts.append(f"it has {missing.group(1).rstrip(', ')}, which the task does not name")
    return (
        f"loading the task's weights into {m.group('cls')} failed: {'; '.join(parts)} "
        "(name the layers as the task says)"
    )


def dependency_hints(sets: list[GoldenSet], results: list[TestResult]) -> None:
    """A failed test that calls another graded function says so when that function fails its own
    tests: "may come from `minibatches`, which fails its own tests". `results` are the judged
    tests of `sets`, in `Judge.grade`'s order."""
    uses: list[tuple[str, ...]] = []
    for golden in sets:
        seen: dict[str, tuple[str, ...]] = {}
        for key, test in golden.tests.items():
            seen.setdefault(function_of(key), test.uses)
        uses += seen.values()
    if len(uses) != len(results):
        return
    failing = {r.tags[0] for r in results if r.status is Status.failed and r.tags}
    for result, names in zip(results, uses, strict=True):
        if result.status is not Status.failed:
            continue
        culprits = [n for n in names if n in failing and n not in result.tags[:1]]
        if culprits:
            named = ", ".join(f"`{n}`" for n in culprits)
            which = (
                "which fails its own tests" if len(culprits) == 1 else "which fail their own tests"
            )
            tail = f"; may come from {named}, {which}"
            result.reason = _one_line(result.reason)[: MAX_REASON - len(tail)] + tail


def _one_line(text: str) -> str:
    """A reason for the reports: one line, safe to print (a value's text may be the child's)."""
    text = " ".join(clean_text(text, MAX_REASON * 4).split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def parts(
    config: ExerciseConfig, tests: list[TestResult], *, not_graded: dict[str, float]
) -> list[PartResult]:
    out = []
    for part in config.parts:
        mine = [t for t in tests if t.part == part.name]
        out.append(
            PartResult(
                name=part.name,
                score=sum(t.score for t in mine),
                max_score=part.points,
                not_graded=not_graded.get(part.name, 0.0),
            )
        )
    return out
