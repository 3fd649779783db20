"""What Linux's /proc says about the child's processes: who is whose parent, how much memory.

Elsewhere (macOS, Windows) every figure is 0 and the table empty: the limits there are the
resource limits set at the child's start.
"""

from __future__ import annotations

import os


def proc_table() -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc (Linux); empty elsewhere."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def rss_kb(pid: int) -> int:
    """Anonymous plus shared (shmem, memfd, shared mappings) resident memory of one process."""
    total = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith((b"RssAnon:", b"RssShmem:")):
                    total += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return total


def tree_memory_kb(root: int, *, exclude: int | None = None) -> int:
    """Memory of every descendant of `root` (not `exclude` itself, whose children still count)."""
    table = proc_table()
    total, stack = 0, list(table.get(root, []))
    while stack:
        pid = stack.pop()
        stack.extend(table.get(pid, []))
        if pid != exclude:
            total += rss_kb(pid)
    return total
