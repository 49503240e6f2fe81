"""One instance, one canonical form: names keep their NULs through the npz form, and ``-0.0``
is ``0.0`` (the same digest) however an instance is made."""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest

from offbench import evaluate
from offbench.errors import InstanceError
from offbench.families import get_family
from offbench.instance import Instance, values_admissible
from offbench._instance_json import all_admissible
from offbench.instance_checks import MAX_MAGNITUDE, MIN_MAGNITUDE

BASE = {"format": "offbench-instance", "version": 1, "name": "abc",
        "weights": {"time": 1.0, "energy": 0.5, "tardiness": 0.0},
        "edge": {"speed": 1e12, "energy_per_op": 0.0, "capacity": 0.0},
        "cloud": {"speed": 1e13, "energy_per_op": 0.0, "capacity": 5e8},
        "backhaul": {"rate": 1e8, "latency": 0.02, "energy_per_bit": 0.0},
        "devices": [{"speed": 1e10, "power_compute": 3.0, "power_tx": 1.0, "power_rx": 0.0,
                     "rate_up": 2e7, "rate_down": 5e7, "latency": 0.0}],
        "jobs": [{"device": 0, "ops": [0.0, 4e8, 1e8], "bits": [1.2e6, 0.0, 2e5, 8e3],
                  "deadline": 0.0, "weight": 0.0},
                 {"device": 0, "ops": [1e8], "bits": [1e3, 1e3]}]}


def _npz_name_member(data: bytes) -> np.ndarray:
    with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open("name.npy") as f:
        return np.lib.format.read_array(f, allow_pickle=False)


@pytest.mark.parametrize("name", ["abc\x00", "\x00", "\x00\x00", "a\x00b\x00", "\x00a", "",
                                  "plain", "\ud800x\x00", "\U0010ffff\x00", "é" * 300 + "\x00"])
def test_every_name_survives_the_npz_form(name):
    a = Instance.from_json(json.dumps({**BASE, "name": name}))
    assert a.name == name
    data = a.to_npz_bytes()
    c = Instance.from_npz_bytes(data)
    assert c.name == name and c == a and c.digest == a.digest
    assert c.to_npz_bytes() == data  # read(write(x)) writes x again, byte for byte
    assert Instance.from_json(a.to_json()).name == name
    member = _npz_name_member(data)
    if name.endswith("\x00"):  # what numpy's text arrays would drop: code points instead
        assert member.dtype == np.uint32 and member.shape == (len(name),)
    else:  # every other name is written as it always was: a 0-D text array
        assert member.dtype.kind == "U" and member.shape == ()
        assert data == _npz_as_before(a)


def _npz_as_before(inst: Instance) -> bytes:
    """to_npz_bytes as it was before names ending in NUL were kept."""
    import dataclasses

    buf = io.BytesIO()
    arrays = {f.name: np.asarray(getattr(inst, f.name)) for f in dataclasses.fields(inst)
              if f.name != "name" and getattr(inst, f.name) is not None}
    arrays["name"] = np.array(inst.name)
    arrays["format"] = np.array("offbench-instance-npz")
    arrays["version"] = np.array(2 if inst.is_dag else 1)
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _with_name_array(inst: Instance, name: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(inst.to_npz_bytes())) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    npy = io.BytesIO()
    np.lib.format.write_array(npy, name, allow_pickle=False)
    members["name.npy"] = npy.getvalue()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


@pytest.mark.parametrize("name, message", [
    (np.array([97, 0x110000], dtype=np.uint32), "name: expected Unicode code points"),
    (np.array([97, -1], dtype=np.int64), "name: expected Unicode code points"),
    (np.zeros(2**16 + 1, dtype=np.uint32), "name: a text of 65,537 characters; at most 65,536"),
    (np.zeros((2, 2), dtype=np.uint32), "name: expected a text"),
    (np.array([1.5]), "name: expected a text"),
])
def test_a_bad_name_array_is_refused_by_the_field(name, message):
    inst = Instance.from_json(json.dumps(BASE))
    with pytest.raises(InstanceError, match=message.replace("(", r"\(")):
        Instance.from_npz_bytes(_with_name_array(inst, name))


