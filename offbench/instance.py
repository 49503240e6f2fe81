"""The instance: SPEC.md sections 3 and 7 as validated, immutable arrays.

An :class:`Instance` holds one frame of work (devices, one edge, one cloud, jobs that are chains of
layers or, in version 2, DAGs of nodes) in flat numpy arrays that the Numba kernels of
:mod:`offbench.cost` take directly. Ragged layer counts are held as offsets:

* layers of job ``i`` are ``ops[layer_offsets[i]:layer_offsets[i + 1]]``;
* boundaries of job ``i`` (``L_i + 1`` of them: the input, between layers, the result) are
  ``bits[layer_offsets[i] + i : layer_offsets[i + 1] + i + 1]``. For a DAG job the same slots
  hold ``in_bits`` and then each node's shared output ``out_bits`` (a chain is the DAG with
  edges ``(j, j + 1)``, ``in_bits = bits[0]``, ``out_bits[j - 1] = bits[j]``).

DAG jobs (SPEC.md section 7) add the optional ``edge_*`` arrays (``None`` when every job is a
chain, so a version-1 instance, its digest and every code path that reads it are untouched):
``job_is_dag`` (n_jobs), ``edge_offsets`` (n_jobs + 1), and per edge ``edge_src``/``edge_dst``
(job-local, 0-based), ``edge_bits`` and ``edge_has_bits`` (the edge carries its own message,
which pays its hops' latency even at 0 bits). The edges of a job are kept sorted by (src, dst);
a job whose edges form the chain ``(j, j + 1)`` with no messages is stored as a chain, so its
digest and costs are bitwise those of version 1. Self-loops, duplicates, edges to missing nodes
and cycles are refused with the file's path (``jobs[3].edges[4]: ...``).

Absent capacities and deadlines are ``inf`` in the arrays and ``null``/absent in the JSON. A
``-0.0`` (admitted where 0 is) is stored as ``+0.0``: the same number, so the same digest.

JSON is the edge of the system: :meth:`Instance.from_json` parses and validates once, with a
message that names the field by its path (``jobs[3].bits: expected 6 values (5 layers + 1),
got 5``); :meth:`Instance.to_json` writes the canonical form, and the round trip is lossless
(floats are written with Python's shortest exact ``repr``). A columnar ``.npz`` form (no pickle)
round-trips with it for large instance sets.

Untrusted files are bounded (:mod:`offbench.instance_checks`, re-exported here): every number
must lie in the admissible ranges of SPEC.md section 3 (so that no cost can overflow or
underflow; a literal such as ``1e400`` is refused, never read as infinity), and the size limits
of :data:`LIMITS` (devices, jobs, layers per job and in all, bytes; each raised by an environment
variable) are checked by :func:`check_size` before anything of that size is allocated: job by job
while JSON is parsed (``offbench._instance_json``), from the array headers of an ``.npz``
(``offbench._instance_npz``), and by the families and generators before they draw.

The module is kept whole (about 815 lines): the dataclass, its field lists and the validation
that its constructor, ``replace`` and unpickling run are one unit on the runner's hot path (the
field lists are looked up once and shared by all three); the readers and writers already live
in ``offbench._instance_json`` and ``offbench._instance_npz``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _instance_json, _instance_npz
from ._instance_json import _DEVICE_FIELDS, _POSITIVE, FORMAT, VERSION, VERSIONS, _decode
from ._instance_json import all_admissible as _all_admissible, chain_texts as _chain_texts
from ._instance_json import is_generator_manifest
from .errors import InstanceError
from .instance_checks import (LIMITS, MAX_INSTANCE_BYTES, MAX_MAGNITUDE, MIN_MAGNITUDE,  # noqa: F401
                              check_number as _check_number, check_size, first_bad as _first_bad,
                              limit, odd_length_out as _odd_length_out, short as _short)

__all__ = ["Instance", "load_instance", "save_instance", "atomic_write", "FORMAT", "VERSION",
           "values_admissible", "LIMITS", "MAX_INSTANCE_BYTES", "MIN_MAGNITUDE", "MAX_MAGNITUDE",
           "check_size", "limit", "is_generator_manifest", "load_instance_named"]


def _content_digest(d: dict) -> str:
    """:attr:`Instance.digest` of an instance's :meth:`~Instance.to_dict` (which loses its
    name here)."""
    d.pop("name")
    text = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Instance:
    """One frame of work: SPEC.md section 3, as validated read-only arrays.

    Build one with :func:`load_instance`, :meth:`from_json`, :meth:`from_dict`, or directly from
    arrays (every argument is checked here too, so a generator cannot make an invalid instance).

    Parameters
    ----------
    w_time, w_energy, w_tardiness : float
        Weights of delay, energy and tardiness in the cost.
    edge_speed, edge_energy_per_op, edge_capacity : float
        Edge server speed (ops/s), energy per op (J), capacity (ops; ``inf`` when unbounded).
    cloud_speed, cloud_energy_per_op, cloud_capacity : float
        The same for the cloud.
    backhaul_rate, backhaul_latency, backhaul_energy_per_bit : float
        The edge-cloud link.
    dev_speed, dev_power_compute, dev_power_tx, dev_power_rx, dev_rate_up, dev_rate_down, dev_latency : array, shape (n_devices,)
        Per-device parameters.
    job_device : int array, shape (n_jobs,)
        The device each job belongs to.
    layer_offsets : int array, shape (n_jobs + 1,)
        Job ``i`` has layers ``layer_offsets[i]`` to ``layer_offsets[i + 1] - 1``.
    ops : array, shape (n_layers,)
        Operations of each layer.
    bits : array, shape (n_layers + n_jobs,)
        Bits at each boundary (see the module docstring for the indexing).
    deadline : array, shape (n_jobs,)
        Deadline of each job in seconds, ``inf`` for none.
    job_weight : array, shape (n_jobs,)
        Weight of each job in the total cost.
    name : str
        A label; not part of the content digest.
    job_is_dag, edge_offsets, edge_src, edge_dst, edge_bits, edge_has_bits : array, optional
        DAG jobs (SPEC.md section 7; see the module docstring). ``edge_bits`` and
        ``edge_has_bits`` may be left out (no edge messages). Normalized on construction: edges
        sorted by (src, dst) within a job, chains stored as chains, all ``None`` when no job
        is a DAG.
    """

    w_time: float
    w_energy: float
    w_tardiness: float
    edge_speed: float
    edge_energy_per_op: float
    edge_capacity: float
    cloud_speed: float
    cloud_energy_per_op: float
    cloud_capacity: float
    backhaul_rate: float
    backhaul_latency: float
    backhaul_energy_per_bit: float
    dev_speed: np.ndarray
    dev_power_compute: np.ndarray
    dev_power_tx: np.ndarray
    dev_power_rx: np.ndarray
    dev_rate_up: np.ndarray
    dev_rate_down: np.ndarray
    dev_latency: np.ndarray
    job_device: np.ndarray
    layer_offsets: np.ndarray
    ops: np.ndarray
    bits: np.ndarray
    deadline: np.ndarray
    job_weight: np.ndarray
    name: str = field(default="")
    job_is_dag: np.ndarray | None = None
    edge_offsets: np.ndarray | None = None
    edge_src: np.ndarray | None = None
    edge_dst: np.ndarray | None = None
    edge_bits: np.ndarray | None = None
    edge_has_bits: np.ndarray | None = None

    # ------------------------------------------------------------------ construction & checks
    def __post_init__(self) -> None:
        # The fields in order, each converted as its kind says (a float, a read-only contiguous
        # int64 or float64 array), written to the instance's __dict__ as object.__setattr__
        # does; the field list is looked up once (_POST_FIELDS) and a float is kept as it is.
        d = self.__dict__
        if not isinstance(d["name"], str):
            raise InstanceError("name", f"expected a string, got {type(d['name']).__name__}")
        for name, kind in _POST_FIELDS:
            v = d[name]
            if kind == 0:  # float
                if type(v) is not float:
                    try:
                        d[name] = float(v)
                    except (TypeError, ValueError):
                        raise InstanceError(_SCALAR_PATH[name], f"expected a number, got {v!r}") from None
            elif kind == 1:  # job_device, layer_offsets
                a = np.asarray(v)
                if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
                    raise InstanceError(name, f"expected a 1-D integer array, got {a.dtype} {a.shape}")
                d[name] = _ro(a.astype(np.int64))
            else:
                a = np.asarray(v, dtype=np.float64)
                if a.ndim != 1:
                    raise InstanceError(name, f"expected a 1-D array, got shape {a.shape}")
                d[name] = _ro(a)
        self._check()
        if not (d["job_is_dag"] is None and d["edge_offsets"] is None and d["edge_src"] is None
                and d["edge_dst"] is None and d["edge_bits"] is None and d["edge_has_bits"] is None):
            self._set_dag()

    def _check(self) -> None:
        d = self.__dict__
        # Scalars (admissible() inline; _check_number says what is wrong).
        for attr, path, positive in _SCALAR_CHECKS:
            v = d[attr]
            if v == 0:  # -0.0 too: stored as 0.0, whose digest it has
                if positive:
                    _check_number(path, v, positive=True)
                d[attr] = 0.0
                continue
            if attr.endswith("capacity"):
                if not math.isinf(v) or v < 0:  # inf is null: no capacity
                    _check_number(path, v, positive=False, floor=False,
                                  what=f"a number in [0, {MAX_MAGNITUDE:g}] or null")
                continue
            if not MIN_MAGNITUDE <= v <= MAX_MAGNITUDE:
                _check_number(path, v, positive=positive)
        # Devices.
        nd = self.dev_speed.size
        for name in _DEVICE_FIELDS:
            if d["dev_" + name].size != nd:  # which array is wrong: the one the others outvote
                _odd_length_out({"dev_" + n: d["dev_" + n].size for n in _DEVICE_FIELDS},
                                "one per device")
        if nd == 0:
            raise InstanceError("devices", "expected at least one device, got none")
        if not _all_admissible([d[n] for n in _DEV_POSITIVE], [d[n] for n in _DEV_NONNEGATIVE]):
            self._plus_zeros()
            for name in _DEVICE_FIELDS:  # which value, in the order of the fields
                a = getattr(self, "dev_" + name)
                bad = _first_bad(a, positive=name in _POSITIVE)
                if bad is not None:
                    _check_number(f"devices[{bad}].{name}", float(a[bad]), positive=name in _POSITIVE)
        # Jobs.
        nj = self.job_device.size
        off = self.layer_offsets
        if off.size != nj + 1 or self.deadline.size != nj or self.job_weight.size != nj:
            _odd_length_out({"job_device": nj, "layer_offsets": off.size - 1,
                             "deadline": self.deadline.size, "job_weight": self.job_weight.size},
                            "one per job", offsets="layer_offsets")
        if nj == 0:
            raise InstanceError("jobs", "expected at least one job, got none")
        if off[0] != 0:
            raise InstanceError("layer_offsets", f"expected {nj + 1} offsets starting at 0, "
                                                 f"got {int(off[0])} first")
        lens = off[1:] - off[:-1]
        check_size(n_devices=nd, n_jobs=nj, n_layers=int(off[-1]), layers_per_job=lens)
        if (lens < 1).any():
            i = int(np.argmax(lens < 1))
            raise InstanceError(f"jobs[{i}].ops", "expected at least 1 layer, got 0")
        if self.ops.size != off[-1]:
            raise InstanceError("ops", f"expected {off[-1]} values, got {self.ops.size}")
        if self.bits.size != off[-1] + nj:
            raise InstanceError("bits", f"expected {off[-1] + nj} values, got {self.bits.size}")
        bad_dev = (self.job_device < 0) | (self.job_device >= nd)
        if bad_dev.any():
            i = int(np.argmax(bad_dev))
            raise InstanceError(
                f"jobs[{i}].device",
                f"expected a device index in 0..{nd - 1}, got {int(self.job_device[i])}",
            )
        dl = self.deadline
        if _all_admissible([], [self.ops, self.bits, self.job_weight]) and not (
                np.signbit(dl) | ((dl > MAX_MAGNITUDE) & (dl != np.inf)) | np.isnan(dl)).any():
            return  # every value admissible, none -0.0 (what the checks below would find, at once)
        self._plus_zeros()
        dl = self.deadline
        bad = _first_bad(self.ops, positive=False)
        if bad is not None:
            i = int(np.searchsorted(off, bad, side="right") - 1)
            _check_number(f"jobs[{i}].ops[{bad - off[i]}]", float(self.ops[bad]), positive=False)
        bad = _first_bad(self.bits, positive=False)
        if bad is not None:
            boff = off + np.arange(nj + 1)
            i = int(np.searchsorted(boff, bad, side="right") - 1)
            k = bad - boff[i]
            # A job written as a DAG has in_bits and out_bits in these slots, no bits.
            path = (f"jobs[{i}].bits[{k}]" if not self._written_as_dag(i) else
                    f"jobs[{i}].in_bits" if k == 0 else f"jobs[{i}].out_bits[{k - 1}]")
            _check_number(path, float(self.bits[bad]), positive=False)
        bad = _first_bad(np.where(dl == np.inf, 0.0, dl), positive=False, floor=False)
        if bad is not None:  # inf above: no deadline
            _check_number(f"jobs[{bad}].deadline", float(dl[bad]), positive=False, floor=False,
                          what=f"a number in [0, {MAX_MAGNITUDE:g}] or absent")
        bad = _first_bad(self.job_weight, positive=False)
        if bad is not None:
            _check_number(f"jobs[{bad}].weight", float(self.job_weight[bad]), positive=False)

    def _plus_zeros(self) -> None:
        """Store every ``-0.0`` of the float arrays as ``+0.0``: the same number (SPEC.md section
        3 admits 0), so it must have the same digest (the canonical JSON would write ``-0.0``).
        :meth:`_check` calls this where its quick test fails, as it does on a ``-0.0``, and
        makes each scalar 0 ``+0.0`` as it checks it."""
        d = self.__dict__
        for name in _ZERO_ARRAYS:
            a = d[name]
            if a.size and (np.signbit(a) & (a == 0)).any():
                d[name] = _ro(np.where(a == 0, 0.0, a))

    def _written_as_dag(self, i: int) -> bool:
        """Whether job ``i`` is marked a DAG in ``job_is_dag`` as given (before
        :meth:`_set_dag` checks it, so anything unreadable there answers False)."""
        a = self.__dict__["job_is_dag"]
        if a is None:
            return False
        try:
            a = np.asarray(a)
            return a.ndim == 1 and a.size == self.job_device.size and bool(a[i])
        except (TypeError, ValueError):
            return False

    def _set_dag(self) -> None:
        """Check the DAG arrays (paths as in the file), then normalize them (see the class)."""
        set_ = functools.partial(object.__setattr__, self)
        given = {k: getattr(self, k) for k in DAG_FIELDS}
        if all(v is None for v in given.values()):
            return
        for k in ("job_is_dag", "edge_offsets", "edge_src", "edge_dst"):
            if given[k] is None:
                raise InstanceError(k, "expected an array (DAG jobs need job_is_dag, "
                                       "edge_offsets, edge_src and edge_dst)")
        nj = self.n_jobs
        arr = {}
        for k, v in given.items():
            a = np.asarray(v) if v is not None else None
            if a is not None and a.ndim != 1:
                raise InstanceError(k, f"expected a 1-D array, got shape {a.shape}")
            if k in ("edge_offsets", "edge_src", "edge_dst"):
                if a.size and not np.issubdtype(a.dtype, np.integer):
                    raise InstanceError(k, f"expected integers, got {a.dtype}")
                a = a.astype(np.int64)
            elif k in ("job_is_dag", "edge_has_bits") and a is not None:
                if a.size and not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer)):
                    raise InstanceError(k, f"expected booleans, got {a.dtype}")
                if a.size and np.any((a != 0) & (a != 1)):
                    raise InstanceError(k, "expected booleans (0 or 1)")
                a = a.astype(bool)
            elif a is not None:
                a = a.astype(np.float64)  # a copy: -0.0 made +0.0 in place (see _plus_zeros)
                a[a == 0] = 0.0
            arr[k] = a
        eoff = arr["edge_offsets"]
        if arr["job_is_dag"].size != nj:
            raise InstanceError("job_is_dag", f"expected {nj} values, got {arr['job_is_dag'].size}")
        if eoff.size != nj + 1 or eoff[0] != 0 or np.any(np.diff(eoff) < 0):
            raise InstanceError("edge_offsets", f"expected {nj + 1} non-decreasing offsets from 0")
        ne = int(eoff[-1])
        check_size(n_edges=ne, where="edges")
        if arr["edge_bits"] is None:
            arr["edge_bits"] = np.zeros(ne)
        if arr["edge_has_bits"] is None:
            arr["edge_has_bits"] = np.zeros(ne, dtype=bool)
        for k in ("edge_src", "edge_dst", "edge_bits", "edge_has_bits"):
            if arr[k].size != ne:
                raise InstanceError(k, f"expected {ne} values (edge_offsets[-1]), got {arr[k].size}")
        is_dag = arr["job_is_dag"]
        ecount = np.diff(eoff)
        if np.any(ecount[~is_dag] > 0):
            i = int(np.flatnonzero(~is_dag & (ecount > 0))[0])
            raise InstanceError(f"jobs[{i}].edges", "a chain job (job_is_dag false) has no edges")
        src, dst, eb, eh = arr["edge_src"], arr["edge_dst"], arr["edge_bits"], arr["edge_has_bits"]
        ejob = np.repeat(np.arange(nj, dtype=np.int64), ecount)
        L = self.layers_per_job[ejob]

        def at(e: int) -> str:
            i = int(ejob[e])
            return f"jobs[{i}].edges[{e - int(eoff[i])}]"

        bad = (src < 0) | (src >= L) | (dst < 0) | (dst >= L)
        if np.any(bad):
            e = int(np.argmax(bad))
            u = int(src[e] if not 0 <= src[e] < L[e] else dst[e])
            raise InstanceError(at(e), f"an edge to node {u + 1}, which does not exist (the job "
                                       f"has {int(L[e])} nodes, numbered 1..{int(L[e])})")
        bad = src == dst
        if np.any(bad):
            e = int(np.argmax(bad))
            raise InstanceError(at(e), f"a self-loop on node {int(src[e]) + 1} (a job is acyclic)")
        b = _first_bad(eb, positive=False)
        if b is not None:
            _check_number(at(b) + "[2]", float(eb[b]), positive=False)
        if np.any(~eh & (eb != 0)):
            e = int(np.argmax(~eh & (eb != 0)))
            raise InstanceError(at(e), "an edge without its own message has edge_bits 0")
        order = np.lexsort((dst, src, ejob))
        s_job, s_src, s_dst = ejob[order], src[order], dst[order]
        dup = (s_job[1:] == s_job[:-1]) & (s_src[1:] == s_src[:-1]) & (s_dst[1:] == s_dst[:-1])
        if np.any(dup):
            q = int(np.argmax(dup))
            e1, e2 = sorted((int(order[q]), int(order[q + 1])))
            raise InstanceError(at(e2), f"a duplicate edge [{int(src[e2]) + 1}, {int(dst[e2]) + 1}]"
                                        f" (also {at(e1).rsplit('.', 1)[1]})")
        if ne:
            _check_acyclic(self.layer_offsets, ejob, src, dst, at)
        # Normalize: edges sorted by (src, dst) within a job; chains stored as chains.
        src, dst, eb, eh = src[order], dst[order], eb[order], eh[order]
        is_chain = np.zeros(nj, dtype=bool)
        lens = self.layers_per_job
        # A job with L - 1 distinct edges, all (j, j + 1) without a message, is the chain.
        seq = np.bincount(ejob[order], weights=((dst == src + 1) & ~eh), minlength=nj)
        is_chain[is_dag & (ecount == lens - 1) & (seq == lens - 1)] = True
        keep_job = is_dag & ~is_chain
        if not keep_job.any():
            for k in DAG_FIELDS:
                set_(k, None)
            return
        keep_edge = keep_job[ejob[order]]
        new_count = np.where(keep_job, ecount, 0)
        set_("job_is_dag", _ro(keep_job))
        set_("edge_offsets", _ro(np.concatenate(([0], np.cumsum(new_count))).astype(np.int64)))
        set_("edge_src", _ro(src[keep_edge]))
        set_("edge_dst", _ro(dst[keep_edge]))
        set_("edge_bits", _ro(eb[keep_edge]))
        set_("edge_has_bits", _ro(eh[keep_edge]))

    # ------------------------------------------------------------------ DAG jobs
    @property
    def is_dag(self) -> bool:
        """Whether some job is a DAG (not a chain): SPEC.md section 7."""
        return self.job_is_dag is not None

    def job_is_dag_at(self, i: int) -> bool:
        """Whether job ``i`` is a DAG (a chain is not)."""
        return bool(self.job_is_dag is not None and self.job_is_dag[i])

    @property
    def n_edges(self) -> int:
        """Edges stored for DAG jobs (chains store none)."""
        return 0 if self.edge_offsets is None else int(self.edge_offsets[-1])

    @functools.cached_property
    def in_bits(self) -> np.ndarray:
        """Each job's input, shape (n_jobs,): ``bits[0]`` of a chain, ``in_bits`` of a DAG."""
        return _ro(self.bits[self.layer_offsets[:-1] + np.arange(self.n_jobs)])

    @functools.cached_property
    def out_bits(self) -> np.ndarray:
        """Each node's shared output, shape (n_layers,): ``bits[j]`` of a chain's layer ``j``."""
        return _ro(self.bits[np.arange(self.n_layers) + self.layer_job + 1])

    # ------------------------------------------------------------------ sizes and derived arrays
    @property
    def n_devices(self) -> int:
        return int(self.dev_speed.size)

    @property
    def n_jobs(self) -> int:
        return int(self.job_device.size)

    @property
    def n_layers(self) -> int:
        """Total number of layers: the length of a decision."""
        return int(self.ops.size)

    @functools.cached_property
    def layers_per_job(self) -> np.ndarray:
        return _ro(np.diff(self.layer_offsets))

    @functools.cached_property
    def layer_job(self) -> np.ndarray:
        """The job of each layer, shape (n_layers,)."""
        return _ro(np.repeat(np.arange(self.n_jobs, dtype=np.int64), self.layers_per_job))

    @property
    def has_capacities(self) -> bool:
        return bool(math.isfinite(self.edge_capacity) or math.isfinite(self.cloud_capacity))

    @property
    def has_deadlines(self) -> bool:
        """True when some job can be tardy at a cost (a finite deadline and a tardiness weight)."""
        return bool(self.w_tardiness > 0 and np.any(np.isfinite(self.deadline) & (self.job_weight > 0)))

    def job_ops(self, i: int) -> np.ndarray:
        return self.ops[self.layer_offsets[i]:self.layer_offsets[i + 1]]

    def job_bits(self, i: int) -> np.ndarray:
        return self.bits[self.layer_offsets[i] + i:self.layer_offsets[i + 1] + i + 1]

    # ------------------------------------------------------------------ identity
    @functools.cached_property
    def digest(self) -> str:
        """sha256 (hex) of the canonical JSON of the content; the name is left out."""
        return _content_digest(self.to_dict())

    def compact_json_and_digest(self) -> str:
        """``to_json(indent=None)``, computing :attr:`digest` from the same dict if it is not
        known yet (one :meth:`to_dict` for both: for a runner that records each instance it
        builds). An instance of chains takes :func:`offbench._instance_json.chain_texts`: the
        same two texts, byte for byte, with every number formatted once."""
        if not self.is_dag:
            text, canonical = _chain_texts(self)
            if "digest" not in self.__dict__:
                self.__dict__["digest"] = hashlib.sha256(canonical.encode()).hexdigest()
            return text + "\n"
        d = self.to_dict()
        text = json.dumps(d, indent=None, allow_nan=False) + "\n"
        if "digest" not in self.__dict__:
            self.__dict__["digest"] = _content_digest(d)
        return text

    def __getstate__(self) -> dict:
        """Pickle the fields and the digest only: what is cached on the instance (the cost
        tables of :func:`offbench.cost.tables`, derived arrays) is rebuilt where it is needed,
        so an instance sent to a worker process is small and never re-validated."""
        keep = _STATE_KEYS if type(self) is Instance else (
            {f.name for f in dataclasses.fields(self)} | {"digest"})
        return {k: v for k, v in self.__dict__.items() if k in keep}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return NotImplemented
        return self.name == other.name and self.digest == other.digest

    def __hash__(self) -> int:
        return hash((self.name, self.digest))

    def __repr__(self) -> str:
        return (f"Instance(name={self.name!r}, devices={self.n_devices}, jobs={self.n_jobs}, "
                f"layers={self.n_layers}, digest={self.digest[:12]})")

    def replace(self, **changes: Any) -> "Instance":
        """A copy with some fields changed, validated again (what :func:`dataclasses.replace`
        does, without its per-field bookkeeping and the generated ``__init__``'s 32 frozen
        setattrs: the fields go to the copy's ``__dict__`` and :meth:`__post_init__` runs)."""
        if type(self) is not Instance or not changes.keys() <= _FIELD_NAMES:
            return dataclasses.replace(self, **changes)  # its errors for unknown fields
        d = self.__dict__
        new = object.__new__(Instance)
        new.__dict__.update({n: d[n] for n in _FIELD_ORDER})
        new.__dict__.update(changes)
        new.__post_init__()
        return new

    # ------------------------------------------------------------------ dict / JSON
    def to_dict(self) -> dict:
        """The SPEC.md JSON object (canonical: every key present except absent deadlines)."""
        def cap(v: float):
            return None if math.isinf(v) else v

        # Python lists once (numpy scalars one by one cost a third of the time): the same floats
        off = self.layer_offsets.tolist()
        ops, bits_all = self.ops.tolist(), self.bits.tolist()
        device, deadline, weight = (self.job_device.tolist(), self.deadline.tolist(),
                                    self.job_weight.tolist())
        dag = self.is_dag
        jobs = []
        for i in range(self.n_jobs):
            if dag and self.job_is_dag_at(i):
                e0, e1 = int(self.edge_offsets[i]), int(self.edge_offsets[i + 1])
                edges = [[u + 1, v + 1, b] if h else [u + 1, v + 1] for u, v, b, h in zip(
                    self.edge_src[e0:e1].tolist(), self.edge_dst[e0:e1].tolist(),
                    self.edge_bits[e0:e1].tolist(), self.edge_has_bits[e0:e1].tolist())]
                bits = self.job_bits(i).tolist()
                job = {"device": int(self.job_device[i]), "ops": self.job_ops(i).tolist(),
                       "edges": edges, "in_bits": bits[0], "out_bits": bits[1:]}
            else:
                job = {
                    "device": device[i],
                    "ops": ops[off[i]:off[i + 1]],
                    "bits": bits_all[off[i] + i:off[i + 1] + i + 1],
                }
            if math.isfinite(deadline[i]):
                job["deadline"] = deadline[i]
            job["weight"] = weight[i]
            jobs.append(job)
        dev = [getattr(self, "dev_" + k).tolist() for k in _DEVICE_FIELDS]
        return {
            "format": FORMAT,
            "version": 2 if self.is_dag else 1,
            "name": self.name,
            "weights": {"time": self.w_time, "energy": self.w_energy, "tardiness": self.w_tardiness},
            "edge": {"speed": self.edge_speed, "energy_per_op": self.edge_energy_per_op,
                     "capacity": cap(self.edge_capacity)},
            "cloud": {"speed": self.cloud_speed, "energy_per_op": self.cloud_energy_per_op,
                      "capacity": cap(self.cloud_capacity)},
            "backhaul": {"rate": self.backhaul_rate, "latency": self.backhaul_latency,
                         "energy_per_bit": self.backhaul_energy_per_bit},
            "devices": [dict(zip(_DEVICE_FIELDS, vals)) for vals in zip(*dev)],
            "jobs": jobs,
        }

    def to_json(self, indent: int | None = 1) -> str:
        """The instance file's text (SPEC.md section 3), lossless."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "Instance":
        """Parse and validate an instance file's text.

        The jobs are packed into flat arrays while the text is parsed (each job's lists are
        dropped as soon as its closing brace is read), so that the memory a file takes is a small
        multiple of its size (``benchmarks/scripts/bench_load_memory.py``), and the size limits
        (:data:`LIMITS`) are checked job by job, before the arrays grow past them.
        """
        if isinstance(text, (bytes, bytearray)):
            text = _decode(text)
        data, packer = _instance_json.parse(text)
        return cls(**_instance_json.arrays(data, packer))

    @classmethod
    def from_dict(cls, data: Any) -> "Instance":
        """Validate a parsed instance object and build the arrays."""
        return cls(**_instance_json.arrays(data))

    # ------------------------------------------------------------------ columnar (.npz)
    def to_npz_bytes(self) -> bytes:
        """The columnar form: an uncompressed-safe ``.npz`` of the arrays (no pickle)."""
        buf = io.BytesIO()
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)
                  if f.name != "name" and getattr(self, f.name) is not None}
        arrays["name"] = _instance_npz.name_array(self.name)  # a name ending in NUL: code points
        arrays["format"] = np.array(f"{FORMAT}-npz")
        arrays["version"] = np.array(2 if self.is_dag else 1)
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> "Instance":
        """Read the columnar form written by :meth:`to_npz_bytes` (never unpickles).

        Each array's header (dtype and shape) is read and checked against the size limits
        (:data:`LIMITS`) before its data is decompressed, so a small file that declares a huge
        array is refused without allocating it.
        """
        arrays = _instance_npz.read_arrays(
            data, {f.name for f in dataclasses.fields(cls)} - set(DAG_FIELDS), set(DAG_FIELDS))
        v = arrays.pop("version")  # integers (read_arrays checks dtypes), but of any shape
        if v.ndim != 0:
            raise InstanceError("format", f"version.npy must hold one integer, not an array of "
                                          f"shape {tuple(v.shape)}")
        version = int(v)
        if str(arrays.pop("format")) != f"{FORMAT}-npz" or version not in VERSIONS:
            raise InstanceError("format", f"expected an {FORMAT}-npz file of version 1 or 2")
        if version == 1 and any(k in arrays for k in DAG_FIELDS):
            raise InstanceError("format", "an npz file of version 1 has no DAG arrays")
        kwargs = {k: (v.item() if v.ndim == 0 else v) for k, v in arrays.items()}
        kwargs["name"] = _instance_npz.name_from_array(arrays["name"])
        return cls(**kwargs)


#: The optional arrays of DAG jobs (SPEC.md section 7); all None when every job is a chain.
DAG_FIELDS = ("job_is_dag", "edge_offsets", "edge_src", "edge_dst", "edge_bits", "edge_has_bits")


def _check_acyclic(layer_offsets, ejob, src, dst, at) -> None:
    """Refuse a cycle, naming one edge on it and the cycle (SPEC.md section 7).

    All jobs at once: the strongly connected components of the graph of every job's nodes (an
    edge whose two ends share a component lies on a cycle)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(layer_offsets[-1])
    gs = layer_offsets[ejob] + src
    gd = layer_offsets[ejob] + dst
    g = coo_matrix((np.ones(gs.size, dtype=np.int8), (gs, gd)), shape=(n, n)).tocsr()
    _, comp = connected_components(g, directed=True, connection="strong")
    on_cycle = comp[gs] == comp[gd]
    if not on_cycle.any():
        return
    e = int(np.argmax(on_cycle))
    i = int(ejob[e])
    # A path back from dst to src inside the job (breadth first) shows the cycle.
    mine = np.flatnonzero(ejob == i)
    succ: dict = {}
    for q in mine.tolist():
        succ.setdefault(int(src[q]), []).append(int(dst[q]))
    u, v = int(src[e]), int(dst[e])
    parent = {v: None}
    frontier = [v]
    while frontier and u not in parent:
        nxt = []
        for a in frontier:
            for b in succ.get(a, ()):
                if b not in parent:
                    parent[b] = a
                    nxt.append(b)
        frontier = nxt
    path = [u]
    while parent.get(path[-1]) is not None:
        path.append(parent[path[-1]])
    cyc = [u] + path[::-1]
    shown = " -> ".join(str(w + 1) for w in cyc[:12]) + (" -> ..." if len(cyc) > 12 else "")
    raise InstanceError(at(e), f"the edge [{u + 1}, {v + 1}] closes a cycle ({shown}); a job "
                               "must be acyclic")


