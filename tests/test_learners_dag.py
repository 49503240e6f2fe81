"""The learners on DAG jobs (SPEC.md section 7; issue 15 item 6): features that describe a node in
its job's graph and reduce bitwise to the chain reading, structures that compare edges, cut
exploration along a topological order, and DROO, DDLO, DMRO and the SB3 baselines end to end on
streams of DAG frames (workflow-v1, dmro-v2): deterministic, never below the proven optimum,
candidates distinct and valid, a change of structure refused with a clear message."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from offbench.cli import main
from offbench.cost import evaluate_many
from offbench.dag import job_graph, random_dag_instance
from offbench.discovery import make_solver, solve
from offbench.families import get_family
from offbench.generators import random_instance
from offbench.learn import (layer_features, job_features, same_structure, structure_difference)
from offbench.learn.candidates import (cut_exploration, cut_shapes, op_quantize, price_jobs,
                                       relaxed_tiers, topo_orders)
from offbench.learn.features import LAYER_NAMES, SCALES
from offbench.solver import Context

torch = pytest.importorskip("torch", reason="torch is the optional offbench[torch] extra")
pytest.importorskip("safetensors", reason="safetensors is in the optional offbench[rl] extra")

from tests.test_learned import TINY  # noqa: E402 - the same small networks


# ------------------------------------------------------------------------------ features
def _graph_rows(inst) -> np.ndarray:
    """The layer rows read from each job's graph (offbench.dag.job_graph), node by node: the
    module docstring's table, written again plainly (chains are graphs too)."""
    n = lambda q, u: float(np.log1p(q / SCALES[u]))  # noqa: E731
    rows = np.zeros((inst.n_layers, len(LAYER_NAMES)))
    for i in range(inst.n_jobs):
        g = job_graph(inst, i)
        L, o = g.n_nodes, g.first_layer
        data_in = [float(g.in_bits) if g.pred(v).size == 0 else
                   sum(float(g.out_bits[u]) for u in g.pred(v)) + sum(float(g.edge_bits[e]) for e in g.pred_edges(v))
                   for v in range(L)]
        topo = list(g.topo_order())
        for v in range(L):
            preds = g.pred(v)
            out = float(g.out_bits[v]) + sum(float(g.edge_bits[e]) for e in g.succ_edges(v))
            rows[o + v] = [n(float(g.ops[v]), "ops"), n(data_in[v], "bits"), n(out, "bits"),
                           topo.index(v) / (L - 1) if L > 1 else 0.0, float(preds.size == 0),
                           float(g.succ(v).size == 0),
                           n(sum(float(g.ops[u]) for u in preds), "ops"),
                           n(sum(data_in[u] for u in preds), "bits"), math.log2(1 + preds.size)]
    return rows


def test_layer_rows_read_each_node_in_its_graph():
    for seed in range(12):
        inst = random_dag_instance(seed, n_jobs=3, nodes=(1, 7), edge_prob=0.5, message_prob=0.5)
        np.testing.assert_allclose(layer_features(inst), _graph_rows(inst), rtol=1e-12, atol=0)
        J = job_features(inst)
        for i in range(inst.n_jobs):  # a job's result bits: its exit nodes' outputs
            g = job_graph(inst, i)
            want = math.log1p(sum(float(g.out_bits[v]) for v in g.exits) / SCALES["bits"])
            assert J[i, 9] == pytest.approx(want, rel=1e-12)


def test_on_chains_the_graph_reading_is_the_chain_rows_bitwise():
    for seed in range(6):
        inst = random_instance(seed, n_devices=2, n_jobs=3, layers=(1, 6))
        assert not inst.is_dag
        np.testing.assert_array_equal(layer_features(inst), _graph_rows(inst))
    # In a DAG instance, a chain job's rows are its chain rows, bitwise.
    for seed in range(10):
        inst = random_dag_instance(seed, n_jobs=4, nodes=(2, 3), edge_prob=0.6)
        if not inst.is_dag or inst.job_is_dag.all():
            continue
        ref, got = _graph_rows(inst), layer_features(inst)
        for i in np.flatnonzero(~inst.job_is_dag):
            sl = slice(inst.layer_offsets[i], inst.layer_offsets[i + 1])
            np.testing.assert_array_equal(got[sl], ref[sl])


