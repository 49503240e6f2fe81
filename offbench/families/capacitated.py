"""Generator of the ``capacitated`` family: jobs that compete for edge and cloud capacity.

A fleet of heterogeneous devices (:mod:`offbench.families._fleet`) runs real DNNs cut into a few
layers; the edge and the cloud can each take only a fraction of the frame's nominal FLOPs, so jobs
compete and the problem is a multiple-choice knapsack with chain costs (NP-hard). Size presets
run from exhaustively provable to MILP-scale to beyond (bounds only). See
``instances/capacitated.toml``.
"""

from __future__ import annotations

from ._fleet import STRUCTURAL, build_fleet, check, fleet_params  # noqa: F401

PARAMS = fleet_params(deadlines=False)


def build(p, rng_structure, rng_env):
    """The nominal instance and the per-device mean SNR."""
    return build_fleet(p, rng_structure)