_SCALAR_PATH = {
    "w_time": "weights.time", "w_energy": "weights.energy", "w_tardiness": "weights.tardiness",
    "edge_speed": "edge.speed", "edge_energy_per_op": "edge.energy_per_op",
    "edge_capacity": "edge.capacity", "cloud_speed": "cloud.speed",
    "cloud_energy_per_op": "cloud.energy_per_op", "cloud_capacity": "cloud.capacity",
    "backhaul_rate": "backhaul.rate", "backhaul_latency": "backhaul.latency",
    "backhaul_energy_per_bit": "backhaul.energy_per_bit",
}
#: Scalar fields: (attribute, path in the file, positive).
_SCALAR_CHECKS = tuple((a, p, p in _POSITIVE) for a, p in _SCALAR_PATH.items())
_DEV_POSITIVE = tuple("dev_" + n for n in _DEVICE_FIELDS if n in _POSITIVE)
_DEV_NONNEGATIVE = tuple("dev_" + n for n in _DEVICE_FIELDS if n not in _POSITIVE)
#: The float arrays where 0 is admissible, so -0.0 too (stored as +0.0: Instance._plus_zeros).
_ZERO_ARRAYS = _DEV_NONNEGATIVE + ("ops", "bits", "deadline", "job_weight")
#: The fields :meth:`Instance.__post_init__` converts, in order: (name, 0 float, 1 int64 array,
#: 2 float64 array); the name and the DAG arrays are not among them.
_POST_FIELDS = tuple(
    (f.name, 0 if f.type == "float" else 1 if f.name in ("job_device", "layer_offsets") else 2)
    for f in dataclasses.fields(Instance) if f.name != "name" and f.name not in DAG_FIELDS)
