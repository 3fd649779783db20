"""Reports what a previous submission left: its relu returns 1 + (number of leftovers) times x.

With nothing left over (the file gone, no foreign process in the namespace) relu(x) == x.clamp(0)
scaled by 1, so the relu tests pass; any leftover makes them fail.
"""
import os


def _leftovers():
    count = 0
    for root in (".", ".."):
        try:
            count += sum("left_behind" in name for name in os.listdir(root))
        except OSError:
            pass
    mine = {os.getpid(), os.getppid(), 1}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) not in mine:
            try:
                if "sleep" in open(f"/proc/{pid}/cmdline").read() or "leaves_daemon" in open(f"/proc/{pid}/cmdline").read():
                    count += 1
            except OSError:
                pass
    return count


def relu(x):
    return x.clamp(min=0) * (1 + _leftovers())
