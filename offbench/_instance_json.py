"""Reading the JSON instance file (SPEC.md sections 3 and 7) into the arrays of an Instance.

:func:`parse` reads the text with hooks that keep every number a number (a literal that no float
holds, ``1e400`` or an integer of thousands of digits, is kept apart to be refused with its field,
never read as infinity) and pack each well-formed job into flat arrays as soon as its closing brace
is read, so that a file takes a small multiple of its size in memory; :func:`arrays` validates
the tree with messages that name the field by its path and returns the keyword arguments of
:class:`offbench.instance.Instance`.

Version 2 (SPEC.md section 7) adds jobs written as DAGs (``edges``, ``in_bits``, ``out_bits``);
they are validated here field by field (node numbers, numbers, lengths) and packed beside the
chains: ``bits`` holds a DAG job's ``[in_bits] + out_bits`` in the slots a chain's boundaries
use, and the edges go to the ``edge_*`` arrays. What needs the whole graph (self-loops,
duplicates, cycles) is checked by the Instance, with the same paths.

Writing goes through :meth:`offbench.instance.Instance.to_dict` and :mod:`json`, except where the
runner records an instance of chains: :func:`chain_texts` writes its text and its digest's
canonical text directly, byte for byte the same, each number formatted once.
:func:`all_admissible` is the Instance's quick test of all its numbers at once.
"""

from __future__ import annotations

import array
import json
import math
from typing import Any, Mapping

import numpy as np

from .errors import InstanceError
from .instance_checks import MAX_MAGNITUDE, MIN_MAGNITUDE, TooLarge, check_size, short_repr

FORMAT = "offbench-instance"
#: The newest version read and written; an instance without DAG jobs is written as version 1.
VERSION = 2
VERSIONS = (1, 2)

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
_DAG_JOB_KEYS = {"device": True, "ops": True, "edges": True, "in_bits": True, "out_bits": False,
                 "deadline": False, "weight": False}

#: Fields that must be > 0 (all other numbers must be >= 0); every number must be finite.
_POSITIVE = {"edge.speed", "cloud.speed", "backhaul.rate", "speed", "rate_up", "rate_down"}
_DEVICE_FIELDS = tuple(_DEVICE_KEYS)


def parse(text: str):
    """The JSON tree of an instance file's text, and the jobs packed while it was read."""
    packer = _JobPacker()
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_parse_float,
                          parse_int=_parse_int, object_pairs_hook=packer.hook)
    except json.JSONDecodeError as e:
        # json's messages that end in "at" ("Unterminated string starting at") say where next
        msg = e.msg[:-3] if e.msg.endswith(" at") else e.msg
        raise InstanceError("", f"not valid JSON: {msg} at line {e.lineno} column {e.colno}") from None
    except _JsonValueError as e:
        raise InstanceError(getattr(e, "path", ""), str(e)) from None
    except RecursionError:
        raise InstanceError("", "not valid JSON: nested too deeply") from None
    return data, packer


