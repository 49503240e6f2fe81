"""The instance: SPEC.md section 3 as validated, immutable arrays.

An :class:`Instance` holds one frame of work (devices, one edge, one cloud, jobs that are chains of
layers) in flat numpy arrays that the Numba kernels of :mod:`offbench.cost` take directly. Ragged
layer counts are held as offsets:

* layers of job ``i`` are ``ops[layer_offsets[i]:layer_offsets[i + 1]]``;
* boundaries of job ``i`` (``L_i + 1`` of them: the input, between layers, the result) are
  ``bits[layer_offsets[i] + i : layer_offsets[i + 1] + i + 1]``.

Absent capacities and deadlines are ``inf`` in the arrays and ``null``/absent in the JSON.

JSON is the edge of the system: :meth:`Instance.from_json` parses and validates once, with a
message that names the field by its path (``jobs[3].bits: expected 6 values (5 layers + 1),
got 5``); :meth:`Instance.to_json` writes the canonical form, and the round trip is lossless
(floats are written with Python's shortest exact ``repr``). A columnar ``.npz`` form (no pickle)
round-trips with it for large instance sets.

Untrusted files are bounded: every number must lie in the admissible ranges of SPEC.md section 3
(so that no cost can overflow or underflow; a literal such as ``1e400`` is refused, never read as
infinity), and the size limits of :data:`LIMITS` (devices, jobs, layers per job and in all,
bytes; each raised by an environment variable) are checked by :func:`check_size` before
anything of that size is allocated: job by job while JSON is parsed, from the array headers of an
``.npz``, and by the families and generators before they draw.
"""

from __future__ import annotations

import array
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import InstanceError, UserError

FORMAT = "offbench-instance"
VERSION = 1

#: Size limits of one instance, checked before anything large is allocated: name -> (the
#: environment variable that raises it, its default, what it counts). Read with :func:`limit`,
#: checked with :func:`check_size`. The number of instances in a set or a run is not limited.
LIMITS = {
    "bytes": ("OFFBENCH_MAX_INSTANCE_BYTES", 256 * 2**20, "bytes in an instance file"),
    "devices": ("OFFBENCH_MAX_DEVICES", 1_000_000, "devices in an instance"),
    "jobs": ("OFFBENCH_MAX_JOBS", 1_000_000, "jobs in an instance"),
    "layers_per_job": ("OFFBENCH_MAX_LAYERS_PER_JOB", 100_000, "layers in one job"),
    "layers": ("OFFBENCH_MAX_LAYERS", 10_000_000, "layers in an instance"),
}
#: Files larger than this are refused before they are read (override with the environment
#: variable ``OFFBENCH_MAX_INSTANCE_BYTES`` or the ``max_bytes`` argument).
MAX_INSTANCE_BYTES = LIMITS["bytes"][1]

#: Admissible magnitudes (SPEC.md section 3, "Admissible ranges"): every number of an instance is
#: 0 or in [MIN_MAGNITUDE, MAX_MAGNITUDE] (speeds and rates are never 0; capacities and deadlines,
#: which are only compared, may be any number in [0, MAX_MAGNITUDE]), so that no cost, time or
#: energy of any decision can overflow to infinity or underflow to a subnormal number.
MIN_MAGNITUDE = 1e-30
MAX_MAGNITUDE = 1e30
_RANGE = "[1e-30, 1e30]"

_TOP_KEYS = {
    "format": True, "version": True, "name": False, "weights": True, "edge": True, "cloud": True,
    "backhaul": True, "devices": True, "jobs": True,
}
_WEIGHT_KEYS = {"time": True, "energy": True, "tardiness": False}
_SERVER_KEYS = {"speed": True, "energy_per_op": True, "capacity": False}
_BACKHAUL_KEYS = {"rate": True, "latency": True, "energy_per_bit": True}
_DEVICE_KEYS = {
    "speed": True, "power_compute": True, "power_tx": True, "power_rx": True, "rate_up": True,
    "rate_down": True, "latency": True,
}
_JOB_KEYS = {"device": True, "ops": True, "bits": True, "deadline": False, "weight": False}

