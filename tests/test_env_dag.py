"""The Gymnasium environments on DAG jobs (SPEC.md section 7): the walk is topological, the return
identity holds on random DAGs (also in non-topological file order), the DAG observation says
what it claims, streams keep one DAG structure and other structures are refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offbench.cost import all_device_cost, evaluate
from offbench.dag import job_graph, random_dag_instance
from offbench.instance import Instance
from offbench.learn.features import frame_vector

gym = pytest.importorskip("gymnasium", reason="gymnasium is the optional offbench[rl] extra")

from offbench.env import (DAG_NODE_NAMES, EnvError, PlacementBanditEnv,  # noqa: E402
                          PlacementEnv)


def _relabel(inst: Instance, seed: int) -> Instance:
    """The same instance with every DAG job's nodes renumbered at random (file order no longer
    topological; the same costs for the renumbered decisions)."""
    d = inst.to_dict()
    rng = np.random.default_rng(seed)
    for job in d["jobs"]:
        if "edges" not in job:
            continue
        L = len(job["ops"])
        perm = rng.permutation(L)          # old node v (0-based) becomes node perm[v]
        inv = np.argsort(perm)
        job["ops"] = [job["ops"][int(inv[k])] for k in range(L)]
        job["out_bits"] = [job["out_bits"][int(inv[k])] for k in range(L)]
        job["edges"] = [[int(perm[e[0] - 1]) + 1, int(perm[e[1] - 1]) + 1, *e[2:]] for e in job["edges"]]
    return Instance.from_dict(d)


@st.composite
def dag_cases(draw):
    seed = draw(st.integers(0, 10_000))
    inst = random_dag_instance(seed, n_jobs=draw(st.integers(1, 3)), nodes=(2, 6),
                               capacities=draw(st.booleans()), deadlines=draw(st.booleans()),
                               edge_prob=draw(st.sampled_from([0.3, 0.6, 0.9])))
    if draw(st.booleans()):
        inst = _relabel(inst, seed)
    xs = [np.array(draw(st.lists(st.integers(0, 2), min_size=inst.n_layers, max_size=inst.n_layers)),
                   dtype=np.int8) for _ in range(2)]
    return inst, xs


def _play(env, x):
    """One episode placing layer ``order[p]`` on ``x[order[p]]``; the rewards and observations."""
    obs, info = env.reset()
    rewards, observations = [], [obs]
    for p in range(env.n_layers):
        obs, r, term, trunc, info = env.step(int(x[env.order[p]]))
        assert env.observation_space.contains(obs)
        rewards.append(r)
        observations.append(obs)
    assert term and not trunc
    return rewards, observations, info


def test_walk_is_topological_per_job():
    for seed in range(30):
        inst = _relabel(random_dag_instance(seed, n_jobs=3, nodes=(2, 7), edge_prob=0.6), seed)
        env = PlacementEnv(instance=inst)
        order = env.order
        assert sorted(order.tolist()) == list(range(inst.n_layers))
        pos = np.argsort(order)
        off = inst.layer_offsets
        for i in range(inst.n_jobs):
            assert set(order[off[i]:off[i + 1]].tolist()) == set(range(off[i], off[i + 1]))
            g = job_graph(inst, i)
            assert all(pos[off[i] + u] < pos[off[i] + v] for u, v in zip(g.src, g.dst))
        with pytest.raises(ValueError):
            order[0] = 1                   # read-only


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases(), st.booleans())
def test_return_identity_on_random_dags(case, normalize):
    """Sum of rewards = all-device cost - cost (feasible) or -penalty * all-device cost."""
    inst, xs = case
    env = PlacementEnv(instance=inst, normalize=normalize, infeasible_penalty=0.25)
    c0 = all_device_cost(inst)
    scale = 1.0 / c0 if (normalize and c0 > 0) else 1.0
    for x in xs:
        rewards, _, info = _play(env, x)
        ev = evaluate(inst, x)
        assert np.array_equal(info["decision"], x)
        assert info["cost"] == pytest.approx(ev.cost, rel=1e-12) and info["feasible"] == ev.feasible
        want = (c0 - ev.cost) if ev.feasible else -0.25 * c0
        # Rounding follows the largest cost along the walk (nodes placed in the env's order,
        # the rest on the device), which can dwarf both ends (as in test_env's example).
        walked = np.zeros(len(x), dtype=np.int8)
        largest = max(c0, ev.cost)
        for v in env.order:
            walked[v] = x[v]
            largest = max(largest, evaluate(inst, walked).cost)
        assert abs(sum(rewards) - want * scale) <= 1e-9 * largest * scale + 1e-300


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases())
def test_each_reward_is_minus_the_change_of_cost(case):
    """Step by step on an uncapacitated DAG: the reward of placing the p-th node of the walk is
    the cost before minus the cost after, every later node of the walk still on the device."""
    inst, xs = case
    inst = inst.replace(edge_capacity=np.inf, cloud_capacity=np.inf)
    x = xs[0]
    env = PlacementEnv(instance=inst)
    rewards, _, _ = _play(env, x)
    cur = np.zeros(inst.n_layers, dtype=np.int8)
    before = evaluate(inst, cur).cost
    for p, r in enumerate(rewards):
        cur[env.order[p]] = x[env.order[p]]
        after = evaluate(inst, cur).cost
        assert r == pytest.approx(before - after, rel=1e-9, abs=1e-12 * max(1.0, before))
        before = after


def test_dag_observation_holds_predecessor_tiers_and_node_rows():
    inst = _relabel(random_dag_instance(7, n_jobs=2, nodes=(4, 6), edge_prob=0.7, message_prob=0.5), 7)
    assert inst.is_dag
    env = PlacementEnv(instance=inst)
    chain_dim = env.n_static - len(DAG_NODE_NAMES) + 3 * env.lmax + 4
    assert env.obs_dim == chain_dim + len(DAG_NODE_NAMES) + 3
    x = np.random.default_rng(1).integers(0, 3, inst.n_layers).astype(np.int8)
    _, observations, _ = _play(env, x)
    off = inst.layer_offsets
    graphs = [job_graph(inst, i) for i in range(inst.n_jobs)]
    for p in range(inst.n_layers):
        obs = observations[p]              # the observation before placing order[p]
        v = int(env.order[p])
        i = int(inst.layer_job[v])
        g, o = graphs[i], int(off[i])
        preds = g.pred(v - o)
        want = np.zeros(3)
        if preds.size == 0:
            want[0] = 1.0
        else:
            for u in preds:
                want[x[o + u]] += 1.0 / preds.size
        np.testing.assert_allclose(obs[-3:], want, rtol=1e-6)
        node = obs[env.n_static - len(DAG_NODE_NAMES):env.n_static]
        indeg, outdeg = len(g.pred(v - o)), len(g.succ(v - o))
        np.testing.assert_allclose(node[:3], [np.log1p(indeg), np.log1p(outdeg), outdeg == 0], rtol=1e-6)
        data_in = (g.in_bits if indeg == 0 else 0.0) + sum(
            g.out_bits[u] for u in g.pred(v - o)) + sum(g.edge_bits[e] for e in g.pred_edges(v - o))
        np.testing.assert_allclose(node[3], np.log1p(data_in / 1e6), rtol=1e-5)
        # the job's nodes placed so far, each at its node number
        placed = env.order[o:p] if p > o else []
        block = obs[env.n_static:env.n_static + 3 * env.lmax].reshape(env.lmax, 3)
        want_block = np.zeros((env.lmax, 3))
        for q in placed:
            want_block[q - o, x[q]] = 1.0
        np.testing.assert_array_equal(block, want_block)


def test_chain_jobs_keep_the_chain_observation():
    """A frame of chains alone has no DAG columns; a chain job's walk is its file order."""
    from offbench.generators import random_instance

    chain = random_instance(3, n_jobs=2)
    env = PlacementEnv(instance=chain)
    assert not env.is_dag and env.obs_dim == env.n_static + 3 * env.lmax + 4
    assert np.array_equal(env.order, np.arange(chain.n_layers))
    d = _relabel(random_dag_instance(11, n_jobs=3, nodes=(3, 5), edge_prob=0.7), 11).to_dict()
    L = len(d["jobs"][1]["ops"])          # job 1 becomes a chain (stored in its version-1 form)
    d["jobs"][1]["edges"] = [[j, j + 1] for j in range(1, L)]
    mixed = Instance.from_dict(d)
    dag_jobs = mixed.job_is_dag
    assert mixed.is_dag and not dag_jobs.all(), "want a mix of chain and DAG jobs"
    env = PlacementEnv(instance=mixed)
    off = mixed.layer_offsets
    for i in np.flatnonzero(~dag_jobs):
        assert np.array_equal(env.order[off[i]:off[i + 1]], np.arange(off[i], off[i + 1]))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases())
