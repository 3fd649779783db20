"""Grade mutants through warm workers and tell, for each, which tests lost points.

Each mutant is graded like a student's submission in the instructor's grade, on the hidden tests
only and with one fixed seed that is not the public one (so it sees grading inputs, and the
golden values of that seed are recorded once and cached). A mutant is caught when a test of its
own function lost points; a test of another function that lost points is a cascade.

By default a mutant runs only the tests that can reach its function: those whose code names it
(`sub.NAME`), directly or through a graded function of the reference that calls it. A mutant
cannot change what any other test computes except through state left behind, which the child
resets before each test; `--all-tests` runs every test for every mutant to see such leaks.
"""

from __future__ import annotations

import ast
import contextlib
import os
import resource
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from grader import syntax
from grader.audit.mutants import Mutant
from grader.exercise import Exercise
from grader.grading import Options, grade, run_limits, secret_folders
from grader.markers import declared_uses
from grader.pool import WarmChild, WarmWorker
from grader.result import GradeResult
from grader.runner import Observation
from grader.sandbox import Sandbox

# the audit's inputs: a fixed seed, neither the public one (0) nor any student's variant
AUDIT_SEED = 0x5EED_A0D1


class HiddenOnly(Exercise):
    """The exercise with its hidden tests only: what the audit judges the hidden tests by."""

    @property
    def public_tests(self) -> list[Path]:
        return []


@dataclass(frozen=True)
class Lost:
    """A test that lost points under a mutant."""

    test: str
    tags: list[str]
    lost: float
    reason: str
    declared: bool = False  # the test declares it uses the mutant's function (`uses` marker)


@dataclass
class Outcome:
    mutant: Mutant
    own: list[Lost] = field(default_factory=list)  # tests of its own function that lost points
    cascades: list[Lost] = field(default_factory=list)  # tests of other functions
    error: str = ""  # the mutant could not be graded (a grader problem, not a catch)

    @property
    def caught(self) -> bool:
        return bool(self.own)


class AuditWorker(WarmWorker):
    """A warm worker that leaves out the tests a mutant cannot reach (`drop`, node ids) and keeps
    the last run's observation (the reference's: which tests the worker collected)."""

    drop: frozenset[str] = frozenset()
    last: Observation | None = None

    def run(self, job: dict[str, Any]) -> Observation:
        self.last = super().run(job)
        return self.last

    def fork(self, job: dict[str, Any]) -> WarmChild:
        if self.drop:
            job = dict(job, skip=sorted(set(job.get("skip", ())) | self.drop))
        return super().fork(job)


def _names_used(node: ast.AST, holder: str) -> set[str]:
    """`NAME` of every `holder.NAME` in `node`."""
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == holder
    }


def _reference_calls(source: str, graded: list[str]) -> dict[str, set[str]]:
    """Graded function of the reference -> the other graded functions its code names."""
    calls: dict[str, set[str]] = {}
    for node in syntax.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in graded:
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            calls[node.name] = (names & set(graded)) - {node.name}
    return calls


def _sub_names_through_helpers(name: str, functions: dict[str, ast.FunctionDef]) -> set[str]:
    """`NAME` of every `sub.NAME` in the test `name` and the helpers of its file it calls."""
    seen, stack, used = {name}, [functions[name]], set()
    while stack:
        current = stack.pop()
        used |= _names_used(current, "sub")
        for n in ast.walk(current):
            if isinstance(n, ast.Name) and n.id in functions and n.id not in seen:
                seen.add(n.id)
                stack.append(functions[n.id])
    return used


def _graded_closure(used: set[str], graded: list[str], calls: dict[str, set[str]]) -> set[str]:
    """The graded functions among `used` and every graded function they call in turn."""
    closure, todo = set(), [u for u in used if u in graded]
    while todo:
        f = todo.pop()
        if f not in closure:
            closure.add(f)
            todo.extend(calls.get(f, ()))
    return closure


def reach(exercise: Exercise, graded: list[str]) -> dict[str, set[str]]:
    """Test function name -> every graded function a run of it can call: those its code (and the
    module-level helpers it calls) names as `sub.NAME`, and those the reference's versions of
    these call in turn."""
    calls = _reference_calls(exercise.solution_path.read_text(encoding="utf-8"), graded)
    found: dict[str, set[str]] = {}
    for path in exercise.hidden_tests:
        tree = syntax.parse(path.read_text(encoding="utf-8"))
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for name in functions:
            if name.startswith("test"):
                used = _sub_names_through_helpers(name, functions)
                found[name] = _graded_closure(used, graded, calls)
    return found


def _test_function(test: str) -> str:
    """`hidden/test_hidden.py::test_x[cpu]` -> `test_x`."""
    return test.split("::")[-1].split("[")[0]


