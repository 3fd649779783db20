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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from grader.check import Check
from grader.child import shims
from grader.child.forbidden import ForbiddenCalls

MAX_LINE = 300
MAX_OUTPUT = 2000


def first_line(exc: BaseException, *, where: str = "") -> str:
    detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    text = f"{type(exc).__name__}: {detail}".strip().splitlines()[0] if detail else type(exc).__name__
    text = text[:MAX_LINE]
    return f"{text} ({where})" if where else text


def student_location(exc: BaseException, labels: set[str]) -> str:
    """'ex2.py, line 42' or 'cell 7, line 3': the innermost frame of the submission's own code."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in labels:
            where = f"{frame.filename}, line {frame.lineno}"
    return where


def seed_devices(seed: int, devices: list[str]) -> None:
    """`torch.manual_seed(seed)` for the devices graded on. torch's own also queues a seed for every
    accelerator backend it knows, with a formatted stack each (0.5 ms a test, deep in pytest)."""
    torch.default_generator.manual_seed(seed)
    if "cuda" in devices:
        torch.cuda.manual_seed_all(seed)
    if "mps" in devices:
        torch.mps.manual_seed(seed)


class Submission(types.SimpleNamespace):
    """The submission's namespace, as tests see it: a missing name says which one."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the submission does not define `{name}`")


class ChildPlugin:
    def __init__(self, job: dict[str, Any], paths: list[Path]) -> None:
        self.job = job
        self.paths = paths
        self.fd: int = job["fd"]
        self.labels = {cell["label"] for cell in job["cells"]}
        self.namespace: dict[str, Any] = {}
        self.submission = Submission()
        self.forbidden = ForbiddenCalls(job.get("forbidden", {}))
        self.current_error: dict[str, str] = {}

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
        devices = list(self.job["devices"])
        if "device" in metafunc.fixturenames:
            real = [d for d in devices if d != "meta"]
            metafunc.parametrize("device", real, ids=real)
        if "any_device" in metafunc.fixturenames:
            metafunc.parametrize("any_device", devices, ids=devices)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        skip = set(self.job.get("skip", ()))
        keep = [item for item in items if item.nodeid not in skip]
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in skip])
        items[:] = keep
        self.emit({"t": "collected", "tests": [self._describe(item) for item in items]})

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
        if self.job.get("hide_tests"):  # the tests are imported: their files go before student code runs
            for path in self.paths:
                path.unlink(missing_ok=True)
        self.forbidden.install()
        shims.install(self.labels)
        self._load_submission()

    def _load_submission(self) -> None:
        ns = self.namespace
        ns.update({"__name__": self.job.get("module_name", "submission"), "__builtins__": __builtins__})
        module = types.ModuleType(ns["__name__"])
        module.__dict__.update(ns)
        ns = self.namespace = module.__dict__
        errors = []
        skip = set(self.job.get("skip_cells", ()))
        failed: set[str] = set()  # notebook cells in which a statement failed: like Jupyter, the rest
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
                where = student_location(exc, self.labels) or (f"{cell['label']}, line {line}" if line else cell["label"])
                errors.append({"cell": cell["index"], "label": cell["label"], "error": first_line(exc), "where": where})
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

    @pytest.fixture(autouse=True)
    def _seeded(self) -> Iterator[None]:
        seed_devices(0, self.job["devices"])
        random.seed(0)
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
                self.current_error = {"error": first_line(exc), "where": student_location(exc, self.labels)}
            raise

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and not self.current_error:
            self.current_error = {"error": f"test {report.when} failed", "where": ""}
        if report.when == "teardown":
            output = (report.capstdout + report.capstderr)[:MAX_OUTPUT]
            self.emit({"t": "end", "id": report.nodeid, "forbidden": self.forbidden.called(), "output": output, **self.current_error})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.emit({"t": "done"})


def write_tests(job: dict[str, Any]) -> list[Path]:
    """The test files arrive in the job; they live in the scratch folder only until collected."""
    root = Path(job["cwd"])
    paths = []
    for f in job["test_files"]:
        group, name = str(f["group"]), str(f["name"])
        if not (group.isidentifier() and name.endswith(".py") and name.removesuffix(".py").isidentifier()):
            raise ValueError(f"bad test file name {group}/{name}")
        (root / group).mkdir(exist_ok=True)
        path = root / group / name
        path.write_text(f["source"], encoding="utf-8")
        paths.append(path)
    return paths


def run(job: dict[str, Any]) -> int:
    paths = write_tests(job)
    plugin = ChildPlugin(job, paths)
    args = [
        *map(str, paths),
        "-p", "no:cacheprovider",
        "-p", "no:terminal",
        "-p", "no:stepwise",
        "-p", "no:warnings",
        "-p", "no:doctest",
        "-p", "no:pastebin",
        "-p", "no:junitxml",
        "-p", "no:logging",
        "-p", "no:unraisableexception",  # its clean-up runs full garbage collections: 0.25 s
        "-p", "no:threadexception",
        "--capture=fd",
        "--assert=plain",  # tests hand values to `check` and never assert: no rewriting to pay for
        "--noconftest",
        "-c", os.devnull,
        "--rootdir", job["cwd"],
    ]
    sys.dont_write_bytecode = True
    # pytest plugins installed beside the grader (pytest-randomly, say) have no say in grading,
    # and finding them costs a scan of every installed package's metadata
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return int(pytest.main(args, plugins=[plugin]))
