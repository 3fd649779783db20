"""Reports what a previous submission left in System V IPC (leaves_sysv_ipc.py's key, as its IPC
namespace's /proc/sysvipc lists them) or in /dev/shm: its relu returns (1 + number of leftovers)
times relu(x), so its relu tests pass only when nothing is left."""
import os

KEY = 0x67726431


def _leftovers():
    count = 0
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                count += sum(int(line.split()[0]) == KEY for line in f.read().splitlines()[1:] if line.strip())
        except OSError:
            count += 1  # cannot look: as bad as a leftover
    try:
        count += len(os.listdir("/dev/shm"))
    except OSError:
        pass
    return count


def relu(x):
    return x.clamp(min=0) * (1 + _leftovers())