def arrays(data: Any, packer: "_JobPacker | None" = None) -> dict:
    """Validate a parsed instance object; the keyword arguments of ``Instance``."""
    if packer is None:
        packer = _JobPacker()
    d = _obj(data, "", _TOP_KEYS)
    fmt = d["format"]
    if fmt != FORMAT:
        raise InstanceError("format", f"expected {FORMAT!r}, got {short_repr(fmt)}")
    ver = d["version"]
    if isinstance(ver, bool) or not isinstance(ver, int) or ver not in VERSIONS:
        raise InstanceError("version", f"expected 1 or 2 (this offbench reads versions 1 and "
                                       f"{VERSION}), got {short_repr(ver)}")
    name = d.get("name", "")
    if not isinstance(name, str):
        raise InstanceError("name", f"expected a string, got {_tname(name)}")
    w = _obj(d["weights"], "weights", _WEIGHT_KEYS)
    edge = _obj(d["edge"], "edge", _SERVER_KEYS)
    cloud = _obj(d["cloud"], "cloud", _SERVER_KEYS)
    bh = _obj(d["backhaul"], "backhaul", _BACKHAUL_KEYS)

    def cap(o, path):
        v = o.get("capacity")
        return math.inf if v is None else _finite(v, path, "null means no capacity")

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
        packer = _JobPacker(len(devices), dag=ver >= 2)
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

    out = dict(
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
    if packer.has_dag:
        out.update(packer.dag_arrays())
    return out


# ---------------------------------------------------------------------- helpers
class _JsonValueError(ValueError):
    pass


def _parse_float(text: str):
    v = float(text)
    return TooLarge(text) if math.isinf(v) else v


def _parse_int(text: str):
    # Python refuses to convert integers of more than 4300 digits (a ValueError deep in json);
    # no admissible number has more than 31.
    return TooLarge(text) if len(text) > 40 else int(text)


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

    def __init__(self, n_devices: int = 2**62, dag: bool = False):
        self.n_devices = n_devices
        self.dag = dag              # version 2: jobs may be DAGs
        self.has_dag = False        # some job was written as a DAG
        self.is_dag = array.array("b")
        self.n_edges = array.array("q")
        self.edge_src = array.array("q")
        self.edge_dst = array.array("q")
        self.edge_bits = array.array("d")
        self.edge_has_bits = array.array("b")
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

    def _append(self, path, device, ops, bits, deadline, weight, edges=None) -> None:
        L = len(ops)
        check_size(layers_per_job=L, where=f"{path}.ops")
        check_size(n_layers=len(self.ops) + L, where=f"{path}.ops")
        check_size(n_jobs=self.count + 1, where=path)
        if edges is None:
            self.is_dag.append(0)
            self.n_edges.append(0)
        else:
            src, dst, eb, eh = edges
            check_size(n_edges=len(self.edge_src) + len(src), where=f"{path}.edges")
            self.has_dag = True
            self.is_dag.append(1)
            self.n_edges.append(len(src))
            self.edge_src.extend(src)
            self.edge_dst.extend(dst)
            self.edge_bits.extend(eb)
            self.edge_has_bits.extend(eh)
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
                raise _JsonValueError(f"key {short_repr(k)} appears twice in one object")
            out[k] = v
        if "ops" in out and "bits" in out and "device" in out and out.keys() <= _JOB_KEYS.keys():
            ops, bits, dv = out["ops"], out["bits"], out["device"]
            dl, wt = out.get("deadline"), out.get("weight", 1.0)
            if (type(dv) is int and 0 <= dv < 2 ** 63 and ops and _plain_numbers(ops)
                    and type(bits) is list
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

    def dag_arrays(self) -> dict:
        """The ``edge_*`` keyword arguments of ``Instance`` (only when some job is a DAG)."""
        return dict(
            job_is_dag=self.array("is_dag", np.int8).astype(bool),
            edge_offsets=np.concatenate(([0], np.cumsum(self.array("n_edges", np.int64)))),
            edge_src=self.array("edge_src", np.int64),
            edge_dst=self.array("edge_dst", np.int64),
            edge_bits=self.array("edge_bits", np.float64),
            edge_has_bits=self.array("edge_has_bits", np.int8).astype(bool),
        )

    def _device_and_ops(self, o: dict, p: str, unit: str) -> tuple[int, list]:
        """A job's device index and its ops (``unit``: "layer" or "node"), checked and named."""
        dv = o["device"]
        if isinstance(dv, bool) or not isinstance(dv, int):
            raise InstanceError(f"{p}.device", f"expected an integer device index, got "
                                               f"{_tname(dv)} {short_repr(dv)}")
        if not 0 <= dv < self.n_devices:
            raise InstanceError(f"{p}.device", f"expected a device index in "
                                               f"0..{self.n_devices - 1}, got {dv}")
        o_ops = _list(o["ops"], f"{p}.ops")
        if not o_ops:
            raise InstanceError(f"{p}.ops", f"expected at least 1 {unit}, got an empty list")
        check_size(layers_per_job=len(o_ops), where=f"{p}.ops")
        return dv, [_num(v, f"{p}.ops[{j}]") for j, v in enumerate(o_ops)]

    def add(self, raw: Any, p: str) -> None:
        """Validate one job object (its fields named under the path ``p``) and append it."""
        if self.dag and isinstance(raw, dict) and "bits" not in raw and (
                "edges" in raw or "in_bits" in raw or "out_bits" in raw):
            return self.add_dag(raw, p)
        if not self.dag and isinstance(raw, dict) and "edges" in raw:
            raise InstanceError(f"{p}.edges", 'a job written as a DAG needs "version": 2 '
                                              "(SPEC.md section 7); this file is version 1")
        if self.dag and isinstance(raw, dict) and "bits" in raw:
            both = [k for k in ("edges", "in_bits", "out_bits") if k in raw]
            if both:
                raise InstanceError(p, f"has both 'bits' and {short_repr(both[0])}: a job has "
                                       "either 'bits' (a chain) or 'edges' with 'in_bits' and "
                                       "'out_bits' (a DAG, SPEC.md section 7), not both")
        o = _obj(raw, p, _JOB_KEYS)
        dv, ops = self._device_and_ops(o, p, "layer")
        L = len(ops)
        o_bits = _list(o["bits"], f"{p}.bits")
        if len(o_bits) != L + 1:
            raise InstanceError(f"{p}.bits", f"expected {L + 1} values ({L} layers + 1), got {len(o_bits)}")
        bits = [_num(v, f"{p}.bits[{j}]") for j, v in enumerate(o_bits)]
        dl = o.get("deadline")
        self._append(p, dv, ops, bits, _deadline(dl, f"{p}.deadline"),
                     _num(o.get("weight", 1.0), f"{p}.weight"))

    def add_dag(self, raw: Any, p: str) -> None:
        """Validate one job written as a DAG (SPEC.md section 7) and append it."""
        o = _obj(raw, p, _DAG_JOB_KEYS)
        dv, ops = self._device_and_ops(o, p, "node")
        L = len(ops)
        o_edges = _list(o["edges"], f"{p}.edges")
        check_size(n_edges=len(self.edge_src) + len(o_edges), where=f"{p}.edges")
        src, dst, eb, eh = [], [], [], []
        for k, e in enumerate(o_edges):
            q = f"{p}.edges[{k}]"
            if not isinstance(e, list) or len(e) not in (2, 3):
                raise InstanceError(q, f"expected [u, v] or [u, v, bits] (node numbers 1..{L}), "
                                       f"got {_tname(e)} {short_repr(e)}"[:200])
            for end, u in zip("uv", e[:2]):
                if isinstance(u, bool) or not isinstance(u, int):
                    raise InstanceError(q, f"expected an integer node number in 1..{L} for {end}, got "
                                           f"{_tname(u)} {short_repr(u)}"[:200])
                if not 1 <= u <= L:
                    raise InstanceError(q, f"an edge to node {u}, which does not exist (the "
                                           f"job has {L} nodes, numbered 1..{L})")
            src.append(e[0] - 1)
            dst.append(e[1] - 1)
            if len(e) == 3:
                eb.append(_num(e[2], f"{q}[2]"))
                eh.append(1)
            else:
                eb.append(0.0)
                eh.append(0)
        in_bits = _num(o["in_bits"], f"{p}.in_bits")
        if "out_bits" in o:
            o_out = _list(o["out_bits"], f"{p}.out_bits")
            if len(o_out) != L:
                raise InstanceError(f"{p}.out_bits", f"expected {L} values (one per node), "
                                                     f"got {len(o_out)}")
            out_bits = [_num(v, f"{p}.out_bits[{j}]") for j, v in enumerate(o_out)]
        elif all(eh):
            out_bits = [0.0] * L
        else:
            k = eh.index(0)
            raise InstanceError(f"{p}.out_bits", f"missing (required unless every edge carries "
                                                 f"its own bits; edges[{k}] does not)")
        dl = o.get("deadline")
        self._append(p, dv, ops, [in_bits] + out_bits,
                     _deadline(dl, f"{p}.deadline"),
                     _num(o.get("weight", 1.0), f"{p}.weight"), (src, dst, eb, eh))

    def copy_from(self, other: "_JobPacker", k: int, start: int) -> None:
        """Append job ``k`` of another packer, whose layers start at ``start``."""
        L = other.n_layers[k]
        self._append(f"jobs[{self.count}]", other.device[k], other.ops[start:start + L],
                     other.bits[start + k:start + k + L + 1], other.deadline[k], other.weight[k])


def is_generator_manifest(path) -> bool:
    """Whether ``path`` is the ``manifest.json`` that ``offbench instances generate`` writes
    beside its instances (a JSON object without ``jobs``), which readers of a folder or of
    ``DIR/*.json`` skip rather than refuse as an instance. The one rule for it: ``offbench
    validate`` and the files source of a run (:mod:`offbench.run.sources`) both ask it."""
    from pathlib import Path

    p = Path(path)
    try:
        if p.name != "manifest.json" or not p.is_file() or p.stat().st_size > 64 << 20:
            return False
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(d, dict) and "jobs" not in d


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InstanceError("", f"not UTF-8 text (byte {e.start})") from None


def _refuse_constant(name: str):
    raise _JsonValueError(f"not valid JSON: {name} is not a JSON number (every number must be finite)")


def _tname(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number", TooLarge: "a number",
            _PackedJob: "a job object"}.get(type(v), type(v).__name__)


def _obj(v: Any, path: str, keys: Mapping[str, bool]) -> dict:
    where = path or "the file"
    if not isinstance(v, dict):
        raise InstanceError(path, f"expected {'a job object' if keys is _JOB_KEYS or keys is _DAG_JOB_KEYS else 'an object'}"
                                  f", got {_tname(v)}")
    unknown = [k for k in v if k not in keys]
    if unknown:
        import difflib

        k = unknown[0]
        close = difflib.get_close_matches(k, list(keys), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(keys)})"
        shown = k if k.isidentifier() and len(k) <= 60 else short_repr(k)  # "\n", 5000 chars
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
    if isinstance(v, TooLarge):
        raise InstanceError(path, f"expected a finite number, got {v.describe()}")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InstanceError(path, f"expected a number, got {_tname(v)} {short_repr(v)}"[:200])
    try:
        return float(v)
    except OverflowError:
        raise InstanceError(path, "expected a finite number, got an integer too large for a float") from None


def _finite(v: Any, path: str, none: str) -> float:
    """:func:`_num` of a capacity or a deadline, refusing infinity as the JSON reader does
    (``1e400``, ``Infinity``): ``from_dict`` too says "none" only as ``none``."""
    x = _num(v, path)
    if math.isinf(x):
        raise InstanceError(path, f"expected a finite number, got {short_repr(x)} ({none})")
    return x


def _deadline(v: Any, path: str) -> float | None:
    return None if v is None else _finite(v, path, "null or no deadline key means none")


def chain_texts(inst) -> tuple[str, str]:
    """``(json.dumps(inst.to_dict()), the canonical JSON of its digest)`` of an instance
    whose jobs are all chains, written directly: each float is formatted once (``repr``, as
    :mod:`json` formats it) and placed in both texts, which are otherwise what
    :meth:`~offbench.instance.Instance.to_dict` and the digest make (keys in ``to_dict``'s
    order with ``", "`` and ``": "``; sorted, without the name, with ``","`` and ``":"``).
    ``tests/test_instance_json_fast.py`` pins them byte for byte on every family and on
    random instances; the runner records every instance it builds with them."""
    r = float.__repr__

    def num(v: float) -> str:  # a capacity: inf is null
        return "null" if math.isinf(v) else r(v)

    off = inst.layer_offsets.tolist()
    ops = list(map(r, inst.ops.tolist()))
    bits = list(map(r, inst.bits.tolist()))
    device = inst.job_device.tolist()
    deadline = inst.deadline.tolist()
    weight = list(map(r, inst.job_weight.tolist()))
    wt, we, wd = r(inst.w_time), r(inst.w_energy), r(inst.w_tardiness)
    es, ee, ec = r(inst.edge_speed), r(inst.edge_energy_per_op), num(inst.edge_capacity)
    cs, ce, cc = r(inst.cloud_speed), r(inst.cloud_energy_per_op), num(inst.cloud_capacity)
    br, bl, bb = r(inst.backhaul_rate), r(inst.backhaul_latency), r(inst.backhaul_energy_per_bit)
    dev = [list(map(r, getattr(inst, "dev_" + k).tolist())) for k in _DEVICE_FIELDS]
    # _DEVICE_FIELDS: speed, power_compute, power_tx, power_rx, rate_up, rate_down, latency
    devs = list(zip(*dev))
    a_dev = ", ".join('{"speed": %s, "power_compute": %s, "power_tx": %s, "power_rx": %s, '
                      '"rate_up": %s, "rate_down": %s, "latency": %s}' % d for d in devs)
    c_dev = ",".join('{"latency":%s,"power_compute":%s,"power_rx":%s,"power_tx":%s,'
                     '"rate_down":%s,"rate_up":%s,"speed":%s}'
                     % (d[6], d[1], d[3], d[2], d[5], d[4], d[0]) for d in devs)
    a_jobs, c_jobs = [], []
    for i in range(len(device)):
        o = ops[off[i]:off[i + 1]]
        b = bits[off[i] + i:off[i + 1] + i + 1]
        dl = deadline[i]
        if math.isfinite(dl):
            a_dl, c_dl = f', "deadline": {r(dl)}', f'"deadline":{r(dl)},'
        else:
            a_dl = c_dl = ""
        a_jobs.append(f'{{"device": {device[i]}, "ops": [{", ".join(o)}], '
                      f'"bits": [{", ".join(b)}]{a_dl}, "weight": {weight[i]}}}')
        c_jobs.append(f'{{"bits":[{",".join(b)}],{c_dl}"device":{device[i]},'
                      f'"ops":[{",".join(o)}],"weight":{weight[i]}}}')
    text = (f'{{"format": {json.dumps(FORMAT)}, "version": 1, "name": {json.dumps(inst.name)}, '
            f'"weights": {{"time": {wt}, "energy": {we}, "tardiness": {wd}}}, '
            f'"edge": {{"speed": {es}, "energy_per_op": {ee}, "capacity": {ec}}}, '
            f'"cloud": {{"speed": {cs}, "energy_per_op": {ce}, "capacity": {cc}}}, '
            f'"backhaul": {{"rate": {br}, "latency": {bl}, "energy_per_bit": {bb}}}, '
            f'"devices": [{a_dev}], "jobs": [{", ".join(a_jobs)}]}}')
    canonical = (f'{{"backhaul":{{"energy_per_bit":{bb},"latency":{bl},"rate":{br}}},'
                 f'"cloud":{{"capacity":{cc},"energy_per_op":{ce},"speed":{cs}}},'
                 f'"devices":[{c_dev}],'
                 f'"edge":{{"capacity":{ec},"energy_per_op":{ee},"speed":{es}}},'
                 f'"format":{json.dumps(FORMAT)},"jobs":[{",".join(c_jobs)}],"version":1,'
                 f'"weights":{{"energy":{we},"tardiness":{wd},"time":{wt}}}}}')
    return text, canonical


def all_admissible(positive: list, nonnegative: list) -> bool:
    """Whether every value of these float arrays is admissible (SPEC.md section 3: in
    ``[MIN_MAGNITUDE, MAX_MAGNITUDE]``, or 0 in ``nonnegative``) and no 0 is ``-0.0``: one test
    over all of them where :func:`~offbench.instance_checks.first_bad` per array would find
    nothing (it says which value is wrong, and runs only when this is False; the Instance then
    also stores ``-0.0`` as ``+0.0``, whose digest it has).

    A 0 is found by its bits (all zero for ``+0.0`` only, where ``a == 0`` holds for ``-0.0``
    too): as fast as ``a == 0``, where a sign test more would cost a pass over the arrays."""
    if positive:
        a = np.concatenate(positive) if len(positive) > 1 else positive[0]
        if not ((a >= MIN_MAGNITUDE) & (a <= MAX_MAGNITUDE)).all():
            return False
    if nonnegative:
        a = np.concatenate(nonnegative) if len(nonnegative) > 1 else nonnegative[0]
        zero = a.view(np.int64) == 0 if a.dtype == np.float64 else (a == 0) & ~np.signbit(a)
        if not (((a >= MIN_MAGNITUDE) & (a <= MAX_MAGNITUDE)) | zero).all():
            return False
    return True
