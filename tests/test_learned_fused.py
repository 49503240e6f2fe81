"""offbench.learn.fused.decide_rows is DMRO's numpy chain (proposals, consensus, exploration,
pricing, selection) bitwise, on random logits with ties and NaN, with and without capacities,
with and without an incumbent; and _ChainInputs' buffered extended vector equals the composed
feature functions."""

from __future__ import annotations

import numpy as np
import pytest

from offbench.families import get_family
from offbench.learn.candidates import (CutExplorer, _job_inputs_composed, best_row, job_inputs,
                                       price_jobs)
from offbench.learn.fused import decide_rows
from offbench.solver import Context

torch = pytest.importorskip("torch", reason="torch is the optional offbench[torch] extra")


def _numpy_chain(frame, lg, sm, K, inc, draws, group, coupled):
    """What DMRO._propose computed before the kernel (commit 1d281b6), for equal-length chains."""
    L, jobs, segs, shapes = group
    nj = lg.shape[1]
    props = lg.argmax(-1).astype(np.int8)
    cons = (np.add.reduce(sm, axis=0) / np.float32(K)).argmax(-1).astype(np.int8)
    s_idx, tiers, wild, c_idx = draws
    moved = np.where(segs[s_idx], tiers[..., None], cons[None])
    expl = np.where(wild[..., None], shapes[c_idx], moved)
    pool = [props] + ([inc[None]] if inc is not None else []) + [expl]
    rows = np.concatenate([p.reshape(p.shape[0], -1) for p in pool]
                          + [np.zeros((1, nj * L), np.int8)])
    jp = price_jobs(Context(frame, None, 0), rows, checked=False)
    if coupled:
        b = best_row(jp)
        x, chosen = rows[b], np.full(nj, b)
    else:
        chosen = np.argmin(jp.job_costs, axis=0)
        x = rows.reshape(rows.shape[0], nj, L)[chosen, np.arange(nj)].ravel()
    return rows, jp, x, chosen


@pytest.mark.parametrize("family,coupled", [("dmro-v1", False), ("capacitated-v1:small", True)])
def test_decide_rows_is_the_numpy_chain(family, coupled):
    from offbench.cost import tables

    frames = list(get_family(family).stream(11, 12))
    f0 = frames[0]
    lengths = np.diff(f0.layer_offsets)
    nj, L = f0.n_jobs, int(lengths.max())
    explorer = CutExplorer(lengths)
    assert explorer.plain and bool(frames[0].has_capacities) == coupled
    group = explorer.groups[0]
    g = torch.Generator().manual_seed(1)
    rng = np.random.default_rng(2)
    for t, frame in enumerate(frames * 10):
        K = 1 + t % 4
        logits = torch.randn(K, nj, L, 3, generator=g) * (0.05 + t % 7)
        if t % 5 == 0:  # ties: coarse logits
            logits = torch.round(logits)
        if t % 9 == 0:  # a NaN logit
            logits[t % K, t % nj, t % L, t % 3] = float("nan")
        sm = torch.softmax(logits, -1).numpy()
        lg = logits.numpy()
        inc = None if t % 3 == 0 else rng.integers(0, 3, size=(nj, L)).astype(np.int8)
        n = 1 + t % 5
        eps = (t % 11) / 10
        state = rng.bit_generator.state
        draws = CutExplorer.draws(group, n, eps, rng)
        after = rng.bit_generator.state
        rows0, jp, x0, chosen0 = _numpy_chain(frame, lg, sm, K, inc, draws, group, coupled)
        rng.bit_generator.state = state  # the kernel draws the same numbers from the same state
        m = K + (inc is not None) + n + 1
        rows = np.empty((m, nj * L), np.int8)
        job_c, total, feas = np.empty((m, nj)), np.empty(m), np.empty(m, np.bool_)
        x, y, chosen = np.empty(nj * L, np.int8), np.empty((nj, L), np.int8), np.empty(nj, np.int64)
        decide_rows(tables(frame), lg.reshape(K, nj, 3 * L), sm, np.float32(K),
                    np.zeros((1, nj * L), np.int8) if inc is None else inc, int(inc is not None),
                    rng, n, eps, group[2], group[3], coupled, rows, job_c, total, feas, x, y, chosen)
        assert rng.bit_generator.state == after, t
        assert rows.tobytes() == rows0.tobytes(), t
        assert job_c.tobytes() == jp.job_costs.tobytes() and total.tobytes() == jp.costs.tobytes()
        assert np.array_equal(feas, jp.feasible)
        assert x.tobytes() == x0.tobytes() and np.array_equal(chosen, chosen0), t
        assert y.tobytes() == x0.reshape(nj, L).tobytes()


