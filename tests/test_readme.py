"""The README's Python code blocks run as written (a reader copies them)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _block(marker: str) -> str:
    hits = [b for b in _blocks() if marker in b]
    assert len(hits) == 1, f"one README block with {marker!r}, found {len(hits)}"
    return hits[0]


def test_every_python_block_is_tested():
    markers = ("offbench.load_instance", "class RemoteFirst", "offbench.results.load",
               "gymnasium.make")
    for b in _blocks():
        assert any(m in b for m in markers), f"a README block no test runs:\n{b}"


def test_api_block(tmp_path, monkeypatch):
    from offbench.generators import random_instance

    inst = random_instance(0, n_jobs=2, layers=(3, 3), capacities=True)
    (tmp_path / "x.json").write_text(inst.to_json())
    monkeypatch.chdir(tmp_path)
    # the block's placeholders: a file x.json, a decision and a batch X
    ns = {"decision": np.zeros(inst.n_layers, dtype=np.int8),
          "X": np.zeros((4, inst.n_layers), dtype=np.int8)}
    exec(compile(_block("offbench.load_instance"), "README.md", "exec"), ns)
    assert ns["ev"].feasible and ns["costs"].shape == (4,)
    assert ns["res"].status in ("optimal", "feasible", "timeout") and ns["res"].decision is not None


def test_writing_a_solver_block_passes_check_solver():
    ns: dict = {}
    exec(compile(_block("class RemoteFirst"), "README.md", "exec"), ns)
    from offbench.testing import check_solver

    assert "feasible" in check_solver(ns["RemoteFirst"], params={"tier": 2})


def test_gymnasium_block():
    pytest.importorskip("gymnasium", reason="the offbench[rl] extra")
    ns: dict = {}
    exec(compile(_block("gymnasium.make"), "README.md", "exec"), ns)
    assert ns["obs"] is not None


def test_run_and_results_block(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(_block("offbench.results.load"), "README.md", "exec"), ns)
    res = ns["res"]
    assert ns["summary"].ok and len(res.results) == 12
    assert set(res.results.family) == {"capacitated-v1:small"} and res.results.solved.all()
