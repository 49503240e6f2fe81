"""The shared learner pieces (offbench.learn): features, seeding, replay memory, candidate
pricing, networks, and safetensors weights on a small learner written against the base class."""

from __future__ import annotations

import math

import numpy as np
import pytest

from offbench.cost import evaluate, evaluate_many
from offbench.families import get_family
from offbench.generators import random_instance
from offbench.learn import (SCALES, ReplayMemory, TorchLearningSolver, WeightsError, frame_features,
                            frame_vector, price, seed_everything, weights_digest)
from offbench.learn.base import WEIGHTS_PARAM
from offbench.learn.features import (DEVICE_NAMES, GLOBAL_NAMES, JOB_NAMES, LAYER_NAMES, LAYER_OWN,
                                     same_structure)
from offbench.solver import Context, Param, Proposal, SolverError

torch = pytest.importorskip("torch", reason="torch is the optional offbench[torch] extra")
pytest.importorskip("safetensors", reason="safetensors is in the optional offbench[rl] extra")


@pytest.fixture(scope="module")
def frames():
    return list(get_family("dmro-v1").stream(0, 12))


# ------------------------------------------------------------------------------ features
def test_feature_shapes_and_names(frames):
    f = frames[0]
    F = frame_features(f)
    assert F.global_.shape == (len(GLOBAL_NAMES),)
    assert F.devices.shape == (f.n_devices, len(DEVICE_NAMES))
    assert F.jobs.shape == (f.n_jobs, len(JOB_NAMES))
    assert F.layers.shape == (f.n_layers, len(LAYER_NAMES))
    v = frame_vector(f)
    assert v.dtype == np.float32
    assert v.shape == (len(GLOBAL_NAMES) + len(JOB_NAMES) * f.n_jobs + LAYER_OWN * f.n_layers,)
    assert all(frame_vector(g).shape == v.shape for g in frames)  # fixed by the structure
    for a in (F.global_, F.devices, F.jobs, F.layers):
        assert np.all(np.isfinite(a)) and np.all(a >= 0)


def test_feature_normalization_is_log1p_of_the_unit_scale(frames):
    f = frames[0]
    F = frame_features(f)
    g = dict(zip(GLOBAL_NAMES, F.global_))
    assert g["edge_speed"] == pytest.approx(math.log1p(f.edge_speed / SCALES["ops/s"]))
    assert g["backhaul_latency"] == pytest.approx(math.log1p(f.backhaul_latency / SCALES["s"]))
    assert g["edge_has_capacity"] == 0.0 and g["edge_capacity"] == 0.0  # dmro: unbounded
    d = dict(zip(DEVICE_NAMES, F.devices[3]))
    assert d["rate_up"] == pytest.approx(math.log1p(f.dev_rate_up[3] / SCALES["bit/s"]))
    j = dict(zip(JOB_NAMES, F.jobs[2]))
    off = f.layer_offsets
    assert j["ops"] == pytest.approx(math.log1p(f.ops[off[2]:off[3]].sum() / SCALES["ops"]))
    assert j["device_speed"] == pytest.approx(F.devices[f.job_device[2], 0])
    assert j["has_deadline"] == 0.0 and j["deadline"] == 0.0
    L = F.layers
    l = off[1] + 2
    row = dict(zip(LAYER_NAMES, L[l]))
    assert row["ops"] == pytest.approx(math.log1p(f.ops[l] / SCALES["ops"]))
    assert row["bits_in"] == pytest.approx(math.log1p(f.bits[l + 1] / SCALES["bits"]))
    assert row["position"] == pytest.approx(2 / 4)
    # A layer's row holds its predecessor's features; a first layer has none.
    assert row["pred_ops"] == L[l - 1, 0] and row["pred_bits_in"] == L[l - 1, 1] and row["preds"] == 1
    first = dict(zip(LAYER_NAMES, L[off[1]]))
    assert first["is_first"] == 1 and first["preds"] == 0 and first["pred_ops"] == 0