#: Fields that must be > 0 (all other numbers must be >= 0); every number must be finite.
_POSITIVE = {"edge.speed", "cloud.speed", "backhaul.rate", "speed", "rate_up", "rate_down"}
_DEVICE_FIELDS = tuple(_DEVICE_KEYS)


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

    # ------------------------------------------------------------------ construction & checks
    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        if not isinstance(self.name, str):
            raise InstanceError("name", f"expected a string, got {type(self.name).__name__}")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "name":
                continue
            if f.type == "float":
                try:
                    set_(f.name, float(v))
                except (TypeError, ValueError):
                    raise InstanceError(_SCALAR_PATH[f.name], f"expected a number, got {v!r}") from None
            elif f.name in ("job_device", "layer_offsets"):
                a = np.asarray(v)
                if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
                    raise InstanceError(f.name, f"expected a 1-D integer array, got {a.dtype} {a.shape}")
                set_(f.name, _ro(a.astype(np.int64)))
            else:
                a = np.asarray(v, dtype=np.float64)
                if a.ndim != 1:
                    raise InstanceError(f.name, f"expected a 1-D array, got shape {a.shape}")
                set_(f.name, _ro(a))
        self._check()

    def _check(self) -> None:
        # Scalars.
        for attr, path in _SCALAR_PATH.items():
            v = getattr(self, attr)
            if attr.endswith("capacity"):
                if not math.isinf(v) or v < 0:  # inf is null: no capacity
                    _check_number(path, v, positive=False, floor=False,
                                  what=f"a number in [0, {MAX_MAGNITUDE:g}] or null")
                continue
            _check_number(path, v, positive=path in _POSITIVE)
        # Devices.
        nd = self.dev_speed.size
        if nd == 0:
            raise InstanceError("devices", "expected at least one device, got none")
        for name in _DEVICE_FIELDS:
            a = getattr(self, "dev_" + name)
            if a.size != nd:
                raise InstanceError(f"devices[*].{name}", f"expected {nd} values, got {a.size}")
            bad = _first_bad(a, positive=name in _POSITIVE)
            if bad is not None:
                _check_number(f"devices[{bad}].{name}", float(a[bad]), positive=name in _POSITIVE)
        # Jobs.
        nj = self.job_device.size
        if nj == 0:
            raise InstanceError("jobs", "expected at least one job, got none")
        off = self.layer_offsets
        if off.size != nj + 1 or off[0] != 0:
            raise InstanceError("layer_offsets", f"expected {nj + 1} offsets starting at 0")
        lens = np.diff(off)
        check_size(n_devices=nd, n_jobs=nj, n_layers=int(off[-1]), layers_per_job=lens)
        if np.any(lens < 1):
            i = int(np.argmax(lens < 1))
            raise InstanceError(f"jobs[{i}].ops", "expected at least 1 layer, got 0")
        if self.ops.size != off[-1]:
            raise InstanceError("ops", f"expected {off[-1]} values, got {self.ops.size}")
        if self.bits.size != off[-1] + nj:
            raise InstanceError("bits", f"expected {off[-1] + nj} values, got {self.bits.size}")
        for attr in ("deadline", "job_weight"):
            if getattr(self, attr).size != nj:
                raise InstanceError(attr, f"expected {nj} values, got {getattr(self, attr).size}")
        bad_dev = (self.job_device < 0) | (self.job_device >= nd)
        if np.any(bad_dev):
            i = int(np.argmax(bad_dev))
            raise InstanceError(
                f"jobs[{i}].device",
                f"expected a device index in 0..{nd - 1}, got {int(self.job_device[i])}",
            )
        bad = _first_bad(self.ops, positive=False)
        if bad is not None:
            i = int(np.searchsorted(off, bad, side="right") - 1)
            _check_number(f"jobs[{i}].ops[{bad - off[i]}]", float(self.ops[bad]), positive=False)
        bad = _first_bad(self.bits, positive=False)
        if bad is not None:
            boff = off + np.arange(nj + 1)
            i = int(np.searchsorted(boff, bad, side="right") - 1)
            _check_number(f"jobs[{i}].bits[{bad - boff[i]}]", float(self.bits[bad]), positive=False)
        dl = self.deadline
        bad = _first_bad(np.where(dl == np.inf, 0.0, dl), positive=False, floor=False)
        if bad is not None:  # inf above: no deadline
            _check_number(f"jobs[{bad}].deadline", float(dl[bad]), positive=False, floor=False,
                          what=f"a number in [0, {MAX_MAGNITUDE:g}] or absent")
        bad = _first_bad(self.job_weight, positive=False)
        if bad is not None:
            _check_number(f"jobs[{bad}].weight", float(self.job_weight[bad]), positive=False)

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
        d = self.to_dict()
        d.pop("name")
        text = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def __getstate__(self) -> dict:
        """Pickle the fields and the digest only: what is cached on the instance (the cost
        tables of :func:`offbench.cost.tables`, derived arrays) is rebuilt where it is needed,
        so an instance sent to a worker process is small and never re-validated."""
        keep = {f.name for f in dataclasses.fields(self)} | {"digest"}
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
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ dict / JSON
    def to_dict(self) -> dict:
        """The SPEC.md JSON object (canonical: every key present except absent deadlines)."""
        def cap(v: float):
            return None if math.isinf(v) else v

        jobs = []
        for i in range(self.n_jobs):
            job = {
                "device": int(self.job_device[i]),
                "ops": self.job_ops(i).tolist(),
                "bits": self.job_bits(i).tolist(),
            }
            if math.isfinite(self.deadline[i]):
                job["deadline"] = float(self.deadline[i])
            job["weight"] = float(self.job_weight[i])
            jobs.append(job)
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "weights": {"time": self.w_time, "energy": self.w_energy, "tardiness": self.w_tardiness},
            "edge": {"speed": self.edge_speed, "energy_per_op": self.edge_energy_per_op,
                     "capacity": cap(self.edge_capacity)},
            "cloud": {"speed": self.cloud_speed, "energy_per_op": self.cloud_energy_per_op,
                      "capacity": cap(self.cloud_capacity)},
            "backhaul": {"rate": self.backhaul_rate, "latency": self.backhaul_latency,
                         "energy_per_bit": self.backhaul_energy_per_bit},
            "devices": [
                {k: float(getattr(self, "dev_" + k)[d]) for k in _DEVICE_FIELDS}
                for d in range(self.n_devices)
            ],
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
        multiple of its size (``benchmarks/bench_load_memory.py``), and the size limits
        (:data:`LIMITS`) are checked job by job, before the arrays grow past them.
        """
        if isinstance(text, (bytes, bytearray)):
            text = _decode(text)
        packer = _JobPacker()
        try:
            data = json.loads(text, parse_constant=_refuse_constant, parse_float=_parse_float,
                              parse_int=_parse_int, object_pairs_hook=packer.hook)
        except json.JSONDecodeError as e:
            raise InstanceError("", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        except _JsonValueError as e:
            raise InstanceError(getattr(e, "path", ""), str(e)) from None
        except RecursionError:
            raise InstanceError("", "not valid JSON: nested too deeply") from None
        return cls._from_tree(data, packer)

    @classmethod
    def from_dict(cls, data: Any) -> "Instance":
        """Validate a parsed instance object and build the arrays."""
        return cls._from_tree(data, _JobPacker())

    @classmethod
    def _from_tree(cls, data: Any, packer: "_JobPacker") -> "Instance":
        d = _obj(data, "", _TOP_KEYS)
        fmt = d["format"]
        if fmt != FORMAT:
            raise InstanceError("format", f"expected {FORMAT!r}, got {_short_repr(fmt)}")
        ver = d["version"]
        if isinstance(ver, bool) or not isinstance(ver, int) or ver != VERSION:
            raise InstanceError("version", f"expected {VERSION} (this offbench reads version "
                                           f"{VERSION}), got {_short_repr(ver)}")
        name = d.get("name", "")
        if not isinstance(name, str):
            raise InstanceError("name", f"expected a string, got {_tname(name)}")
        w = _obj(d["weights"], "weights", _WEIGHT_KEYS)
        edge = _obj(d["edge"], "edge", _SERVER_KEYS)
        cloud = _obj(d["cloud"], "cloud", _SERVER_KEYS)
        bh = _obj(d["backhaul"], "backhaul", _BACKHAUL_KEYS)

        def cap(o, path):
            v = o.get("capacity")
            return math.inf if v is None else _num(v, path)

        scalars = dict(
            w_time=_num(w["time"], "weights.time"),
            w_energy=_num(w["energy"], "weights.energy"),
            w_tardiness=_num(w.get("tardiness", 0.0), "weights.tardiness"),
            edge_speed=_num(edge["speed"], "edge.speed"),
            edge_energy_per_op=_num(edge["energy_per_op"], "edge.energy_per_op"),
            edge_capacity=cap(edge, "edge.capacity"),
            cloud_speed=_num(cloud["speed"], "cloud.speed"),
            cloud_energy_per_op=_num(cloud["energy_per_op"], "cloud.energy_per_op"),
            cloud_capacity=cap(cloud, "cloud.capacity"),
            backhaul_rate=_num(bh["rate"], "backhaul.rate"),
            backhaul_latency=_num(bh["latency"], "backhaul.latency"),
            backhaul_energy_per_bit=_num(bh["energy_per_bit"], "backhaul.energy_per_bit"),
        )
        devices = _list(d["devices"], "devices")
        if not devices:
            raise InstanceError("devices", "expected at least one device, got an empty list")
        check_size(n_devices=len(devices), where="devices")
        dev = {k: np.empty(len(devices)) for k in _DEVICE_FIELDS}
        for n, raw in enumerate(devices):
            o = _obj(raw, f"devices[{n}]", _DEVICE_KEYS)
            for k in _DEVICE_FIELDS:
                dev[k][n] = _num(o[k], f"devices[{n}].{k}")
        jobs = _list(d["jobs"], "jobs")
        if not jobs:
            raise InstanceError("jobs", "expected at least one job, got an empty list")
        check_size(n_jobs=len(jobs), where="jobs")
        if packer.count != len(jobs) or any(j is not _PACKED for j in jobs):
            # Not every job was packed while parsing (a dict given to from_dict, or a job with a
            # problem): pack them in order here, validating each with its path.
            done = packer
            packer = _JobPacker(len(devices))
            k = start = 0
            for i, raw in enumerate(jobs):
                if raw is _PACKED:  # packed while parsing: copy its record over
                    if k >= done.count:
                        raise InstanceError(f"jobs[{i}]", "a job object out of place")
                    packer.copy_from(done, k, start)
                    start += done.n_layers[k]
                    k += 1
                else:
                    packer.add(raw, f"jobs[{i}]")
            if k != done.count:
                raise InstanceError("", "a job object out of place (outside 'jobs')")
        job_device = packer.array("device", np.int64)
        bad = job_device >= len(devices)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise InstanceError(f"jobs[{i}].device", f"expected a device index in "
                                                     f"0..{len(devices) - 1}, got {int(job_device[i])}")

        return cls(
            **scalars,
            **{"dev_" + k: v for k, v in dev.items()},
            job_device=job_device,
            layer_offsets=np.concatenate(([0], np.cumsum(packer.array("n_layers", np.int64)))),
            ops=packer.array("ops", np.float64),
            bits=packer.array("bits", np.float64),
            deadline=packer.array("deadline", np.float64),
            job_weight=packer.array("weight", np.float64),
            name=name,
        )

    # ------------------------------------------------------------------ columnar (.npz)
    def to_npz_bytes(self) -> bytes:
        """The columnar form: an uncompressed-safe ``.npz`` of the arrays (no pickle)."""
        buf = io.BytesIO()
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)
                  if f.name != "name"}
        arrays["name"] = np.array(self.name)
        arrays["format"] = np.array(f"{FORMAT}-npz")
        arrays["version"] = np.array(VERSION)
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> "Instance":
        """Read the columnar form written by :meth:`to_npz_bytes` (never unpickles).

        Each array's header (dtype and shape) is read and checked against the size limits
        (:data:`LIMITS`) before its data is decompressed, so a small file that declares a huge
        array is refused without allocating it.
        """
        names = {f.name for f in dataclasses.fields(cls)} | {"format", "version"}
        arrays = {}
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = zf.infolist()
                keys = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos]
                unknown = sorted(set(keys) - names)
                missing = sorted(names - set(keys))
                if unknown or missing or len(keys) != len(set(keys)):
                    if "format" in missing or "version" in missing:
                        raise InstanceError("format", f"expected an {FORMAT}-npz file of version {VERSION}")
                    raise InstanceError("", f"npz arrays do not match: missing {missing}, unknown "
                                            f"{[_short(k, 40) for k in unknown[:5]]}")
                headers = {}
                for key, info in zip(keys, infos):
                    with zf.open(info) as f:
                        headers[key] = _npy_header(f, key)
                _check_npz_headers(headers)
                for key, info in zip(keys, infos):
                    with zf.open(info) as f:
                        arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
                    if arrays[key].shape != headers[key][0]:
                        raise InstanceError(key, "array data does not match its header")
        except InstanceError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile,
                NotImplementedError, RuntimeError) as e:  # RuntimeError: an encrypted member
            raise InstanceError("", f"not a readable .npz instance ({_short(e, 160)})") from None
        if str(arrays.pop("format")) != f"{FORMAT}-npz" or int(arrays.pop("version")) != VERSION:
            raise InstanceError("format", f"expected an {FORMAT}-npz file of version {VERSION}")
        kwargs = {k: (v.item() if v.ndim == 0 else v) for k, v in arrays.items()}
        kwargs["name"] = str(kwargs["name"])
        return cls(**kwargs)


_NPZ_STRINGS = ("name", "format")
_NPZ_INTEGERS = ("job_device", "layer_offsets", "version")


def _npy_header(f, key: str):
    """(shape, dtype) of one ``.npy`` member, read from its header alone."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise InstanceError(key, f"not a readable .npy array ({_short(e, 120)})") from None
    if dtype.hasobject:
        raise InstanceError(key, "holds Python objects (offbench never unpickles)")
    if key in _NPZ_STRINGS:
        ok, what = dtype.kind == "U" and len(shape) == 0, "a text"
        if ok and dtype.itemsize > 4 * 2**16:
            raise InstanceError(key, f"a text of {dtype.itemsize // 4:,} characters; at most 65,536")
    elif key in _NPZ_INTEGERS:
        ok, what = dtype.kind in "iu", "integers"
    else:
        ok, what = dtype.kind in "fiu", "numbers"
    if not ok:
        raise InstanceError(key, f"expected {what}, got an array of {dtype} {tuple(shape)}")
    if len(shape) > 1:
        raise InstanceError(key, f"expected a 1-D array, got shape {tuple(shape)}")
    return tuple(shape), dtype