def test_same_structure_compares_edges_and_says_what_differs():
    fam = get_family("workflow-v1")
    a, b = next(fam.stream(0, 1)), next(fam.stream(1, 1))
    a2 = list(fam.stream(0, 2))[1]
    assert same_structure(a, a2) and structure_difference(a, a2) is None
    assert a.layer_offsets.tolist() == b.layer_offsets.tolist()
    assert not same_structure(a, b)
    assert "a DAG job's structure differs" in structure_difference(a, b)
    chain = random_instance(0, n_devices=1, n_jobs=1, layers=(20, 20))
    assert not same_structure(a, chain.replace(job_device=a.job_device))


# ------------------------------------------------------------------------------ candidates
def test_cut_exploration_reads_cuts_along_the_topological_order():
    inst = random_dag_instance(5, n_jobs=3, nodes=(4, 8), edge_prob=0.5)
    assert inst.is_dag
    lens = inst.layers_per_job
    W = int(lens.max())
    orders = topo_orders(inst, W)
    rng = np.random.default_rng(0)
    base = np.where(np.arange(W)[None] < lens[:, None], rng.integers(0, 3, (inst.n_jobs, W)), -1).astype(np.int8)
    wild = cut_exploration(base, lens, 40, 1.0, np.random.default_rng(1), orders)
    moves = cut_exploration(base, lens, 40, 0.0, np.random.default_rng(1), orders)
    for i, L in enumerate(lens.tolist()):
        o = orders[i, :L]
        g = job_graph(inst, i)
        pos = np.argsort(o)
        assert all(pos[u] < pos[v] for u, v in zip(g.src, g.dst))  # a topological order
        shapes = {tuple(s) for s in cut_shapes(L).tolist()}
        for c in wild[:, i]:
            assert tuple(c[o].tolist()) in shapes           # a cut shape along the order
            assert np.all(c[L:] == -1)
        for c in moves[:, i]:
            changed = np.flatnonzero(c[o] != base[i, o])
            if changed.size:  # a run of consecutive nodes of the order, set to one tier
                assert np.all(c[o][changed[0]:changed[-1] + 1] == c[o][changed[0]])
    # Chains: the identity order gives bitwise what no order gives.
    chain = random_instance(1, n_devices=2, n_jobs=3, layers=(2, 6))
    assert topo_orders(chain) is None
    ident = np.where(np.arange(W)[None] < lens[:, None], np.arange(W)[None], -1)
    np.testing.assert_array_equal(cut_exploration(base, lens, 9, 0.5, np.random.default_rng(2)),
                                  cut_exploration(base, lens, 9, 0.5, np.random.default_rng(2), ident))


def test_quantized_candidates_on_a_dag_frame_are_distinct_valid_and_priced_bitwise():
    f = next(get_family("dmro-v2").stream(0, 1))
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=f.n_layers)
    C = op_quantize(relaxed_tiers(p), 40)
    assert C.shape == (40, f.n_layers) and len({c.tobytes() for c in C}) == 40
    assert C.min() >= 0 and C.max() <= 2
    ctx = Context(f, None, 0)
    jp = price_jobs(ctx, C)
    np.testing.assert_array_equal(jp.costs, evaluate_many(f, C, parallel=False))
    assert ctx.evaluations == 40


# ------------------------------------------------------------------------------ the solvers
@pytest.fixture(scope="module")
def streams():
    out = {}
    for fam in ("workflow-v1", "dmro-v2"):
        fr = list(get_family(fam).stream(4, 8))
        out[fam] = (fr, [solve(f, "mincut").cost for f in fr])
    return out


def _run(key, frames, seed, params=None):
    s = make_solver(key.split("-q")[0], params if params is not None else TINY[key])
    s.start(frames[0], seed)
    out = []
    for k, f in enumerate(frames):
        r = s.step(f, seed=k)
        assert r.status == "feasible", r.error
        m = s.learn(f, r.decision, Context(f, None, k))
        out.append((r.decision.tobytes(), json.dumps(m, sort_keys=True), r.cost, r.evaluations))
    return out, s


