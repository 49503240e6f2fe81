"""Statistics of the leaderboards and plots (SPEC.md section 6), deterministic by construction.

Every function here is a pure function of its arguments: resampling takes an explicit seed, and
inputs are used in the order given (callers sort rows by their store key first).

Logarithms and exponentials of published numbers (geometric means, their intervals, the paired
comparison's ratio) are the C library's (:func:`logs`, :func:`exp`), not numpy's ``np.log`` /
``np.exp``: numpy takes a vectorized AVX-512 path on CPUs that have it, which differs from the
C library in the last bit on some inputs, so a table's full-precision CSV written on one CPU
failed ``offbench leaderboard verify`` on another by one unit in the last place (the committed
``results/dag`` tables, 2.0802640281606486 against 2.080264028160649). The generators made the
same choice (:func:`offbench.generators._loguniform`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Shift of the shifted geometric mean of solve times, in seconds (stated in every table).
SGM_SHIFT = 0.01

#: Bootstrap settings of every confidence interval in offbench's tables.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95

#: Two costs within this relative tolerance tie (for wins and performance profiles).
TIE_RTOL = 1e-9


def logs(values) -> np.ndarray:
    """``log`` of each value by the C library (``math.log``: the same bits on every CPU, see the
    module docstring); values must be positive, ``inf`` or NaN (callers floor them)."""
    x = np.asarray(values, dtype=np.float64)
    return np.fromiter(map(math.log, x.ravel().tolist()), dtype=np.float64,
                       count=x.size).reshape(x.shape)


def exp(value: float) -> float:
    """``exp`` of one value by the C library (``inf`` past the largest float, as ``np.exp``)."""
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def bootstrap_mean_ci(values: Sequence[float], groups: Sequence | None = None, *,
                      resamples: int = BOOTSTRAP_RESAMPLES, level: float = CONFIDENCE,
                      seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """Mean with a percentile bootstrap confidence interval.

    Parameters
    ----------
    values : sequence of float
        One value per row.
    groups : sequence, optional
        A cluster label per value (the instance): whole clusters are resampled, so repeated
        seeds on one instance do not narrow the interval falsely. Without it, values are
        resampled one by one.
    resamples, level, seed : int, float, int
        Number of resamples, confidence level, and the seed of the resampling (fixed, so the
        interval is the same on every run).

    Returns
    -------
    (mean, low, high) : tuple of float
        ``nan`` for no values; ``low == high == mean`` for a single cluster.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    mean = float(x.mean())
    if groups is None:
        sums = x
        counts = np.ones_like(x)
    else:
        labels = list(groups)
        if len(labels) != x.size:
            raise ValueError(f"groups has {len(labels)} labels for {x.size} values")
        order = {}
        idx = np.array([order.setdefault(g, len(order)) for g in labels])
        sums = np.bincount(idx, weights=x)
        counts = np.bincount(idx).astype(np.float64)
    k = sums.size
    if k == 1:
        return (mean, mean, mean)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, k, size=(resamples, k))
    boot = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = quantiles_inf(boot, (alpha, 1.0 - alpha))
    return (mean, lo, hi)


def quantiles_inf(x: np.ndarray, qs) -> list[float]:
    """``np.quantile(x, qs)`` (linear interpolation), except where it interpolates between
    infinite values (inf - inf is NaN): there the quantile is what the interpolation means,
    inf between two infs, the value itself at an exact position. (A resample that holds an
    instance of fallback ratio inf, a reference cost of 0, has mean inf.)"""
    with np.errstate(invalid="ignore"):
        v = [float(q) for q in np.quantile(x, list(qs))]
    if not any(math.isnan(q) for q in v) or not np.isinf(x).any():
        return v
    s = np.sort(x)
    for i, q in enumerate(qs):
        if math.isnan(v[i]):
            pos = q * (s.size - 1)
            a, b = float(s[math.floor(pos)]), float(s[math.ceil(pos)])
            v[i] = a if (pos == math.floor(pos) or a == b) else (b if math.isinf(b) else math.nan)
    return v


def shifted_geometric_mean(times: Sequence[float], shift: float = SGM_SHIFT) -> float:
    """``exp(mean(log(t + shift))) - shift``: the usual summary of solve times (shift in seconds)."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return math.nan
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift!r}")
    return exp(float(np.mean(logs(np.maximum(t, 0.0) + shift)))) - shift


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (linear interpolation), ``nan`` for no values."""
    x = np.asarray(values, dtype=np.float64)
    return float(np.quantile(x, q)) if x.size else math.nan


def moving_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving mean: entry ``k`` is the mean of ``values[max(0, k - window + 1):k + 1]``."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return x
    c = np.concatenate([[0.0], np.cumsum(x)])
    k = np.arange(1, x.size + 1)
    lo = np.maximum(0, k - window)
    return (c[k] - c[lo]) / (k - lo)