def _check_npz_headers(headers: dict) -> None:
    """The size limits, from the declared shapes (before any array is decompressed)."""
    def n(key):
        shape = headers[key][0]
        return shape[0] if shape else 1

    check_size(n_devices=n("dev_speed"), where="dev_speed")
    check_size(n_jobs=n("job_device"), where="job_device")
    check_size(n_jobs=max(n("layer_offsets") - 1, 0), where="layer_offsets")
    check_size(n_layers=n("ops"), where="ops")
    check_size(n_layers=max(n("bits") - n("job_device"), 0), where="bits")
    for key, (shape, _) in headers.items():
        if key.startswith("dev_"):
            check_size(n_devices=n(key), where=key)
        elif key in ("deadline", "job_weight"):
            check_size(n_jobs=n(key), where=key)


_SCALAR_PATH = {
    "w_time": "weights.time", "w_energy": "weights.energy", "w_tardiness": "weights.tardiness",
    "edge_speed": "edge.speed", "edge_energy_per_op": "edge.energy_per_op",
    "edge_capacity": "edge.capacity", "cloud_speed": "cloud.speed",
    "cloud_energy_per_op": "cloud.energy_per_op", "cloud_capacity": "cloud.capacity",
    "backhaul_rate": "backhaul.rate", "backhaul_latency": "backhaul.latency",
    "backhaul_energy_per_bit": "backhaul.energy_per_bit",
}


