"""Shared helpers of the adversarial suite: run the command line in-process and require a clean
refusal (status 2, one line on stderr, no traceback) or a success."""

from __future__ import annotations

import json
from pathlib import Path

from offbench.cli import main

SPEC_EXAMPLE = {
    "format": "offbench-instance", "version": 1, "name": "example",
    "weights": {"time": 1.0, "energy": 0.5, "tardiness": 10.0},
    "edge": {"speed": 1.0e12, "energy_per_op": 0.0, "capacity": None},
    "cloud": {"speed": 1.0e13, "energy_per_op": 0.0, "capacity": None},
    "backhaul": {"rate": 1.0e8, "latency": 0.02, "energy_per_bit": 0.0},
    "devices": [{"speed": 1.0e10, "power_compute": 3.0, "power_tx": 1.0, "power_rx": 0.3,
                 "rate_up": 2.0e7, "rate_down": 5.0e7, "latency": 0.005}],
    "jobs": [{"device": 0, "ops": [2.0e8, 4.0e8, 1.0e8], "bits": [1.2e6, 6.0e5, 2.0e5, 8.0e3],
              "deadline": 0.5, "weight": 1.0}],
}

HOSTILE = str(Path(__file__).resolve().parent / "hostile_solvers")


def refused(capsys, argv, *needles) -> str:
    """Run ``offbench ARGV``; require status 2, nothing on stdout, and one line on stderr that
    contains every needle. Returns that line."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert out == "", out
    lines = [line for line in err.splitlines() if not line.startswith("usage:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("offbench: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path
