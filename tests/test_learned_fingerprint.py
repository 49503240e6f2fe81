"""Bitwise fingerprints of DMRO's, DROO's and DDLO's online runs, taken at commit 0baca91 (before
the latency work on DMRO's decision and per-frame loop, issue 12).

The committed tables in results/learned and results/dag depend on these learners' decisions, so a
speed-up must do the same arithmetic: the same decisions, the same costs, the same evaluations
and the same learned weights (the same data, updates and random draws). Each case runs a stream
as the online track does (``step``, then ``learn``) and digests, per frame, the decision, its cost
(float64 bytes), the evaluations spent and the training loss when there was one; at the end, the
weights (:meth:`~offbench.learn.base.TorchLearningSolver.weights_sha256`) and the learner's
random generator's next draw. The paths covered: an online dmro-v1 stream (resnet18-mid), a switch
of environment that DMRO notices and sweeps through (drift watch, restart, cut sweep, training
every frame), a capacitated stream (whole-row selection), a DAG stream (dmro-v2: padded jobs read
along topological orders), the learned-Q reading, and Reptile meta-training from ``start``; DROO
and DDLO on dmro-v1.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from tests.cpu_pins import pinned

from offbench.discovery import make_solver
from offbench.families import get_family
from offbench.solver import Context

pytest.importorskip("torch", reason="torch is the optional offbench[torch] extra")
pytest.importorskip("safetensors", reason="safetensors is in the optional offbench[rl] extra")


def _frames(family, seed, n, **kw):
    return list(get_family(family).stream(seed, n, **kw))


def fingerprint(name, params, frames, seed=0) -> tuple[str, str]:
    """(digest of the per-frame decisions, costs, evaluations and losses; digest of the final
    weights and the generator's next draw), 16 hex digits each."""
    s = make_solver(name, params)
    s.budget = {"frames": len(frames), "learn_frames": len(frames)}
    s.start(frames[0], seed)
    h = hashlib.sha256()
    for k, f in enumerate(frames):
        r = s.step(f, seed=k)
        assert r.decision is not None, r.error
        m = s.learn(f, r.decision, Context(f, None, k))
        h.update(np.ascontiguousarray(r.decision, dtype=np.int8).tobytes())
        h.update(struct.pack("<dq", float(r.cost), int(r.evaluations)))
        if "loss" in m:
            h.update(struct.pack("<d", float(m["loss"])))
        if m.get("environment_change"):
            h.update(b"change%d" % k)
    w = hashlib.sha256(s.weights_sha256().encode())
    w.update(struct.pack("<d", float(s.rng.random())))
    return h.hexdigest()[:16], w.hexdigest()[:16]


CASES = {
    "dmro-online": ("dmro", {}, lambda: _frames("dmro-v1", 100, 200, environment="resnet18-mid")),
    "dmro-switch": ("dmro", {}, lambda: _frames("dmro-v1", 31, 160, environment="resnet18-mid",
                                                 switch_at=60, switch_to="alexnet-low")),
    "dmro-capacitated": ("dmro", {}, lambda: _frames("capacitated-v1:small", 3, 150)),
    "dmro-dag": ("dmro", {}, lambda: _frames("dmro-v2", 2, 80)),
    "dmro-q-learned": ("dmro", {"q": "learned"}, lambda: _frames("dmro-v1", 5, 120)),
    "dmro-meta": ("dmro", {"meta_iterations": 2, "meta_frames": 3, "meta_tasks": 3},
                  lambda: _frames("dmro-v1", 7, 40, environment="vgg16-mid")),
    "droo-online": ("droo", {}, lambda: _frames("dmro-v1", 100, 200, environment="resnet18-mid")),
    "ddlo-online": ("ddlo", {"train_after": 100}, lambda: _frames("dmro-v1", 100, 200,
                                                                  environment="resnet18-mid")),
}

#: Taken at commit 0baca91 (the code before this round of latency work), in a worktree of it, per
#: CPU model (torch's kernels and Numba's code depend on it: tests/cpu_pins.py).
PINNED = {"znver3": {
    "dmro-online": ("fc3a09686a3736fd", "42b42bee92e55057"),
    "dmro-switch": ("d5e8d1e0a3fb6f5d", "47b0b7e78fe3ec81"),
    "dmro-capacitated": ("67682ada20418e58", "0935d72296645917"),
    "dmro-dag": ("3990222e97738f6a", "949255b9c22f3867"),
    "dmro-q-learned": ("6342748d99d89698", "dd15a813b8fe5c82"),
    # meta-training streams from their own seed space (solvers/dmro.py meta_stream_seed); the
    # legacy space (seed * 1000 + j) still gives the 0baca91 pin ("1fcb4c0b93103357", "9ad1cab81c228966")
    "dmro-meta": ("a8985986f465020f", "3f8860cbba816ead"),
    "droo-online": ("76ed94e7302edbfb", "9bff10af897603cc"),
    "ddlo-online": ("4884633438635ebb", "0f00ee9b4de8de20"),
}}


@pytest.mark.parametrize("case", list(CASES))
def test_learner_runs_are_bitwise_those_of_0baca91(case):
    name, params, frames = CASES[case]
    assert fingerprint(name, params, frames()) == pinned(PINNED)[case]


def test_the_switch_case_goes_through_the_sweep():
    """The switch case is not a stationary run in disguise: DMRO notices the change at the switch
    and sweeps (more candidates priced than its online pool) from that frame on."""
    name, params, frames = CASES["dmro-switch"]
    fr = frames()
    s = make_solver(name, params)
    s.start(fr[0], 0)
    ev, changes = [], []
    for k, f in enumerate(fr):
        r = s.step(f, seed=k)
        m = s.learn(f, r.decision, Context(f, None, k))
        ev.append(r.evaluations)
        if m.get("environment_change"):
            changes.append(k)
    assert changes == [60]
    assert max(ev[:60]) <= 10 and ev[60] > 80


def test_the_consensus_mean_in_numpy_is_torchs():
    """DMRO computes its networks' mean probabilities in numpy for K <= CONSENSUS_NUMPY_K: that
    is torch's ``mean(0)`` bitwise on the installed torch (its sum's order and its division)."""
    import torch

    from offbench_solvers.dmro import CONSENSUS_NUMPY_K

    g = torch.Generator().manual_seed(0)
    for K in range(1, CONSENSUS_NUMPY_K + 1):
        for t in range(200):
            sm = torch.softmax(torch.randn(K, 10, 5, 3, generator=g) * (0.1 + t / 10), -1)
            ours = np.add.reduce(sm.numpy(), axis=0) / np.float32(K)
            assert ours.tobytes() == sm.mean(0).numpy().tobytes(), (K, t)
