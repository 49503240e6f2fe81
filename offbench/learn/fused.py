"""DMRO's per-frame candidate work on frames of equal-length chains, in one Numba kernel.

After the networks' forward pass and softmax (torch's, unchanged), :class:`~offbench_solvers.dmro.DMRO`
used to run a chain of small numpy calls per frame: each network's argmax, the consensus mean
and its argmax, the exploration's two ``np.where`` over the draws, the rows' flattening and
concatenation, the pricing kernel's call (:func:`~offbench.learn.candidates.price_jobs`), and
the per-job selection's ``argmin`` and gather. Each call is a few microseconds of numpy's own
overhead on arrays of a few hundred entries, and together they touch enough code that, run in
sequence with torch's, each was measured at about twice its time in a loop of its own.
:func:`decide_rows` does all of it in one call, with the same arithmetic:

* the proposals and the consensus are numpy's ``argmax`` (the first largest; the first NaN if
  there is one), the consensus of the mean over the K networks' probabilities summed in
  float32 in network order and divided by K in float32, which is what
  ``np.add.reduce(sm, axis=0) / np.float32(K)`` computes (and torch's ``mean(0)`` for K <= 4:
  ``CONSENSUS_NUMPY_K`` in ``solvers/dmro.py``);
* the exploration rows are :class:`~offbench.learn.candidates.CutExplorer`'s: a wild draw takes
  the drawn cut shape, else a layer in the drawn segment takes the drawn tier, else the
  consensus. The draws are taken inside the kernel from the learner's generator with Numba's
  ``Generator.integers`` and ``random`` (the same calls in the same order as
  :meth:`CutExplorer.draws`): Numba runs numpy's own algorithms on the generator's state, so the
  numbers and the state after them are numpy's (tested on 15,000 random bounds and sizes; the
  four numpy calls cost 53 us of CPU per frame in a loop of their own at load 10, passing the
  generator to Numba about 12-22);
* the rows are priced by :func:`~offbench.learn.candidates._job_prices`, the kernel
  :func:`~offbench.learn.candidates.price_jobs` calls (the cost model's own njit rules);
* the selection is each job's first cheapest row (numpy's ``argmin``: the first smallest, the
  first NaN) or, with capacities, the first cheapest feasible row (the cheapest row when none is
  feasible): :func:`~offbench.learn.candidates.best_row`.

Bitwise the same decisions, costs, evaluations, labels and weights as the numpy chain
(``tests/test_learned_fingerprint.py``; ``tests/test_learned_fused.py`` compares the kernel with
the numpy chain on random logits, NaN and ties included).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from .candidates import _job_prices


@jit
def _argmax3(a0, a1, a2):
    """numpy's ``argmax`` of three values: the first largest, or the first NaN."""
    if a0 != a0:
        return 0
    best = 0
    bv = a0
    if not (a1 <= bv):
        if a1 != a1:
            return 1
        best = 1
        bv = a1
    if not (a2 <= bv):
        return 2
    return best


@jit
def _argmin(v):
    """numpy's ``argmin`` of a 1-d array: the first smallest, or the first NaN."""
    mp = v[0]
    idx = 0
    if mp != mp:
        return 0
    for r in range(1, v.shape[0]):
        if not (v[r] >= mp):
            mp = v[r]
            idx = r
            if mp != mp:
                return r
    return idx


@jit
def decide_rows(t, lg, sm, kf, inc, has_inc, rng, n, eps, segs, shapes, coupled,
                rows, job_c, total, feas, x, y, chosen):
    """Assemble, price and select one frame's candidates (see the module docstring).

    ``lg`` ``(K, nj, 3 L)`` float32 logits and ``sm`` ``(K, nj, L, 3)`` their softmax; ``kf`` is
    K as float32; ``inc`` ``(nj, L)`` the incumbent (used when ``has_inc``); ``rng`` the
    learner's generator, from which the ``n`` exploration candidates' draws are taken as
    :meth:`~offbench.learn.candidates.CutExplorer.draws` takes them (``eps``: the probability of
    a wild shape); ``segs`` and ``shapes`` the explorer's segment masks and cut shapes for L
    layers. Writes ``rows`` ``(K + has_inc + n + 1, nj L)`` (the
    networks' proposals, the incumbent, the exploration, the all-device row), their prices
    ``job_c``, ``total``, ``feas``, the decision ``x`` ``(nj L)``, its per-job copy ``y``
    ``(nj, L)`` and each job's chosen row ``chosen``."""
    K = sm.shape[0]
    nj = sm.shape[1]
    L = sm.shape[2]
    # the explorer's draws, in its order (CutExplorer.draws: Numba's Generator methods draw
    # numpy's numbers from the same state; tests/test_learned_fused.py)
    s_idx = rng.integers(0, segs.shape[0], size=(n, nj))
    tiers = rng.integers(0, 3, size=(n, nj))
    wild = rng.random((n, nj)) < eps
    c_idx = rng.integers(0, shapes.shape[0], size=(n, nj))
    m = rows.shape[0]
    r_exp = K + has_inc
    for i in range(nj):
        for l in range(L):
            c = i * L + l
            for k in range(K):
                rows[k, c] = _argmax3(lg[k, i, 3 * l], lg[k, i, 3 * l + 1], lg[k, i, 3 * l + 2])
            if has_inc:
                rows[K, c] = inc[i, l]
            m0 = sm[0, i, l, 0]
            m1 = sm[0, i, l, 1]
            m2 = sm[0, i, l, 2]
            for k in range(1, K):
                m0 += sm[k, i, l, 0]
                m1 += sm[k, i, l, 1]
                m2 += sm[k, i, l, 2]
            cons = _argmax3(m0 / kf, m1 / kf, m2 / kf)
            for e in range(n):
                if wild[e, i]:
                    rows[r_exp + e, c] = shapes[c_idx[e, i], l]
                elif segs[s_idx[e, i], l]:
                    rows[r_exp + e, c] = tiers[e, i]
                else:
                    rows[r_exp + e, c] = cons
            rows[m - 1, c] = 0
    _job_prices(t, rows, job_c, total, feas)
    if coupled:
        any_feasible = False
        for r in range(m):
            if feas[r]:
                any_feasible = True
        if any_feasible:  # np.argmin of the costs with the infeasible rows' set to inf
            b = 0
            mp = total[0] if feas[0] else np.inf
            if mp == mp:
                for r in range(1, m):
                    v = total[r] if feas[r] else np.inf
                    if not (v >= mp):
                        mp = v
                        b = r
                        if v != v:
                            break
        else:
            b = _argmin(total)
        for c in range(nj * L):
            x[c] = rows[b, c]
        for i in range(nj):
            chosen[i] = b
    else:
        for i in range(nj):
            b = _argmin(job_c[:, i])
            chosen[i] = b
            for l in range(L):
                x[i * L + l] = rows[b, i * L + l]
    for i in range(nj):
        for l in range(L):
            y[i, l] = x[i * L + l]
