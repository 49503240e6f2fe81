"""Every committed table names solver parameter sets that today's code validates to the same
hash, or ``offbench leaderboard verify`` on it cannot pass: a parameter added to a solver (with
its default) changes the hash of every table made before it, and the table must then be made
again (results/README.md). Checked without re-running anything (a few seconds), so that such a
table is found by CI the day the parameter is added, not by the next verify. DMRO's ``adapt``
parameters (111f70f) left ``results/learned/capacitated`` and ``online-core`` stale for a day
this way. Likewise each table's run spec must be what its committed spec file gives today (an
edited spec file means the table's command makes another table)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from offbench.run.spec import load_spec_file, parse_spec

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


@functools.lru_cache(maxsize=1)
def _specs_by_name() -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {}
    files = sorted((ROOT / "results").rglob("*.toml")) + [ROOT / "offbench/data/default_run.toml"]
    for f in files:
        d = parse_spec(load_spec_file(f)).to_dict()  # as offbench run FILE reads it
        out.setdefault(d["name"], []).append((f.relative_to(ROOT).as_posix(), d))
    return out


def _made_by(table_spec: dict, spec: dict) -> bool:
    """Whether ``spec`` (a committed spec file, validated) is the one a table's run used, or that
    run narrowed to some of its solvers and sources (``offbench run SPEC --solver ...``)."""
    rest = lambda d: {k: v for k, v in d.items() if k not in ("solvers", "sources")}  # noqa: E731
    return (rest(table_spec) == rest(spec)
            and all(s in spec["solvers"] for s in table_spec["solvers"])
            and all(s in spec["sources"] for s in table_spec["sources"]))


@pytest.mark.parametrize("table", TABLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_committed_tables_run_spec_is_its_spec_file(table, monkeypatch):
    """The README of each table says which spec file makes it again: that file, validated today,
    is the spec the table's provenance records (or narrowed to some of its solvers or sources),
    so an edit to a spec file without making its tables again is found here."""
    monkeypatch.chdir(ROOT)
    by_name = _specs_by_name()
    for ps in _provenance(table)["specs"]:
        files = by_name.get(ps["name"], [])
        assert files, f"{table.relative_to(ROOT)}: no committed spec file is named {ps['name']!r}"
        assert any(_made_by(ps, d) for _, d in files), (
            f"{table.relative_to(ROOT)}: its run spec {ps['name']!r} is not what "
            f"{' or '.join(f for f, _ in files)} gives today; make the table again "
            "(results/README.md)")
