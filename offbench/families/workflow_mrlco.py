"""Generator of ``workflow-v2``: random workflow DAGs whose sizes follow MRLCO's data set task by
task.

Version 1 (:mod:`offbench.families.workflow`) drew every edge's message on its own and set the
workflow's operations from the *sum over all edges* of its messages
(``sum(message bits) / ref_rate = ccr * sum(FLOPs) / ref_speed``). MRLCO's data set (Wang et al.,
IEEE TPDS 2021; the ``.gv`` files of github.com/linkpark/metarl-offloading,
``env/mec_offloaing_envs/data``) relates sizes *per task*: task ``u`` processes ``size_u`` bytes
and sends ``expect_size_u = ccr * size_u`` bytes on *each* of its out-edges (every edge of a task
carries the same size: ``size = "30926848"`` on both edges of a task of ``size = "61853696"`` at
``--ccr 0.5``), with ``expect_size`` in daggen's ``--mindata``/``--maxdata`` range of 5 to 50
MiB; a task's computation takes ``size_u / f`` (the device's ``f`` = 1 MiB/s, the MEC server's
10 MiB/s, links of 7 Mbit/s counted as ``7 * 2**20 / 8`` bytes/s). Version 1's sum over edges
put about ``|E| / |V|`` (1.7 on average for 20 tasks, 1.15 to 2.4) times MRLCO's computation
behind each message, and its messages did not depend on their sender. Version 2 draws, per
task ``u``:

- its output ``m_u``, uniform in ``message_mib`` (MRLCO's ``expect_size``), sent on every
  out-edge of ``u`` as that edge's message (SPEC.md section 7's per-edge ``bits``), and returned
  to the device when ``u`` is an exit task (``out_bits``);
- the data it processes, ``s_u = m_u / ccr`` (MRLCO's ``size``), and its operations
  ``s_u / ref_process_rate * ref_speed``: the time the reference device (MRLCO's 1 MiB/s,
  ``ref_process_rate`` = 2**23 bit/s) takes, at offbench's reference speed ``ref_speed``.

So on the reference platform a message takes ``ccr * ref_process_rate / rate`` of its sender's
computation: ``ccr * 8 / 7`` on MRLCO's 7 Mbit/s link, as in MRLCO (in the nominal scenario: a
published frame scales the operations by its work factor and not the messages, as in version 1). The DAGs (daggen's layered
algorithm, :func:`offbench.families._dag.daggen_dag`), the job's input, the devices, networks,
servers, capacities and environments are version 1's. See ``instances/workflow.toml``
(``[v2]``).

Every random number of the structure comes from ``rng_structure`` in an order that depends only
on the structural parameters; the networks are drawn after them.
"""

from __future__ import annotations

import numpy as np

from .param import FParam
from ._common import server_params
from ._dag import MIB, daggen_dag
from ._fleet import capacity_params
from .workflow import PARAMS as _V1_PARAMS
from .workflow import _uniform, build_with

_KEEP = ("n_devices", "n_jobs", "tasks", "fat", "density", "regular", "ccr", "ref_speed",
         "device_speed", "device_power", "networks")

PARAMS = (
    *(p for p in _V1_PARAMS if p.name in _KEEP[:7]),
    FParam("message_mib", "range", low=0.0, low_open=True,
           doc="a task's output (its message on every out-edge, its result if it is an exit) "
               "and the job's input, MiB (uniform; MRLCO's expect_size)"),
    FParam("ref_process_rate", float, low=1.0,
           doc="data the reference device processes per second, bit/s (MRLCO's 1 MiB/s)"),
    *(p for p in _V1_PARAMS if p.name in _KEEP[7:]),
    *server_params(),
    *capacity_params(),
)

#: Parameters that fix the structure (a stream's environments may not change them).
STRUCTURAL = frozenset({"n_devices", "n_jobs", "tasks", "fat", "density", "regular", "ccr",
                        "message_mib", "ref_process_rate", "ref_speed"})


def workflow_job(rng: np.random.Generator, p, device: int) -> dict:
    """One workflow as a version-2 job dict (see the module docstring)."""
    lo, hi = p["tasks"]
    n = int(lo + rng.integers(0, hi - lo + 1))
    fat, density, ccr = (_uniform(rng, p[k]) for k in ("fat", "density", "ccr"))
    edges = daggen_dag(rng, n, fat, density, p["regular"])
    out = 8.0 * MIB * _uniform(rng, p["message_mib"], n)  # m_u, bits
    in_bits = 8.0 * MIB * _uniform(rng, p["message_mib"])
    has_succ = np.zeros(n, dtype=bool)
    has_succ[[u for u, _ in edges]] = True
    ops = out / ccr / p["ref_process_rate"] * p["ref_speed"]
    return {
        "device": int(device),
        "ops": ops.tolist(),
        "edges": [[u + 1, v + 1, float(out[u])] for u, v in edges],
        "in_bits": float(in_bits),
        "out_bits": np.where(has_succ, 0.0, out).tolist(),
    }


def build(p, rng_structure: np.random.Generator, rng_env: np.random.Generator):
    """The nominal instance and the per-device mean SNR (version 1's, with these workflows)."""
    return build_with(workflow_job, p, rng_structure)
