"""Generator of the ``deadline`` family: soft deadlines with tardiness penalties.

A fleet of heterogeneous devices (:mod:`offbench.families._fleet`) runs real DNNs; each job has a
deadline set to a fraction ("tightness") of its best single-tier time in the nominal scenario
(the published frame's best times vary around it), and every second late is
charged ``w.tardiness`` (SPEC.md section 2). The max(0, T - d) term makes a job's cost a
non-linear function of its whole chain, so per-layer shortest paths no longer apply. See
``instances/deadline.toml``.
"""

from __future__ import annotations

from ._fleet import STRUCTURAL, build_fleet, check, fleet_params  # noqa: F401

PARAMS = fleet_params()


def build(p, rng_structure, rng_env):
    """The nominal instance and the per-device mean SNR."""
    return build_fleet(p, rng_structure)
