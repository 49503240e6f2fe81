"""Every committed table names solver parameter sets that today's code validates to the same
hash, or ``offbench leaderboard verify`` on it cannot pass: a parameter added to a solver (with
its default) changes the hash of every table made before it, and the table must then be made
again (results/README.md). Checked without re-running anything (a few seconds), so that such a
table is found by CI the day the parameter is added, not by the next verify. DMRO's ``adapt``
parameters (111f70f) left ``results/learned/capacitated`` and ``online-core`` stale for a day
this way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offbench.run.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
TABLES = sorted(p for p in (ROOT / "results").rglob("*.md")
                if "<!-- offbench-provenance:" in p.read_text(errors="replace"))


def _provenance(path: Path) -> dict:
    line = next(l for l in path.read_text().splitlines() if l.startswith("<!-- offbench-provenance:"))
    return json.loads(line.split("offbench-provenance:", 1)[1].removesuffix("-->").strip())


def test_the_committed_tables_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in TABLES}
    assert {"results/default/leaderboard.md", "results/learned/capacitated/leaderboard.md",
            "results/learned/online-core/leaderboard.md",
            "results/dag/learners-online/leaderboard.md"} <= names


@pytest.mark.parametrize("table", TABLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_committed_tables_solver_parameters_validate_to_its_hashes(table, monkeypatch):
    monkeypatch.chdir(ROOT)  # weights files are named relative to the repository's root
    prov = _provenance(table)
    stale = []
    for entry in prov["solvers"]:
        spec = parse_spec({"sources": [{"kind": "random"}],
                           "solvers": [{"id": entry["id"], "params": entry["params"]}]})
        now = spec.solvers[0]
        if now.param_hash != entry["param_hash"]:
            new = sorted(set(now.params) - set(entry["params"]))
            gone = sorted(set(entry["params"]) - set(now.params))
            stale.append(f"{entry['id']} (hash {entry['param_hash'][:12]} -> {now.param_hash[:12]}"
                         f"; new parameters {new}, gone {gone})")
    assert not stale, (f"{table.relative_to(ROOT)} was made with solver parameters that today's "
                       f"code validates differently; make the table again (results/README.md): "
                       + "; ".join(stale))
