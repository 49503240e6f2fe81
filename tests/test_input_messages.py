"""Messages for bad input name what is wrong (the CLI bug hunt's items): the file among many, the
array that is short, the key a job should not have, the field as the file writes it."""

from __future__ import annotations

import copy
import io
import json
import math

import numpy as np
import pytest

from offbench import Instance, InstanceError
from offbench.cli import main
from offbench.instance import is_generator_manifest, load_instance
from offbench.run.sources import build_member, expand_source
from offbench.run.spec import SpecError

from .test_cost import SPEC_EXAMPLE

#: The SPEC.md example with two devices and two jobs (so that one array can be one short).
TWO = copy.deepcopy(SPEC_EXAMPLE)
TWO["devices"].append(dict(TWO["devices"][0], speed=2e10))
TWO["jobs"].append(dict(copy.deepcopy(TWO["jobs"][0]), device=1))


def _refused(capsys, argv, *needles) -> str:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A folder as ``offbench instances generate`` writes it: three instances and a manifest."""
    out = tmp_path_factory.mktemp("gen") / "gen"
    assert main(["instances", "generate", "capacitated-v1:small", "--seed", "0", "--count", "3",
                 "--out", str(out)]) == 0
    assert (out / "manifest.json").is_file()
    return out


def _files(*paths):
    return expand_source({"kind": "files", "name": "files", "paths": [str(p) for p in paths]})


# ------------------------------------------------------------------ files sources
def test_a_generated_folder_is_a_files_source_without_its_manifest(generated):
    src = _files(generated)
    assert len(src) == 3
    assert [p.rsplit("/", 1)[-1] for p in src.paths] == ["000.json", "001.json", "002.json"]
    # The shell's DIR/*.json names the manifest too, and a glob does.
    assert len(_files(*sorted(generated.glob("*.json")))) == 3
    assert len(_files(f"{generated}/*.json")) == 3
    with pytest.raises(SpecError, match="only the manifest"):
        _files(generated / "manifest.json")


def test_the_manifest_rule(generated, tmp_path):
    """The files source and ``offbench validate`` skip the generator's manifest by one rule
    (:func:`offbench.instance.is_generator_manifest`), and nothing else."""
    lookalike = tmp_path / "manifest.json"
    lookalike.write_text((generated / "000.json").read_text())  # an instance named manifest.json
    other = tmp_path / "notes.json"
    other.write_text("{}")
    assert is_generator_manifest(generated / "manifest.json")
    for p in (generated / "000.json", lookalike, other, tmp_path / "missing.json", tmp_path):
        assert not is_generator_manifest(p), p


def _bad_copy(generated, folder):
    folder.mkdir()
    for name in ("000.json", "001.json"):
        (folder / name).write_text((generated / name).read_text())
    d = json.loads((generated / "002.json").read_text())
    d["jobs"][0]["ops"][0] = -1.0
    (folder / "002.json").write_text(json.dumps(d))
    return folder


def test_one_bad_file_among_several_is_named(generated, tmp_path):
    folder = _bad_copy(generated, tmp_path / "files")
    with pytest.raises(SpecError) as e:
        _files(folder)
    assert f"{folder / '002.json'}: jobs[0].ops[0]: expected a number >= 0" in str(e.value)


def test_one_bad_file_on_the_command_line_is_named(generated, tmp_path, capsys):
    folder = _bad_copy(generated, tmp_path / "files")
    files = [folder / f"00{k}.json" for k in range(3)]
    line = _refused(capsys, ["run", *(a for f in files for a in ("--instances", f)), "--solver",
                             "greedy", "-j", "0", "--store", tmp_path / "r.sqlite", "--quiet"],
                    "002.json: jobs[0].ops[0]: expected a number >= 0, got -1.0")
    assert f"{folder / '002.json'}: jobs[0]" in line


def test_solve_evaluate_and_validate_name_the_bad_file(generated, tmp_path, capsys):
    bad = _bad_copy(generated, tmp_path / "files") / "002.json"
    line = _refused(capsys, ["evaluate", bad, "--decision", "0"], f"{bad}: jobs[0].ops[0]")
    assert line.count(str(bad)) == 1
    _refused(capsys, ["solve", bad, "--solver", "greedy"], f"{bad}: jobs[0].ops[0]")
    _refused(capsys, ["validate", bad], f"{bad}: jobs[0].ops[0]")
    _refused(capsys, ["evaluate", tmp_path / "none.json", "--decision", "0"],
             f"{tmp_path / 'none.json'}: ")


def test_a_file_broken_while_the_run_goes_is_named(generated, tmp_path):
    p = tmp_path / "x.json"
    p.write_text((generated / "000.json").read_text())
    src = _files(p)
    p.write_text("{")
    with pytest.raises(InstanceError) as e:
        build_member(src.descriptor(0))
    assert str(e.value).startswith(f"{p}: not valid JSON")
    p.unlink()  # load_instance's own message names the file already: once
    with pytest.raises(InstanceError) as e:
        build_member(src.descriptor(0))
    assert str(e.value) == f"{p}: no such file"


# ------------------------------------------------------------------ npz arrays of the wrong length
def _npz(tmp_path, name, **cut):
    b = Instance.from_dict(TWO).to_npz_bytes()
    z = dict(np.load(io.BytesIO(b)))
    for k, n in cut.items():
        z[k] = z[k][:n]
    buf = io.BytesIO()
    np.savez(buf, **z)
    p = tmp_path / name
    p.write_bytes(buf.getvalue())
    return p


@pytest.mark.parametrize("array, cut, expected", [
    ("dev_speed", -1, "dev_speed: expected 2 values (one per device"),
    ("dev_latency", -1, "dev_latency: expected 2 values (one per device"),
    ("job_device", -1, "job_device: expected 2 values (one per job"),
    ("job_weight", -1, "job_weight: expected 2 values (one per job"),
    ("layer_offsets", -1, "layer_offsets: expected 3 offsets"),
])
def test_the_short_npz_array_is_the_one_named(tmp_path, capsys, array, cut, expected):
    assert Instance.from_dict(TWO).n_devices == 2 and Instance.from_dict(TWO).n_jobs == 2
    p = _npz(tmp_path, "x.npz", **{array: cut})
    with pytest.raises(InstanceError) as e:
        load_instance(p)
    assert str(e.value).startswith(expected), str(e.value)
    _refused(capsys, ["validate", p], expected)


def test_device_arrays_of_no_common_length_are_all_listed():
    inst = Instance.from_dict(TWO)
    kw = {f: getattr(inst, f) for f in inst.__dataclass_fields__ if f != "name"}
    kw["dev_speed"] = np.ones(3)
    kw["dev_power_compute"] = np.ones(3)
    kw["dev_power_tx"] = np.ones(3)
    kw["dev_power_rx"] = np.ones(1)
    with pytest.raises(InstanceError, match=r"arrays disagree in length \(one per device\): "
                                            r"dev_speed 3, .*dev_power_rx 1, dev_rate_up 2"):
        Instance(**kw)


# ------------------------------------------------------------------ version-2 jobs
def _v2(**job):
    d = copy.deepcopy(TWO)
    d["version"] = 2
    d["jobs"][0].update(job)
    return d


@pytest.mark.parametrize("key, value", [("edges", [[1, 2], [2, 3]]), ("in_bits", 1e6),
                                        ("out_bits", [1.0, 1.0, 1.0])])
def test_a_job_with_bits_and_a_dag_key_says_one_or_the_other(tmp_path, capsys, key, value):
    d = _v2(**{key: value})
    with pytest.raises(InstanceError) as e:
        Instance.from_dict(d)
    msg = str(e.value)
    assert msg.startswith(f"jobs[0]: has both 'bits' and '{key}'"), msg
    assert "not both" in msg and "unknown key" not in msg
    p = tmp_path / "both.json"
    p.write_text(json.dumps(d))
    _refused(capsys, ["validate", p], "has both 'bits' and", "not both")


_DAG = {"device": 0, "ops": [1e8, 2e8, 3e8], "edges": [[1, 2], [1, 3]], "in_bits": 1e6,
        "out_bits": [1e5, 1e5, 1e5]}


@pytest.mark.parametrize("field, value, path", [
    ("in_bits", -1.0, "jobs[1].in_bits"),
    ("in_bits", 1e-31, "jobs[1].in_bits"),
    ("out_bits", [1e5, 1e-31, 0.0], "jobs[1].out_bits[1]"),
    ("out_bits", [1e5, 1e5, 2e30], "jobs[1].out_bits[2]"),
])
def test_a_dag_jobs_bits_out_of_range_are_named_as_the_file_writes_them(field, value, path):
    d = copy.deepcopy(TWO)
    d["version"] = 2
    d["jobs"][1] = {**copy.deepcopy(_DAG), field: value}
    with pytest.raises(InstanceError) as e:
        Instance.from_dict(d)
    assert str(e.value).startswith(path + ": "), str(e.value)
    with pytest.raises(InstanceError) as e:
        Instance.from_json(json.dumps(d))
    assert str(e.value).startswith(path + ": "), str(e.value)


def test_a_chain_jobs_bits_keep_their_path():
    d = copy.deepcopy(TWO)
    d["version"] = 2
    d["jobs"][0] = copy.deepcopy(_DAG)
    d["jobs"][1]["bits"][1] = -1.0
    with pytest.raises(InstanceError, match=r"^jobs\[1\]\.bits\[1\]: "):
        Instance.from_dict(d)


# ------------------------------------------------------------------ JSON text
def test_truncated_json_says_at_once(tmp_path):
    text = json.dumps(SPEC_EXAMPLE)
    cut = text[:text.index('"example"') + 4]
    with pytest.raises(InstanceError) as e:
        Instance.from_json(cut)
    msg = str(e.value)
    assert "at at" not in msg
    assert msg.startswith("not valid JSON: Unterminated string starting at line 1 column "), msg


# ------------------------------------------------------------------ infinity in from_dict
@pytest.mark.parametrize("where, path, none", [
    (("edge", "capacity"), "edge.capacity", "null means no capacity"),
    (("cloud", "capacity"), "cloud.capacity", "null means no capacity"),
    (("jobs", 0, "deadline"), "jobs[0].deadline", "no deadline"),
])
@pytest.mark.parametrize("value", [math.inf, -math.inf, np.float64("inf")])
def test_from_dict_refuses_infinity_as_the_json_reader_does(where, path, none, value):
    d = copy.deepcopy(SPEC_EXAMPLE)
    o = d
    for k in where[:-1]:
        o = o[k]
    o[where[-1]] = value
    with pytest.raises(InstanceError) as e:
        Instance.from_dict(d)
    assert str(e.value).startswith(f"{path}: expected a finite number, got "), str(e.value)
    assert none in str(e.value)
    text = json.dumps(copy.deepcopy(SPEC_EXAMPLE)).replace('"capacity": null', '"capacity": 1e400')
    with pytest.raises(InstanceError, match=r"edge\.capacity: expected a finite number, got 1e400"):
        Instance.from_json(text)
    o[where[-1]] = None  # None stays the way to say none
    inst = Instance.from_dict(d)
    assert math.isinf(inst.edge_capacity if path == "edge.capacity" else
                      inst.cloud_capacity if path == "cloud.capacity" else inst.deadline[0])