# ---------------------------------------------------------------------- size limits
def limit(name: str) -> int:
    """The size limit ``name`` of :data:`LIMITS`: its environment variable if set, else its
    default. A variable that is not a whole number >= 1 is a :class:`UserError`."""
    var, default, _ = LIMITS[name]
    raw = os.environ.get(var)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().replace("_", "")
    if not (text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= 1):
        raise UserError(f"{var}={_short_repr(raw)}: expected a whole number >= 1 "
                        f"(the default is {default:,})")
    return int(text)


def check_size(*, n_devices=None, n_jobs=None, n_layers=None, layers_per_job=None,
               n_bytes=None, where: str = "") -> None:
    """Refuse an instance larger than the limits of :data:`LIMITS`, before it is built.

    Call it wherever a size is decided (a file's header, a family's ``n_jobs``, a random
    source's ``layers``). Each argument is a count (``layers_per_job`` may be the largest
    count, or an array of them); None is not checked.

    Raises
    ------
    InstanceError
        Naming the count, the limit and the environment variable that raises it.
    """
    for name, n in (("bytes", n_bytes), ("devices", n_devices), ("jobs", n_jobs),
                    ("layers_per_job", layers_per_job), ("layers", n_layers)):
        if n is None:
            continue
        if isinstance(n, np.ndarray):
            if n.size == 0:
                continue
            n = n.max()
        try:
            too_many = n > limit(name)
        except TypeError:
            raise InstanceError(where, f"expected a count of {LIMITS[name][2]}, "
                                       f"got {_short_repr(n)}") from None
        if too_many:
            var, _, what = LIMITS[name]
            shown = f"{n:,}" if isinstance(n, (int, np.integer)) else f"{n:g}"
            raise InstanceError(where, f"{shown} {what} is over the limit of {limit(name):,} "
                                       f"(set the environment variable {var} to raise it)")


