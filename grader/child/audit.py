"""Audit hooks in the child: what the submission's code reached for, as evidence for a human.

Installed before the submission loads (`sys.addaudithook` cannot be removed afterwards), the hook
notes the interpreter's own audit events that honest exercise code never raises: frame and
garbage-collector walks, ctypes, attributes set on classes, code objects made at run time,
tracing, processes and sockets. An event counts when the submission's own code (a frame whose
file is one of its cells) is on the stack. Everything here runs beside student code, which can
forge or silence it: the notes are hints in the results, never points.
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any

WATCHED = {
    "sys._getframe": "walks the call stack (sys._getframe)",
    "sys._current_frames": "walks the call stack (sys._current_frames)",
    "gc.get_objects": "searches memory (gc.get_objects)",
    "gc.get_referrers": "searches memory (gc.get_referrers)",
    "gc.get_referents": "searches memory (gc.get_referents)",
    "object.__setattr__": "patches a class",
    "object.__delattr__": "patches a class",
    "code.__new__": "makes code objects at run time",
    "sys.settrace": "installs a tracer",
    "sys.setprofile": "installs a profiler",
    "sys.addaudithook": "adds an audit hook",
    "os.fork": "starts processes",
    "os.system": "starts processes",
    "subprocess.Popen": "starts processes",
    "os.kill": "sends signals",
    "socket.connect": "opens a connection",
    "socket.bind": "opens a socket",
}
FRAME_ATTRIBUTES = {
    "tb_frame",
    "f_back",
    "f_locals",
    "f_globals",
    "gi_frame",
    "cr_frame",
    "ag_frame",
    "__globals__",
}
DEPTH = 40
STDLIB = os.path.dirname(
    os.__file__
)  # inspect, traceback, ...: a way to the same event, not its origin
SITE = "-packages"


class Auditor:
    def __init__(self) -> None:
        self.labels: frozenset[str] = frozenset()
        self.seen: dict[str, str] = {}  # what -> where, first occurrence
        self.new: list[str] = []  # not yet sent
        self.busy = False  # the hook's own look at the stack raises an event too

    def install(self, labels: set[str]) -> None:
        self.labels = frozenset(labels)
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        what = WATCHED.get(event)
        if what is None:
            if event.startswith("ctypes."):
                what = "uses ctypes"
            elif event == "object.__getattr__" and len(args) > 1 and args[1] in FRAME_ATTRIBUTES:
                what = f"reads {args[1]}"
            else:
                return
        if what in self.seen or self.busy:
            return
        self.busy = True
        try:
            where = self._student_frame(sys._getframe(1))
        finally:
            self.busy = False
        if where:
            self.seen[what] = where
            self.new.append(f"{what} ({where})")

    def _student_frame(self, frame: FrameType | None) -> str:
        """Where the submission itself asked for the event: the innermost frame outside the
        standard library must be one of its cells (torch's or the grader's own calls do not count)."""
        for _ in range(DEPTH):
            if frame is None:
                return ""
            filename = frame.f_code.co_filename
            if filename in self.labels:
                return f"{filename}, line {frame.f_lineno}"
            if not (filename.startswith(STDLIB) and SITE not in filename):
                return ""
            frame = frame.f_back
        return ""

    def take(self) -> list[str]:
        new, self.new = self.new, []
        return new
