"""Published statistics take log and exp from the C library, so a table's full-precision numbers
are the same bits on every CPU (numpy's AVX-512 ``np.log``/``np.exp`` differ from the C
library in the last bit on some inputs: the committed results/dag CSVs, made on such a CPU,
failed ``verify`` on one without it). On a CPU with AVX-512 these tests fail for numpy's
functions; everywhere they pin the C library's values."""

from __future__ import annotations

import math

import numpy as np

from offbench import metrics
from offbench.leaderboard import aggregate


def _values(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    return 1.0 + rng.lognormal(-3.0, 2.0, n)


def _libm_gmean(x):
    return math.exp(float(np.mean(np.array([math.log(v) for v in x]))))


def test_geometric_mean_is_the_c_librarys():
    x = _values()
    assert metrics.geometric_mean(x) == _libm_gmean(x)
    lx = np.array([math.log(v) for v in x])
    assert np.array_equal(metrics.logs(x), lx)
    assert metrics.logs(x.reshape(50, 60)).shape == (50, 60)


def test_intervals_and_paired_ratio_are_the_c_librarys():
    x = _values()
    y = _values(seed=8)
    g, lo, hi = metrics.geometric_mean_ci(x)
    assert g == _libm_gmean(x) and lo <= g <= hi
    # the large-table path of the leaderboard: the same mean, bit for bit
    assert aggregate.geometric_mean_ci(np.tile(x, 20))[0] == _libm_gmean(np.tile(x, 20))
    d = np.array([math.log(a) - math.log(b) for a, b in zip(x, y)])
    assert metrics.paired_wilcoxon(x, y)["gmean_ratio"] == math.exp(float(np.mean(d)))
    t = np.abs(_values(seed=9) - 1.0)
    sgm = math.exp(float(np.mean(np.array([math.log(v + 0.01) for v in t])))) - 0.01
    assert metrics.shifted_geometric_mean(t) == sgm


def test_extremes_keep_numpys_behaviour():
    assert metrics.exp(1e4) == math.inf  # (math.exp raises OverflowError)
    assert metrics.geometric_mean([2.0, math.inf]) == math.inf
    assert math.isnan(metrics.geometric_mean([]))
    assert metrics.geometric_mean([0.0, 1.0]) == math.exp(0.5 * math.log(1e-300))
