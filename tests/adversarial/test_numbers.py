"""Numbers stay numbers (issue 10 item 7): values whose costs could overflow or underflow, and
literals that parse as infinity, are refused with their field; never read as "no capacity"."""

from __future__ import annotations

import copy
import io
import json
import zipfile

import numpy as np
import pytest

from offbench import Instance, InstanceError, evaluate
from offbench.instance import MAX_MAGNITUDE, MIN_MAGNITUDE

from ._helpers import SPEC_EXAMPLE, refused, write_json


def _text_with(path_value: str, literal: str) -> str:
    """The SPEC example with one value replaced by a raw JSON literal."""
    d = copy.deepcopy(SPEC_EXAMPLE)
    keys = path_value.split(".")
    o = d
    for k in keys[:-1]:
        o = o[int(k)] if k.isdigit() else o[k]
    o[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = "@@"
    return json.dumps(d).replace('"@@"', literal)


@pytest.mark.parametrize("where, literal, field, words", [
    ("jobs.0.ops.0", "1.7e308", "jobs[0].ops[0]", "outside the admissible range"),
    ("devices.0.rate_up", "5e-324", "devices[0].rate_up", "outside the admissible range"),
    ("edge.speed", "1e31", "edge.speed", "outside the admissible range"),
    ("weights.time", "1e-31", "weights.time", "outside the admissible range"),
    ("edge.capacity", "1e400", "edge.capacity", "would read as infinity"),
    ("jobs.0.deadline", "1e400", "jobs[0].deadline", "would read as infinity"),
    ("jobs.0.ops.1", "-1e400", "jobs[0].ops[1]", "would read as infinity"),
    ("edge.capacity", "9" * 5000, "edge.capacity", "an integer of 5000 digits"),
    ("jobs.0.device", "9" * 5000, "jobs[0].device", "expected an integer device index"),
    # 2^63: an OverflowError traceback from the job packer's int64 array (found by the slow
    # JSON fuzz test, test_fuzz_instance_json_thorough)
    ("jobs.0.device", str(2 ** 63), "jobs[0].device", "expected a device index in"),
    ("jobs.0.device", str(2 ** 63 - 1), "jobs[0].device", "expected a device index in"),
    ("version", "1" * 5000, "version", "expected 1"),
    ("cloud.capacity", "1e31", "cloud.capacity", "outside the admissible range"),
])
def test_out_of_range_and_infinite_literals_are_refused(tmp_path, capsys, where, literal, field, words):
    text = _text_with(where, literal)
    with pytest.raises(InstanceError, match=r"\b" + field.replace("[", r"\[").replace("]", r"\]")):
        Instance.from_json(text)
    path = tmp_path / "x.json"
    path.write_text(text)
    for argv in (["validate", path], ["evaluate", path, "--decision", "0,0,0"]):
        line = refused(capsys, argv, field, words)
        assert len(line) < 400


def test_the_bounds_of_the_range_are_admissible_and_price_finitely():
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["jobs"][0]["ops"] = [MAX_MAGNITUDE, MIN_MAGNITUDE, 0.0]
    d["devices"][0]["speed"] = MIN_MAGNITUDE
    d["devices"][0]["rate_up"] = MIN_MAGNITUDE
    d["weights"]["time"] = MAX_MAGNITUDE
    d["jobs"][0]["weight"] = MAX_MAGNITUDE
    inst = Instance.from_dict(d)
    for x in ([0, 0, 0], [1, 1, 1], [2, 2, 2], [0, 2, 1]):
        ev = evaluate(inst, x)
        assert np.isfinite(ev.cost) and ev.cost > 0


def test_null_capacity_and_absent_deadline_still_mean_unbounded():
    d = copy.deepcopy(SPEC_EXAMPLE)
    del d["jobs"][0]["deadline"]
    inst = Instance.from_dict(d)
    assert np.isinf(inst.edge_capacity) and np.isinf(inst.deadline[0])
    assert not inst.has_capacities


def test_deadline_error_prints_a_plain_number(capsys, tmp_path):
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["jobs"][0]["deadline"] = -1.0
    line = refused(capsys, ["validate", write_json(tmp_path / "x.json", d)], "jobs[0].deadline", "got -1.0")
    assert "np." not in line


def _npz_with(**changes) -> bytes:
    inst = Instance.from_dict(SPEC_EXAMPLE)
    with np.load(io.BytesIO(inst.to_npz_bytes()), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("changes, words", [
    ({"version": np.array("1")}, "version: expected integers"),
    # found by test_fuzz's thorough npz fuzzing: a traceback before
    ({"version": np.array([-1, 0, 5])}, "version.npy must hold one integer, not an array of shape (3,)"),
    ({"ops": np.array(["1", "2", "3"])}, "ops: expected numbers"),
    ({"ops": np.array([1.7e308, 1.0, 1.0])}, "ops[0]"),
    ({"dev_rate_up": np.array([5e-324])}, "devices[0].rate_up"),
    ({"edge_capacity": np.array(np.nan)}, "edge.capacity"),
    ({"name": np.array(["a", "b"])}, "name: expected a text"),
    ({"job_device": np.array([0.0])}, "job_device: expected integers"),
    ({"ops": np.ones((3, 1))}, "ops: expected a 1-D array"),
])
def test_npz_with_wrong_types_or_ranges_is_refused(tmp_path, capsys, changes, words):
    path = tmp_path / "x.npz"
    path.write_bytes(_npz_with(**changes))
    refused(capsys, ["validate", path], words)


def test_npz_with_an_object_array_is_refused_without_unpickling(tmp_path, capsys):
    path = tmp_path / "x.npz"
    path.write_bytes(_npz_with(ops=np.array([1.0, 2.0, {"a": 1}], dtype=object)))
    refused(capsys, ["validate", path], "Python objects")


def test_not_a_zip_and_a_broken_zip_are_refused(tmp_path, capsys):
    path = tmp_path / "x.npz"
    path.write_bytes(b"PK\x03\x04 not really")
    refused(capsys, ["validate", path], "not a readable .npz")
    good = _npz_with()
    path.write_bytes(good[: len(good) // 2])
    refused(capsys, ["validate", path], "npz")


def test_every_frozen_set_still_loads_and_verifies(capsys):
    from offbench.cli import main

    assert main(["instances", "verify-sets", "--no-resolve"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("ok ") >= 8


def test_every_family_preset_still_generates(tmp_path):
    from offbench.families import list_families

    for fam in list_families():
        for preset in [None, *fam.presets]:
            f = fam.with_preset(preset) if preset else fam
            inst = f.instances(0, 1)[0]
            assert inst.n_layers >= 1
