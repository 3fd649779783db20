"""Dev helper: run test files against a submission file in the child, print one line per message.

usage: python /tmp/childrun.py SUBMISSION.py TESTFILE [TESTFILE...]
"""
import json, os, subprocess, sys, tempfile, shutil
from pathlib import Path
sub = Path(sys.argv[1]).resolve()
tests = [str(Path(t).resolve()) for t in sys.argv[2:]]
scratch = tempfile.mkdtemp()
import tomllib
from grader.config import ExerciseConfig
cfg = ExerciseConfig.model_validate(tomllib.loads(Path("/work/main/reference/ex2/grading.toml").read_text()))
job = {"fd": 3, "cwd": scratch, "test_files": [{"group": "tests", "name": Path(t).name, "source": Path(t).read_text()} for t in tests],
       "devices": ["cpu", "meta"], "cells": [{"index": 0, "label": sub.name, "source": sub.read_text()}],
       "forbidden": cfg.forbidden_calls(), "module_name": "ex2"}
r, w = os.pipe()
job["fd"] = w
p = subprocess.Popen([sys.executable, "-I", "-m", "grader.child"], stdin=subprocess.PIPE, pass_fds=(w,), cwd="/work/main")
os.close(w)
p.stdin.write(json.dumps(job).encode()); p.stdin.close()
with os.fdopen(r) as f:
    for line in f:
        m = json.loads(line)
        if m["t"] == "check":
            v = json.dumps(m["v"])
            print("CHECK", m["id"], m["i"], m.get("rule"), v[:160])
        else:
            print(m["t"].upper(), json.dumps({k: v for k, v in m.items() if k != "t"})[:400])
p.wait()