def test_features_of_capacities_deadlines_and_zeros():
    inst = random_instance(3, n_devices=2, n_jobs=3, layers=(2, 4), capacities=True, deadlines=True)
    inst = inst.replace(cloud_capacity=0.0)
    F = frame_features(inst)
    g = dict(zip(GLOBAL_NAMES, F.global_))
    assert g["edge_has_capacity"] == 1.0
    assert g["edge_capacity"] == pytest.approx(math.log1p(inst.edge_capacity / SCALES["ops"]))
    assert g["cloud_has_capacity"] == 1.0 and g["cloud_capacity"] == 0.0  # present, and zero
    dl = np.isfinite(inst.deadline)
    assert np.array_equal(F.jobs[:, JOB_NAMES.index("has_deadline")], dl.astype(float))
    # An absent job (weight 0, no ops) is inactive.
    quiet = inst.replace(job_weight=np.r_[0.0, inst.job_weight[1:]])
    assert frame_features(quiet).jobs[0, JOB_NAMES.index("active")] == 0.0
    assert same_structure(inst, quiet) and not same_structure(inst, random_instance(4, n_jobs=2))


# ------------------------------------------------------------------------------ seeding, memory
def test_seed_everything_is_reproducible():
    a = seed_everything(7, threads=1)
    ta = torch.rand(5)
    b = seed_everything(7, threads=1)
    tb = torch.rand(5)
    assert torch.equal(ta, tb) and a.integers(1 << 30) == b.integers(1 << 30)
    assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_replay_memory_ring_and_sampling():
    m = ReplayMemory(3, {"x": ((2,), np.float32), "y": ((), np.int64)})
    for i in range(5):
        m.add(x=[i, -i], y=i)
    assert len(m) == 3 and m.added == 5
    assert m.recent(3)["y"].tolist() == [2, 3, 4]
    s1 = m.sample(8, np.random.default_rng(0))
    s2 = m.sample(8, np.random.default_rng(0))
    assert np.array_equal(s1["y"], s2["y"]) and set(s1["y"]) <= {2, 3, 4}
    assert np.array_equal(s1["x"][:, 0], s1["y"].astype(np.float32))
    with pytest.raises(ValueError):
        m.add(x=[0, 0])
    with pytest.raises(ValueError):
        ReplayMemory(0, {"x": ((), float)})


# ------------------------------------------------------------------------------ pricing
def test_pricing_charges_one_evaluation_per_candidate():
    inst = random_instance(5, n_devices=2, n_jobs=2, layers=(3, 3), capacities=True)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(9, inst.n_layers)).astype(np.int8)
    X[0] = 0
    ctx = Context(inst, None, 0)
    p = price(ctx, X)
    assert ctx.evaluations == 9
    costs, feas, _ = evaluate_many(inst, X, with_feasibility=True)
    assert np.array_equal(p.costs, costs) and np.array_equal(p.feasible, feas)
    assert p.feasible[p.best] and p.best_cost == min(c for c, f in zip(costs, feas) if f)
    none = inst.replace(edge_capacity=0.0, cloud_capacity=0.0)
    X2 = np.ones((2, inst.n_layers), dtype=np.int8)
    if np.all(inst.ops > 0):
        q = price(Context(none, None, 0), X2)
        assert q.best == -1 and q.best_cost == math.inf