def frames_until_stays_below(ratios: Sequence[float], window: int, threshold: float,
                             solved: Sequence[bool] | None = None) -> int | None:
    """Frames until the trailing moving mean of ``ratios`` stays under ``threshold`` for good.

    A frame index ``k`` is *below* when the moving mean over ``window`` frames ending at ``k``
    is under ``threshold`` and, when ``solved`` is given, every frame of that window was solved
    (SPEC.md section 6: "a window counts as converged only if every frame in it is solved"; an
    unsolved frame's ratio is its fallback ratio, which could be small and pull the mean down).
    Returns the number of frames seen when the stream became below for the last time and never
    came back over (``k + 1`` for frame index ``k``), or None if the last frame is not below
    ("frames until the moving mean stays under 1.01").

    Parameters
    ----------
    ratios : sequence of float
        One ratio per frame, in order.
    window : int
        Length of the trailing moving mean (frames; shorter at the start of the stream).
    threshold : float
    solved : sequence of bool, optional
        Whether each frame was solved (same length as ``ratios``); None: all were.
    """
    m = moving_mean(ratios, window)
    if m.size == 0:
        return None
    below = m < threshold
    if solved is not None:
        ok = np.asarray(solved, dtype=bool)
        if ok.shape != m.shape:
            raise ValueError(f"solved has {ok.size} values for {m.size} ratios")
        # unsolved frames in the trailing window ending at each k (the window of moving_mean)
        bad = np.concatenate([[0], np.cumsum(~ok)])
        k = np.arange(1, m.size + 1)
        below &= (bad[k] - bad[np.maximum(0, k - window)]) == 0
    if not below[-1]:
        return None
    above = np.nonzero(~below)[0]
    return int(above[-1] + 2) if above.size else 1


def ecdf(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The empirical CDF as step points: sorted values and the fraction ``<=`` each."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    return x, np.arange(1, x.size + 1) / max(x.size, 1)


def best_mask(costs: np.ndarray, rtol: float = TIE_RTOL) -> np.ndarray:
    """For a matrix (instances x solvers) of scored costs (``nan``: not run), which entries are
    the best of their row (ties, within ``rtol``, count for all)."""
    c = np.asarray(costs, dtype=np.float64)
    best = np.nanmin(np.where(np.isnan(c), np.inf, c), axis=1, keepdims=True)
    # Relative, whatever the scale of the costs (as in :func:`performance_profile`, whose
    # fraction at tau = 1 is then wins / instances).
    return ~np.isnan(c) & (c <= best + rtol * np.abs(best))


def performance_profile(costs: np.ndarray, taus: np.ndarray | None = None):
    """Dolan-More performance profile of a matrix (instances x solvers) of scored costs.

    The performance ratio of solver ``s`` on instance ``i`` is ``c[i, s] / min_s c[i, s]``
    (``inf`` where it was not run); the profile is the fraction of instances with ratio ``<= tau``.

    Returns
    -------
    taus : array
        The breakpoints (all distinct finite ratios, from 1).
    profile : array, shape (len(taus), n_solvers)
    """
    c = np.asarray(costs, dtype=np.float64)
    c = np.where(np.isnan(c), np.inf, c)
    best = c.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(best > 0, c / best, np.where(c <= best, 1.0, np.inf))
    r = np.where(np.isclose(r, 1.0, rtol=TIE_RTOL, atol=0), 1.0, r)
    if taus is None:
        finite = r[np.isfinite(r)]
        taus = np.unique(np.concatenate([[1.0], finite]))
    profile = (r[None, :, :] <= taus[:, None, None]).mean(axis=1)
    return taus, profile


def geometric_mean_ci(values: Sequence[float], groups: Sequence | None = None, *,
                      resamples: int = BOOTSTRAP_RESAMPLES, level: float = CONFIDENCE,
                      seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """Geometric mean of positive values with a percentile bootstrap interval.

    The bootstrap of :func:`bootstrap_mean_ci` on ``log(values)``, mapped back by ``exp``
    (``groups``: the cluster of each value, resampled whole). An ``inf`` value (a positive cost
    against a reference cost of 0) makes the mean ``inf``; values are floored at ``1e-300``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    lx = logs(np.maximum(x, 1e-300))
    with np.errstate(invalid="ignore"):
        m, lo, hi = bootstrap_mean_ci(lx, groups, resamples=resamples, level=level, seed=seed)
    return (exp(m), exp(lo), exp(hi))


def geometric_mean(values: Sequence[float]) -> float:
    """``exp(mean(log(values)))`` of positive values (``nan`` for none; floored at ``1e-300``)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan
    return exp(float(np.mean(logs(np.maximum(x, 1e-300)))))


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> dict:
    """Wilcoxon signed-rank test (scipy, two-sided) of paired values ``a`` and ``b`` (the fallback
    ratios of two solvers on the same instances), on ``log(a) - log(b)``.

    Returns a dict: ``n`` (pairs), ``a_better``, ``b_better``, ``ties`` (within
    :data:`TIE_RTOL`), ``gmean_ratio`` (geometric mean of ``a / b``) and ``p_value`` (``1.0``
    when every pair ties; ``nan`` for no pairs).
    """
    from scipy.stats import wilcoxon

    x = np.maximum(np.asarray(a, dtype=np.float64), 1e-300)
    y = np.maximum(np.asarray(b, dtype=np.float64), 1e-300)
    if x.shape != y.shape:
        raise ValueError(f"paired values: {x.size} and {y.size} values")
    with np.errstate(invalid="ignore"):
        d = logs(x) - logs(y)
    both_inf = np.isinf(x) & np.isinf(y)
    d = np.where(both_inf, 0.0, d)
    tie = np.isclose(x, y, rtol=TIE_RTOL, atol=0) | both_inf
    d = np.where(tie, 0.0, d)
    out = {"n": int(x.size), "a_better": int(np.sum(d < 0)), "b_better": int(np.sum(d > 0)),
           "ties": int(np.sum(d == 0))}
    finite = d[np.isfinite(d)]
    out["gmean_ratio"] = exp(float(np.mean(d))) if d.size else math.nan
    if x.size == 0:
        out["p_value"] = math.nan
    elif not np.any(d != 0):
        out["p_value"] = 1.0
    else:
        # inf differences (one side unsolvable at reference 0) rank as the largest.
        big = (np.max(np.abs(finite)) if finite.size else 1.0) * 2 + 1
        dd = np.clip(d, -big, big)
        out["p_value"] = float(wilcoxon(dd, zero_method="wilcox", alternative="two-sided").pvalue)
    return out