def test_bandit_on_dags(case):
    inst, xs = case
    env = PlacementBanditEnv(instance=inst, infeasible_penalty=0.5)
    obs, _ = env.reset()
    n_msg = inst.edge_bits.size if inst.is_dag else 0   # a draw may be chains only
    assert obs.shape == (frame_vector(inst).size + n_msg,)
    if n_msg:
        np.testing.assert_allclose(obs[-n_msg:], np.log1p(inst.edge_bits / 1e6), rtol=1e-6)
    for x in xs:
        env.reset()
        _, r, term, _, info = env.step(x)
        ev = evaluate(inst, x)
        c0 = all_device_cost(inst)
        assert term and info["feasible"] == ev.feasible
        assert r == pytest.approx(-ev.cost if ev.feasible else -1.5 * c0, rel=1e-12)


def _rewired(inst: Instance) -> Instance:
    """The same instance with one DAG job's edges changed (same nodes)."""
    d = inst.to_dict()
    for job in d["jobs"]:
        if "edges" in job:
            L = len(job["ops"])
            have = {tuple(e[:2]) for e in job["edges"]}
            new = next((u, v) for u in range(1, L + 1) for v in range(u + 1, L + 1) if (u, v) not in have)
            job["edges"] = job["edges"] + [list(new)]
            break
    return Instance.from_dict(d)