_FIELD_ORDER = tuple(f.name for f in dataclasses.fields(Instance))
_FIELD_NAMES = frozenset(_FIELD_ORDER)
#: What pickling keeps of an instance (:meth:`Instance.__getstate__`).
_STATE_KEYS = _FIELD_NAMES | {"digest"}


def values_admissible(scalars: dict, arrays: dict) -> bool:
    """Whether many instances of one structure hold admissible values only, tested at once:
    ``scalars`` maps each float field to an array of one value per instance, ``arrays`` each
    float-array field to a 2-D array of one row per instance. True only where
    :meth:`Instance._check` accepts every value of every instance (the same ranges; a capacity
    between 0 and :data:`MIN_MAGNITUDE` is left to ``_check``), for
    :func:`offbench.families.batch.generate_many`, which validates the structure through
    ``_check`` once per group."""
    with np.errstate(invalid="ignore"):
        for attr, _, positive in _SCALAR_CHECKS:
            v = np.asarray(scalars[attr], dtype=np.float64)
            ok = (v >= MIN_MAGNITUDE) & (v <= MAX_MAGNITUDE)
            zero = (v == 0) & ~np.signbit(v)  # -0.0: left to the Instance, which makes it 0.0
            if attr.endswith("capacity"):
                ok |= zero | (v == np.inf)
            elif not positive:
                ok |= zero
            if not ok.all():
                return False
        pos = [arrays[n] for n in _DEV_POSITIVE]
        nonneg = [arrays[n] for n in _DEV_NONNEGATIVE] + [arrays[n] for n in ("ops", "bits", "job_weight")]
        if not _all_admissible([np.concatenate(pos, axis=1).ravel()],
                               [np.concatenate(nonneg, axis=1).ravel()]):
            return False
        dl = arrays["deadline"]
        return not (np.signbit(dl) | ((dl > MAX_MAGNITUDE) & (dl != np.inf)) | np.isnan(dl)).any()


