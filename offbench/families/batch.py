"""Many static instances of one family and seed at once: :meth:`Family.generate_many`.

A run builds the members of a generated source block by block (:mod:`offbench.run.loop`, and
the pool's builder processes and Dask workers, :mod:`offbench.run.units`). One
:meth:`~offbench.families.Family.generate` call per member spends most of its time in numpy's
per-call overhead on arrays of ten to a hundred numbers: about forty small operations to
quantize the nominal instance, draw the frame around it (:class:`offbench.streams.FrameProcess`)
and quantize it, then the instance's validation and construction (:meth:`Instance.replace`).
Here each member still gets its own three ``SeedSequence`` streams and draws its numbers from
them itself, in the order :meth:`~offbench.families.Family.generate` draws them (the
generator module's ``build``, then the frame process's start and its first frame), but the
arithmetic is done once for a whole group of members of one structure: the same numpy
expressions as :class:`~offbench.streams.FrameProcess` and :func:`offbench.streams.quantize`,
on arrays with one row per member. Every one of them is elementwise, so each number is computed
by the same operation on the same operands as one member at a time: the instances are bitwise
those of :meth:`generate` (``tests/test_generate_many.py`` compares every family, and
``tests/test_run_overhead.py`` keeps the digests of 0baca91).

Validation: the first member of a group goes through :meth:`Instance._check` as it is; the others
share its structure (devices, jobs on devices, layers per job, array sizes: the group's key), so
what is left to check is their values, tested for the whole group at once by the same admissible
ranges (:func:`offbench.instance.values_admissible`). A group where anything is off (a value out
of range, a scenario's SNR that is not finite and positive, a generator's error) is generated
again member by member with :meth:`generate`, which raises what it raises, for the first member
that fails. Members of a DAG family (edges to normalize), or whose generator hands back arrays of
another kind than float64, always take that way.

Measured (CPU time, load 5, 2,000 dmro-v1 members): 0.77 ms per member one at a time against
0.31 ms here (see the commit and ``benchmarks/scripts/bench_scale.py``).
"""

from __future__ import annotations

import math

import numpy as np

from ..instance import Instance, values_admissible
from ..streams import quantize
from ._common import _instance_fields

__all__ = ["generate_many"]


def _fields():
    """(scalar fields, float-array fields, int-array fields, every field in order)."""
    spec = _instance_fields()[1]
    return (tuple(n for n, k, _ in spec if k == "float"),
            tuple(n for n, k, _ in spec if k == "array" and n not in _DAG),
            tuple(n for n, k, _ in spec if k == "int" and n not in _DAG),
            tuple(n for n, _, _ in spec))


_DAG = frozenset({"job_is_dag", "edge_offsets", "edge_src", "edge_dst", "edge_bits", "edge_has_bits"})


#: Fields a static frame replaces (FrameProcess.next).
_FRAME_FIELDS = ("dev_rate_up", "dev_rate_down", "dev_speed", "edge_speed", "ops", "bits",
                 "job_weight")


def generate_many(fam, seed: int, indices) -> list[Instance]:
    """``[fam.generate(seed, i) for i in indices]``, bitwise, in fewer numpy calls (see the
    module docstring)."""
    seed = fam._check_seed("seed", seed)
    indices = [fam._check_seed("index", i) for i in indices]
    if len(indices) < 2:
        return [fam.generate(seed, i) for i in indices]
    scalars, arrays, ints, order = _fields()
    drawn = [None] * len(indices)  # (index, env, base draft, snr, frame generator)
    by_env: dict = {}
    for k, i in enumerate(indices):
        by_env.setdefault(fam.static_environment(i).name, []).append(k)
    # a generator's own batched build is trusted to be bitwise its ``build`` only from
    # offbench's families (tested in tests/test_generate_many.py); a user's family module
    # (``families_dirs``) is built member by member with its ``build``
    many = (getattr(fam.module, "build_many", None)
            if getattr(fam.module, "__name__", "").startswith("offbench.families.") else None)
    try:
        for name, ks in by_env.items():
            env = fam.environments[name]
            p, _ = fam._settings(env)
            seqs = [fam._member_seqs(seed, indices[k], env) for k in ks]
            if many is not None:  # the generator's own batched build (dmro)
                bases = many(dict(p), [(rs, re) for rs, re, _ in seqs])
            else:
                bases = [fam.module.build(dict(p), rs, re) for rs, re, _ in seqs]
            for k, (base, snr), (_, _, rf) in zip(ks, bases, seqs):
                drawn[k] = (indices[k], env, base, snr, rf)
    except Exception:  # generate says which member fails, and how
        return [fam.generate(seed, i) for i in indices]
    groups: dict = {}
    for k, (i, env, base, snr, rf) in enumerate(drawn):
        groups.setdefault(_key(env, base, arrays, ints), []).append(k)
    out: list = [None] * len(indices)
    for key, members in groups.items():
        got = None
        if key is not None:
            got = _group(fam, seed, [drawn[k] for k in members], scalars, arrays, ints, order)
        if got is None:  # generate member by member: the same instances, or its error
            try:
                got = [fam.generate(seed, drawn[k][0]) for k in members]
            except Exception:  # the first failing member of all, as one at a time would raise
                return [fam.generate(seed, i) for i in indices]
        for k, inst in zip(members, got):
            out[k] = inst
    return out


