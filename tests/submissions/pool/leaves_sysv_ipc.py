"""Hostile, and nothing else: leaves System V IPC objects behind (a shared memory segment holding
64 MB, a semaphore set, a message queue with a message in it), under keys a later submission
can look up; tries /dev/shm and a POSIX message queue too.

Without an IPC namespace of the sandbox's own they would outlive the worker on the host; in a
worker's namespace they would reach the next submission. Each must be gone when this run ends.
"""
import ctypes
import os

KEY = 0x67726431  # "grd1": what looks_for_sysv_ipc.py and the tests look for
IPC_CREAT = 0o1000
SIZE = 64 << 20

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]

shmid = libc.shmget(KEY, ctypes.c_size_t(SIZE), IPC_CREAT | 0o666)
if shmid >= 0:
    address = libc.shmat(shmid, None, 0)
    if address not in (None, ctypes.c_void_p(-1).value):
        ctypes.memset(address, 0x5A, SIZE)  # resident: 64 MB that no process maps once detached
        libc.shmdt(ctypes.c_void_p(address))
libc.semget(KEY, 4, IPC_CREAT | 0o666)
msqid = libc.msgget(KEY, IPC_CREAT | 0o666)
if msqid >= 0:
    message = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + 64)
    ctypes.c_long.from_buffer(message).value = 1
    message[ctypes.sizeof(ctypes.c_long):ctypes.sizeof(ctypes.c_long) + 32] = b"left by the previous student....."[:32]
    libc.msgsnd(msqid, message, 64, 0)
try:
    with open("/dev/shm/left_by_the_previous_student", "w") as f:  # a read-only, empty tmpfs: refused
        f.write("hello")
except OSError:
    pass
try:
    librt = ctypes.CDLL("librt.so.1")
    librt.mq_open(b"/left_by_the_previous_student", os.O_CREAT | os.O_RDWR, 0o666, None)  # none allowed
except OSError:
    pass