# ---------------------------------------------------------------------- files
def load_instance(path: str | os.PathLike, *, max_bytes: int | None = None) -> Instance:
    """Read and validate an instance file (``.json``, or the columnar ``.npz``).

    Parameters
    ----------
    path : path-like
        The file.
    max_bytes : int, optional
        Refuse larger files (default :data:`MAX_INSTANCE_BYTES`, or the environment variable
        ``OFFBENCH_MAX_INSTANCE_BYTES``).

    Raises
    ------
    InstanceError
        The file is missing, too large, or breaks SPEC.md section 3; the message names the field.
    """
    p = Path(path)
    shown = _short(p)
    if max_bytes is None:
        max_bytes = limit("bytes")
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise InstanceError("", f"{shown}: not a file")
        if size > max_bytes:
            raise InstanceError(
                "", f"{shown}: file is {size:,} bytes, over the limit of {max_bytes:,} "
                    "(set OFFBENCH_MAX_INSTANCE_BYTES to read larger files)")
        with open(p, "rb") as f:
            data = f.read(size + 1)
            while len(data) > size and len(data) <= max_bytes:  # it grows while it is read
                more = f.read(2**20)
                if not more:
                    break
                data += more
        if len(data) > max_bytes:
            raise InstanceError("", f"{shown}: file is over the limit of {max_bytes:,} bytes "
                                    "(set OFFBENCH_MAX_INSTANCE_BYTES to read larger files)")
    except FileNotFoundError:
        raise InstanceError("", f"{shown}: no such file") from None
    except IsADirectoryError:
        raise InstanceError("", f"{shown}: is a directory, not an instance file") from None
    except PermissionError:
        raise InstanceError("", f"{shown}: permission denied") from None
    except NotADirectoryError:
        raise InstanceError("", f"{shown}: a part of the path is a file, not a folder") from None
    except OSError as e:  # a symbolic link loop, a name too long, an I/O error
        raise InstanceError("", f"{shown}: cannot read: {e.strerror or e}") from None
    if p.suffix == ".npz":
        return Instance.from_npz_bytes(data)
    text = _decode(data)
    del data  # the text alone is kept while it is parsed
    return Instance.from_json(text)