@pytest.mark.parametrize("cls", [PlacementEnv, PlacementBanditEnv])
def test_another_dag_structure_is_refused(cls):
    a = random_dag_instance(5, n_jobs=2, nodes=(4, 5), edge_prob=0.3, name="first")
    b = _rewired(a).replace(name="rewired")
    assert a.n_layers == b.n_layers and a.edge_src.size != b.edge_src.size
    env = cls(stream=[a, b])
    env.reset()
    with pytest.raises(EnvError, match="'rewired' has another DAG structure"):
        env.reset()
    with pytest.raises(EnvError, match="another DAG structure"):
        cls(instance=a).feed(b)
    env = cls(instance=a)
    env.feed(a.replace(name="same edges"))      # the same structure is fed
    env.reset()


def test_family_stream_of_dag_frames():
    """workflow-v1's stream keeps one DAG structure: episodes over its frames, identity each."""
    env = PlacementEnv(family="workflow-v1", seed=4, frames=3)
    assert env.is_dag
    x = np.random.default_rng(0).integers(0, 3, env.n_layers).astype(np.int8)
    env.reset(seed=0)
    for k in range(4):                    # a finite stream starts over
        rewards, _, info = _play(env, x)
        want = info["all_device_cost"] - info["cost"]
        assert info["feasible"] and abs(sum(rewards) - want) <= 1e-9 * info["all_device_cost"]
    bandit = PlacementBanditEnv(family="workflow-v1", seed=4, frames=3)
    assert bandit.observation_space.shape[0] == frame_vector(bandit.structure).size + bandit.structure.edge_bits.size


def test_gymnasium_checker_on_a_dag_instance():
    from gymnasium.utils.env_checker import check_env

    inst = _relabel(random_dag_instance(2, n_jobs=2, nodes=(3, 5), capacities=True), 2)
    for cls in (PlacementEnv, PlacementBanditEnv):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(cls(instance=inst), skip_render_check=True)
