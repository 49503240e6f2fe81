"""Generator of ``dmro-v3``: dmro-v2 (:mod:`offbench.families.dmro_dag`) with workflow-v2's sizes
per task.

dmro-v2 draws its workflows as ``workflow-v1`` does, whose operations come from the sum over all
edges of a workflow's messages (:mod:`offbench.families.workflow_mrlco` explains why that is not
MRLCO's ratio). Version 3 draws them as ``workflow-v2`` does
(:func:`offbench.families.workflow_mrlco.workflow_job`): per task an output of 5 to 50 MiB,
sent on each of its out-edges (and returned by an exit task), and operations that make each
message take ``ccr`` times its sender's computation at the reference rate and speed
(``ref_process_rate`` = dmro-v2's ``ref_rate``, 2e7 bit/s, about a device's mean uplink at 2 MHz;
``ref_speed`` 1e10 FLOP/s). The devices, channel, servers, weights, environments and streams are
dmro-v2's; the ratio still scales the operations only, so a stream keeps its DAGs. See
``instances/dmro.toml`` (``[v3]``).
"""

from __future__ import annotations

import numpy as np

from ._common import server_params
from .dmro import DEVICE_PARAMS, JOB_WEIGHTS
from .dmro_dag import PARAMS as _V2_PARAMS
from .dmro_dag import STRUCTURAL, build_with
from .workflow_mrlco import PARAMS as _WORKFLOW_PARAMS
from .workflow_mrlco import workflow_job

_SHAPE = ("tasks", "fat", "density", "regular", "ccr", "message_mib", "ref_process_rate",
          "ref_speed")

PARAMS = (
    next(p for p in _V2_PARAMS if p.name == "n_devices"),
    *(p for p in _WORKFLOW_PARAMS if p.name in _SHAPE),
    *DEVICE_PARAMS,
    *server_params(),
    JOB_WEIGHTS,
)

__all__ = ["PARAMS", "STRUCTURAL", "build"]


def build(p, rng_structure: np.random.Generator, rng_env: np.random.Generator):
    """The nominal instance and the per-device mean uplink SNR (dmro-v2's, with these
    workflows)."""
    return build_with(workflow_job, p, rng_structure)