def _key(env, base: Instance, arrays, ints):
    """What members must share to be drawn as one group, or None (member by member)."""
    d = base.__dict__
    if any(d[n] is not None for n in _DAG):
        return None
    sizes = []
    for n in arrays:
        a = d[n]
        if a is None or a.dtype != np.float64 or a.ndim != 1:
            return None
        sizes.append(a.size)
    return (env.name, tuple(sizes), *(d[n].tobytes() for n in ints))


def _group(fam, seed, drawn, scalars, arrays, ints, order):
    """The frames of members of one structure (see the module docstring), or None when some
    member must be generated by :meth:`generate` (what it raises is the error)."""
    K = len(drawn)
    env = drawn[0][1]
    var = fam._settings(env)[1]
    b0 = drawn[0][2].__dict__
    nd, nj = b0["dev_speed"].size, b0["job_device"].size
    # --- the nominal instances, quantized (Family._quantize_instance, row by row)
    cols = [(n, 1) for n in scalars] + [(n, b0[n].size) for n in arrays]
    nominal = np.empty((K, sum(c for _, c in cols)))
    snr = np.empty((K, nd))
    for k, (_, _, base, s, _) in enumerate(drawn):
        d = base.__dict__
        nominal[k, :len(scalars)] = [d[n] for n in scalars]
        at = len(scalars)
        for n in arrays:
            size = d[n].size
            nominal[k, at:at + size] = d[n]
            at += size
        s = np.asarray(s, dtype=np.float64)
        if s.shape != (nd,):
            return None
        snr[k] = s
    if not (np.isfinite(snr).all() and (snr > 0).all()):  # Scenario's check
        return None
    q = quantize(nominal.ravel()).reshape(nominal.shape)
    nom = {}
    at = 0
    for n, c in cols:
        nom[n] = q[:, at] if n in scalars else q[:, at:at + c]
        at += c
    # --- FrameProcess(scenario, rng, switching=False).next(): the draws, member by member
    HR, HI, Z = np.empty((K, nd)), np.empty((K, nd)), np.empty((K, nd))
    U_work, U_input, U_redraw = np.empty((K, nj)), np.empty((K, nj)), np.empty((K, nj))
    U_dev, U_edge = np.empty((K, nd)), np.empty(K)
    I_choice = np.empty((K, nj), dtype=np.int64)
    for k, (_, _, _, _, rf) in enumerate(drawn):
        HR[k] = rf.standard_normal(nd)
        HI[k] = rf.standard_normal(nd)
        Z[k] = rf.standard_normal(nd)
        rf.random(nd)  # the on/off chain's start (every device stays on in a static frame)
        U_work[k] = rf.random(nj)
        U_input[k] = rf.random(nj)
        U_dev[k] = rf.random(nd)
        U_edge[k] = rf.random()
        U_redraw[k] = rf.random(nj)
        I_choice[k] = rf.integers(0, 1 << 30, nj)
    # --- the frame's numbers: FrameProcess.__init__ and next, one row per member
    v = var
    h = (HR + 1j * HI) / math.sqrt(2.0)
    if v.fading == "rayleigh":
        g = np.abs(h) ** 2
    elif v.fading == "lognormal":
        s = v.shadowing_db * math.log(10.0) / 10.0
        g = np.exp(s * Z - 0.5 * s * s)
    else:
        g = np.ones((K, nd))
    g = np.maximum(g, v.min_gain)
    factor = np.log2(1.0 + snr * g) / np.log2(1.0 + snr)
    rate_up = nom["dev_rate_up"] * factor
    rate_down = nom["dev_rate_down"] * factor
    work = v.work_scale[0] + (v.work_scale[1] - v.work_scale[0]) * U_work
    inp = v.input_scale[0] + (v.input_scale[1] - v.input_scale[0]) * U_input
    dev_speed = nom["dev_speed"] * (1.0 - (v.device_load[0] + (v.device_load[1] - v.device_load[0]) * U_dev))
    edge_speed = nom["edge_speed"] * (1.0 - (v.edge_load[0] + (v.edge_load[1] - v.edge_load[0]) * U_edge))
    w = np.array(nom["job_weight"], dtype=np.float64)
    if v.weight_choices:
        redraw = U_redraw < v.weight_redraw
        choice = np.asarray(v.weight_choices)[I_choice % len(v.weight_choices)]
        w = np.where(redraw, choice, w)
    off = b0["layer_offsets"]
    lpj = np.diff(off)
    ops = nom["ops"] * np.repeat(work, lpj, axis=1)
    bfac = np.repeat(work, lpj + 1, axis=1)
    bfac[:, off[:-1] + np.arange(nj)] = inp
    bits = nom["bits"] * bfac
    parts = [rate_up, rate_down, dev_speed, edge_speed[:, None], ops, bits, w]
    frame = quantize(np.concatenate(parts, axis=1).ravel()).reshape(K, -1)
    # --- validation: the values of every member at once, by the ranges of Instance._check
    fixed_names = [n for n in arrays if n not in _FRAME_FIELDS]
    cols: dict = {}  # field -> (start, stop) in a member's row: its frame numbers, then the rest
    at = 0
    for n, part in zip(_FRAME_FIELDS, parts):
        cols[n] = (at, at + part.shape[1])
        at += part.shape[1]
    for n in fixed_names:
        cols[n] = (at, at + nom[n].shape[1])
        at += nom[n].shape[1]
    rows = np.concatenate([frame] + [nom[n] for n in fixed_names], axis=1)
    values = {n: rows[:, a:b] for n, (a, b) in cols.items()}
    scal = {n: nom[n] for n in scalars}
    scal["edge_speed"] = values["edge_speed"][:, 0]
    if not values_admissible(scal, {n: values[n] for n in arrays}):
        return None
    # --- the instances: what Instance.replace and Family's _renamed make (the fields in
    # order; the integer arrays, equal in every member of the group, shared read-only)
    shared = {n: _ro(np.asarray(b0[n]).astype(np.int64)) for n in ints}
    svals = np.stack([scal[n] for n in scalars], axis=1).tolist()
    plan = []
    for n in order:
        if n == "name":
            plan.append((n, 0, None))
        elif n in scalars:
            plan.append((n, 1, scalars.index(n)))
        elif n in ints:
            plan.append((n, 2, shared[n]))
        elif n in cols:
            plan.append((n, 3, cols[n]))
        else:  # the DAG fields: None (a DAG member is not in a group)
            plan.append((n, 2, None))
    out = []
    prefix = f"{fam.id}/s{seed}/"
    for k, (i, _, _, _, _) in enumerate(drawn):
        row = rows[k].copy()  # each member's numbers in a buffer of its own
        sv = svals[k]
        d = {}
        for n, how, arg in plan:
            if how == 3:
                a = row[arg[0]:arg[1]]
                a.setflags(write=False)
                d[n] = a
            elif how == 1:
                d[n] = sv[arg]
            elif how == 2:
                d[n] = arg
            else:
                d[n] = f"{prefix}{i}"
        row.setflags(write=False)  # its arrays' owner: a view of them can never be made writeable
        inst = object.__new__(Instance)
        inst.__dict__.update(d)
        if k == 0:
            try:
                inst._check()  # the structure the group shares, and this member's values
            except Exception:
                return None
        out.append(inst)
    return out


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
