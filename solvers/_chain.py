"""Shared chain pieces: the backward Viterbi pass over one job's (layer, tier) states.

A job is a chain of ``L`` layers; the state after layer ``p`` is its tier ``k``. The cost model's
fused step tables (:func:`offbench.cost.tables`: ``step_c[l, 3 * prev + k]`` is layer ``l``'s
compute plus the transfer into it, ``end_c[i, k]`` the result's way home, and the same for
times) make every completion a path through a layered graph, and one backward pass gives, per
state, the best completion for a weight. :func:`backward` computes the four that dp (exact per
job) and the path formulation of milp / lp-bound (Lagrangian pricing, label bounds) need, in one
copy. Sums follow the order of :func:`offbench.cost.job_walk` (step entries added to the
completion), so a path read off ``arg`` and priced by the cost model costs what ``V`` says up to
the association of one addition per layer.
"""

from __future__ import annotations

from offbench._numba import jit


@jit
def backward(step_c, step_t, end_c, end_t, ops, l0, L, i, lam_e, lam_c, tw, V, arg, full):
    """Backward Viterbi over job ``i`` (layers ``l0 .. l0 + L - 1``).

    Fills, for ``p < L`` and tier ``k`` (the completion after layer ``p`` on tier ``k``: the later
    layers, the transfers out of ``p`` onwards and the way home):

    * ``V[0, p, k]``: the least *priced* linear cost, ``lam_e`` per op on the edge and
      ``lam_c`` per op on the cloud added for the later layers (``0, 0``: the linear cost);

    and, when ``full``:

    * ``V[1, p, k]``: the least time; ``V[2, p, k]``: the greatest time;
    * ``V[3, p, k]``: the least priced linear cost + ``tw`` * time.

    ``arg[q, p, k]`` is the tier of layer ``p + 1`` on the best completion of ``V[q]`` (the lowest
    tier on ties; 0 at ``p = L - 1``, the device that receives the result).
    """
    for k in range(3):
        c = end_c[i, k]
        V[0, L - 1, k] = c
        arg[0, L - 1, k] = 0
        if full:
            tt = end_t[i, k]
            V[1, L - 1, k] = tt
            V[2, L - 1, k] = tt
            V[3, L - 1, k] = c + tw * tt
            arg[1, L - 1, k] = 0
            arg[2, L - 1, k] = 0
            arg[3, L - 1, k] = 0
    for p in range(L - 2, -1, -1):
        l = l0 + p + 1                    # the next layer
        o = ops[l]
        for k in range(3):
            cmin = 0.0
            tmin = 0.0
            tmax = 0.0
            wmin = 0.0
            a0 = -1
            a1 = -1
            a2 = -1
            a3 = -1
            for k2 in range(3):
                j = 3 * k + k2
                sc = step_c[l, j]
                if k2 == 1:
                    sc = sc + lam_e * o
                elif k2 == 2:
                    sc = sc + lam_c * o
                v0 = sc + V[0, p + 1, k2]
                if a0 < 0 or v0 < cmin:
                    cmin = v0
                    a0 = k2
                if full:
                    st = step_t[l, j]
                    v1 = st + V[1, p + 1, k2]
                    v2 = st + V[2, p + 1, k2]
                    v3 = sc + tw * st + V[3, p + 1, k2]
                    if a1 < 0 or v1 < tmin:
                        tmin = v1
                        a1 = k2
                    if a2 < 0 or v2 > tmax:
                        tmax = v2
                        a2 = k2
                    if a3 < 0 or v3 < wmin:
                        wmin = v3
                        a3 = k2
            V[0, p, k] = cmin
            arg[0, p, k] = a0
            if full:
                V[1, p, k] = tmin
                V[2, p, k] = tmax
                V[3, p, k] = wmin
                arg[1, p, k] = a1
                arg[2, p, k] = a2
                arg[3, p, k] = a3


@jit
def start(step_c, step_t, l0, wc, wt, V):
    """First tier of the least-weight path of the job starting at layer ``l0`` (weight ``wc`` *
    linear cost + ``wt`` * time per step, ``V`` the completions for that weight, one of
    :func:`backward`'s); the lowest tier on ties."""
    best = 0.0
    bk = -1
    for k in range(3):
        v = wc * step_c[l0, k] + wt * step_t[l0, k] + V[0, k]
        if bk < 0 or v < best:
            best = v
            bk = k
    return bk


@jit
def follow(l0, L, k0, arg, x):
    """Write the path that starts on tier ``k0`` and follows ``arg`` (one of :func:`backward`'s)
    into ``x[l0 .. l0 + L - 1]``."""
    k = k0
    for p in range(L):
        x[l0 + p] = k
        k = arg[p, k]