@pytest.mark.parametrize("fam", ["workflow-v1", "dmro-v2"])
@pytest.mark.parametrize("key", list(TINY))
def test_candidate_learners_on_dag_streams(key, fam, streams):
    fr, opt = streams[fam]
    a, s = _run(key, fr, 3)
    b, _ = _run(key, fr, 3)
    assert a == b  # bitwise: decisions, metrics, costs, evaluations
    for (_, _, cost, evals), o in zip(a, opt):
        assert cost >= o * (1 - 1e-9)
        assert evals >= 1
    assert any("loss" in json.loads(m) for _, m, _, _ in a)
    # A frame of another DAG structure (another seed's workflows) is refused, saying why.
    other = next(get_family(fam).stream(5, 1))
    r = s.step(other, seed=0)
    assert r.status == "error" and "another structure" in r.error and "DAG job" in r.error


def test_dmro_explores_cut_shapes_along_the_topological_order(streams):
    fr, _ = streams["workflow-v1"]
    s = make_solver("dmro", {**TINY["dmro"], "eps_start": 1.0, "eps_end": 1.0, "n_explore": 6})
    s.start(fr[0], 0)
    assert s.orders is not None and s.orders.shape == (1, 20)
    pool = s._propose(fr[0], Context(fr[0], None, 0))[2][2]     # (m, jobs, L)
    o = s.orders[0]
    shapes = {tuple(c) for c in cut_shapes(20).tolist()}
    explored = pool[-6:, 0]
    assert all(tuple(c[o].tolist()) in shapes for c in explored)


@pytest.mark.parametrize("key", ["sb3-dqn", "sb3-ppo"])
def test_sb3_on_a_dag_stream_writes_the_walk_back_in_file_order(key, streams):
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 is the optional offbench[rl] extra")
    fr, opt = streams["workflow-v1"]
    params = {"frames": len(fr), "net_arch": [16]}
    a, s = _run(key, fr, 1, params)
    b, _ = _run(key, fr, 1, params)
    assert a == b
    assert all(c >= o * (1 - 1e-9) for (_, _, c, _), o in zip(a, opt))
    r = s.step(next(get_family("workflow-v1").stream(5, 1)), seed=0)
    assert r.status == "error" and "another structure" in r.error
    if s.env_kind != "sequential":
        return
    # The decision is the greedy walk of the environment, written back node by node: on a DAG
    # whose file order is not topological, the walk is another order.
    inst = _relabelled(random_dag_instance(2, n_jobs=2, nodes=(5, 7), edge_prob=0.6))
    s = make_solver(key, params)
    s.start(inst, 0)
    env = s.decide_env
    assert not np.array_equal(env.order, np.arange(inst.n_layers))
    env.feed(inst)
    obs, _ = env.reset()
    x = np.full(inst.n_layers, -1)
    for p in range(inst.n_layers):
        act = int(s._act(obs))
        x[env.order[p]] = act
        obs, *_ = env.step(act)
    assert np.array_equal(x, s.step(inst, seed=0).decision)


def _relabelled(inst):
    """The instance with every DAG job's nodes numbered in reverse (file order not topological)."""
    from offbench.instance import Instance

    d = inst.to_dict()
    for job in d["jobs"]:
        if "edges" in job:
            L = len(job["ops"])
            job["ops"] = job["ops"][::-1]
            job["out_bits"] = job["out_bits"][::-1]
            job["edges"] = [[L + 1 - e[0], L + 1 - e[1], *e[2:]] for e in job["edges"]]
    return Instance.from_dict(d)


def test_weights_of_a_dag_stream_name_its_edges(tmp_path, streams):
    fr, _ = streams["workflow-v1"]
    s = make_solver("droo", TINY["droo"])
    s.start(fr[0], 0)
    path = tmp_path / "w.safetensors"
    s.save(path)
    t = make_solver("droo", TINY["droo"])
    t.start(next(get_family("workflow-v1").stream(5, 1)), 0)   # same sizes, other edges
    from offbench.learn import WeightsError

    with pytest.raises(WeightsError, match="another structure"):
        t.load(path)


