"""The anytime figure (quality against time) aggregates as the leaderboard ranks: per instance
first (its seeds averaged, as :func:`offbench.leaderboard.build.instance_ratios` averages them),
then quantiles over instances; its legend counts instances and seeds, not rows.

A hunt (runs/hunt_prov, item 6) found the committed figures saying "local-search-v1 (48
instances)" for 16 instances x 3 seeds, with the median and band taken over the 48 runs.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from offbench import plots
from offbench.leaderboard.build import instance_ratios


def _row(digest: str, seed: int, ratio: float, t: float = 0.01) -> dict:
    """A solved row whose trajectory reaches ``ratio`` at ``t`` (after a worse incumbent)."""
    return {"instance_digest": digest, "seed": seed, "status": "feasible", "decision": "0",
            "feasible": True, "ratio": ratio, "cost": ratio, "ref_cost": 1.0, "wall_time": t,
            "info": {"trajectory": {"t": [t / 10, t], "ratio": [ratio + 3.0, ratio]}}}


def _table(rows_by_label: dict[str, list[dict]]):
    entries = [SimpleNamespace(label=lab, key=(lab,)) for lab in rows_by_label]
    return SimpleNamespace(entries=entries, rows={(lab,): rs for lab, rs in rows_by_label.items()})


def _legend_and_median(fig) -> tuple[list[str], dict[str, np.ndarray]]:
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    # the first line drawn per solver is its median (steps), the second its markers
    medians = [ln.get_ydata() for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]
    return texts, medians


def test_quantiles_are_over_seed_averaged_instances_and_the_legend_counts_instances():
    # Instance a: 3 seeds at ratio 2; instances b and c: one seed each at 1.5. Over the 5 runs
    # the median is 2 (suboptimality 1); over the 3 instances it is 1.5 (suboptimality 0.5).
    rows = ([_row("a", s, 2.0) for s in range(3)] + [_row("b", 0, 1.5), _row("c", 0, 1.5)])
    runs = plots._anytime_runs(_table({"local-search-v1": rows}))
    fig = plots.anytime_figure(runs, "t")
    texts, medians = _legend_and_median(fig)
    assert texts[0] == "local-search-v1 (3 instances, 1 to 3 seeds)"
    assert medians[0][-1] == pytest.approx(0.5)


def test_legend_names_seeds_when_every_instance_has_them():
    rows = [_row(d, s, 1.25) for d in ("a", "b") for s in range(3)]
    one = [_row(d, 0, 1.25) for d in ("a", "b")]
    fig = plots.anytime_figure(plots._anytime_runs(_table({"ls-v1": rows, "milp-v1": one})))
    texts, _ = _legend_and_median(fig)
    assert texts[:2] == ["ls-v1 (2 instances x 3 seeds)", "milp-v1 (2 instances)"]


def test_an_instance_averages_its_seeds_as_the_table_does():
    """At the end of the solves each instance's value is the table's per-instance ratio
    (``instance_ratios``: the seeds averaged); before a seed's first incumbent the instance has
    none (``inf``), as an unsolved decision is a failure in the profiles."""
    rows = [_row("a", 0, 1.2, t=0.01), _row("a", 1, 1.4, t=0.02), _row("b", 0, 3.0, t=0.01),
            _row("b", 1, 1.0, t=0.01), _row("b", 2, 1.1, t=0.01)]
    runs = plots._anytime_runs(_table({"x": rows}))["x"]
    grid = np.array([0.0005, 0.0015, 0.005, 0.015, 1.0])
    values, seeds = plots.anytime_instances(runs, grid)
    assert seeds == [2, 3]
    want = instance_ratios(rows, {})
    assert values[:, -1] == pytest.approx([want["a"], want["b"]], rel=1e-12)
    # at 0.0005 no seed has an incumbent; at 0.0015 seed 0 of a has one (4.2), seed 1 not yet
    assert np.isinf(values[:, 0]).all() and np.isinf(values[0, 1])
    # b's three seeds each have their first incumbent at 0.001 (ratio + 3)
    assert values[1, 1] == pytest.approx(np.mean([6.0, 4.0, 4.1]))
    # a at 0.015: seed 0 final (1.2), seed 1 still on its first incumbent (4.4)
    assert values[0, 3] == pytest.approx(np.mean([1.2, 4.4]))


def test_runs_without_an_instance_are_instances_of_their_own():
    runs = [([0.01], [1.5], 0.01, 1.5), ([0.01], [2.0], 0.01, 2.0)]
    values, seeds = plots.anytime_instances(runs, np.array([0.02]))
    assert seeds == [1, 1] and values[:, 0].tolist() == [1.5, 2.0]
