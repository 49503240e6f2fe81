"""Instance: validation with field paths, lossless JSON and npz round trips, the digest."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import offbench
from offbench import Instance, InstanceError, load_instance, save_instance
from offbench.cli import main
from offbench.generators import random_instance

from .strategies import instance_dicts
from .test_cost import SPEC_EXAMPLE

MALFORMED = Path(__file__).parent / "data" / "malformed"
EXPECTED = json.loads((MALFORMED / "expected.json").read_text())


def test_corpus_is_large_enough():
    assert len(EXPECTED) >= 30
    assert {p.stem for p in MALFORMED.glob("*.json")} - {"expected"} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_is_refused_with_field_path(name):
    path = MALFORMED / f"{name}.json"
    with pytest.raises(InstanceError) as e:
        load_instance(path)
    assert re.search(EXPECTED[name], str(e.value)), str(e.value)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_validate_and_evaluate_exit_2(name, capsys):
    path = str(MALFORMED / f"{name}.json")
    for argv in (["validate", path], ["evaluate", path, "--decision", "0,0,0"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("offbench: error: ")
        assert re.search(EXPECTED[name], err), err
        assert "Traceback" not in err


def test_cli_subprocess_exit_status_and_no_traceback(tmp_path):
    bad = str(MALFORMED / "bits_too_short.json")
    p = subprocess.run([sys.executable, "-m", "offbench", "evaluate", bad, "--decision", "0"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stdout == ""
    assert "jobs[2].bits: expected 6 values (5 layers + 1), got 5" in p.stderr
    assert "Traceback" not in p.stderr


def test_huge_file_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(SPEC_EXAMPLE) + " " * 5000)
    monkeypatch.setenv("OFFBENCH_MAX_INSTANCE_BYTES", "4096")
    with pytest.raises(InstanceError, match=r"over the limit of 4,096 .*OFFBENCH_MAX_INSTANCE_BYTES"):
        load_instance(path)
    assert main(["validate", str(path)]) == 2


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InstanceError, match="no such file"):
        load_instance(tmp_path / "nope.json")
    with pytest.raises(InstanceError, match="not a file|directory"):
        load_instance(tmp_path)


def test_defaults_for_optional_fields():
    d = copy.deepcopy(SPEC_EXAMPLE)
    del d["weights"]["tardiness"], d["name"], d["edge"]["capacity"]
    del d["jobs"][0]["deadline"], d["jobs"][0]["weight"]
    inst = Instance.from_dict(d)
    assert inst.w_tardiness == 0.0 and inst.name == ""
    assert inst.edge_capacity == np.inf and inst.deadline[0] == np.inf and inst.job_weight[0] == 1.0
    assert not inst.has_capacities and not inst.has_deadlines


def test_arrays_are_read_only_and_offsets_index_layers():
    inst = random_instance(4, n_jobs=5, layers=(1, 4))
    with pytest.raises(ValueError):
        inst.ops[0] = 1.0
    d = inst.to_dict()
    for i, job in enumerate(d["jobs"]):
        assert inst.job_ops(i).tolist() == job["ops"]
        assert inst.job_bits(i).tolist() == job["bits"]
    assert inst.layer_job.tolist() == sum(([i] * len(j["ops"]) for i, j in enumerate(d["jobs"])), [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance_dicts())
def test_json_round_trip_is_lossless(d):
    inst = Instance.from_dict(d)
    again = Instance.from_json(inst.to_json())
    assert again == inst and again.digest == inst.digest
    assert again.to_json() == inst.to_json()
    # The canonical form of the parsed file equals the file, up to defaults.
    assert Instance.from_json(json.dumps(d)).to_dict() == inst.to_dict()


@pytest.mark.parametrize("seed", range(5))
def test_npz_round_trip_and_files(tmp_path, seed):
    inst = random_instance(seed, capacities=seed % 2 == 0, deadlines=seed % 3 == 0)
    for suffix in (".json", ".npz"):
        p = tmp_path / f"i{suffix}"
        save_instance(inst, p)
        back = load_instance(p)
        assert back == inst
        assert back.to_json() == inst.to_json()
    assert not list(tmp_path.glob(".*tmp"))


def test_npz_refuses_pickles_and_foreign_arrays(tmp_path):
    p = tmp_path / "evil.npz"
    np.savez(p, ops=np.array([object()], dtype=object))
    with pytest.raises(InstanceError):
        load_instance(p)
    np.savez(p, format=np.array("offbench-instance-npz"), version=np.array(1), ops=np.ones(3))
    with pytest.raises(InstanceError, match="missing"):
        load_instance(p)


def test_digest_is_content_only_and_stable():
    inst = Instance.from_dict(SPEC_EXAMPLE)
    renamed = inst.replace(name="other")
    assert renamed.digest == inst.digest and renamed != inst
    changed = inst.replace(edge_speed=2e12)
    assert changed.digest != inst.digest
    # Golden: the canonical form of the SPEC.md example; a change here breaks every stored key.
    assert inst.digest == "71189d5d6f16840c08763f06d54e490c5872dca299ecc2e2025c61f8b73d8662"
    # 1e8 and 100000000 are the same number, and so the same content.
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["backhaul"]["rate"] = 100000000
    assert Instance.from_dict(d).digest == inst.digest


def test_same_seed_same_instance_different_seed_differs():
    a = random_instance(11, capacities=True, deadlines=True)
    b = random_instance(11, capacities=True, deadlines=True)
    c = random_instance(12, capacities=True, deadlines=True)
    assert a.digest == b.digest and a.digest != c.digest
    assert a.has_capacities and a.has_deadlines


def test_replace_validates_again():
    inst = Instance.from_dict(SPEC_EXAMPLE)
    with pytest.raises(InstanceError, match=r"jobs\[0\]\.ops\[1\]"):
        inst.replace(ops=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(InstanceError, match="edge.speed"):
        inst.replace(edge_speed=0.0)
    with pytest.raises(InstanceError, match=r"devices\[0\]\.rate_up"):
        inst.replace(dev_rate_up=np.array([np.nan]))


def test_cli_validate_and_evaluate_ok(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text(json.dumps(SPEC_EXAMPLE))
    assert main(["validate", str(p)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["evaluate", str(p), "--decision", "1,2,0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"cost", "feasible", "load", "jobs"}
    assert out["cost"] == pytest.approx(0.17784, rel=1e-13)
    assert set(out["load"]) == {"edge", "cloud"}
    assert set(out["jobs"][0]) == {"time", "energy", "tardiness", "cost"}
    assert main(["evaluate", str(p), "--decision", "1,x,0"]) == 2
    assert "value 1 is 'x'" in capsys.readouterr().err
    assert main(["evaluate", str(p), "--decision", "1,1"]) == 2
    assert "expected 3 values" in capsys.readouterr().err
    # the compact form of a results store's decision column ("120") is the same decision
    assert main(["evaluate", str(p), "--decision", "120"]) == 0
    assert json.loads(capsys.readouterr().out) == out
    assert main(["evaluate", str(p), "--decision", "12"]) == 2
    assert "expected 3 values" in capsys.readouterr().err
    assert main(["evaluate", str(p), "--decision", "130"]) == 2
    assert "value 0 is '130'" in capsys.readouterr().err


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"offbench {offbench.__version__}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance_dicts())
def test_parsing_packs_jobs_exactly_as_from_dict(d):
    """from_json packs well-formed jobs while it parses; the result is that of from_dict, whose
    jobs go through the checks with paths, and the same with numpy scalars in the lists."""
    a = Instance.from_json(json.dumps(d))
    b = Instance.from_dict(d)
    assert a.digest == b.digest
    for f in ("ops", "bits", "layer_offsets", "job_device", "deadline", "job_weight"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    d2 = copy.deepcopy(d)
    d2["jobs"][0]["ops"] = [np.float64(v) for v in d2["jobs"][0]["ops"]]
    assert Instance.from_dict(d2).digest == a.digest


def test_a_bad_job_after_packed_ones_is_named_by_its_index():
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["jobs"] = [copy.deepcopy(d["jobs"][0]) for _ in range(5)]
    d["jobs"][3]["bits"][2] = "x"
    with pytest.raises(InstanceError, match=r"^jobs\[3\]\.bits\[2\]: expected a number"):
        Instance.from_json(json.dumps(d))
    d["jobs"][3]["bits"][2] = 1.0
    d["jobs"][4]["device"] = 7
    with pytest.raises(InstanceError, match=r"^jobs\[4\]\.device: expected a device index in 0\.\.0"):
        Instance.from_json(json.dumps(d))


def test_a_job_object_out_of_place_is_refused():
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["devices"] = [copy.deepcopy(d["jobs"][0])]
    with pytest.raises(InstanceError, match=r"^devices\[0\]: expected an object, got a job object"):
        Instance.from_json(json.dumps(d))
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["weights"]["time"] = copy.deepcopy(d["jobs"][0])
    with pytest.raises(InstanceError, match=r"^weights\.time: expected a number, got a job object"):
        Instance.from_json(json.dumps(d))


def test_loaded_arrays_stay_read_only(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(SPEC_EXAMPLE))
    inst = load_instance(path)
    for f in ("ops", "bits", "deadline", "job_weight", "job_device", "layer_offsets", "dev_speed"):
        with pytest.raises(ValueError):
            getattr(inst, f)[0] = 1


@pytest.mark.parametrize("key", ["\u0085", "a\nb", "x" * 5000])
def test_an_odd_unknown_key_is_shown_on_one_line(key, capsys, tmp_path):
    d = copy.deepcopy(SPEC_EXAMPLE)
    d[key] = 0
    path = tmp_path / "x.json"
    path.write_text(json.dumps(d))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "unknown key in the file" in err and len(err) < 500
