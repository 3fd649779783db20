"""Hostile, and nothing else: small daemons keep the grader's result channel full until the worker
kills them: first with bytes and no end of line (one line too long, which the grader drops without
a word until it ends), then with forged messages, the first of which gets this run killed for
breaking the protocol.

The grader reads the channel no faster than the daemons refill it, so when it stops reading, the
pipe is full of forged lines (up to a megabyte: the daemons enlarge it first). A channel shared by
every child of a warm worker would hand them to whoever is forked next: the next students' runs
would begin with a forged "start" of a test the grader does not have. Each child must get pipes
of its own.
"""
import collections
import fcntl
import os
import stat
import subprocess
import sys
import time

F_SETPIPE_SZ = 1031
WRITERS = 4
FLOOD = """
import os, sys, time
fd, until = int(sys.argv[1]), float(sys.argv[2])
junk, forged = b"x" * 65536, b'{"t":"start","id":"forged::by_the_previous_student"}\\n' * 1024
while True:
    try:
        os.write(fd, junk if time.time() < until else forged)
    except OSError:
        pass
"""


def _channel():
    """The result channel: the one writable pipe of this process that is not its output (which
    stdout, stderr and pytest's saved copies of them share)."""
    pipes = collections.defaultdict(list)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            st = os.fstat(fd)
            if stat.S_ISFIFO(st.st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                pipes[st.st_ino].append(fd)
        except OSError:
            pass
    return next(fds[0] for fds in pipes.values() if len(fds) == 1)


channel = _channel()
try:
    fcntl.fcntl(channel, F_SETPIPE_SZ, 1 << 20)
except OSError:
    pass
forged_from = time.time() + 0.5  # every writer running and the pipe kept full before any forged line
for _ in range(WRITERS):  # small processes (a fork of this one would count as big as it is)
    subprocess.Popen([sys.executable, "-I", "-S", "-c", FLOOD, str(channel), str(forged_from)], pass_fds=(channel,),
                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

time.sleep(30)  # the grader reads the forged lines meanwhile and ends this run
