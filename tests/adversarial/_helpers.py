"""Shared helpers of the adversarial suite: run the command line in-process and require a clean
refusal (status 2, one line on stderr after argparse's usage, no traceback) or a success."""

from __future__ import annotations

import json
from pathlib import Path

from offbench.cli import main

from ..test_cost import SPEC_EXAMPLE  # noqa: F401 - the SPEC.md example, one copy


HOSTILE = str(Path(__file__).resolve().parent / "hostile_solvers")


def refused(capsys, argv, *needles) -> str:
    """Run ``offbench ARGV``; require status 2, nothing on stdout, and one line on stderr that
    contains every needle. Returns that line."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert out == "", out
    lines = err.splitlines()
    if lines and lines[0].startswith("usage:"):  # argparse's usage, with its indented lines
        lines = lines[1:]
        while lines and lines[0].startswith(" "):
            lines = lines[1:]
    assert len(lines) == 1, err
    assert lines[0].startswith("offbench: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path