def _negative_zeros(d):
    """Every 0.0 of an instance dict as -0.0."""
    if isinstance(d, dict):
        return {k: _negative_zeros(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_negative_zeros(v) for v in d]
    return -0.0 if isinstance(d, float) and d == 0 else d


def _signbits(inst: Instance) -> list:
    out = []
    for k, v in inst.__dict__.items():
        if isinstance(v, float) and v == 0 and math.copysign(1.0, v) < 0:
            out.append(k)
        elif isinstance(v, np.ndarray) and v.dtype == np.float64 and (np.signbit(v) & (v == 0)).any():
            out.append(k)
    return out


def test_negative_zero_is_zero_with_zeros_digest():
    a = Instance.from_json(json.dumps(BASE))
    neg = _negative_zeros(BASE)
    assert json.dumps(neg).count("-0.0") == 11  # a -0.0 in every kind of field that admits 0
    z = Instance.from_json(json.dumps(neg))
    assert z.digest == a.digest and z == a and not _signbits(z)
    assert "-0.0" not in z.to_json() and z.compact_json_and_digest() == a.compact_json_and_digest()
    assert Instance.from_dict(neg).digest == a.digest
    assert Instance.from_npz_bytes(z.to_npz_bytes()).digest == a.digest
    d = evaluate(a, [1, 0, 0, 0])
    assert evaluate(z, [1, 0, 0, 0]).cost == d.cost
    # built from arrays, and by replace
    fields = {k: (np.negative(v) if isinstance(v, np.ndarray) and v.dtype == np.float64
                  and not (v > 0).any() else v) for k, v in a.__dict__.items()
              if k in {f for f in Instance.__dataclass_fields__}}
    fields["edge_energy_per_op"] = -0.0
    fields["ops"] = np.where(a.ops == 0, -0.0, a.ops)
    fields["deadline"] = np.where(a.deadline == 0, -0.0, a.deadline)
    b = Instance(**fields)
    assert b.digest == a.digest and not _signbits(b)
    r = a.replace(bits=np.where(a.bits == 0, -0.0, a.bits), w_tardiness=-0.0,
                  dev_latency=np.array([-0.0]))
    assert r.digest == a.digest and not _signbits(r)
    assert not a.ops.flags.writeable and not b.ops.flags.writeable


def test_negative_zero_is_still_refused_where_zero_is():
    bad = json.loads(json.dumps(BASE))
    bad["devices"][0]["speed"] = -0.0
    with pytest.raises(InstanceError, match=r"devices\[0\]\.speed"):
        Instance.from_json(json.dumps(bad))
    bad = json.loads(json.dumps(BASE))
    bad["jobs"][1]["ops"][0] = -1e-40
    with pytest.raises(InstanceError, match=r"jobs\[1\]\.ops\[0\]"):
        Instance.from_json(json.dumps(bad))


def test_a_dag_edge_message_of_negative_zero_bits_is_one_of_zero():
    inst = get_family("workflow-v1:single").generate(0, 0)
    d = inst.to_dict()
    job = next(j for j in d["jobs"] if "edges" in j)
    edge = next(e for e in job["edges"] if len(e) == 3)
    edge[2] = 0.0
    zero = Instance.from_dict(d)
    edge[2] = -0.0
    neg = Instance.from_dict(d)
    assert neg.digest == zero.digest and not _signbits(neg) and "-0.0" not in neg.to_json()


def test_generated_instances_hold_no_negative_zero_so_no_digest_moves():
    for fid in ("dmro-v1", "capacitated-v1:small", "deadline-v1:small", "zoo-v1:fleet",
                "zoo-v2:single", "workflow-v1:single", "dmro-v2"):
        for inst in get_family(fid).generate_many(0, range(4)):
            assert not _signbits(inst), inst.name


def test_the_quick_tests_send_negative_zero_to_the_slow_path():
    """all_admissible is the float test but for -0.0 (which the Instance then makes 0.0), and
    generate_many's values_admissible leaves a -0.0 to generate (so both give one digest)."""
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, MIN_MAGNITUDE, MAX_MAGNITUDE, np.nextafter(MIN_MAGNITUDE, 0),
                        np.nextafter(MAX_MAGNITUDE, np.inf), np.inf, -np.inf, np.nan, -np.nan,
                        -1.0, 1.0, 5e-324, -MIN_MAGNITUDE, 1e-310])
    for _ in range(300):
        a = rng.choice(special, size=int(rng.integers(1, 5)))
        float_test = bool((((a >= MIN_MAGNITUDE) & (a <= MAX_MAGNITUDE)) | (a == 0)).all())
        has_neg0 = bool((np.signbit(a) & (a == 0)).any())
        assert all_admissible([], [a]) == (float_test and not has_neg0), a
        assert all_admissible([], [a[::-1].copy(), np.ones(2)]) == all_admissible([], [a])
    fam = get_family("capacitated-v1:small")
    inst = fam.generate(0, 0)
    scalars = {k: np.array([inst.__dict__[k]] * 2) for k in
               ("w_time", "w_energy", "w_tardiness", "edge_speed", "edge_energy_per_op",
                "edge_capacity", "cloud_speed", "cloud_energy_per_op", "cloud_capacity",
                "backhaul_rate", "backhaul_latency", "backhaul_energy_per_bit")}
    arrays = {k: np.stack([v, v]) for k, v in inst.__dict__.items()
              if isinstance(v, np.ndarray) and v.dtype == np.float64}
    assert values_admissible(scalars, arrays)
    for key, where in (("w_tardiness", None), ("edge_capacity", None), ("ops", 0),
                       ("deadline", 0), ("dev_latency", 0)):
        s2 = {k: v.copy() for k, v in scalars.items()}
        a2 = {k: v.copy() for k, v in arrays.items()}
        if where is None:
            s2[key][1] = -0.0
        else:
            a2[key][1, where] = -0.0
        s0 = {k: v.copy() for k, v in s2.items()}
        a0 = {k: v.copy() for k, v in a2.items()}
        (s0[key] if where is None else a0[key])[...] = np.abs(s0[key] if where is None else a0[key])
        assert not values_admissible(s2, a2), key
        assert values_admissible(s0, a0), key
