"""Cut the child's result channel into lines, in linear time, with a cap on a line's length.

A line is joined and handed on once, when its newline arrives; a line over the cap is never
joined at all (its bytes are dropped as they come), so a child that sends one endless line costs
the parent nothing but the reading.
"""

from __future__ import annotations

from collections.abc import Iterator

OVERSIZED = None  # what `feed` yields for a line longer than the cap


class LineReader:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> Iterator[bytes | None]:
        """The lines completed by `data` (OVERSIZED for each line over the cap)."""
        while data:
            head, newline, data = data.partition(b"\n")
            self._size += len(head)
            if self._size <= self.limit:
                self._parts.append(head)
            if not newline:
                return
            line = b"".join(self._parts) if self._size <= self.limit else OVERSIZED
            self._parts, self._size = [], 0
            yield line