# ---------------------------------------------------------------------- validation helpers
class _JsonValueError(ValueError):
    pass


class _TooLarge:
    """A JSON number literal that no float holds (``1e400``) or an integer of more than 40 digits
    (none is admissible; Python refuses to convert 4300 or more): kept apart so that the field
    it sits in is named, never read as infinity."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def describe(self) -> str:
        t = self.text.lstrip("-")
        if t.isdigit():
            return (f"an integer of {len(t)} digits, outside the admissible range of SPEC.md "
                    "section 3")
        return f"{_short(self.text, 40)}, beyond a 64-bit float (it would read as infinity)"


def _parse_float(text: str):
    v = float(text)
    return _TooLarge(text) if math.isinf(v) else v


def _parse_int(text: str):
    # Python refuses to convert integers of more than 4300 digits (a ValueError deep in json);
    # no admissible number has more than 31.
    return _TooLarge(text) if len(text) > 40 else int(text)


class _PackedJob:
    """What the parser leaves in ``jobs`` for a job it has packed into the arrays."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<a job object>"


_PACKED = _PackedJob()
_NUMBER_TYPES = (int, float)


def _plain_numbers(v) -> bool:
    return type(v) is list and all(type(x) in _NUMBER_TYPES for x in v)


class _JobPacker:
    """Jobs as flat arrays, appended one job at a time (the JSON parser's object hook packs each
    well-formed job as soon as it is read; anything else is left for the checks with paths)."""

    def __init__(self, n_devices: int = 2**62):
        self.n_devices = n_devices
        self.device = array.array("q")
        self.n_layers = array.array("q")
        self.deadline = array.array("d")
        self.weight = array.array("d")
        self.ops = array.array("d")
        self.bits = array.array("d")

    @property
    def count(self) -> int:
        return len(self.device)

    def array(self, name: str, dtype) -> np.ndarray:
        buf = getattr(self, name)
        return np.frombuffer(buf, dtype=dtype) if len(buf) else np.empty(0, dtype=dtype)

    def _append(self, path, device, ops, bits, deadline, weight) -> None:
        L = len(ops)
        check_size(layers_per_job=L, where=f"{path}.ops")
        check_size(n_layers=len(self.ops) + L, where=f"{path}.ops")
        check_size(n_jobs=self.count + 1, where=path)
        self.ops.extend(ops)
        self.bits.extend(bits)
        self.device.append(device)
        self.n_layers.append(L)
        self.deadline.append(math.inf if deadline is None else deadline)
        self.weight.append(weight)

    def hook(self, pairs):
        """``object_pairs_hook``: refuse repeated keys; pack a well-formed job."""
        out = {}
        for k, v in pairs:
            if k in out:
                raise _JsonValueError(f"key {_short_repr(k)} appears twice in one object")
            out[k] = v
        if "ops" in out and "bits" in out and "device" in out and out.keys() <= _JOB_KEYS.keys():
            ops, bits, dv = out["ops"], out["bits"], out["device"]
            dl, wt = out.get("deadline"), out.get("weight", 1.0)
            if (type(dv) is int and dv >= 0 and ops and _plain_numbers(ops) and type(bits) is list
                    and len(bits) == len(ops) + 1 and _plain_numbers(bits)
                    and (dl is None or type(dl) in _NUMBER_TYPES) and type(wt) in _NUMBER_TYPES):
                try:
                    self._append(f"jobs[{self.count}]", dv, ops, bits, dl, wt)
                except InstanceError as e:
                    err = _JsonValueError(e.message)
                    err.path = e.path
                    raise err from None
                return _PACKED
        return out

    def add(self, raw: Any, p: str) -> None:
        """Validate one job object (its fields named under the path ``p``) and append it."""
        o = _obj(raw, p, _JOB_KEYS)
        dv = o["device"]
        if isinstance(dv, bool) or not isinstance(dv, int):
            raise InstanceError(f"{p}.device", f"expected an integer device index, got "
                                               f"{_tname(dv)} {_short_repr(dv)}")
        if not 0 <= dv < self.n_devices:
            raise InstanceError(f"{p}.device", f"expected a device index in "
                                               f"0..{self.n_devices - 1}, got {dv}")
        o_ops = _list(o["ops"], f"{p}.ops")
        if not o_ops:
            raise InstanceError(f"{p}.ops", "expected at least 1 layer, got an empty list")
        L = len(o_ops)
        check_size(layers_per_job=L, where=f"{p}.ops")
        o_bits = _list(o["bits"], f"{p}.bits")
        if len(o_bits) != L + 1:
            raise InstanceError(f"{p}.bits", f"expected {L + 1} values ({L} layers + 1), got {len(o_bits)}")
        ops = [_num(v, f"{p}.ops[{j}]") for j, v in enumerate(o_ops)]
        bits = [_num(v, f"{p}.bits[{j}]") for j, v in enumerate(o_bits)]
        dl = o.get("deadline")
        self._append(p, dv, ops, bits, None if dl is None else _num(dl, f"{p}.deadline"),
                     _num(o.get("weight", 1.0), f"{p}.weight"))

    def copy_from(self, other: "_JobPacker", k: int, start: int) -> None:
        """Append job ``k`` of another packer, whose layers start at ``start``."""
        L = other.n_layers[k]
        self._append(f"jobs[{self.count}]", other.device[k], other.ops[start:start + L],
                     other.bits[start + k:start + k + L + 1], other.deadline[k], other.weight[k])


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InstanceError("", f"not UTF-8 text (byte {e.start})") from None


