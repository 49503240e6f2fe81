"""The per-job overhead work of issue 14 changes no number: instances, streams and judged rows
are bitwise what they were at 0baca91 (fingerprints computed there), and the shortcuts taken
(SeedSequence entropy as words, quantize without error state, lean pricing) agree with the
long ways they replace."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from offbench.cost import as_decision, cost_feasible, evaluate
from offbench.errors import UserError
from offbench.families.family import entropy_words
from offbench.generators import random_instance
from offbench.streams import quantize

#: inst_fp() at 0baca91.
INSTANCES_FP = "3db485dd97117c85b6974c9f847e36f135701d9168612b7d4a1b70350d03861b"


def inst_fp() -> str:
    from offbench.families import list_families

    h = hashlib.sha256()
    for fam in list_families():
        for inst in fam.instances(4, 2):
            h.update(inst.digest.encode())
            h.update(inst.name.encode())
        for f in fam.stream(2, 3):
            h.update(f.digest.encode())
    for s in range(10):
        for kw in ({}, {"n_devices": 1, "n_jobs": 1, "layers": (1, 3)},
                   {"capacities": True, "deadlines": True, "energy_weight": 0.3}):
            h.update(random_instance(s, **kw).digest.encode())
    return h.hexdigest()


def test_generated_instances_are_bitwise_those_of_before():
    assert inst_fp() == INSTANCES_FP


def test_entropy_words_give_numpys_own_streams():
    rng = np.random.default_rng(0)
    for _ in range(300):
        vals = [int(v) for v in rng.integers(0, 2**63, 6)]
        vals[int(rng.integers(0, 6))] = 0
        vals[int(rng.integers(0, 6))] = int(rng.integers(0, 2**63)) * int(rng.integers(1, 2**40))
        a = np.random.SeedSequence(vals).generate_state(8)
        b = np.random.SeedSequence(entropy_words(vals)).generate_state(8)
        assert (a == b).all(), vals
    with pytest.raises(ValueError):
        entropy_words([1, -2])


def _quantize_before(values) -> np.ndarray:
    """quantize as it was at 0baca91."""
    a = np.asarray(values, dtype=np.float64)
    out = a.copy()
    mask = np.isfinite(a) & (a != 0)
    x = a[mask]
    if x.size == 0:
        return out
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        j = 5 - np.floor(np.log10(np.abs(x))).astype(np.int64)
    pos = j >= 0
    p = np.array([float(f"1e{k}") for k in range(23)])[np.clip(np.abs(j), 0, 22)]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        y = np.where(pos, np.round(x * p) / p, np.round(x / p) * p)
    rest = np.abs(j) > 22
    if rest.any():
        y[rest] = [float(format(v, ".6g")) for v in x[rest].tolist()]
    out[mask] = y
    return out


def test_quantize_is_bitwise_what_it_was():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(20000) * 10.0 ** rng.uniform(-40, 40, 20000)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e23, 1e-17, 9.999995e-7, 123456.5,
                        1e300, -1e-300, 5e-324])
    for a in (x, np.abs(x[:50]) + 1.0, special, np.concatenate([x[:100], special]), x[:0]):
        assert np.array_equal(quantize(a).view(np.uint64), _quantize_before(a).view(np.uint64))
    assert quantize(np.float64(3.14159265)).item() == 3.14159


def test_cost_feasible_is_evaluates_cost_and_feasibility():
    for s in range(20):
        inst = random_instance(s, capacities=True, deadlines=True)
        for x in np.random.default_rng(s).integers(0, 3, (5, inst.n_layers)).astype(np.int8):
            ev = evaluate(inst, x)
            assert cost_feasible(inst, x) == (ev.cost, ev.feasible)
            assert cost_feasible(inst, x.tolist()) == (ev.cost, ev.feasible)


def test_as_decision_shortcut_still_refuses_bad_tiers():
    inst = random_instance(0, n_devices=1, n_jobs=1, layers=(3, 3))
    x = np.zeros(3, dtype=np.int8)
    assert as_decision(inst, x) is x
    for bad in (np.array([0, -1, 0], dtype=np.int8), np.array([0, 3, 0], dtype=np.int8)):
        with pytest.raises(UserError, match=r"decision\[1\]"):
            as_decision(inst, bad)
    with pytest.raises(UserError, match="expected 3 values"):
        as_decision(inst, np.zeros(2, dtype=np.int8))


def test_replace_validates_and_refuses_unknown_fields():
    from offbench.errors import InstanceError
    from offbench.families._common import draft_replace

    inst = random_instance(3)
    assert inst.replace(name="x").digest == inst.digest
    with pytest.raises(InstanceError, match="edge.speed"):
        inst.replace(edge_speed=-1.0)
    with pytest.raises(InstanceError, match="jobs\\[0\\].ops"):
        inst.replace(ops=-np.ones(inst.n_layers))
    with pytest.raises(TypeError):
        inst.replace(nonsense=1)
    with pytest.raises(TypeError):
        draft_replace(inst, nonsense=1)
    d = draft_replace(inst, edge_speed=2.0)
    assert d.edge_speed == 2.0 and d.ops is inst.ops
