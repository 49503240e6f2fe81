"""Kill ``offbench run`` part way (SIGKILL, twice; then SIGINT), resume, and compare with an
uninterrupted run: the same rows, no duplicates, nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offbench.run import InProcessExecutor, parse_spec, run
from offbench.store import Store

FIXTURES = str(Path(__file__).parent / "fixtures_solvers")
N = 24

CONFIG = f"""
name = "kill-resume"
solvers_dirs = ["{FIXTURES}"]
seeds = [0]
time_limit = 5.0
reference = {{ mode = "none" }}
[[sources]]
kind = "random"
name = "tiny"
count = {N}
n_jobs = 2
capacities = true
[[solvers]]
id = "fx-random-best"
params = {{ samples = 4, sleep = 0.08 }}
"""


def _rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            c.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def _start(cfg: Path, store: Path, jobs: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen([sys.executable, "-m", "offbench", "run", str(cfg), "--store", str(store),
                             "-j", str(jobs), "--quiet", "--no-leaderboard"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _stop_after(proc: subprocess.Popen, store: Path, rows: int, sig: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while _rows(store) < rows:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before it could be stopped: {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run made no progress")
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return _rows(store)


def test_sigkill_twice_then_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(CONFIG)
    clean = tmp_path / "clean.sqlite"
    from offbench.run import load_spec_file

    run(parse_spec(load_spec_file(cfg)), clean, executor=InProcessExecutor())

    store = tmp_path / "killed.sqlite"
    first = _stop_after(_start(cfg, store, 0), store, 4, signal.SIGKILL)
    assert 4 <= first < N
    second = _stop_after(_start(cfg, store, 2), store, first + 4, signal.SIGKILL)
    assert first < second < N
    third = _start(cfg, store, 0)
    after_int = _stop_after(third, store, second + 2, signal.SIGINT)
    assert third.returncode == 130
    assert b"run the same command again to resume" in third.stderr.read()
    final = _start(cfg, store, 2)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()[-2000:]
    assert after_int < N

    with Store.open_readonly(store) as a, Store.open_readonly(clean) as b:
        assert a.count_results() == N  # nothing lost, nothing twice
        assert a.quality_snapshot() == b.quality_snapshot()
        outcomes = [r["outcome"] for r in a.runs()]
    # The killed runs never got to say how they ended; the interrupted one did.
    assert outcomes == [None, None, "interrupted", "complete"]
