"""Golden values: recorded once from the reference solution in a trusted run, stored as JSON.

Public tests' golden values ship with the exercise (`exercises/<name>/golden.json`) so that a
student's copy grades without the reference; hidden tests' are cached beside the reference,
keyed by the exercise's version, and never leave it.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from grader._exceptions import GoldenError
from grader.exercise import Exercise
from grader.runner import ChildRunner, Observation, RunLimits, TestFile, test_sources
from grader.sandbox import Sandbox
from grader.submission import Cell
from grader.wire import decode

if TYPE_CHECKING:
    from grader.pool import Warm

RECORD_DEVICES = ["cpu", "meta"]
FORMAT = 2  # 2: the catalogue's mistakes beside the values (`wrong`), uses, how, ops, derived


@dataclass(frozen=True)
class GoldenTest:
    key: str
    points: float
    tags: list[str]
    doc: str
    checks: list[dict[str, Any]]
    uses: tuple[str, ...] = ()  # other graded names the test calls
    how: tuple[str, ...] = ()  # "vectorised", "autograd"
    ops: dict[str, int] = field(default_factory=dict)  # what the reference dispatched here
    derived: dict[str, str] = field(default_factory=dict)  # check name -> how the test derives it
    _decoded: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)
    _wrong: dict[tuple[int, int], list[tuple[str, Any]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @functools.cached_property
    def sizes(self) -> list[int]:
        """Each check's encoded size, worked out once (a batch plans every student's run with it)."""
        return [
            len(json.dumps({k: v for k, v in check.items() if k != "wrong"}, separators=(",", ":")))
            for check in self.checks
        ]

    def wrong(self, i: int) -> list[tuple[str, Any]]:
        """(what the mistake is, the value it gives) for each named mistake of the catalogue
        that gets check `i` wrong, decoded once."""
        wrong = list(self.checks[i].get("wrong", []))  # (a variant's grow as students fail)
        if (i, len(wrong)) not in self._wrong:
            self._wrong[i, len(wrong)] = [(str(w.get("says", "")), decode(w["v"])) for w in wrong]
        return self._wrong[i, len(wrong)]

    def expected(self, i: int) -> Any:
        """The golden value of check `i`, decoded once (a batch judges every student against it)."""
        if i not in self._decoded:
            self._decoded[i] = decode(self.checks[i]["v"])
        return self._decoded[i]


@dataclass(frozen=True)
class GoldenSet:
    group: str  # "public" or "hidden"
    version: str
    tests: dict[str, GoldenTest]
    # the functions whose named mistakes are recorded beside the values; None: every function's
    # (a variant recorded in a warm worker records them on demand, for functions students fail)
    mistakes_of: set[str] | None = None

    @property
    def files(self) -> list[str]:
        return sorted({key.split("::")[0] for key in self.tests})


def test_files(exercise: Exercise, group: str) -> list[TestFile]:
    paths = exercise.public_tests if group == "public" else exercise.hidden_tests
    return [TestFile(group, p) for p in paths]


def record(exercise: Exercise, group: str, *, seed: int = 0) -> dict[str, Any]:
    """Run `group`'s tests against the reference in a trusted child, their inputs drawn from
    `seed`; return the golden document."""
    return record_groups(exercise, [group], seed=seed)[group]


def record_groups(
    exercise: Exercise,
    groups: list[str],
    *,
    seed: int = 0,
    worker: Warm | None = None,
    mistakes: bool = True,
) -> dict[str, dict[str, Any]]:
    """The golden documents of `groups` at `seed`, from one trusted run of the reference (in a
    warm worker's fork when one is given: the reference is trusted, the worker pristine), with
    the catalogue's named mistakes' values unless `mistakes` is false."""
    source = exercise.solution_path.read_text(encoding="utf-8")
    named = mutants(exercise, source) if mistakes else []
    obs = _reference_run(exercise, groups, seed, named, worker)
    problems = [f"loading the reference: {e.get('error')}" for e in obs.load_errors]
    if obs.load_failure:
        problems.append(obs.load_failure)
    documents = {}
    for group in groups:
        entries = [e for e in obs.collected if e["id"].startswith(f"{group}/")]
        tests = _tests(entries, obs, problems)
        _add_mistakes(tests, obs, named, exercise)
        documents[group] = {
            "format": FORMAT,
            "exercise": exercise.name,
            "group": group,
            "seed": seed,
            "version": exercise.version(hidden=group == "hidden"),
            "torch": torch.__version__.split("+")[0],
            **({} if mistakes else {"mistakes_of": []}),
            "tests": tests,
        }
    if problems:
        raise GoldenError(
            f"recording {' and '.join(groups)} golden values of {exercise.name} failed:\n  "
            + "\n  ".join(problems[:20])
        )
    return documents


def _reference_run(
    exercise: Exercise,
    groups: list[str],
    seed: int,
    named: list[dict[str, str]],
    worker: Warm | None,
    *,
    skip: list[str] | None = None,
) -> Observation:
    """The reference through `groups`' tests at `seed` (bar `skip`), then the `named` mistakes
    through their functions' tests, in a trusted child."""
    config = exercise.config
    limits = config.limits
    run_limits = RunLimits(
        limits.test_timeout * 3,
        limits.load_timeout,
        limits.total_timeout * 3,
        limits.memory_mb * 2,
        limits.output_kb * 1024,
    )
    solution = exercise.solution_path
    job = {
        "cells": [Cell(0, solution.name, solution.read_text(encoding="utf-8")).__dict__],
        "devices": RECORD_DEVICES,
        "forbidden": config.forbidden_calls(),
        "module_name": config.module,
        "threads": 1,
        "seed": seed,
        "mutants": named,
        **({"skip": skip} if skip else {}),
    }
    files = [f for group in groups for f in test_files(exercise, group)]
    if worker is not None:
        return worker.run(dict(job, test_files=test_sources(files)))
    return ChildRunner(sandbox=Sandbox(namespaces=False), limits=run_limits).run(
        files=files, job=job
    )


def _tests(entries: list[dict[str, Any]], obs: Observation, problems: list[str]) -> dict[str, Any]:
    tests: dict[str, Any] = {}
    for entry in entries:
        run = obs.tests.get(entry["id"])
        if run is None or not run.ended or run.failure or run.error:
            why = (run.failure or run.error) if run else "did not run"
            problems.append(f"{entry['id']}: {why or 'did not end'}")
            continue
        if run.forbidden:
            problems.append(
                f"{entry['id']}: the reference calls forbidden {', '.join(run.forbidden)}"
            )
        if entry.get("points") is None or not entry.get("tags"):
            problems.append(
                f"{entry['id']}: needs @pytest.mark.points(N) and @pytest.mark.spec(...)"
            )
            continue
        checks = [_rule(run.checks[i]) for i in sorted(run.checks)]
        if not checks:
            problems.append(f"{entry['id']}: checks nothing")
        elif all(
            c.get("rule") == "raises" or c.get("constant") for c in checks
        ):  # the child reports these itself
            problems.append(
                f"{entry['id']}: only checks that something raises or constants; add a check of a computed value"
            )
        tests[entry["id"]] = {
            "points": entry["points"],
            "tags": entry["tags"],
            "doc": (entry.get("doc") or [""])[0] if isinstance(entry.get("doc"), list) else "",
            "checks": checks,
        }
        for key in ("uses", "how", "derived"):
            if entry.get(key):
                tests[entry["id"]][key] = entry[key]
        if entry.get("how") and run.ops:
            tests[entry["id"]]["ops"] = dict(sorted(run.ops.items()))
    return tests


def mutants(exercise: Exercise, source: str) -> list[dict[str, str]]:
    """The catalogue's named mistakes, each as its function's definition with the edit made (at
    its line in the reference: the child runs it over a copy of the reference's namespace). Made
    once per process for a version of the reference and its catalogue."""
    from grader.mistakes import edited_function, load_catalogue

    key = (str(exercise.solution_path), exercise.version(hidden=True), source)
    with _locks_lock:
        made = _mutants.get(key)
    if made is None:
        made = [
            {
                "id": m.id,
                "function": m.function,
                "says": m.says,
                "label": exercise.solution_path.name,
                "source": edited_function(source, m),
            }
            for m in load_catalogue(exercise)
            if m.named and not m.equivalent
        ]
        with _locks_lock:
            _mutants[key] = made
    return made


_mutants: dict[tuple[str, str, str], list[dict[str, str]]] = {}


def _add_mistakes(
    tests: dict[str, Any], obs: Observation, mistakes: list[dict[str, str]], exercise: Exercise
) -> None:
    """Beside each golden value, the values of the named mistakes that get it wrong (the first
    of several that agree stands for them): feedback names a mistake a submission's value matches."""
    from grader.compare import compare
    from grader.protocol import MUTANT

    says = {m["id"]: m["says"] for m in mistakes}
    tol = exercise.config.tolerance
    for run_id, run in obs.tests.items():
        if not run_id.startswith(MUTANT):
            continue
        mistake, _, key = run_id.removeprefix(MUTANT).partition("/")
        test = tests.get(key)
        if test is None or mistake not in says:
            continue
        for i, message in sorted(run.checks.items()):
            if i >= len(test["checks"]) or message.get("rule") != "equal":
                continue
            rule = test["checks"][i]
            if rule.get("rule") != "equal" or rule.get("constant"):
                continue
            rtol = tol.rtol if rule.get("rtol") is None else rule["rtol"]
            atol = tol.atol if rule.get("atol") is None else rule["atol"]
            try:
                got = decode(message["v"])
                known = [decode(rule["v"]), *(decode(w["v"]) for w in rule.get("wrong", []))]
                if any(compare(k, got, rtol=rtol, atol=atol) is None for k in known):
                    continue  # right here, or the same as a mistake already kept
            except Exception:  # noqa: BLE001 - a value that cannot be compared names nothing
                continue
            rule.setdefault("wrong", []).append(
                {"id": mistake, "says": says[mistake], "v": message["v"]}
            )


def _rule(message: dict[str, Any]) -> dict[str, Any]:
    keep = ("rule", "rtol", "atol", "expected", "property", "name", "constant", "v")
    return {k: message[k] for k in keep if message.get(k) is not None}


def write(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".golden-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)  # tests in collection order: the order reports list them
        f.write("\n")
    os.replace(tmp, path)


def parse(document: dict[str, Any], source: str) -> GoldenSet:
    if document.get("format") != FORMAT or not isinstance(document.get("tests"), dict):
        raise GoldenError(f"{source} is not a golden-value file of this grader version")
    tests = {
        key: GoldenTest(
            key,
            float(t["points"]),
            list(t["tags"]),
            str(t.get("doc", "")),
            list(t["checks"]),
            uses=tuple(t.get("uses", ())),
            how=tuple(t.get("how", ())),
            ops=dict(t.get("ops", {})),
            derived=dict(t.get("derived", {})),
        )
        for key, t in document["tests"].items()
    }
    recorded = document.get("mistakes_of")
    return GoldenSet(
        str(document["group"]),
        str(document["version"]),
        tests,
        mistakes_of=None if recorded is None else {str(f) for f in recorded},
    )


_loaded: dict[tuple[str, int, int], GoldenSet] = {}


def load(path: Path) -> GoldenSet:
    """The golden values in `path`, read once per process while the file stays the same."""
    try:
        key = (str(path.resolve()), *_stat(path))
        if key in _loaded:
            return _loaded[key]
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoldenError(
            f"no golden values at {path}: run `grade build` for this exercise"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GoldenError(f"{path} is corrupt ({exc}): run `grade build` again") from None
    _loaded[key] = golden = parse(document, str(path))
    return golden


def public(exercise: Exercise) -> GoldenSet:
    return load(exercise.public_golden_path)


def hidden_cache_path(exercise: Exercise) -> Path:
    assert exercise.reference_dir is not None
    return exercise.reference_dir / ".golden-cache" / f"hidden-{exercise.version(hidden=True)}.json"


def hidden(exercise: Exercise) -> GoldenSet:
    """Hidden golden values for the current version, recorded now if not cached yet."""
    return _cached(exercise, "hidden", 0, hidden_cache_path(exercise))


def variant_cache_path(exercise: Exercise, group: str, seed: int) -> Path:
    assert exercise.reference_dir is not None
    return (
        exercise.reference_dir
        / ".golden-cache"
        / f"{group}-{exercise.version(hidden=True)}-s{seed}.json"
    )


def variant(exercise: Exercise, seed: int, *, worker: Warm | None = None) -> list[GoldenSet]:
    """The public and hidden golden values for inputs drawn from `seed` (a grading variant),
    recorded from the reference in one trusted run if not cached yet. They never leave `reference/`."""
    paths = {group: variant_cache_path(exercise, group, seed) for group in ("public", "hidden")}
    with _recording(paths["hidden"]):  # two batch threads needing one variant record it once
        return _variant(exercise, seed, paths, worker)


def _variant(
    exercise: Exercise, seed: int, paths: dict[str, Path], worker: Warm | None
) -> list[GoldenSet]:
    sets = {}
    for group, path in paths.items():
        try:
            sets[group] = load(path)
        except GoldenError:
            break
    else:
        return [sets["public"], sets["hidden"]]
    # in a warm worker the mistakes wait until a student fails a function (`add_mistakes`): most
    # variants of a class never need most of them; a cold child records everything in one start
    documents = record_groups(
        exercise, ["public", "hidden"], seed=seed, worker=worker, mistakes=worker is None
    )
    for group, path in paths.items():
        write(documents[group], path)
    return [parse(documents[group], str(paths[group])) for group in paths]


def recorded_mistakes(sets: list[GoldenSet]) -> list[frozenset[str] | None]:
    """Which functions' named mistakes each set holds now (None: every function's)."""
    return [None if g.mistakes_of is None else frozenset(g.mistakes_of) for g in sets]


def add_mistakes(
    exercise: Exercise,
    seed: int,
    sets: list[GoldenSet],
    functions: set[str],
    *,
    worker: Warm | None,
) -> None:
    """Record, beside variant `seed`'s values, the named mistakes of those of `functions` whose
    mistakes it lacks (a student failed them): in memory and in the variant's files. A run that
    did not complete records nothing (the next student who fails them tries again)."""
    paths = {group: variant_cache_path(exercise, group, seed) for group in ("public", "hidden")}
    with _recording(paths["hidden"]):
        if not seed or any(g.mistakes_of is None for g in sets):
            return  # every function's are there
        wanted = {f for f in functions if not all(f in (g.mistakes_of or ()) for g in sets)}
        if not wanted:
            return
        source = exercise.solution_path.read_text(encoding="utf-8")
        named = [m for m in mutants(exercise, source) if m["function"] in wanted]
        if named:  # (a function without named mistakes is recorded as it is: none)
            from grader.judge import instances

            done = [
                i for gset in sets for key in gset.tests for i, _ in instances(key, RECORD_DEVICES)
            ]
            obs = _reference_run(
                exercise, [gset.group for gset in sets], seed, named, worker, skip=done
            )
            if obs.load_failure or obs.out_of_time:
                return
            for gset in sets:
                checks = {key: {"checks": test.checks} for key, test in gset.tests.items()}
                _add_mistakes(checks, obs, named, exercise)
        for gset in sets:
            assert gset.mistakes_of is not None
            gset.mistakes_of.update(wanted)
            _rewrite(paths[gset.group], gset)


def _rewrite(path: Path, gset: GoldenSet) -> None:
    """`path`'s document with `gset`'s mistakes (a file replaced whole, as `write` does)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a cache gone meanwhile is recorded again when next needed
    for key, test in gset.tests.items():
        if key in document.get("tests", {}):
            document["tests"][key]["checks"] = test.checks
    document["mistakes_of"] = sorted(gset.mistakes_of or ())
    write(document, path)
    _loaded[(str(path.resolve()), *_stat(path))] = gset


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


_locks: dict[Path, threading.Lock] = {}
_locks_lock = threading.Lock()


def _recording(path: Path) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(path, threading.Lock())


def _cached(exercise: Exercise, group: str, seed: int, path: Path) -> GoldenSet:
    if path.is_file():
        try:
            return load(path)
        except GoldenError:
            pass  # a corrupt cache is re-recorded
    document = record(exercise, group, seed=seed)
    write(document, path)
    return parse(document, str(path))
