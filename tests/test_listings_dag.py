"""What the listings say about DAG jobs (version 2, SPEC.md section 7) and previews:
``offbench solvers`` (a DAG column; whole summaries), ``offbench instances list`` (chains or
DAGs and previews per family version, each version described by its own doc),
``offbench validate`` (a DAG file says so), and the README's own-family recipe and generator
list."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from offbench.cli import main
from offbench.dag import random_dag_instance
from offbench.families import PATH_ENV
from offbench.generators import random_instance
from offbench.instance import Instance

ROOT = Path(__file__).resolve().parents[1]


def _table(out: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header's column names and each row's cells (columns aligned under the header)."""
    lines = out.splitlines()
    head = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", head)]
    names = head.split()
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows[cells[0]] = cells
    return names, rows


# ------------------------------------------------------------------------------ offbench solvers
def test_solvers_table_says_which_solvers_take_dag_jobs(capsys):
    from offbench.discovery import discover

    assert main(["solvers"]) == 0
    names, rows = _table(capsys.readouterr().out)
    assert names[:4] == ["ID", "GUARANTEE", "DAG", "TRACKS"]
    col = names.index("DAG")
    assert rows["dp-v1"][col] == "no" and rows["mincut-v1"][col] == "yes"
    for e in discover([]).values():  # every row as its class declares it
        assert rows[e.id][col] == ("yes" if e.cls.handles_dag else "no"), e.id