class Auditor:
    """Warm workers, one a job, sandboxed once; grades the reference, then each mutant."""

    def __init__(
        self, exercise: Exercise, *, jobs: int, seed: int = AUDIT_SEED, all_tests: bool = False
    ) -> None:
        assert exercise.reference_dir is not None
        self.exercise = HiddenOnly(exercise.name, exercise.public_dir, exercise.reference_dir)
        self.jobs, self.seed, self.all_tests = max(1, jobs), seed, all_tests
        self.collected: list[str] = []  # node ids of every test instance, from the reference's run
        self.tags: dict[str, list[str]] = {}  # test function -> its spec tags, from the same run
        self._kept: dict[str, set[str]] = {}  # graded function -> the tests its mutants run
        self.scratch = Path(tempfile.mkdtemp(prefix="grade-audit-"))
        self.workers: list[AuditWorker] = []
        self.free: list[AuditWorker] = []
        self.lock = threading.Condition()
        self.closed = False

    @cached_property
    def uses(self) -> dict[str, set[str]]:
        return declared_uses(self.exercise.hidden_tests)

    @cached_property
    def reach(self) -> dict[str, set[str]]:
        return reach(self.exercise, [f for p in self.exercise.config.parts for f in p.functions])

    def runs(self, mutant: Mutant, test: str) -> bool:
        """Does test function `test` run for `mutant`? Those that can reach its function, and
        the own tests of the functions these declare they use (a failure's hint that a
        dependency fails its own tests must see those run)."""
        if self.all_tests or test not in self.reach:
            return True
        if mutant.function not in self._kept:
            reaching = {t for t, reached in self.reach.items() if mutant.function in reached}
            used = {f for t in reaching for f in self.uses.get(t, ())}
            reaching |= {t for t, tags in self.tags.items() if used & set(tags)}
            self._kept[mutant.function] = reaching
        return test in self._kept[mutant.function]

    def _options(self, worker: WarmWorker | None) -> Options:
        return Options(seed=self.seed, worker=worker, hide=[self.scratch])

    def start(self) -> None:
        options = self._options(None)
        any_path = self.scratch / "solution.py"
        sandbox = Sandbox(
            hide=secret_folders(self.exercise, any_path, options), namespaces=options.namespaces
        )
        limits = run_limits(self.exercise, options)
        for _ in range(self.jobs):
            worker = AuditWorker(sandbox, limits)
            with contextlib.suppress(Exception):  # one that cannot start says why when used
                worker.launch()
            self.workers.append(worker)
            self.free.append(worker)

    def cpu_seconds(self) -> float | None:
        """CPU time the audit used so far, the machine's load aside: this process's, and the
        workers' and their children's as their cgroups count it (None without cgroups)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        total = usage.ru_utime + usage.ru_stime
        for worker in self.workers:
            try:
                if worker.cgroup is not None:
                    stat = (worker.cgroup.path / "cpu.stat").read_text()
                    fields = dict(line.split() for line in stat.splitlines() if " " in line)
                    total += int(fields.get("usage_usec", 0)) / 1e6
                    continue
                pid = worker.worker_pid()
                if pid is None:
                    return None
                with open(f"/proc/{pid}/stat", encoding="ascii") as f:  # after the command's ")"
                    times = f.read().rsplit(")", 1)[1].split()[11:15]
                # utime, stime, and cutime, cstime: the children the worker forked and reaped
                total += sum(int(t) for t in times) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError):
                return None
        return total

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        for worker in self.workers:
            worker.close()
        for path in self.scratch.glob("*.py"):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.scratch.rmdir()

    def grade_source(self, name: str, source: str, mutant: Mutant | None = None) -> GradeResult:
        path = self.scratch / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        with self.lock:
            while not self.free and not self.closed:
                self.lock.wait()
            if self.closed:
                raise InterruptedError("the audit was stopped")
            worker = self.free.pop()
        worker.drop = frozenset(
            node
            for node in self.collected
            if mutant is not None and not self.runs(mutant, _test_function(node))
        )
        try:
            result = grade(self.exercise, path, self._options(worker))
            if mutant is None and worker.last is not None:
                self.collected = [str(entry["id"]) for entry in worker.last.collected]
            return result
        finally:
            path.unlink(missing_ok=True)
            with self.lock:
                self.free.append(worker)
                self.lock.notify()

    def baseline(self) -> GradeResult:
        """The reference's own grade (it records the seed's golden values the first time)."""
        result = self.grade_source(
            "reference", self.exercise.solution_path.read_text(encoding="utf-8")
        )
        self.tags = {_test_function(t.name): list(t.tags) for t in result.tests}
        return result

    def outcome(self, mutant: Mutant, result: GradeResult) -> Outcome:
        outcome = Outcome(mutant, error=result.error if result.error_kind else "")
        for test in result.tests:
            if test.score >= test.max_score or not self.runs(mutant, _test_function(test.name)):
                continue
            own = mutant.function in test.tags
            lost = Lost(
                test=test.name,
                tags=list(test.tags),
                lost=round(test.max_score - test.score, 6),
                reason=test.reason,
                declared=mutant.function in self.uses.get(_test_function(test.name), set()),
            )
            (outcome.own if own else outcome.cascades).append(lost)
        return outcome

    def run(self, mutants: list[Mutant], on_done: Callable[[Outcome], None]) -> list[Outcome]:
        def one(index: int, mutant: Mutant) -> Outcome:
            error = ""
            for _attempt in range(2):  # a grader hiccup (a worker lost, say) gets a second try
                try:
                    result = self.grade_source(f"m{index}", mutant.source, mutant)
                except InterruptedError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one mutant's trouble never stops the audit
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    outcome = self.outcome(mutant, result)
                    break
            else:
                outcome = Outcome(mutant, error=error)
            on_done(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="audit") as pool:
            futures = [pool.submit(one, i, m) for i, m in enumerate(mutants)]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                self.close()
                raise
