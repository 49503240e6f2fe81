"""The Gymnasium environments of offbench.env: the return identity against the cost model,
Gymnasium's checker, vector environments, the two seeds, action masks, and refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from offbench.cost import all_device_cost, evaluate
from offbench.errors import UserError
from offbench.families import get_family
from offbench.generators import random_instance
from offbench.instance import Instance

from .strategies import instance_and_decisions

gym = pytest.importorskip("gymnasium", reason="gymnasium is the optional offbench[rl] extra")

import offbench.env as oenv  # noqa: E402  (registers the IDs)
from offbench.env import BANDIT_ID, SEQUENTIAL_ID, EnvError, PlacementBanditEnv, PlacementEnv  # noqa: E402


def _episode(env, actions):
    obs, info = env.reset()
    total = 0.0
    for a in actions:
        obs, r, term, trunc, info = env.step(int(a))
        assert env.observation_space.contains(obs)
        total += r
    assert term and not trunc
    return total, info


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance_and_decisions(n_decisions=3), st.booleans())
@example(
    case=({'format': 'offbench-instance',
      'version': 1,
      'name': 'hyp',
      'weights': {'time': 1.0, 'energy': 0.0, 'tardiness': 0.0},
      'edge': {'speed': 1000.0, 'energy_per_op': 0.0, 'capacity': None},
      'cloud': {'speed': 1000.0, 'energy_per_op': 0.0, 'capacity': None},
      'backhaul': {'rate': 1000.0, 'latency': 0.0, 'energy_per_bit': 0.0},
      'devices': [{'speed': 1000.0,
        'power_compute': 0.0,
        'power_tx': 0.0,
        'power_rx': 0.0,
        'rate_up': 1000.0,
        'rate_down': 1000.0,
        'latency': 0.0}],
      'jobs': [{'device': 0, 'ops': [0.0, 0.0], 'bits': [0.0, 0.0, 0.0]},
       {'device': 0,
        'ops': [0.0, 0.0, 0.0],
        'bits': [0.0, 0.0, 16384001.0, 0.5]}]},
     [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]),
    normalize=False,
).via('a layer of 16,384,001 bits placed mid-episode: the tolerance follows the largest cost on the way')
def test_sequential_return_is_the_saving_of_cost(case, normalize):
    d, xs = case
    inst = Instance.from_dict(d)
    env = PlacementEnv(instance=inst, normalize=normalize, infeasible_penalty=0.25)
    for x in xs:
        total, info = _episode(env, x)
        ev = evaluate(inst, x)
        c0 = all_device_cost(inst)
        assert info["cost"] == pytest.approx(ev.cost, rel=1e-12) and info["feasible"] == ev.feasible
        assert info["all_device_cost"] == pytest.approx(c0, rel=1e-12, abs=0)
        scale = 1.0 / c0 if (normalize and c0 > 0) else 1.0
        want = (c0 - ev.cost) if ev.feasible else -0.25 * c0
        # The return is a sum of per-step cost changes, each exact to rounding of the costs it
        # moves between: the tolerance is relative to the largest cost along the episode (layer
        # k placed, later ones still on the device), which can dwarf both ends (a layer whose
        # output takes hours to send, placed and then followed by its successor).
        prefix = np.zeros(len(x), dtype=np.int8)
        largest = max(c0, ev.cost)
        for k, t in enumerate(x):
            prefix[k] = t
            largest = max(largest, evaluate(inst, prefix).cost)
        assert abs(total - want * scale) <= 1e-9 * largest * scale + 1e-300
        assert np.array_equal(info["decision"], np.asarray(x, dtype=np.int8))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance_and_decisions(n_decisions=1, capacities=False))
def test_each_step_rewards_minus_the_change_of_cost(case):
    """Step by step: the reward of moving layer l is the cost of the decision before the move
    minus the cost after it (later layers still on the device), as the cost model prices them."""
    d, (x,) = case
    inst = Instance.from_dict(d)
    env = PlacementEnv(instance=inst)
    env.reset()
    y = np.zeros(inst.n_layers, dtype=np.int8)
    before = evaluate(inst, y).cost
    for l, k in enumerate(x):
        _, r, *_ = env.step(int(k))
        y[l] = k
        after = evaluate(inst, y).cost
        assert abs(r - (before - after)) <= 1e-9 * max(before, after) + 1e-300
        before = after


@settings(max_examples=30, deadline=None)
@given(instance_and_decisions(n_decisions=2))
def test_bandit_reward_is_minus_the_cost(case):
    d, xs = case
    inst = Instance.from_dict(d)
    env = PlacementBanditEnv(instance=inst)
    for x in xs:
        env.reset()
        _, r, term, _, info = env.step(np.asarray(x))
        ev = evaluate(inst, x)
        assert term
        want = -ev.cost if ev.feasible else -1.1 * all_device_cost(inst)
        assert r == pytest.approx(want, rel=1e-12) and info["feasible"] == ev.feasible


def test_dmro_episode_matches_evaluate_and_counts_evaluations():
    env = gym.make(SEQUENTIAL_ID, family="dmro-v1", seed=0)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.integers(0, 3, size=50)
        total, info = _episode(env, x)
        ev = evaluate(env.unwrapped.frame, x)
        assert total == pytest.approx(all_device_cost(env.unwrapped.frame) - ev.cost, rel=1e-9)
    assert env.unwrapped.evaluations == 5


@pytest.mark.parametrize("env_id", [SEQUENTIAL_ID, BANDIT_ID])
@pytest.mark.parametrize("family", ["dmro-v1", "capacitated-v1:small", "deadline-v1:small"])
def test_check_env(env_id, family):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id, family=family, seed=0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    assert not [str(x.message) for x in w if "gymnasium" in str(x.filename) or "WARN" in str(x.message)]


@pytest.mark.parametrize("env_id", [SEQUENTIAL_ID, BANDIT_ID])
def test_vector_envs(env_id):
    envs = gym.vector.SyncVectorEnv([lambda i=i: gym.make(env_id, family="dmro-v1", seed=i)
                                     for i in range(3)])
    obs, _ = envs.reset(seed=0)
    assert obs.shape[0] == 3
    envs.action_space.seed(0)
    ends = 0
    for _ in range(120):
        obs, r, term, trunc, info = envs.step(envs.action_space.sample())
        assert np.all(np.isfinite(r)) and obs.shape[0] == 3
        ends += int(term.sum())
    assert ends >= 6  # every sub-environment finished episodes and was reset
    made = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync", family="dmro-v1", seed=0)
    made.reset(seed=1)
    made.step(made.action_space.sample())


def test_make_seed_picks_the_stream_reset_seed_the_episode():
    frames = list(get_family("dmro-v1").stream(5, 3))
    env = gym.make(SEQUENTIAL_ID, family="dmro-v1", seed=5)
    env.reset(seed=11)
    assert env.unwrapped.frame.digest == frames[0].digest
    env.reset()
    assert env.unwrapped.frame.digest == frames[1].digest
    o1, _ = env.reset(seed=12)  # another episode seed: the same stream, started over
    assert env.unwrapped.frame.digest == frames[0].digest
    env.reset()
    env.reset()
    assert env.unwrapped.frame.digest == frames[2].digest
    other = gym.make(SEQUENTIAL_ID, family="dmro-v1", seed=6)
    other.reset(seed=11)
    assert other.unwrapped.frame.digest != frames[0].digest
    # The episode seed seeds np_random, and only that.
    a = gym.make(BANDIT_ID, family="dmro-v1", seed=5)
    b = gym.make(BANDIT_ID, family="dmro-v1", seed=5)
    oa, _ = a.reset(seed=1)
    ob, _ = b.reset(seed=2)
    assert np.array_equal(oa, ob)
    assert a.unwrapped.np_random.random() != b.unwrapped.np_random.random()


def test_stream_and_instance_sources(tmp_path):
    frames = list(get_family("dmro-v1").stream(0, 3))
    path = tmp_path / "frame.json"
    path.write_text(frames[1].to_json())
    env = gym.make(BANDIT_ID, instance=str(path))
    env.reset()
    assert env.unwrapped.frame.digest == frames[1].digest
    env = PlacementEnv(stream=frames)
    seen = []
    for _ in range(4):
        env.reset()
        seen.append(env.frame.digest)
    assert seen == [f.digest for f in frames] + [frames[0].digest]  # a finite stream starts over
    env = PlacementBanditEnv(stream=iter(frames))
    env.reset()
    env.reset()
    assert env.frame is frames[1]
    env = PlacementEnv(instance=frames[2])
    env.reset()
    env.reset()
    assert env.frame is frames[2]
    fam = gym.make(SEQUENTIAL_ID, family="dmro-v1", seed=0, frames=2)
    fam.reset(), fam.reset(), fam.reset()
    assert fam.unwrapped.frame.digest == frames[0].digest


def test_action_mask_for_a_switched_off_tier():
    inst = random_instance(2, n_devices=2, n_jobs=2, layers=(3, 3), zero_fraction=0.3,
                           cloud_capacity=0.0)
    env = PlacementEnv(instance=inst)
    _, info = env.reset()
    masks = [info["action_mask"]]
    for l in range(inst.n_layers):
        assert np.array_equal(env.action_masks(), masks[-1].astype(bool))
        _, _, term, _, info = env.step(0)
        masks.append(info["action_mask"])
    masks = np.array(masks[:-1])
    assert np.array_equal(masks[:, 2], (inst.ops == 0).astype(np.int8))
    assert np.all(masks[:, :2] == 1)
    # Taking a masked action is allowed and ends infeasible, with the documented return.
    l = int(np.argmax(inst.ops > 0))
    x = np.zeros(inst.n_layers, dtype=np.int8)
    x[l] = 2
    total, info = _episode(env, x)
    assert not info["feasible"] and total == pytest.approx(-0.1 * all_device_cost(inst), rel=1e-9)


def _one_line(excinfo):
    assert isinstance(excinfo.value, UserError)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one frame source"),
    ({"family": "dmro-v1", "instance": "x.json"}, "exactly one frame source"),
    ({"family": "dmro-v1", "seed": -1}, "seed must be an int"),
    ({"family": "dmro-v1", "seed": 0, "frames": 0}, "frames must be an int"),
    ({"family": "dmor-v1"}, "Did you mean dmro"),
    ({"family": "dmro-v1", "environment": "nowhere"}, "no environment 'nowhere'"),
    ({"family": "dmro-v1", "normalize": "yes"}, "normalize must be a bool"),
    ({"family": "dmro-v1", "infeasible_penalty": -1}, "infeasible_penalty must be"),
    ({"stream": []}, "no frames"),
    ({"stream": [1, 2]}, r"stream\[0\]: expected an offbench Instance"),
    ({"instance": 3}, "instance must be"),
])
@pytest.mark.parametrize("env_id", [SEQUENTIAL_ID, BANDIT_ID])
def test_bad_arguments_are_refused_in_one_line(env_id, kwargs, match):
    with pytest.raises(UserError, match=match) as e:
        gym.make(env_id, **kwargs)
    _one_line(e)


def test_numpy_numbers_are_taken_as_the_penalty():
    # np.float32(0.2) was refused: 'infeasible_penalty must be a number >= 0'
    for p in (np.float32(0.25), np.int64(2)):
        env = gym.make(SEQUENTIAL_ID, family="dmro-v1", infeasible_penalty=p)
        assert env.unwrapped.infeasible_penalty == float(p)


def test_bad_actions_and_structures_are_refused():
    env = PlacementEnv(family="dmro-v1")
    env.reset()
    with pytest.raises(EnvError, match="action must be a tier") as e:
        env.step(3)
    _one_line(e)
    # not an integer: refused, not truncated (1.7 was taken as the edge, "2" as the cloud)
    for bad in (1.7, np.float32(1.0), "2", None, np.array([1])):
        with pytest.raises(EnvError, match=r"action must be a tier in \{0, 1, 2\} \(an integer\)"):
            env.step(bad)
    assert env._x[0] == 0 and int(env._state[0]) == 0     # nothing was placed
    for ok in (np.int64(1), np.array(2), True):
        env.step(ok)
    assert env._x[:3].tolist() == [1, 2, 1]
    b = PlacementBanditEnv(family="dmro-v1")
    b.reset()
    with pytest.raises(EnvError, match="action must be 50 tiers") as e:
        b.step(np.zeros(49, dtype=np.int64))
    _one_line(e)
    mixed = [random_instance(0, n_jobs=2), random_instance(1, n_jobs=3)]
    env = PlacementEnv(stream=mixed)
    env.reset()
    with pytest.raises(EnvError, match="another structure") as e:
        env.reset()
    _one_line(e)
    with pytest.raises(EnvError, match="structure differs"):
        env.feed(mixed[1])


def test_registered_ids():
    assert SEQUENTIAL_ID in gym.registry and BANDIT_ID in gym.registry
    assert oenv.__doc__ and "infeasible_penalty" in oenv.__doc__
