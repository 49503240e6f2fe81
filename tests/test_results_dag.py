"""results/dag/three_tiers.md is what results/dag/tiers.py makes from the committed grid rows,
and the script refuses rows it cannot read as the grid (a reference not proven by mincut)."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAG = ROOT / "results" / "dag"


def _tiers():
    spec = importlib.util.spec_from_file_location("results_dag_tiers", DAG / "tiers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_three_tiers_table_is_made_from_the_committed_rows(tmp_path):
    out = tmp_path / "three_tiers.md"
    assert _tiers().main([str(DAG / "zoo-v2-tiers" / "rows.csv"), "-o", str(out)]) == 0
    assert out.read_text() == (DAG / "three_tiers.md").read_text()


def test_a_reference_not_proven_by_mincut_is_refused(tmp_path):
    rows = tmp_path / "rows.csv"
    shutil.copy(DAG / "zoo-v2-tiers" / "rows.csv.provenance.json", str(rows) + ".provenance.json")
    with open(DAG / "zoo-v2-tiers" / "rows.csv", newline="") as f:
        data = list(csv.DictReader(f))
    data[3]["ref_provenance"] = "local-search"
    with open(rows, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)
    with pytest.raises(SystemExit, match="not the minimum cut"):
        _tiers().main([str(rows), "-o", str(tmp_path / "t.md")])
