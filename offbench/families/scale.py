"""Generator of the ``scale`` family: one setting from one job to 10^4 jobs, for scaling curves.

The same fleet at every size (:mod:`offbench.families._fleet`): jobs of 3 to 8 layers of real
DNNs on mixed devices and networks, four jobs per device, with edge and cloud capacities (a fixed
fraction of the total FLOPs, so the coupling stays as tight at every size). Presets n1 .. n10000
set the number of jobs. See ``instances/scale.toml``.
"""

from __future__ import annotations

from ._fleet import STRUCTURAL, build_fleet, check, fleet_params  # noqa: F401

PARAMS = fleet_params(deadlines=False)


def build(p, rng_structure, rng_env):
    """The nominal instance and the per-device mean SNR."""
    return build_fleet(p, rng_structure)
