"""Tests of the DAG families ``workflow`` and ``zoo-v2``: pinned digests, determinism, daggen's
structure, the communication-to-computation ratio, the DNN DAGs of the zoo, environments and
streams that keep the structure, and version-2 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from offbench.cost import evaluate
from offbench.dag_profiles import load_dag_profile
from offbench.families import get_family
from offbench.families._common import DEVICE_CLASSES, JPEG_INPUT_BITS, NETWORKS
from offbench.families._dag import MIB, daggen_dag
from offbench.families.workflow import workflow_job
from offbench.instance import Instance

#: Instance (seed 7, index 3) of each DAG family. A change here means the generator changed:
#: that needs a new family version (and a history line), never an edit of these values.
GOLDEN = {
    "workflow-v1:single": "07ba528644367810e215caa4ea43475dee4bf5f8cfc449340ec0ef077b58c6d0",
    "workflow-v1:fleet": "89ecb6b75a3b1e878f522b2e556326e4c2c85b774b291212bd18ce5bab9c8296",
    "zoo-v2:fleet": "ff9800f7a7dcdb604fb9481bf21d634a8db20ed748dc7f7d3b57ad31f10bc0f1",
    "zoo-v2:single": "dfcf12f224ac33eb358838ba21ec804ac9044e40ee5dcb190e16c4069330107d",
    "zoo-v2:capacitated": "f01f9989b873b30caf8daf70959db9e7835d0c124dcc10bf3aafc387b3c99fa4",
    "zoo-v2:deadline": "0076acf279c479db82a652bdcc080911448d9867a85c56b97b2d28fa117e7cc6",
    "dmro-v2": "aa33036fc3a775a4a6eb3537495799f60e75a9363bd7e66608b448e73f87328e",
    "workflow-v2:single": "26995357af959490fe05531c96a1dec0051d443efedbd7ff0e6079c7a8725eb5",
    "workflow-v2:fleet": "b523430174acd5029364f4fe19a69c48dbc1b23a5698d23eaa27ba880efcc150",
    "dmro-v3": "634da94a03aeb82ec7555da9c77c0f1b3fa48c5f8d064e31510e3401bb060371",
}


def _edges(inst: Instance, i: int) -> list[tuple[int, int]]:
    a, b = int(inst.edge_offsets[i]), int(inst.edge_offsets[i + 1])
    return list(zip(inst.edge_src[a:b].tolist(), inst.edge_dst[a:b].tolist()))


@pytest.mark.parametrize("fid", sorted(GOLDEN))
def test_pinned_digests(fid):
    assert get_family(fid).generate(7, 3).digest == GOLDEN[fid]


@pytest.mark.parametrize("fid", sorted(GOLDEN))
def test_deterministic_independent_and_round_trips_as_version_2(fid):
    fam = get_family(fid)
    a, b = fam.instances(11, 3), fam.instances(11, 3)
    assert [x.digest for x in a] == [x.digest for x in b]
    assert fam.generate(11, 2).digest == a[2].digest
    assert len({x.digest for x in a}) == 3
    inst = a[0]
    assert inst.is_dag and bool(np.all(inst.job_is_dag))
    assert Instance.from_json(inst.to_json()).digest == inst.digest
    assert inst.to_dict()["version"] == 2
    x = np.zeros(inst.n_layers, dtype=np.int8)
    assert np.isfinite(evaluate(inst, x).cost)


@pytest.mark.parametrize("n,fat,density", [(20, 0.4, 0.4), (20, 0.8, 0.8), (20, 0.6, 0.5),
                                           (35, 0.5, 0.7), (1, 0.5, 0.5), (12, 0.0, 0.5)])
def test_daggen_levels_and_parents(n, fat, density):
    for seed in range(20):
        edges = daggen_dag(np.random.default_rng(seed), n, fat, density)
        assert edges == sorted(set(edges)) and all(u < v for u, v in edges)
        parents = {v: [u for u, w in edges if w == v] for v in range(n)}
        # Levels: the entries are the first level; every later task's parents lie in the level
        # just before its own, and it has at least one.
        level = {v: 0 for v in range(n) if not parents[v]}
        first = sorted(level)
        assert first == list(range(len(first)))
        for v in range(len(first), n):
            assert parents[v], (seed, v)
            depths = {level[u] for u in parents[v]}
            assert len(depths) == 1
            level[v] = depths.pop() + 1
        widths = np.bincount([level[v] for v in range(n)])
        assert list(np.repeat(np.arange(len(widths)), widths)) == [level[v] for v in range(n)]
        for v in range(len(first), n):
            before = widths[level[v] - 1]
            assert len(parents[v]) <= min(before, 1 + int(density * before))
        if fat == 0.0:  # n ** 0 = one task per level, +-50%: at most two
            assert widths.max() <= 2


def test_daggen_fat_makes_wide_dags_and_density_dense_ones():
    def shape(fat, density):
        counts, depths = [], []
        for seed in range(40):
            edges = daggen_dag(np.random.default_rng(seed), 20, fat, density)
            counts.append(len(edges))
            entries = 20 - len({v for _, v in edges})
            depths.append(entries)
        return np.mean(counts), np.mean(depths)

    thin, wide = shape(0.4, 0.6), shape(0.8, 0.6)
    assert wide[1] > 2 * thin[1]           # first level: about 20^0.8 = 11 vs 20^0.4 = 3
    sparse, dense = shape(0.6, 0.1), shape(0.6, 0.9)
    assert dense[0] > 1.5 * sparse[0]


def test_workflow_sizes_and_the_communication_to_computation_ratio():
    p = get_family("workflow").params
    for seed in range(30):
        job = workflow_job(np.random.default_rng(seed), p, 0)
        n = len(job["ops"])
        assert n == 20
        messages = np.array([bits for _, _, bits in job["edges"]])
        assert messages.size and np.all((messages >= 5 * 8 * MIB) & (messages <= 50 * 8 * MIB))
        assert 5 * 8 * MIB <= job["in_bits"] <= 50 * 8 * MIB
        senders = {u for u, _, _ in job["edges"]}
        out = np.array(job["out_bits"])
        exits = [v for v in range(1, n + 1) if v not in senders]
        assert exits and np.all(out[[v - 1 for v in senders]] == 0)
        assert np.all((out[[v - 1 for v in exits]] >= 5 * 8 * MIB))
        ccr = (messages.sum() / p["ref_rate"]) / (sum(job["ops"]) / p["ref_speed"])
        assert 0.3 - 1e-12 <= ccr <= 0.5 + 1e-12
        weights = np.array(job["ops"]) / sum(job["ops"])
        assert weights.max() / weights.min() <= 10.0 + 1e-9  # task weights in 5..50 MiB


def test_workflow_environments_keep_the_workflows_and_devices():
    fam = get_family("workflow:fleet")
    a = fam.scenario(3, 0, environment="4g").base
    b = fam.scenario(3, 0, environment="wifi").base
    assert np.array_equal(a.ops, b.ops) and np.array_equal(a.bits, b.bits)
    assert np.array_equal(a.edge_src, b.edge_src) and np.array_equal(a.edge_bits, b.edge_bits)
    assert np.array_equal(a.dev_speed, b.dev_speed)
    assert np.all(a.dev_rate_up == NETWORKS["4g"].rate_up)
    assert np.all(b.dev_rate_up == NETWORKS["wifi"].rate_up)
    total = a.ops.sum()
    assert 0.2 * total <= a.edge_capacity <= 0.4 * total
    assert 0.2 * total <= a.cloud_capacity <= 0.4 * total
    single = get_family("workflow").generate(3, 0)
    assert np.isinf(single.edge_capacity) and np.isinf(single.cloud_capacity)


def test_a_stream_keeps_one_dag_structure_and_can_switch_environment():
    fam = get_family("workflow:fleet")
    frames = list(fam.stream(5, 6, switch_at=3, switch_to="5g"))
    first = frames[0]
    for f in frames[1:]:
        assert f.n_layers == first.n_layers
        assert all(_edges(f, i) == _edges(first, i) for i in range(f.n_jobs))
        assert np.array_equal(f.edge_bits, first.edge_bits)
    assert not np.array_equal(frames[0].ops, frames[1].ops)  # work varies frame to frame
    zoo = list(get_family("zoo-v2").stream(2, 3))
    assert all(_edges(f, i) == _edges(zoo[0], i) for f in zoo for i in range(f.n_jobs))


def test_zoo_v2_jobs_are_the_traced_dnns_on_the_zoos_devices():
    fam = get_family("zoo-v2")
    seen = set()
    for index in range(6):
        inst = fam.scenario(1, index).base  # the nominal instance (frames scale the input)
        for i in range(inst.n_jobs):
            n = int(inst.layers_per_job[i])
            model = {load_dag_profile(m).n_nodes: m for m in fam.params["models"]}[n]
            seen.add(model)
            profile = load_dag_profile(model)
            assert [(u, v) for u, v in profile.edges] == _edges(inst, i)
            np.testing.assert_allclose(inst.job_ops(i), profile.ops, rtol=1e-5)
            bits = inst.job_bits(i)
            np.testing.assert_allclose(bits[1:], profile.out_bits, rtol=1e-5)
            assert min(abs(bits[0] / x - 1) for x in (JPEG_INPUT_BITS, profile.input_bits)) < 1e-5
        speeds = {c.speed for c in DEVICE_CLASSES.values()}
        assert all(any(0.8 * s - 1 <= x <= 1.2 * s + 1 for s in speeds) for x in inst.dev_speed)
    assert seen == set(fam.params["models"])
    jpeg = get_family("zoo-v2:single").scenario(0, 0, environment="jpeg").base
    assert jpeg.in_bits[0] == JPEG_INPUT_BITS


def test_bad_parameters_are_refused():
    from offbench.families import FamilyError

    with pytest.raises(FamilyError, match="models"):
        get_family("zoo-v2", models=["alexnet"])
    with pytest.raises(FamilyError, match="fat"):
        get_family("workflow", fat=(0.4, 1.5))
    with pytest.raises(FamilyError, match="ccr"):
        get_family("workflow", ccr=(0.0, 0.5))


def test_zoo_v2_capacities_and_soft_deadlines():
    from offbench.families._fleet import best_single_tier_times

    cap = get_family("zoo-v2:capacitated").scenario(4, 0).base
    total = cap.ops.sum()
    assert 0.1 * total <= cap.edge_capacity <= 0.3 * total
    assert 0.1 * total <= cap.cloud_capacity <= 0.3 * total
    fam = get_family("zoo-v2:deadline")
    seen_inf = False
    for index in range(4):
        inst = fam.scenario(4, index).base
        assert inst.w_tardiness == 10.0 and np.isinf(inst.edge_capacity)
        best = best_single_tier_times(inst)
        ratio = inst.deadline / best
        finite = np.isfinite(ratio)
        seen_inf |= not finite.all()
        assert np.all((ratio[finite] >= 0.5 - 1e-5) & (ratio[finite] <= 1.2 + 1e-5))
    assert seen_inf
    plain = get_family("zoo-v2").scenario(4, 0).base
    assert np.all(np.isinf(plain.deadline)) and plain.w_tardiness == 0.0


def test_zoo_v2_is_a_preview_with_a_generator_of_its_own():
    v1, v2 = get_family("zoo"), get_family("zoo-v2")
    assert (v1.id, v2.id) == ("zoo-v1:fleet", "zoo-v2:fleet")
    assert v1.latest_version == 1 and not v1.generate(0, 0).is_dag
    assert v2.module.__name__ == "offbench.families.zoo_dag" and "granularity" not in v2.params
    assert "googlenet" in v2.params["models"]
    assert [v2.set_id(s) for s in v2.sets] == ["zoo-v2:fleet/test", "zoo-v2:single/test",
                                               "zoo-v2:capacitated/test", "zoo-v2:deadline/test"]
    assert "Version 2" in v2.doc


def test_a_user_family_may_name_a_version_2_generator_but_not_one_per_version(tmp_path,
                                                                             monkeypatch):
    from offbench.families import PATH_ENV, FamilyError, add_families_dirs

    monkeypatch.setenv(PATH_ENV, "")
    zoo = (Path(__file__).resolve().parents[1] / "instances" / "zoo.toml").read_text()
    v2 = zoo[zoo.index("[v2]"):zoo.index("[[v2.sets]]")].replace("[v2", "[v1")
    v2 = v2.replace('generator = "offbench.families.zoo_dag"\npreview = true\n', "")
    head = ('name = "{name}"\ngenerator = "offbench.families.zoo_dag"\n'
            'description = "Traced DNN DAGs on a campus: a user family over zoo-v2\'s generator."\n'
            'doc = "What it models: a test family."\n\n[[history]]\nversion = 1\n'
            'change = "First version."\n\n')
    good = tmp_path / "good"
    good.mkdir()
    (good / "campus_dag.toml").write_text(head.format(name="campus_dag") + v2)
    add_families_dirs([good])
    assert get_family("campus_dag:single").generate(0, 0).is_dag
    bad = tmp_path / "bad"
    bad.mkdir()
    text = head.format(name="campus_bad") + v2.replace(
        "[v1]\n", '[v1]\ngenerator = "offbench.families.zoo_dag"\n', 1)
    (bad / "campus_bad.toml").write_text(text)
    with pytest.raises(FamilyError, match=r"\[v1\]\.generator: a generator per version"):
        add_families_dirs([bad])


def test_dmro_v2_devices_of_v1_workflows_and_environments_that_keep_the_structure():
    v1, v2 = get_family("dmro"), get_family("dmro-v2")
    assert (v1.id, v2.id) == ("dmro-v1", "dmro-v2")
    from offbench.families._common import DROO_N0, droo_mean_gain, shannon_rate

    b = v2.scenario(5, 0).base  # v1's devices: DROO's channel, v1's ranges
    assert np.all((b.dev_speed >= 3e9) & (b.dev_speed <= 3e10))
    far, near = (shannon_rate(2e6, 0.1 * droo_mean_gain(d) / DROO_N0) for d in (5.2, 2.5))
    assert np.all((b.dev_rate_up >= far * (1 - 1e-5)) & (b.dev_rate_up <= near * (1 + 1e-5)))
    assert b.n_jobs == 10 and np.all(b.layers_per_job == 10) and np.all(b.job_is_dag)
    assert list(b.job_weight[:4]) == [1.0, 1.5, 1.0, 1.5]
    comm = v2.scenario(5, 0, environment="comm-low").base
    compute = v2.scenario(5, 0, environment="compute-high").base
    assert np.array_equal(comm.edge_src, compute.edge_src)
    assert np.array_equal(comm.edge_dst, compute.edge_dst)
    assert np.array_equal(comm.edge_bits, compute.edge_bits)
    assert np.array_equal(comm.dev_speed, compute.dev_speed)
    assert comm.ops.sum() / compute.ops.sum() == pytest.approx(0.3 / 0.5, rel=1e-5)
    assert np.all(comm.dev_rate_up < compute.dev_rate_up)  # 0.2 MHz against 10 MHz
    assert {e.split for e in v2.environments.values()} == {"train", "heldout"}
    frames = list(v2.stream(2, 4, switch_at=2, switch_to="comm-mid"))
    assert all(np.array_equal(f.edge_src, frames[0].edge_src) for f in frames)


def test_generating_dag_families_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from offbench.families import get_family; "
            "[get_family(f).generate(0, 0) for f in ('zoo-v2', 'dmro-v2', 'workflow')]; "
            "assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                   check=True)
