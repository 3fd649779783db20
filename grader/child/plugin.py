"""The pytest plugin inside the child: loads the submission, streams checks and test boundaries out.

Everything here runs in the same process as student code, so nothing here is believed by the
parent beyond the values themselves: it never sees a golden value and decides no verdict.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import traceback
import types
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.check import Check
from grader.child import globalstate, seeding, shims
from grader.child.audit import Auditor
from grader.child.forbidden import ForbiddenCalls
from grader.child.ops import OpCounter
from grader.protocol import MUTANT

MAX_LINE = 300
MAX_ERROR = 600  # an error whose first line ends in ':' keeps the lines after it (up to this)
MAX_OUTPUT = 2000


def first_line(exc: BaseException, *, where: str = "") -> str:
    """The error in one line. A message whose first line announces more (`Error(s) in loading
    state_dict for LinearModel:`) keeps what follows, joined: the missing and unexpected keys."""
    detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    if not detail:
        text = type(exc).__name__
    else:
        lines = [line.strip() for line in f"{type(exc).__name__}: {detail}".strip().splitlines()]
        text = lines[0][:MAX_LINE]
        if text.endswith(":") and len(lines) > 1:
            text = " ".join([text, *(line for line in lines[1:] if line)])[:MAX_ERROR]
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
        self.items: list[pytest.Item] = []  # every collected test, those a restart skips included
        self.as_test: str | None = None  # the id checks are sent under while a mistake runs a test
        self.worth: set[str] = (
            set()
        )  # tests that sent a computed value (a mistake may differ there)
        self.ops: OpCounter | None = None
        self.bare: set[str] = set()  # the tests that run without pytest's protocol

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
        if (
            message.get("t") == "check"
            and message.get("rule") == "equal"
            and not message.get("constant")
            and self.as_test is None  # the reference's own tests only, never a mistake's run
        ):
            self.worth.add(str(message.get("id")))
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): what the test is worth")
        config.addinivalue_line("markers", "spec(*names): the exercise names the test grades")
        config.addinivalue_line(
            "markers",
            "uses(*names): other graded names the test calls (a failure may come from them)",
        )
        config.addinivalue_line(
            "markers",
            "how(*rules): how the function must compute: 'vectorised' (no Python loop), "
            "'autograd' (gradients with autograd)",
        )
        config.addinivalue_line(
            "markers",
            "derived(name, formula): check `name` is a value the test derives from the "
            "submission's functions, as `formula` says",
        )

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
        described: dict[str, Any] = {
            "id": item.nodeid,
            "points": points.args[0] if points else None,
            "tags": list(spec.args) if spec else [],
            "doc": (getattr(item, "obj", None).__doc__ or "").strip().splitlines()[0:1],
        }
        uses = [str(a) for m in item.iter_markers("uses") for a in m.args]
        how = [str(a) for m in item.iter_markers("how") for a in m.args]
        derived = {str(m.args[0]): str(m.args[1]) for m in item.iter_markers("derived")}
        for key, value in (("uses", uses), ("how", how), ("derived", derived)):
            if value:
                described[key] = value
        return described

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.described = [self._describe(item) for item in session.items]
        self.items = list(session.items)
        self.bare = {item.nodeid for item in session.items if _bare(item)}
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
    @pytest.fixture(scope="session")
    def sub(self) -> Submission:
        return self.submission

    @pytest.fixture
    def check(self, request: pytest.FixtureRequest) -> Check:
        return Check(self.as_test or request.node.nodeid, self.emit)

    @pytest.fixture(scope="session")
    def seed(self) -> int:
        """The run's input seed: the public one in a student's self-check, the student's secret
        variant in the instructor's grade. Tests draw every input from it."""
        return int(self.job.get("seed", 0))

    def reseed(self) -> None:
        """Before each test's set-up: the same global state and seeds whatever ran before it."""
        self.reset_globals()  # grad mode, default dtype and device, anomaly, determinism, threads
        seed = int(self.job.get("seed", 0))
        self.manual_seed(seed)  # kept from before the submission loaded: its patches change nothing
        random.seed(seed)

    # -- running ------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        """A test without skip marks or capture fixtures runs bare: set-up, call and tear-down
        under one capture, no reports and no hooks (pytest's protocol costs more than most of
        these tests). Any other test takes pytest's own protocol and the hooks below."""
        if item.nodeid not in self.bare:
            return None
        self.begin_test(item.nodeid)
        node: Any = item  # a pytest.Function
        state = node.session._setupstate
        capture = item.config.pluginmanager.getplugin("capturemanager")
        capture.resume_global_capture()
        try:
            if not node._request:
                node._initrequest()
            if _phase("setup", lambda: self.set_up(state, item), self.current_error):
                _phase("call", lambda: self.call(item), self.current_error)
            _phase("teardown", lambda: state.teardown_exact(nextitem), self.current_error)
        finally:
            node._request = False
            node.funcargs = None
            capture.suspend_global_capture(in_=False)
            out, err = capture.read_global_capture()
        self.end_test(item.nodeid, (out + err)[:MAX_OUTPUT])
        return True

    def set_up(self, state: Any, item: pytest.Item) -> None:
        self.reseed()
        state.setup(item)

    def begin_test(self, nodeid: str) -> None:
        self.current_error = {}
        self.emit({"t": "start", "id": nodeid})
        self.forbidden.reset()

    def call(self, item: pytest.Item) -> None:
        with self.calling(item):
            item.runtest()

    @contextlib.contextmanager
    def calling(self, item: pytest.Item) -> Iterator[None]:
        """A test's call: what its code dispatches counted where it has `how` rules (a hint the
        parent weighs), and its first error kept in one line."""
        counter = OpCounter() if item.get_closest_marker("how") is not None else None
        self.ops = counter
        try:
            with counter if counter is not None else contextlib.nullcontext():
                yield
        except BaseException as exc:
            if not self.current_error:  # (filled in place: a bare test's phase reads this dict)
                self.current_error.update(
                    error=first_line(exc), where=student_location(exc, self.labels)
                )
            raise

    def end_test(self, nodeid: str, output: str) -> None:
        self._send_audit()
        self.emit(
            {
                "t": "end",
                "id": nodeid,
                "forbidden": self.forbidden.called(),
                "output": output,
                **self.current_error,
                **({"ops": self.ops.counts} if self.ops is not None else {}),
            }
        )
        self.ops = None

    # pytest's own protocol, for a test with skip marks or capture fixtures
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.begin_test(nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.reseed()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        with self.calling(item):
            return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and not self.current_error:
            self.current_error = {"error": f"test {report.when} failed", "where": ""}
        if report.when == "teardown":
            self.end_test(report.nodeid, (report.capstdout + report.capstderr)[:MAX_OUTPUT])

    def _send_audit(self) -> None:
        if events := self.auditor.take():
            self.emit({"t": "audit", "events": events})

    # -- the catalogue's mistakes (a trusted recording only) ----------------------------------------
    def run_mutants(self) -> None:
        """Each named mistake of the catalogue: its edited definition, run over a copy of the
        reference's namespace, through the tests of its function (not on `meta`: a shape tells no
        mistake apart), each test's checks sent as `~mistake/<id>/<node id>`. Only in the
        reference's recording: a grading job has no mutants."""
        skip = set(self.job.get("skip", ()))
        own = dict(vars(self.submission))
        for mutant in self.job["mutants"]:
            function = str(mutant["function"])
            items = [
                item
                for item in self.items
                if function in _tags(item)
                and "meta" not in getattr(getattr(item, "callspec", None), "id", "").split("-")
                and (not self.worth or item.nodeid in self.worth)
                and f"{MUTANT}{mutant['id']}/{item.nodeid}" not in skip
            ]
            if not items:
                continue
            namespace = dict(self.namespace)  # the reference's, with the one edited definition
            try:
                exec(compile(mutant["source"], mutant["label"], "exec"), namespace)  # noqa: S102
            except Exception:  # noqa: BLE001 - a mistake that does not load names nothing
                continue
            self.submission.__dict__[function] = namespace[function]
            try:
                for item in items:
                    self.as_test = f"{MUTANT}{mutant['id']}/{item.nodeid}"
                    self.current_error = {}
                    self.emit({"t": "start", "id": self.as_test})
                    self.reseed()
                    _run_quietly(item)
                    self.emit(
                        {
                            "t": "end",
                            "id": self.as_test,
                            "forbidden": [],
                            "output": "",
                            **self.current_error,
                        }
                    )
            finally:
                self.as_test = None
                self.submission.__dict__.clear()
                self.submission.__dict__.update(own)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if (
            self.job
        ):  # not in a warm worker whose session ended before serving (its tests did not collect)
            self.emit({"t": "done"})


class MistakeRuns:
    """After the tests (a plugin of its own: `ChildPlugin` has its own `pytest_runtestloop`),
    the catalogue's mistakes of a recording job."""

    def __init__(self, plugin: ChildPlugin) -> None:
        self.plugin = plugin

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        result = yield
        if self.plugin.job.get("mutants"):
            self.plugin.run_mutants()
        return result


def _run_quietly(item: pytest.Item) -> None:
    """Set up, call and tear down `item` again, bare: no hooks, no capture, no report (a
    mistake's failing test would cost a formatted traceback that nobody reads; the hooks alone
    cost more than most tests). Its checks are all a recording keeps of it."""
    node: Any = item  # a pytest.Function: its fixture request is made again for a re-run
    state = node.session._setupstate
    if not node._request:
        node._initrequest()
    try:
        state.setup(item)
        item.runtest()
    except (KeyboardInterrupt, pytest.exit.Exception):
        raise
    except BaseException:  # noqa: BLE001, S110 - a mistake may raise, fail or exit: it names nothing then
        pass
    finally:
        with contextlib.suppress(Exception):  # a fixture's finaliser after a mistake
            state.teardown_exact(None)
        node._request = False
        node.funcargs = None


_SKIP_MARKS = ("skip", "skipif", "xfail")
_CAPTURE_FIXTURES = ("capsys", "capsysbinary", "capfd", "capfdbinary", "capteesys")


def _bare(item: pytest.Item) -> bool:
    """Whether `item` can run without pytest's protocol: a plain test function, with no mark the
    protocol's hooks read (skip, xfail) and no fixture that needs them (output capture)."""
    fixtures = getattr(item, "fixturenames", None)
    return (
        isinstance(item, pytest.Function)
        and fixtures is not None
        and all(item.get_closest_marker(name) is None for name in _SKIP_MARKS)
        and not set(fixtures) & set(_CAPTURE_FIXTURES)
    )


def _phase(when: str, action: Callable[[], object], error: dict[str, str]) -> bool:
    """One phase of a bare test, failing the way pytest's protocol fails it: an exception is the
    test's failure (an outcome of pytest's skip is not), Ctrl-C and `pytest.exit` end the run."""
    try:
        action()
    except (KeyboardInterrupt, pytest.exit.Exception):
        raise
    except pytest.skip.Exception:
        return False
    except BaseException as exc:  # noqa: BLE001 - the test's failure, whatever the submission raised
        # its frames go with it: what the test's code held (a memory bomb's list) is freed now,
        # not at a garbage collection the next test may not reach
        traceback.clear_frames(exc.__traceback__)
        if not error:
            error.update({"error": f"test {when} failed", "where": ""})
        return False
    return True


def _tags(item: pytest.Item) -> list[str]:
    spec = item.get_closest_marker("spec")
    return [str(a) for a in spec.args] if spec else []


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
    return int(pytest.main(args, plugins=[plugin, MistakeRuns(plugin)]))
