"""The compiled cost tables (:func:`offbench._tables.chain_tables`) are bitwise the numpy
formulas' (:func:`numpy_chain_tables` here: :func:`offbench.cost.compute_te` and
:func:`offbench.cost.transfer_te`, weighted and fused as :func:`offbench.cost.build_tables` did
before), on seeded random, degenerate and DAG instances, and :func:`offbench.cost.build_tables`
puts each array in its place."""

from __future__ import annotations

import numpy as np
import pytest

from offbench import cost
from offbench._tables import chain_tables
from offbench.cost import compute_te, transfer_te
from offbench.families import get_family
from offbench.generators import random_instance

def numpy_chain_tables(inst) -> tuple:
    """The same arrays by the numpy expressions of :func:`offbench.cost.build_tables` (what it
    computed before :func:`~offbench._tables.chain_tables`: the reference)."""
    nj, nl = inst.n_jobs, inst.n_layers
    off = inst.layer_offsets
    lj = inst.layer_job
    comp_t, comp_e = compute_te(inst, inst.job_device[lj], inst.ops)
    boundary_job = np.repeat(np.arange(nj), inst.layers_per_job + 1)
    tr_t, tr_e = transfer_te(inst, inst.job_device[boundary_job], inst.bits)
    wl = inst.job_weight[lj][:, None]
    wb = inst.job_weight[boundary_job][:, None]
    comp_c = wl * (inst.w_time * comp_t + inst.w_energy * comp_e)
    tr_c = wb * (inst.w_time * tr_t + inst.w_energy * tr_e)
    b_in = np.arange(nl) + lj
    b_last = off[1:] + np.arange(nj)
    return (comp_t, comp_e, comp_c, tr_t, tr_e, tr_c,
            tr_c[b_in] + np.tile(comp_c, (1, 3)), tr_t[b_in] + np.tile(comp_t, (1, 3)),
            tr_c[b_last][:, 0::3], tr_t[b_last][:, 0::3],
            tr_e[b_in] + np.tile(comp_e, (1, 3)), tr_e[b_last][:, 0::3])


NAMES = ("comp_t", "comp_e", "comp_c", "tr_t", "tr_e", "tr_c", "step_c", "step_t", "end_c",
         "end_t", "step_e", "end_e")


def _same(inst) -> None:
    got, want = chain_tables(inst), numpy_chain_tables(inst)
    t = cost.build_tables(inst)
    for name, a, b in zip(NAMES, got, want):
        b = np.ascontiguousarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes(), f"{name} differs from the numpy formulas"
        assert getattr(t, name).tobytes() == b.tobytes(), f"Tables.{name} is not in its place"
        assert not getattr(t, name).flags.writeable


def _degenerate(inst, **changes):
    return inst.replace(**changes)


def test_random_instances_bitwise():
    for seed in range(60):
        _same(random_instance(seed, n_devices=1 + seed % 4, n_jobs=1 + seed % 6, layers=(1, 12),
                              capacities=bool(seed % 2), deadlines=bool(seed % 3)))


def test_degenerate_instances_bitwise():
    base = random_instance(7, n_devices=2, n_jobs=3, layers=(1, 5), capacities=True,
                           deadlines=True)
    nl, nb = base.n_layers, base.bits.size
    cases = [
        dict(ops=np.zeros(nl)),                                      # zero ops
        dict(bits=np.zeros(nb)),                                     # zero bits (latency only)
        dict(job_weight=np.zeros(base.n_jobs)),                      # weight 0
        dict(w_time=0.0), dict(w_energy=0.0),
        dict(edge_capacity=0.0, cloud_capacity=0.0),                 # tiers switched off
        dict(backhaul_latency=0.0, dev_latency=np.zeros(base.n_devices)),
        dict(ops=np.full(nl, 1e15), bits=np.full(nb, 1e12)),         # large magnitudes
    ]
    for ch in cases:
        _same(_degenerate(base, **ch))
    _same(random_instance(3, n_devices=1, n_jobs=1, layers=(1, 1)))  # one job of one layer


@pytest.mark.parametrize("family", ["dmro-v1", "zoo-v1:fleet", "capacitated-v1:small",
                                    "workflow-v1:single", "dmro-v2", "zoo-v2:fleet"])
def test_family_instances_bitwise(family):
    """Real families, DAG ones included (the DAG tables are built from these arrays)."""
    try:
        fam = get_family(family)
    except Exception as e:  # a family ID renamed: say so rather than skip silently
        pytest.fail(f"family {family}: {e}")
    for k in range(3):
        _same(fam.generate(0, k))
