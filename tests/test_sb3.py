"""The Stable-Baselines3 baselines (solvers/sb3.py): end to end through `offbench run` on every
learning track with a tiny budget, the budget told by the track, determinism under a seed,
safetensors weights, never below the proven optimum, and listing without the extra."""

from __future__ import annotations

import json

import numpy as np
import pytest

from offbench.cli import main
from offbench.families import get_family
from offbench.solver import Context, SolverError
from offbench.discovery import discover, resolve
from offbench.store import Store

pytest.importorskip("stable_baselines3", reason="stable-baselines3 is the optional offbench[rl] extra")
pytest.importorskip("gymnasium", reason="gymnasium is the optional offbench[rl] extra")

SOLVERS = ("sb3-dqn", "sb3-ppo", "sb3-a2c")

SPEC = """
name = "sb3-tiny"
tracks = ["online", "generalization", "adaptation"]
seeds = [0]
time_limit = 20.0
online = { window = 3 }
generalization = { train_frames = 5 }
adaptation = { window = 2 }

[reference]
mode = "auto"

[[sources]]
kind = "stream"
name = "dmro-drift"
family = "dmro-v1"
seed = 0
frames = 8
switch_at = 5
switch_to = "vgg16-mid"

[[solvers]]
id = "sb3-dqn"

[[solvers]]
id = "sb3-ppo"

[[solvers]]
id = "sb3-a2c"
params = { episodes_per_frame = 2 }
"""


@pytest.fixture(scope="module")
def frames():
    return list(get_family("dmro-v1").stream(0, 8))


