"""Correct, but loading it leaves a daemon and a file in its scratch folder.

The warm worker must kill the daemon and remove the file before the next submission's child
starts: the next child finds neither.
"""
import os

with open("left_behind.txt", "w") as f:
    f.write("secret of the previous student")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        import time

        time.sleep(600)
    os._exit(0)


def relu(x):
    return x.clamp(min=0)
