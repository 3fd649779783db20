"""Hostile: its horizontal_flip fills System V shared memory that no process maps (up to 1 GB, as much as the
namespace allows), then sleeps before answering correctly.

The process running relu attaches each segment without touching a page (so the segment lives on:
`shm_rmid_forced` only removes segments nobody is attached to); a small, short-lived process fills
one segment at a time and exits. The pages are then in no process's resident memory: summing
/proc alone, the grader never sees them. Its horizontal_flip must fail for using more memory than allowed.
(Not relu: a function with forbidden calls may not use ctypes at all.)
"""
import subprocess
import sys
import time

IPC_PRIVATE, IPC_CREAT = 0, 0o1000
CHUNK = 256 << 20
FILL = (
    "import ctypes, sys; libc = ctypes.CDLL(None); libc.shmat.restype = ctypes.c_void_p; "
    "libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]; "
    "ctypes.memset(libc.shmat(int(sys.argv[1]), None, 0), 0x5A, int(sys.argv[2]))"
)


def _hoard(chunks=4):
    import ctypes  # (here, not at module level: only what calls _hoard reaches ctypes)

    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    for _ in range(chunks):
        shmid = libc.shmget(IPC_PRIVATE, ctypes.c_size_t(CHUNK), IPC_CREAT | 0o600)
        if shmid < 0:
            return  # the namespace's cap: what is held so far is already past the limit
        address = libc.shmat(shmid, None, 0)  # attached here, never touched here
        if address in (None, ctypes.c_void_p(-1).value):
            return
        subprocess.run([sys.executable, "-I", "-S", "-c", FILL, str(shmid), str(CHUNK)], check=False)


def horizontal_flip(x):
    _hoard()
    time.sleep(5)  # the grader has time to look
    return x.flip(-1)
