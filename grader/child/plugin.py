"""The pytest plugin inside the child: loads the submission, streams checks and test boundaries out.

Everything here runs in the same process as student code, so nothing here is believed by the
parent beyond the values themselves: it never sees a golden value and decides no verdict.
"""

from __future__ import annotations

import json
import os
import random
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.check import Check
from grader.child import globalstate, seeding, shims
from grader.child.audit import Auditor
from grader.child.forbidden import ForbiddenCalls

MAX_LINE = 300
MAX_OUTPUT = 2000


def first_line(exc: BaseException, *, where: str = "") -> str:
    detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    text = (
        f"{type(exc).__name__}: {detail}".strip().splitlines()[0] if detail else type(exc).__name__
    )
    text = text[:MAX_LINE]
    return f"{text} ({where})" if where else text


def student_location(exc: BaseException, labels: set[str]) -> str:
    """'ex2.py, line 42' or 'cell 7, line 3': the innermost frame of the submission's own code."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in labels:
            where = f"{frame.filename}, line {frame.lineno}"
    return where


class Submission(types.SimpleNamespace):
    """The submission's namespace, as tests see it: a missing name says which one."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the submission does not define `{name}`")


class ChildPlugin:
    """Two halves: the tests (`setup`: test files, devices), collected first, and the submission
    (`job`: cells, forbidden calls, what to skip), loaded once the tests are imported. A cold child
    has both from the start; a warm worker collects the tests once and each child it forks begins
    its own submission where the worker's session left off (`serve`: see grader/child/worker.py)."""

    def __init__(
        self,
        setup: dict[str, Any],
        paths: list[Path],
        *,
        serve: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.devices: list[str] = list(setup["devices"])
        self.hide_tests = bool(setup.get("hide_tests"))
        self.paths = paths
        self.serve = serve
        self.job: dict[str, Any] = {}
        self.fd = -1
        self.labels: set[str] = set()
        self.namespace: dict[str, Any] = {}
        self.submission = Submission()
        self.forbidden = ForbiddenCalls({})
        self.current_error: dict[str, str] = {}
        self.described: list[
            dict[str, Any]
        ] = []  # the collected tests, as the parent is told of them
        self.auditor = Auditor()
        self.reset_globals: Callable[[], None] = lambda: None
        self.manual_seed = seeding.install([*self.devices, *setup.get("accelerators", ())])

    def begin(self, job: dict[str, Any]) -> None:
        """Take the submission's half of the job (before its tests run)."""
        self.job = job
        self.fd = job["fd"]
        self.labels = {cell["label"] for cell in job["cells"]}
        self.forbidden = ForbiddenCalls(job.get("forbidden", {}))
        self.reset_globals = globalstate.resetter(
            int(job.get("threads", 1))
        )  # before the submission loads

    def emit(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): what the test is worth")
        config.addinivalue_line("markers", "spec(*names): the exercise names the test grades")

    # -- collection ---------------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "device" in metafunc.fixturenames:
            real = [d for d in self.devices if d != "meta"]
            metafunc.parametrize("device", real, ids=real)
        if "any_device" in metafunc.fixturenames:
            metafunc.parametrize("any_device", self.devices, ids=self.devices)

    @staticmethod
    def _describe(item: pytest.Item) -> dict[str, Any]:
        points = item.get_closest_marker("points")
        spec = item.get_closest_marker("spec")
        return {
            "id": item.nodeid,
            "points": points.args[0] if points else None,
            "tags": list(spec.args) if spec else [],
            "doc": (getattr(item, "obj", None).__doc__ or "").strip().splitlines()[0:1],
        }

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.described = [self._describe(item) for item in session.items]
        if self.hide_tests:  # the tests are imported: their files go before student code runs
            for path in self.paths:
                path.unlink(missing_ok=True)
        if self.serve is None:
            self._start(session)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if self.serve is None:
            return
        self.begin(self.serve())  # a warm worker serves forks here; each child goes on with its job
        capture = session.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.read_global_capture()  # the capture files are shared with the worker: start them empty
        self._start(session)

    def _start(self, session: pytest.Session) -> None:
        """The job's tests (a restart skips those done), announced; then the submission, loaded."""
        skip = set(self.job.get("skip", ()))
        if skip:
            session.config.hook.pytest_deselected(
                items=[item for item in session.items if item.nodeid in skip]
            )
            session.items[:] = [item for item in session.items if item.nodeid not in skip]
        self.emit({"t": "collected", "tests": [d for d in self.described if d["id"] not in skip]})
        self.forbidden.install()
        shims.install(self.labels)
        self.auditor.install(
            self.labels
        )  # last of the grader's own patches: it notes the submission's
        self._load_submission()
        self._send_audit()

    def _load_submission(self) -> None:
        ns = self.namespace
        ns.update(
            {"__name__": self.job.get("module_name", "submission"), "__builtins__": __builtins__}
        )
        module = types.ModuleType(ns["__name__"])
        module.__dict__.update(ns)
        ns = self.namespace = module.__dict__
        errors = []
        skip = set(self.job.get("skip_cells", ()))
        failed: set[str] = (
            set()
        )  # notebook cells in which a statement failed: like Jupyter, the rest
        for cell in self.job["cells"]:  # of that cell does not run, but its definitions still do
            if cell["index"] in skip:
                failed.add(cell["label"])
                continue
            if cell["label"] in failed and not cell.get("definition", True):
                continue
            self.emit({"t": "cell", "i": cell["index"]})
            try:
                code = compile(cell["source"], cell["label"], "exec")
                exec(code, ns)  # noqa: S102 - running the submission is the point
            except BaseException as exc:  # noqa: BLE001 - a failing cell is data, SystemExit included
                if isinstance(exc, KeyboardInterrupt):
                    raise
                line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
                where = student_location(exc, self.labels) or (
                    f"{cell['label']}, line {line}" if line else cell["label"]
                )
                errors.append(
                    {
                        "cell": cell["index"],
                        "label": cell["label"],
                        "error": first_line(exc),
                        "where": where,
                    }
                )
                failed.add(cell["label"])
        for name, value in ns.items():
            if not name.startswith("__"):
                setattr(self.submission, name, value)
        self.emit({"t": "loaded", "errors": errors, "shimmed": sorted(shims.FINDER.used)})

    # -- fixtures -----------------------------------------------------------------------------
    @pytest.fixture
    def sub(self) -> Submission:
        return self.submission

    @pytest.fixture
    def check(self, request: pytest.FixtureRequest) -> Check:
        return Check(request.node.nodeid, self.emit)

    @pytest.fixture
    def seed(self) -> int:
        """The run's input seed: the public one in a student's self-check, the student's secret
        variant in the instructor's grade. Tests draw every input from it."""
        return int(self.job.get("seed", 0))

    @pytest.fixture(autouse=True)
    def _seeded(self, seed: int) -> Iterator[None]:
        self.reset_globals()  # grad mode, default dtype and device, anomaly, determinism, threads
        self.manual_seed(
            seed
        )  # kept from before the submission loaded: its patches change nothing here
        random.seed(seed)
        yield

    # -- running ------------------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.current_error = {}
        self.emit({"t": "start", "id": nodeid})
        self.forbidden.reset()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        try:
            return (yield)
        except BaseException as exc:
            if not self.current_error:
                self.current_error = {
                    "error": first_line(exc),
                    "where": student_location(exc, self.labels),
                }
            raise

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and not self.current_error:
            self.current_error = {"error": f"test {report.when} failed", "where": ""}
        if report.when == "teardown":
            output = (report.capstdout + report.capstderr)[:MAX_OUTPUT]
            self._send_audit()
            self.emit(
                {
                    "t": "end",
                    "id": report.nodeid,
                    "forbidden": self.forbidden.called(),
                    "output": output,
                    **self.current_error,
                }
            )

    def _send_audit(self) -> None:
        if events := self.auditor.take():
            self.emit({"t": "audit", "events": events})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if (
            self.job
        ):  # not in a warm worker whose session ended before serving (its tests did not collect)
            self.emit({"t": "done"})


def write_tests(setup: dict[str, Any]) -> list[Path]:
    """The test files arrive with the job; they live in the scratch folder only until collected."""
    root = Path(setup["cwd"])
    paths = []
    for f in setup["test_files"]:
        group, name = str(f["group"]), str(f["name"])
        if not (
            group.isidentifier()
            and name.endswith(".py")
            and name.removesuffix(".py").isidentifier()
        ):
            raise ValueError(f"bad test file name {group}/{name}")
        (root / group).mkdir(parents=True, exist_ok=True)
        path = root / group / name
        path.write_text(f["source"], encoding="utf-8")
        paths.append(path)
    return paths


def run(setup: dict[str, Any], *, serve: Callable[[], dict[str, Any]] | None = None) -> int:
    """Run pytest over `setup`'s tests. A cold child's `setup` is its whole job; a warm worker
    passes `serve`, which returns (in each forked child) the job of one submission."""
    paths = write_tests(setup)
    plugin = ChildPlugin(setup, paths, serve=serve)
    if serve is None:
        plugin.begin(setup)
    args = [
        *map(str, paths),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "-p",
        "no:stepwise",
        "-p",
        "no:warnings",
        "-p",
        "no:doctest",
        "-p",
        "no:pastebin",
        "-p",
        "no:junitxml",
        "-p",
        "no:logging",
        "-p",
        "no:setuponly",
        "-p",
        "no:setupplan",
        "-p",
        "no:unraisableexception",  # its clean-up runs full garbage collections: 0.25 s
        "-p",
        "no:threadexception",
        "--capture=fd",
        "--assert=plain",  # tests hand values to `check` and never assert: no rewriting to pay for
        "--noconftest",
        "-c",
        os.devnull,
        "--rootdir",
        setup["cwd"],
    ]
    sys.dont_write_bytecode = True
    # pytest plugins installed beside the grader (pytest-randomly, say) have no say in grading,
    # and finding them costs a scan of every installed package's metadata
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return int(pytest.main(args, plugins=[plugin]))