def load_instance_named(path: str | os.PathLike) -> Instance:
    """:func:`load_instance`, its error naming the file first (once): the field alone does not
    say which of many files is wrong (a run's files source, ``offbench solve``, ``evaluate``,
    ``validate``)."""
    try:
        return load_instance(path)
    except InstanceError as e:
        shown = _short(Path(path))
        if is_generator_manifest(path):  # (only where it failed: the test reads the file again)
            raise InstanceError("", f"{shown}: the manifest of an instance set (what `offbench "
                                "instances generate` writes), not an instance: give one of the "
                                "set's instance files, or run the whole set (offbench run "
                                f"--instances {_short(Path(path).parent)})") from None
        msg = str(e)
        raise InstanceError("", msg if msg.startswith(shown) else f"{shown}: {msg}") from None


def save_instance(instance: Instance, path: str | os.PathLike) -> None:
    """Write an instance atomically (``.json``, or ``.npz`` for the columnar form)."""
    if not isinstance(instance, Instance):
        raise TypeError(f"save_instance: instance must be an Instance (the first argument), got "
                        f"{type(instance).__name__}")
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"save_instance: {p} is a folder; give a file name (.json, or "
                                ".npz for the columnar form)")
    # (else the error named the temporary file beside it, which the caller never asked for)
    if p.parent.exists() and not p.parent.is_dir():
        raise NotADirectoryError(f"save_instance: {p.parent} is a file, not a folder")
    if not p.parent.exists():
        raise FileNotFoundError(f"save_instance: no folder {p.parent} (make it first)")
    data = instance.to_npz_bytes() if p.suffix == ".npz" else instance.to_json().encode()
    atomic_write(p, data)


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old one or the whole new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
