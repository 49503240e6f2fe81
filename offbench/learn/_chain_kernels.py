"""The two Numba kernels of :class:`offbench.learn.candidates._ChainInputs` (a frame of chains'
job features), around numpy's ``log1p``.

:meth:`_ChainInputs.__call__` used to assemble the frame's raw quantities with a
``concatenate`` of 13 Python numbers and 18 arrays (three of them gathered from ``bits``),
divide them by their scales, take numpy's ``log1p``, write the frame's flags one numpy call at a
time, cast to float32 and gather the job rows: about 15 numpy calls, 100 us of CPU per dmro-v1
frame in DMRO's decision sequence (where the other calls have evicted their code and data).
Here :func:`raw_scaled` writes the quantities divided by their scales (the same IEEE divisions)
and the flags into the extended vector in one call, numpy's ``log1p`` runs in place on it (so
the logarithm is numpy's own, unchanged), and :func:`gather_f32` casts each entry to float32
(round to nearest, as ``astype``) while gathering the rows. The job sums (numpy's ``reduceat``)
and the sum of all operations (numpy's pairwise ``sum``) stay numpy's and are passed in.
Bitwise the same features: ``tests/test_learned_fused.py`` compares them with the composed
feature functions, and ``tests/test_learned_fingerprint.py`` pins the runs.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit


@jit
def raw_scaled(ext, scales, w_time, w_energy, w_tardiness, edge_speed, edge_energy_per_op, ec,
               cloud_speed, cloud_energy_per_op, cc, backhaul_rate, backhaul_latency,
               backhaul_energy_per_bit, ops_sum, dev_speed, dev_power_compute, dev_power_tx,
               dev_power_rx, dev_rate_up, dev_rate_down, dev_latency, job_ops, bits, first_b,
               last_b, job_weight, deadline, ops, b_in, b_out):
    """Write ``raw / scales`` into ``ext[:nv]`` (``raw`` in ``_ChainInputs.__call__``'s order; an
    absent capacity or deadline as 0), then the flags after it: ``has_e``, ``has_c``, the share
    of active jobs, each job's ``has_dl`` and ``active`` (1.0 or 0.0). Returns ``nv``."""
    has_e = np.isfinite(ec)
    has_c = np.isfinite(cc)
    head = (w_time, w_energy, w_tardiness, edge_speed, edge_energy_per_op, ec if has_e else 0.0,
            cloud_speed, cloud_energy_per_op, cc if has_c else 0.0, backhaul_rate, backhaul_latency,
            backhaul_energy_per_bit, ops_sum)
    k = 0
    for v in head:
        ext[k] = v / scales[k]
        k += 1
    for a in (dev_speed, dev_power_compute, dev_power_tx, dev_power_rx, dev_rate_up, dev_rate_down,
              dev_latency):
        for d in range(a.shape[0]):
            ext[k] = a[d] / scales[k]
            k += 1
    nj = job_ops.shape[0]
    for i in range(nj):
        ext[k] = job_ops[i] / scales[k]
        k += 1
    for i in range(nj):
        ext[k] = bits[first_b[i]] / scales[k]
        k += 1
    for i in range(nj):
        ext[k] = bits[last_b[i]] / scales[k]
        k += 1
    for i in range(nj):
        ext[k] = job_weight[i] / scales[k]
        k += 1
    for i in range(nj):
        ext[k] = (deadline[i] if np.isfinite(deadline[i]) else 0.0) / scales[k]
        k += 1
    nl = ops.shape[0]
    for l in range(nl):
        ext[k] = ops[l] / scales[k]
        k += 1
    for l in range(nl):
        ext[k] = bits[b_in[l]] / scales[k]
        k += 1
    for l in range(nl):
        ext[k] = bits[b_out[l]] / scales[k]
        k += 1
    nv = k
    ext[nv] = 1.0 if has_e else 0.0
    ext[nv + 1] = 1.0 if has_c else 0.0
    n_active = 0
    for i in range(nj):
        act = job_weight[i] > 0 and job_ops[i] > 0
        n_active += act
        ext[nv + 3 + i] = 1.0 if np.isfinite(deadline[i]) else 0.0
        ext[nv + 3 + nj + i] = 1.0 if act else 0.0
    ext[nv + 2] = n_active / nj  # active.mean(): the count over nj, one division
    return nv


@jit
def gather_f32(ext, index, out):
    """``out[i, j] = float32(ext[index[i, j]])``: ``ext.astype(np.float32)[index]`` into ``out``."""
    for i in range(index.shape[0]):
        for j in range(index.shape[1]):
            out[i, j] = np.float32(ext[index[i, j]])
