"""Hostile, and nothing else: takes every permission off its working folder (the warm worker's
scratch job folder, which the next child works in) and off the scratch folder above it.

A worker that only deletes what it can would leave the folder locked, and every later child
forked in it would fail to enter its working folder: the worker must unlock and empty it, and
check that it is empty, or be replaced.
"""
import os

os.makedirs("left_behind/deeper", exist_ok=True)
with open("left_behind/deeper/conftest.py", "w") as f:
    f.write("raise SystemExit('planted by the previous student')\n")
for folder in ("left_behind/deeper", "left_behind", ".", ".."):
    try:
        os.chmod(folder, 0)
    except OSError:
        pass