def test_online_and_adaptation_tracks_on_dag_families_through_offbench_run(tmp_path):
    """Both learning tracks on workflow-v1 and dmro-v2 streams. dmro-v2's training environments
    are drawn with other seeds, whose workflows are other DAGs: the adaptation track's
    meta-training phase refuses them, saying so (a stream, and a learner, keep one structure)."""
    from offbench.store import Store

    def spec(name, source, adaptation, solvers):
        lines = [f'name = "{name}"', 'tracks = ["online", "adaptation"]', "seeds = [0]",
                 "time_limit = 20.0", "online = { window = 3 }", f"adaptation = {adaptation}",
                 "[[sources]]", 'kind = "stream"', *source]
        for key, p in solvers.items():
            lines += ["[[solvers]]", f'id = "{key}"', "params = { " + ", ".join(
                f"{k} = {json.dumps(v)}" for k, v in p.items()) + " }"]
        path = tmp_path / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    runs = [
        spec("w", ['name = "w"', 'family = "workflow-v1"', "seed = 2", "frames = 5", "switch_at = 3",
                   'switch_to = "4g"'], "{ window = 2 }",
             {k: TINY[k] for k in ("droo", "ddlo", "dmro")}),
        spec("d", ['name = "d"', 'family = "dmro-v2"', "seed = 2", "frames = 5", "switch_at = 3",
                   'switch_to = "comm-mid"'], "{ window = 2 }",
             {"dmro": TINY["dmro"], "ddlo": TINY["ddlo"]}),
    ]
    for path, n_rows in zip(runs, (3 * 2, 2 * 2)):
        store = tmp_path / (path.stem + ".sqlite")
        assert main(["run", str(path), "--store", str(store), "-j", "0", "--quiet", "--no-leaderboard"]) == 0
        with Store.open_readonly(store) as s:
            rows = s.results()
            frames_by_row = s.frames()
        assert len(rows) == n_rows
        for r in rows:
            fr = frames_by_row[r["row_id"]]
            assert r["status"] == "feasible" and r["error"] is None, r["error"]
            assert len(fr) == 5 and r["info"]["error_frames"] == 0
            assert all(f["ratio"] >= 1 - 1e-9 for f in fr)  # never below the proven optimum
            assert all(f["evaluations"] >= 1 for f in fr)
    meta = spec("m", ['name = "m"', 'family = "dmro-v2"', "seed = 2", "frames = 4", "switch_at = 2",
                      'switch_to = "comm-mid"'], "{ window = 2, meta_frames = 2 }",
                {"dmro": {**TINY["dmro"], "meta_tasks": 2, "meta_frames": 1, "inner_steps": 1}})
    store = tmp_path / "m.sqlite"
    main(["run", str(meta), "--store", str(store), "-j", "0", "--quiet", "--no-leaderboard"])
    with Store.open_readonly(store) as s:
        errors = {r["track"]: r["error"] for r in s.results()}
    assert errors["online"] is None
    assert "another structure than the stream's (a DAG job's structure differs" in errors["adaptation"]


@pytest.mark.parametrize("sid,params", [
    ("droo", TINY["droo"]), ("ddlo", TINY["ddlo"]), ("dmro", TINY["dmro"]),
    ("sb3-dqn", {"frames": 4, "net_arch": [16]})])
def test_check_solver_on_dag_instances(sid, params):
    """The public checks on the DAG battery (a static solve: a few rounds of learning on the
    instance): valid decisions priced as the cost model prices them, deterministic, never below
    the brute-force optimum. (sb3-ppo's static solve, 16 episodes and 10 epochs per round, is
    too slow for the default suite; it runs on DAG streams above.)"""
    if sid.startswith("sb3"):
        pytest.importorskip("stable_baselines3", reason="stable-baselines3 is the optional offbench[rl] extra")
    from offbench.testing import check_solver, dag_battery

    # A generous time limit: a loaded machine must not turn a solve into a timeout.
    assert check_solver(sid, params=params, instances=dag_battery(), skip=("params",), time_limit=300) == [
        "result", "feasible", "determinism", "optimality"]