def _short(text: str, n: int = 120) -> str:
    text = str(text)
    return text if len(text) <= n else f"{text[:n // 2]}...{text[-n // 4:]} ({len(text):,} characters)"


def _short_repr(v: Any) -> str:
    if isinstance(v, _TooLarge):
        return v.describe()
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, np.generic):
        return repr(v.item())
    try:
        return _short(repr(v), 120)
    except ValueError:  # an int too long to print
        return "an integer too long to print"


def _refuse_constant(name: str):
    raise _JsonValueError(f"not valid JSON: {name} is not a JSON number (every number must be finite)")


def _tname(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number", _TooLarge: "a number",
            _PackedJob: "a job object"}.get(type(v), type(v).__name__)


def _obj(v: Any, path: str, keys: Mapping[str, bool]) -> dict:
    where = path or "the file"
    if not isinstance(v, dict):
        raise InstanceError(path, f"expected {'an object' if keys is not _JOB_KEYS else 'a job object'}"
                                  f", got {_tname(v)}")
    unknown = [k for k in v if k not in keys]
    if unknown:
        import difflib

        k = unknown[0]
        close = difflib.get_close_matches(k, list(keys), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(keys)})"
        shown = k if k.isidentifier() and len(k) <= 60 else _short_repr(k)  # "\n", 5000 chars
        raise InstanceError(f"{path}.{shown}" if path else shown, f"unknown key in {where}{hint}")
    for k, required in keys.items():
        if required and k not in v:
            raise InstanceError(f"{path}.{k}" if path else k, f"missing (required in {where})")
    return v


