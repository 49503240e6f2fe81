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
from typing import Any, Mapping

import numpy as np

from .errors import InstanceError

FORMAT = "offbench-instance"
VERSION = 1

#: Files larger than this are refused before they are read (override with the environment
#: variable ``OFFBENCH_MAX_INSTANCE_BYTES`` or the ``max_bytes`` argument).
MAX_INSTANCE_BYTES = 256 * 2**20

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
                if math.isnan(v) or v < 0:
                    raise InstanceError(path, f"expected a number >= 0 or null, got {v!r}")
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
        bad_dl = np.isnan(dl) | (dl < 0) | (np.isinf(dl) & (dl < 0))
        if np.any(bad_dl):
            i = int(np.argmax(bad_dl))
            raise InstanceError(f"jobs[{i}].deadline", f"expected a number >= 0, got {dl[i]!r}")
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
        """Parse and validate an instance file's text."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InstanceError("", f"not UTF-8 text (byte {e.start})") from None
        try:
            data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as e:
            raise InstanceError("", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        except _JsonValueError as e:
            raise InstanceError("", str(e)) from None
        except RecursionError:
            raise InstanceError("", "not valid JSON: nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> "Instance":
        """Validate a parsed instance object and build the arrays."""
        d = _obj(data, "", _TOP_KEYS)
        fmt = d["format"]
        if fmt != FORMAT:
            raise InstanceError("format", f"expected {FORMAT!r}, got {fmt!r}")
        ver = d["version"]
        if isinstance(ver, bool) or not isinstance(ver, int) or ver != VERSION:
            raise InstanceError("version", f"expected {VERSION} (this offbench reads version {VERSION}), got {ver!r}")
        name = d.get("name", "")
        if not isinstance(name, str):
            raise InstanceError("name", f"expected a string, got {_tname(name)}")
        w = _obj(d["weights"], "weights", _WEIGHT_KEYS)
        edge = _obj(d["edge"], "edge", _SERVER_KEYS)
        cloud = _obj(d["cloud"], "cloud", _SERVER_KEYS)
        bh = _obj(d["backhaul"], "backhaul", _BACKHAUL_KEYS)
        devices = _list(d["devices"], "devices")
        if not devices:
            raise InstanceError("devices", "expected at least one device, got an empty list")
        dev = {k: [] for k in _DEVICE_FIELDS}
        for n, raw in enumerate(devices):
            o = _obj(raw, f"devices[{n}]", _DEVICE_KEYS)
            for k in _DEVICE_FIELDS:
                dev[k].append(_num(o[k], f"devices[{n}].{k}"))
        jobs = _list(d["jobs"], "jobs")
        if not jobs:
            raise InstanceError("jobs", "expected at least one job, got an empty list")
        job_device, offsets, ops, bits, deadline, weight = [], [0], [], [], [], []
        for i, raw in enumerate(jobs):
            p = f"jobs[{i}]"
            o = _obj(raw, p, _JOB_KEYS)
            dv = o["device"]
            if isinstance(dv, bool) or not isinstance(dv, int):
                raise InstanceError(f"{p}.device", f"expected an integer device index, got {_tname(dv)} {dv!r}")
            if not 0 <= dv < len(devices):
                raise InstanceError(f"{p}.device", f"expected a device index in 0..{len(devices) - 1}, got {dv}")
            o_ops = _list(o["ops"], f"{p}.ops")
            if not o_ops:
                raise InstanceError(f"{p}.ops", "expected at least 1 layer, got an empty list")
            o_bits = _list(o["bits"], f"{p}.bits")
            L = len(o_ops)
            if len(o_bits) != L + 1:
                raise InstanceError(f"{p}.bits", f"expected {L + 1} values ({L} layers + 1), got {len(o_bits)}")
            ops.extend(_num(v, f"{p}.ops[{j}]") for j, v in enumerate(o_ops))
            bits.extend(_num(v, f"{p}.bits[{j}]") for j, v in enumerate(o_bits))
            offsets.append(offsets[-1] + L)
            job_device.append(dv)
            dl = o.get("deadline")
            deadline.append(math.inf if dl is None else _num(dl, f"{p}.deadline"))
            weight.append(_num(o.get("weight", 1.0), f"{p}.weight"))

        def cap(o, path):
            v = o.get("capacity")
            return math.inf if v is None else _num(v, path)

        return cls(
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
            **{"dev_" + k: np.array(v, dtype=np.float64) for k, v in dev.items()},
            job_device=np.array(job_device, dtype=np.int64),
            layer_offsets=np.array(offsets, dtype=np.int64),
            ops=np.array(ops, dtype=np.float64),
            bits=np.array(bits, dtype=np.float64),
            deadline=np.array(deadline, dtype=np.float64),
            job_weight=np.array(weight, dtype=np.float64),
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
        """Read the columnar form written by :meth:`to_npz_bytes` (never unpickles)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError) as e:
            raise InstanceError("", f"not a readable .npz instance ({e})") from None
        if str(arrays.pop("format", "")) != f"{FORMAT}-npz" or int(arrays.pop("version", -1)) != VERSION:
            raise InstanceError("format", f"expected an {FORMAT}-npz file of version {VERSION}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(arrays) - names
        missing = names - set(arrays)
        if unknown or missing:
            raise InstanceError("", f"npz arrays do not match: missing {sorted(missing)}, unknown {sorted(unknown)}")
        kwargs = {k: (v.item() if v.ndim == 0 else v) for k, v in arrays.items()}
        kwargs["name"] = str(kwargs["name"])
        return cls(**kwargs)


_SCALAR_PATH = {
    "w_time": "weights.time", "w_energy": "weights.energy", "w_tardiness": "weights.tardiness",
    "edge_speed": "edge.speed", "edge_energy_per_op": "edge.energy_per_op",
    "edge_capacity": "edge.capacity", "cloud_speed": "cloud.speed",
    "cloud_energy_per_op": "cloud.energy_per_op", "cloud_capacity": "cloud.capacity",
    "backhaul_rate": "backhaul.rate", "backhaul_latency": "backhaul.latency",
    "backhaul_energy_per_bit": "backhaul.energy_per_bit",
}


# ---------------------------------------------------------------------- validation helpers
class _JsonValueError(ValueError):
    pass


def _refuse_constant(name: str):
    raise _JsonValueError(f"not valid JSON: {name} is not a JSON number (every number must be finite)")


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _JsonValueError(f"key {k!r} appears twice in one object")
        out[k] = v
    return out


def _tname(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _obj(v: Any, path: str, keys: Mapping[str, bool]) -> dict:
    where = path or "the file"
    if not isinstance(v, dict):
        raise InstanceError(path, f"expected an object, got {_tname(v)}")
    unknown = [k for k in v if k not in keys]
    if unknown:
        import difflib

        k = unknown[0]
        close = difflib.get_close_matches(k, list(keys), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(keys)})"
        raise InstanceError(f"{path}.{k}" if path else k, f"unknown key in {where}{hint}")
    for k, required in keys.items():
        if required and k not in v:
            raise InstanceError(f"{path}.{k}" if path else k, f"missing (required in {where})")
    return v


def _list(v: Any, path: str) -> list:
    if not isinstance(v, list):
        raise InstanceError(path, f"expected a list, got {_tname(v)}")
    return v


def _num(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InstanceError(path, f"expected a number, got {_tname(v)} {v!r}"[:200])
    try:
        return float(v)
    except OverflowError:
        raise InstanceError(path, "expected a finite number, got an integer too large for a float") from None


def _check_number(path: str, v: float, *, positive: bool) -> None:
    if not math.isfinite(v):
        raise InstanceError(path, f"expected a finite number, got {v!r}")
    if positive and v <= 0:
        raise InstanceError(path, f"expected a number > 0, got {v!r}")
    if v < 0:
        raise InstanceError(path, f"expected a number >= 0, got {v!r}")


def _first_bad(a: np.ndarray, *, positive: bool) -> int | None:
    bad = ~np.isfinite(a) | ((a <= 0) if positive else (a < 0))
    return int(np.argmax(bad)) if np.any(bad) else None


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
    if max_bytes is None:
        max_bytes = int(os.environ.get("OFFBENCH_MAX_INSTANCE_BYTES", MAX_INSTANCE_BYTES))
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise InstanceError("", f"{p}: not a file")
        if size > max_bytes:
            raise InstanceError(
                "", f"{p}: file is {size:,} bytes, over the limit of {max_bytes:,} "
                    "(set OFFBENCH_MAX_INSTANCE_BYTES to read larger files)")
        data = p.read_bytes()
    except FileNotFoundError:
        raise InstanceError("", f"{p}: no such file") from None
    except IsADirectoryError:
        raise InstanceError("", f"{p}: is a directory, not an instance file") from None
    except PermissionError:
        raise InstanceError("", f"{p}: permission denied") from None
    if p.suffix == ".npz":
        return Instance.from_npz_bytes(data)
    return Instance.from_json(data)


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
