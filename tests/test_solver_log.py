"""``offbench run -j 0`` without ``--verbose``: what an in-process solver prints goes to the run's
log beside the store, as a worker's does (it reached the terminal: the in-process executor sent
Python's output to ``sys.stderr``, which the log had pointed back at the terminal)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from offbench.generators import random_instance
from offbench.instance import save_instance

CHATTY = '''
import numpy as np
from offbench.solver import Proposal, Solver


class Chatty(Solver):
    """Prints while it solves."""
    name = "chatty-log"

    def _solve(self, inst, ctx):
        for i in range(3):
            print("chatter line", i)
        return Proposal(np.zeros(inst.n_layers, np.int8))
'''


def test_in_process_solver_output_goes_to_the_log(tmp_path):
    plug = tmp_path / "plug"
    plug.mkdir()
    (plug / "chatty.py").write_text(textwrap.dedent(CHATTY))
    save_instance(random_instance(2, n_jobs=2, layers=(2, 2)), tmp_path / "i.json")
    store = tmp_path / "out" / "s.sqlite"
    p = subprocess.run([sys.executable, "-m", "offbench", "run", "--instances", str(tmp_path / "i.json"),
                        "--solver", "chatty-log", "--solvers-dir", str(plug), "-j", "0",
                        "--reference", "none", "--store", str(store), "--no-leaderboard"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "chatter line" not in p.stderr and "chatter line" not in p.stdout
    logs = list((tmp_path / "out" / "logs").glob("run-*.log"))
    assert len(logs) == 1 and logs[0].read_text().count("chatter line 2") >= 1  # (warm-up too)
    assert f"solvers' own output is in {logs[0]}" in p.stderr or logs[0].name in p.stderr