def test_every_sb3_solver_runs_every_learning_track(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sb3run")
    cfg = tmp / "spec.toml"
    cfg.write_text(SPEC)
    store = tmp / "r.sqlite"
    assert main(["run", str(cfg), "--store", str(store), "-j", "0"]) == 0
    with Store.open_readonly(store) as s:
        rows = s.results()
        frames = s.frames()
    got = {(r["solver_id"], r["track"]) for r in rows}
    assert got == {(f"{n}-v1", t) for n in SOLVERS for t in ("online", "generalization", "adaptation")}
    for r in rows:
        assert r["status"] != "error", (r["solver_id"], r["track"], r["error"])
        fr = frames[r["row_id"]]
        assert len(fr) == 8
        learned = 5 if r["track"] == "generalization" else 8
        for k, f in enumerate(fr):
            assert f["status"] == "feasible" and f["decision"] is not None, f
            # The referee's ratio against dp's proven optimum: never below it.
            assert f["ratio"] >= 1 - 1e-9
            assert f["evaluations"] == 0  # a policy decides without pricing
            assert bool(f["info"]) == (k < learned)
        # The track told the budget: the last learned frame has spent all of it.
        assert fr[learned - 1]["info"]["budget_used"] == pytest.approx(1.0)
        assert fr[0]["info"]["budget_used"] == pytest.approx(1 / learned)
        assert r["info"]["learn_evaluations"] == learned * (2 if r["solver_id"] == "sb3-a2c-v1"
                                                            else 16 if r["solver_id"] == "sb3-ppo-v1" else 1)


def test_a_run_starts_from_saved_weights_and_records_their_digest(tmp_path, frames):
    a, _ = _play("sb3-dqn", frames[:3], 0)
    w = tmp_path / "dqn.safetensors"
    digest = a.save(w)
    cfg = tmp_path / "spec.toml"
    cfg.write_text(f"""
name = "sb3-weights"
tracks = ["online"]
online = {{ window = 2 }}
[reference]
mode = "none"
[[sources]]
kind = "stream"
family = "dmro-v1"
frames = 3
[[solvers]]
id = "sb3-dqn"
params = {{ weights = {json.dumps(str(w))} }}
""")
    assert main(["run", str(cfg), "--store", str(tmp_path / "r.sqlite"), "-j", "0"]) == 0
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        (row,) = s.results()
        fr = s.frames()[row["row_id"]]
    assert row["info"]["provenance"] == {"weights": str(w), "weights_sha256": digest}
    # It decides the first frame exactly as the saved policy does.
    assert fr[0]["decision"] == "".join(map(str, a.step(frames[0]).decision))


def _play(name, frames, seed, **params):
    s = resolve(name)(**params)
    s.budget = {"frames": len(frames), "learn_frames": len(frames)}
    s.start(frames[0], seed)
    out = []
    for k, f in enumerate(frames):
        r = s.step(f, seed=k)
        ctx = Context(f, None, k)
        m = s.learn(f, r.decision, ctx)
        out.append((r.decision.tobytes(), r.cost, tuple(sorted(m.items())), ctx.evaluations))
    return s, out


@pytest.mark.parametrize("name", SOLVERS)
def test_same_seed_same_decisions_and_metrics(name, frames):
    _, a = _play(name, frames[:5], 3)
    _, b = _play(name, frames[:5], 3)
    assert a == b  # decisions, costs and every metric bitwise


@pytest.mark.parametrize("name", SOLVERS)
def test_decisions_are_the_policys_deterministic_actions(name, frames):
    s, _ = _play(name, frames[:4], 1)
    env = s._make_env(s.structure)
    for f in frames[4:]:
        d = s.step(f).decision
        env.feed(f)
        obs, _ = env.reset()
        if s.env_kind == "bandit":
            want = s.model.predict(obs, deterministic=True)[0]
            assert np.array_equal(d, want)
            continue
        for l in range(f.n_layers):  # SB3's own predict, step by step along the decision
            assert d[l] == int(s.model.predict(obs, deterministic=True)[0])
            if l + 1 < f.n_layers:
                obs, *_ = env.step(int(d[l]))


def test_weights_round_trip_and_provenance(tmp_path, frames):
    a, _ = _play("sb3-dqn", frames[:4], 0)
    path = tmp_path / "dqn.safetensors"
    digest = a.save(path)
    b = resolve("sb3-dqn")(weights=str(path))
    b.budget = {"frames": 4, "learn_frames": 4}
    b.start(frames[0], 123)
    assert b.provenance()["weights_sha256"] == digest
    for f in frames[4:]:
        assert np.array_equal(a.step(f).decision, b.step(f).decision)
    c = resolve("sb3-ppo")()
    c.budget = {"frames": 4, "learn_frames": 4}
    c.start(frames[0], 0)
    from offbench.learn import WeightsError

    with pytest.raises(WeightsError, match="saved by 'sb3-dqn-v1'"):
        c.load(path)


def test_budget_must_be_known_and_parameters_are_checked(frames):
    s = resolve("sb3-dqn")()
    from offbench.errors import UserError

    with pytest.raises(UserError, match="budget is unknown"):
        s.start(frames[0], 0)
    s = resolve("sb3-dqn")(frames=3)  # outside a track, the parameter says
    s.start(frames[0], 0)
    assert s.total_steps == 3 * frames[0].n_layers
    with pytest.raises(SolverError, match="'env' parameter of solver sb3-dqn-v1"):
        resolve("sb3-dqn")(env="bandit")
    with pytest.raises(SolverError, match="'net_arch'"):
        resolve("sb3-ppo")(net_arch=[0])
    p = resolve("sb3-ppo")(n_steps=5, frames=2)
    with pytest.raises(UserError, match="must divide the steps played per frame"):
        p.start(frames[0], 0)


def test_a_static_solve_learns_on_the_instance_alone(frames):
    f = frames[0]
    r = resolve("sb3-dqn")(frames=4).solve(f, seed=0)
    assert r.status == "feasible" and r.feasible
    assert r.evaluations == 1 + 4 + 4  # all-device, each decision priced, each training episode
    assert r.cost >= resolve("dp")().solve(f).cost * (1 - 1e-9)
    refused = resolve("sb3-ppo")().solve(f)
    assert refused.status == "error" and "needs the 'frames' parameter" in refused.error


def test_listed_as_unavailable_without_the_extra(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "stable_baselines3" else real(name, *a))
    cls = resolve("sb3-dqn")
    # Forget what an earlier test found installed (looked up once per class when present).
    monkeypatch.setattr(cls, "_requirements_present", False, raising=False)
    assert cls.missing_requirements() == ["stable_baselines3"]
    res = cls(frames=1).solve(next(iter(get_family("dmro-v1").stream(0, 1))))
    assert res.status == "error" and "pip install" in res.error and "stable_baselines3" in res.error
    assert all(discover()[f"{n}-v1"].cls is not None for n in SOLVERS)  # listed, not hidden
    assert main(["solvers"]) == 0
    out = capsys.readouterr().out
    assert "sb3-dqn" in out and "unavailable: needs stable_baselines3; pip install" in out