def _list(v: Any, path: str) -> list:
    if not isinstance(v, list):
        raise InstanceError(path, f"expected a list, got {_tname(v)}")
    return v


def _num(v: Any, path: str) -> float:
    if isinstance(v, _TooLarge):
        raise InstanceError(path, f"expected a finite number, got {v.describe()}")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InstanceError(path, f"expected a number, got {_tname(v)} {_short_repr(v)}"[:200])
    try:
        return float(v)
    except OverflowError:
        raise InstanceError(path, "expected a finite number, got an integer too large for a float") from None


def _admissible(v: float, positive: bool, floor: bool = True) -> bool:
    if v == 0:
        return not positive
    return (MIN_MAGNITUDE if floor else 0.0) <= v <= MAX_MAGNITUDE


def _check_number(path: str, v: float, *, positive: bool, what: str | None = None,
                  floor: bool = True) -> None:
    v = float(v)
    if _admissible(v, positive, floor):
        return
    if what is None:
        what = f"a number in {_RANGE}" if positive else f"0 or a number in {_RANGE}"
    if not math.isfinite(v):
        raise InstanceError(path, f"expected a finite number, got {v!r}")
    if v < 0 or (positive and v == 0):
        raise InstanceError(path, f"expected {'a number > 0' if positive else 'a number >= 0'}, "
                                  f"got {v!r}")
    raise InstanceError(path, f"expected {what}, got {v!r}: outside the admissible range of "
                              "SPEC.md section 3, where a cost could overflow or underflow")


def _first_bad(a: np.ndarray, *, positive: bool, floor: bool = True) -> int | None:
    with np.errstate(invalid="ignore"):
        ok = (a >= (MIN_MAGNITUDE if floor else 0.0)) & (a <= MAX_MAGNITUDE)
        if not positive:
            ok |= a == 0
    return int(np.argmin(ok)) if not ok.all() else None


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


def save_instance(instance: Instance, path: str | os.PathLike) -> None:
    """Write an instance atomically (``.json``, or ``.npz`` for the columnar form)."""
    p = Path(path)
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