# ------------------------------------------------------------------------------ a learner
class TinyLearner(TorchLearningSolver):
    """A per-layer classifier trained on the best of its own priced candidates (test only)."""

    name = "tiny-test-learner"
    params = (Param("candidates", int, 6, low=1), WEIGHTS_PARAM)

    def build(self, structure):
        from offbench.learn.nets import mlp

        self.net = mlp(frame_vector(structure).size, (16,), structure.n_layers * 3)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=0.01)
        self.memory = ReplayMemory(64, {"v": ((frame_vector(structure).size,), np.float32),
                                        "y": ((structure.n_layers,), np.int64)})

    def modules(self):
        return {"net": self.net}

    def _logits(self, frame):
        with torch.no_grad():
            return self.net(torch.as_tensor(frame_vector(frame))).reshape(-1, 3)

    def decide(self, frame, ctx):
        self.check_frame(frame)
        return Proposal(self._logits(frame).argmax(1).numpy().astype(np.int8))

    def learn(self, frame, decision, ctx):
        p = torch.softmax(self._logits(frame), 1).numpy().astype(np.float64)
        p /= p.sum(1, keepdims=True)
        c = np.stack([decision] + [np.array([self.rng.choice(3, p=row) for row in p], dtype=np.int8)
                                   for _ in range(self.candidates)])
        pr = price(ctx, c)
        self.memory.add(v=frame_vector(frame), y=c[max(pr.best, 0)])
        b = self.memory.sample(8, self.rng)
        out = self.net(torch.as_tensor(b["v"])).reshape(-1, 3)
        loss = torch.nn.functional.cross_entropy(out, torch.as_tensor(b["y"]).reshape(-1))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item(), "best": pr.best_cost}


def _run(solver, frames, seed=3):
    solver.start(frames[0], seed)
    decisions, metrics, evals = [], [], 0
    for k, f in enumerate(frames):
        r = solver.step(f, seed=k)
        assert r.status == "feasible", r.error
        ctx = Context(f, None, k)
        metrics.append(solver.learn(f, r.decision, ctx))
        evals += ctx.evaluations
        decisions.append(r.decision.tobytes())
    return decisions, metrics, evals


def test_same_seed_same_decisions_and_metrics_bitwise(frames):
    d1, m1, e1 = _run(TinyLearner(), frames)
    d2, m2, e2 = _run(TinyLearner(), frames)
    assert d1 == d2 and m1 == m2  # floats compared exactly
    assert e1 == e2 == len(frames) * 7  # the decision and 6 candidates per frame, all charged
    d3, m3, _ = _run(TinyLearner(), frames, seed=4)
    assert m3 != m1


def test_save_load_round_trip(tmp_path, frames):
    a = TinyLearner()
    _run(a, frames[:6])
    path = tmp_path / "w" / "tiny.safetensors"
    digest = a.save(path)
    assert digest == weights_digest(path) == a.weights_sha256()
    b = TinyLearner(weights=str(path))
    b.start(frames[0], 99)  # another seed: the weights decide, not the initialization
    assert b.provenance() == {"weights": str(path), "weights_sha256": digest}
    for f in frames[6:]:
        assert np.array_equal(a.step(f).decision, b.step(f).decision)
    assert a.provenance()["weights_sha256"] is None
    # Never pickle: the file is a safetensors header and raw tensors.
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and b"tiny-test-learner" in raw[8:8 + n]


def test_load_refuses_other_weights(tmp_path, frames):
    a = TinyLearner()
    a.start(frames[0], 0)
    path = tmp_path / "a.safetensors"
    a.save(path)
    with pytest.raises(SolverError, match="'weights' parameter .* must be a path to an existing file"):
        TinyLearner(weights=str(tmp_path / "missing.safetensors"))
    with pytest.raises(WeightsError, match="no such file"):
        a.load(tmp_path / "missing.safetensors")
    other = random_instance(0, n_devices=1, n_jobs=1, layers=(2, 2))
    b = TinyLearner()
    b.start(other, 0)
    with pytest.raises(WeightsError, match="another structure"):
        b.load(path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="not a safetensors file"):
        a.load(junk)
    for e in (WeightsError("x"),):
        assert "\n" not in str(e)


def test_mlp_builder():
    from offbench.learn.nets import mlp, n_parameters

    net = mlp(4, (120, 80), 6, out_activation="sigmoid")
    assert n_parameters(net) == 4 * 120 + 120 + 120 * 80 + 80 + 80 * 6 + 6
    y = net(torch.zeros(2, 4))
    assert y.shape == (2, 6) and bool(((y > 0) & (y < 1)).all())
    with pytest.raises(ValueError):
        mlp(4, (0,), 2)
