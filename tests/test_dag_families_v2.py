"""Tests of ``workflow-v2`` and ``dmro-v3`` (workflows sized per task, as MRLCO's data set):
pinned digests, determinism, previews beside the earlier versions, the per-task sizes and ratio,
environments that keep the DAGs, and their frozen sets."""

from __future__ import annotations

import numpy as np
import pytest

from offbench.families import get_family
from offbench.families._dag import MIB
from offbench.families.workflow_mrlco import workflow_job
from offbench.instance_sets import load_set, verify_set

# Their pinned digests and the determinism / round-trip checks are in test_dag_families.GOLDEN
# with the other DAG families'.


def test_a_preview_beside_version_1():
    v1, v2 = get_family("workflow"), get_family("workflow-v2")
    assert (v1.id, v2.id) == ("workflow-v1:single", "workflow-v2:single")
    assert v2.module.__name__ == "offbench.families.workflow_mrlco"
    assert "task_mib" not in v2.params and "ref_rate" not in v2.params
    assert v2.params["ref_process_rate"] == 8.0 * MIB
    assert [v2.set_id(s) for s in v2.sets] == ["workflow-v2:single/test", "workflow-v2:fleet/test"]
    assert "Version 2" in v2.doc
    # One generator, the same DAG (daggen's draws come first, in the same order), other sizes.
    from offbench.families.workflow import workflow_job as v1_job
    j1 = v1_job(np.random.default_rng(3), v1.params_for(), 0)
    j2 = workflow_job(np.random.default_rng(3), v2.params_for(), 0)
    assert [e[:2] for e in j1["edges"]] == [e[:2] for e in j2["edges"]]
    assert j1["ops"] != j2["ops"]


def _job(p, seed):
    return workflow_job(np.random.default_rng(seed), p, 0)


@pytest.mark.parametrize("seed", range(12))
def test_sizes_per_task_as_mrlco(seed):
    """Every out-edge of a task carries the task's output m_u in [5, 50] MiB, an exit returns
    it, and m_u / (ops_u's data) is the workflow's one ratio, in [0.3, 0.5]: MRLCO's
    expect_size = ccr x size."""
    p = get_family("workflow-v2:single").params_for()
    job = _job(p, seed)
    n = len(job["ops"])
    ops = np.array(job["ops"])
    out = {}
    for u, v, bits in job["edges"]:
        assert out.setdefault(u - 1, bits) == bits, "one size on every out-edge of a task"
    exits = [u for u in range(n) if u not in out]
    for u in exits:
        out[u] = job["out_bits"][u]
    assert all(job["out_bits"][u] == 0.0 for u in range(n) if u not in exits)
    m = np.array([out[u] for u in range(n)])
    assert np.all((m >= 8 * 5 * MIB) & (m <= 8 * 50 * MIB))
    data = ops / p["ref_speed"] * p["ref_process_rate"]  # bits the reference device processes
    ratio = m / data
    assert np.allclose(ratio, ratio[0], rtol=1e-12)
    assert 0.3 <= ratio[0] <= 0.5
    assert 8 * 5 * MIB <= job["in_bits"] <= 8 * 50 * MIB


def test_message_time_is_ccr_times_8_over_7_of_the_senders_compute_on_mrlcos_platform():
    p = dict(get_family("workflow-v2:single").params_for(), ccr=(0.4, 0.4))
    job = _job(p, 5)
    rate = 7.0 * MIB  # MRLCO's 7 Mbit/s link (bandwidth * 2**20 / 8 bytes/s)
    for u, _, bits in job["edges"]:
        compute = job["ops"][u - 1] / p["ref_speed"]
        assert bits / rate == pytest.approx(0.4 * 8 / 7 * compute, rel=1e-12)


def test_less_computation_per_message_than_version_1():
    """Version 1 tied a workflow's operations to the sum over its edges (|E|/|V| times MRLCO's);
    on the same DAGs version 2's operations per bit of message are lower on average."""
    f1, f2 = get_family("workflow-v1:single"), get_family("workflow-v2:single")
    r1, r2 = [], []
    for i in range(16):
        for fam, r in ((f1, r1), (f2, r2)):
            inst = fam.generate(21, i)
            r.append(inst.ops.sum() / inst.edge_bits.sum())
    assert np.median(r2) < 0.8 * np.median(r1)


def test_dmro_v3_is_dmro_v2_with_workflows_sized_per_task():
    v2, v3 = get_family("dmro-v2"), get_family("dmro-v3")
    assert get_family("dmro").id == "dmro-v1"
    assert v3.module.__name__ == "offbench.families.dmro_mrlco"
    assert list(v3.environments) == list(v2.environments)
    assert v3.params["ref_process_rate"] == v2.params["ref_rate"]
    assert "task_mib" not in v3.params and "Version 3" in v3.doc
    p = v3.params_for()
    job = _job(p, 4)
    out = {}
    for u, _, bits in job["edges"]:
        assert out.setdefault(u - 1, bits) == bits
    for u, bits in out.items():  # each message: ccr x its sender's compute, in time at ref
        ratio = (bits / p["ref_process_rate"]) / (job["ops"][u] / p["ref_speed"])
        assert p["ccr"][0] <= ratio <= p["ccr"][1]


def test_dmro_v3_environments_keep_the_dags_and_messages():
    fam = get_family("dmro-v3")
    a = fam.scenario(5, 0, environment="compute-low").base
    b = fam.scenario(5, 0, environment="comm-high").base
    assert np.array_equal(a.edge_src, b.edge_src) and np.array_equal(a.edge_dst, b.edge_dst)
    assert np.array_equal(a.edge_bits, b.edge_bits)
    assert np.allclose(a.ops * 0.3, b.ops * 0.5, rtol=1e-5)  # ops = output / ccr (6 digits kept)


@pytest.mark.parametrize("set_id,size,proof", [
    ("workflow-v2:single/test", 8, {"mincut"}),
    ("workflow-v2:fleet/test", 8, {"milp", "milp-gap"}),
    ("dmro-v3/test", 7, {"mincut"}),
])
def test_frozen_sets_verify_and_references_are_proven(set_id, size, proof):
    s = load_set(set_id)
    assert len(s) == size and len(s.references) == size
    assert verify_set(set_id, resolve=False) == []
    assert {s.reference(i)["provenance"] for i in s.instances} <= proof


def _triviality():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "results" / "dag" / "triviality.py"
    spec = importlib.util.spec_from_file_location("triviality", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_triviality_table_row_and_bad_input(capsys):
    """results/dag/triviality.py: one row per source, its shares and ratios consistent with the
    minimum cut's optimum (no baseline below it); bad input exits 2 with one message."""
    tr = _triviality()
    r = tr.row("w", "workflow-v2:single", "5g", None, 2, 3)
    assert r["n"] == 2 and set(r["ratios"]) == set(tr.BASELINES)
    for b, x in r["ratios"].items():
        assert np.all(x >= 1 - 1e-9), b
    assert abs(sum(r["jobs"].values()) - 1) < 1e-12 and abs(r["nodes"].sum() - 1) < 1e-12
    line = tr.table([r])[-1]
    assert line.startswith("| w | 2 |") and line.count("|") == 11 + len(tr.BASELINES)
    assert tr.main(["--count", "0"]) == 2
    assert tr.main(["--only", "no such source"]) == 2
    assert tr.main(["--family", "workflow-v2:single[backhaul_rate=-1]"]) == 2
    err = capsys.readouterr().err
    assert "--count must be at least 1" in err and "matches no source" in err
    assert "'backhaul_rate' parameter" in err and err.count("\n") == 3
