"""The compiled twin of :func:`offbench.cost.build_tables`' chain tables.

:func:`offbench.cost.build_tables` applies SPEC.md section 2 once per layer and per boundary.
Written with numpy (:func:`offbench.cost.compute_te`, :func:`offbench.cost.hop_te`,
:func:`offbench.cost.transfer_te`: the statement of the formulas), that is about sixty small
array operations, a tenth of a millisecond for a small instance: as much as a trivial solve, paid
for every instance a run records. :func:`chain_tables` computes the same arrays in one pass.

It is a *twin*, not a second definition: every value is the numpy expression's, operation for
operation in the same order (no ``fastmath``: no reassociation, no fused multiply-add), so the
tables are **bitwise** those of the formulas. ``tests/test_tables_kernel.py`` pins that on seeded
random, degenerate and DAG instances against the numpy expressions that
:func:`~offbench.cost.build_tables` used before (kept there as the reference), and the frozen
sets' digests and every stored cost stay unchanged.
"""

from __future__ import annotations

import numpy as np

from ._numba import jit


@jit
def _chain_tables(job_device, offsets, ops, bits, job_weight, dev_speed, dev_pc, dev_ptx,
                  dev_prx, dev_up, dev_down, dev_lat, edge_speed, edge_epo, cloud_speed,
                  cloud_epo, bh_rate, bh_lat, bh_epb, w_time, w_energy,
                  comp_t, comp_e, comp_c, tr_t, tr_e, tr_c, step_c, step_t, end_c, end_t,
                  step_e, end_e):
    # the outputs come allocated (tr_t and tr_e zeroed): see chain_tables
    nj = offsets.size - 1
    for i in range(nj):
        d = job_device[i]
        w = job_weight[i]
        sp = dev_speed[d]
        for l in range(offsets[i], offsets[i + 1]):
            c = ops[l]
            # compute_te
            comp_t[l, 0] = c / sp
            comp_e[l, 0] = dev_pc[d] * c / sp
            comp_t[l, 1] = c / edge_speed
            comp_e[l, 1] = edge_epo * c
            comp_t[l, 2] = c / cloud_speed
            comp_e[l, 2] = cloud_epo * c
            for k in range(3):
                comp_c[l, k] = w * (w_time * comp_t[l, k] + w_energy * comp_e[l, k])
        for b in range(offsets[i] + i, offsets[i + 1] + i + 1):
            x = bits[b]
            # hop_te
            up_t = x / dev_up[d] + dev_lat[d]
            up_e = dev_ptx[d] * x / dev_up[d]
            dn_t = x / dev_down[d] + dev_lat[d]
            dn_e = dev_prx[d] * x / dev_down[d]
            bh_t = x / bh_rate + bh_lat
            bh_e = bh_epb * x
            # transfer_te: zeros, then each hop of the path added in the order it is crossed
            tr_t[b, 1] += up_t          # 0 -> 1: up
            tr_e[b, 1] += up_e
            tr_t[b, 3] += dn_t          # 1 -> 0: down
            tr_e[b, 3] += dn_e
            tr_t[b, 5] += bh_t          # 1 -> 2: backhaul
            tr_e[b, 5] += bh_e
            tr_t[b, 7] += bh_t          # 2 -> 1: backhaul
            tr_e[b, 7] += bh_e
            tr_t[b, 2] += up_t          # 0 -> 2: up, then backhaul
            tr_e[b, 2] += up_e
            tr_t[b, 2] += bh_t
            tr_e[b, 2] += bh_e
            tr_t[b, 6] += bh_t          # 2 -> 0: backhaul, then down
            tr_e[b, 6] += bh_e
            tr_t[b, 6] += dn_t
            tr_e[b, 6] += dn_e
            for j in range(9):
                tr_c[b, j] = w * (w_time * tr_t[b, j] + w_energy * tr_e[b, j])
        # the fused step tables: the boundary into layer l (l + i), then its compute
        for l in range(offsets[i], offsets[i + 1]):
            b = l + i
            for j in range(9):
                step_c[l, j] = tr_c[b, j] + comp_c[l, j % 3]
                step_t[l, j] = tr_t[b, j] + comp_t[l, j % 3]
                step_e[l, j] = tr_e[b, j] + comp_e[l, j % 3]
        b = offsets[i + 1] + i  # the job's last boundary: back to the device
        for a in range(3):
            end_c[i, a] = tr_c[b, 3 * a]
            end_t[i, a] = tr_t[b, 3 * a]
            end_e[i, a] = tr_e[b, 3 * a]


def chain_tables(inst) -> tuple:
    """``(comp_t, comp_e, comp_c, tr_t, tr_e, tr_c, step_c, step_t, end_c, end_t, step_e,
    end_e)`` of :class:`offbench.cost.Tables`, bitwise the numpy expressions' (see the module
    docstring).

    The twelve arrays are C-contiguous pieces of one buffer, which is read-only once filled
    (the arrays themselves are writeable until :func:`~offbench.cost.build_tables` seals
    them): a view of a table can then never be made writeable, which lets the in-process
    executor hand a solver views of the runner's tables instead of copies
    (:func:`offbench.run.execute.sandbox_job`)."""
    nl, nb, nj = inst.ops.size, inst.bits.size, inst.layer_offsets.size - 1
    shapes = ((nl, 3), (nl, 3), (nl, 3), (nb, 9), (nb, 9), (nb, 9), (nl, 9), (nl, 9), (nj, 3),
              (nj, 3), (nl, 9), (nj, 3))
    buf = np.zeros(sum(r * c for r, c in shapes))  # zeros: tr_t and tr_e are sums from 0
    out = []
    at = 0
    for r, c in shapes:
        out.append(buf[at:at + r * c].reshape(r, c))
        at += r * c
    _chain_tables(
        inst.job_device, inst.layer_offsets, inst.ops, inst.bits, inst.job_weight,
        inst.dev_speed, inst.dev_power_compute, inst.dev_power_tx, inst.dev_power_rx,
        inst.dev_rate_up, inst.dev_rate_down, inst.dev_latency, inst.edge_speed,
        inst.edge_energy_per_op, inst.cloud_speed, inst.cloud_energy_per_op, inst.backhaul_rate,
        inst.backhaul_latency, inst.backhaul_energy_per_bit, inst.w_time, inst.w_energy, *out)
    buf.setflags(write=False)
    return tuple(out)