def test_numbas_generator_draws_numpys_numbers():
    """The draws of CutExplorer.draws taken by Numba's Generator methods (as decide_rows takes
    them) are numpy's, and leave the generator in numpy's state, over many bounds and sizes."""
    import numba

    @numba.njit
    def draws(rng, n, nj, ns, nc, eps):
        return (rng.integers(0, ns, size=(n, nj)), rng.integers(0, 3, size=(n, nj)),
                rng.random((n, nj)) < eps, rng.integers(0, nc, size=(n, nj)))

    for seed in range(40):
        r1, r2 = np.random.default_rng(seed), np.random.default_rng(seed)
        for it in range(40):
            n, nj = 1 + it % 6, 1 + (seed + it) % 13
            ns, nc = 1 + (seed * 7 + it) % 60, 1 + (seed * 3 + it * 5) % 400
            eps = (it % 10) / 9
            group = (0, np.arange(nj), np.zeros((ns, 1), bool), np.zeros((nc, 1), np.int8))
            for u, v in zip(CutExplorer.draws(group, n, eps, r1), draws(r2, n, nj, ns, nc, eps)):
                assert np.array_equal(u, v), (seed, it)
        assert r1.bit_generator.state == r2.bit_generator.state


def test_argmax_and_argmin_follow_numpy_on_nan_and_ties():
    from offbench.learn.fused import _argmax3, _argmin

    nan = np.float32("nan")
    cases = [(1, 1, 1), (0, 2, 2), (nan, 1, 2), (1, nan, 2), (1, 2, nan), (3, nan, nan), (-1, -2, -1)]
    for c in cases:
        a = np.array(c, np.float32)
        assert _argmax3(a[0], a[1], a[2]) == int(np.argmax(a)), c
    for v in ([3.0, 1.0, 1.0, 2.0], [np.nan, 1.0], [2.0, np.nan, 0.0, np.nan], [5.0], [1.0, 1.0]):
        a = np.array(v)
        assert _argmin(a) == int(np.argmin(a)), v


def test_chain_inputs_equal_the_composed_features():
    for fam in ("dmro-v1", "capacitated-v1:small"):
        for f in get_family(fam).stream(4, 20):
            L = int(np.diff(f.layer_offsets).max())
            assert job_inputs(f, L).tobytes() == _job_inputs_composed(f, L).tobytes()


def test_watch_frame_is_the_profiler_and_the_watch():
    from offbench.learn.drift import Profiler, ProfileWatch, watch_frame

    frames = list(get_family("dmro-v1").stream(21, 30, environment="resnet18-mid", switch_at=15,
                                               switch_to="alexnet-low"))
    frames += list(get_family("dmro-v2").stream(2, 10))
    for f in frames:
        p, w = Profiler(f), ProfileWatch(3)
        for g in frames:
            if g.layer_offsets.tobytes() != f.layer_offsets.tobytes():
                continue
            prof, differs = watch_frame(p, w, g)
            ref = p(g)
            assert prof.tobytes() == ref.tobytes() and differs == w.differs(ref)
            w.observe(ref, differs)
