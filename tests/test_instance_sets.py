"""Tests of offbench.instance_sets and ``offbench instances freeze / verify-sets``: the frozen
sets on disk, loading by ID, folder or manifest, digests, and the failures that verification
must catch (a changed file, a changed generator, a changed optimum)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from offbench.cli import main
from offbench.cost import evaluate
from offbench.families import get_family
from offbench.instance import save_instance
from offbench.instance_sets import (
    MANIFEST, PROVEN, SetError, _manifest, declared_sets, freeze_set, list_sets, load_set,
    set_digest, set_path, sets_dir, verify_set, write_set,
)

DECLARED = [sid for sid, _, _ in declared_sets()]


def _copy_set(set_id, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(set_path(set_id), dst)
    return dst


# ------------------------------------------------------------------------------ the frozen sets
def test_every_family_declares_a_frozen_set_and_it_is_on_disk():
    fams = {sid.split("-v")[0] for sid in DECLARED}
    assert fams >= {"dmro", "capacitated", "deadline", "zoo", "scale"}
    assert set(DECLARED) <= set(list_sets())


@pytest.mark.parametrize("set_id", DECLARED)
def test_frozen_sets_load_and_match_their_family(set_id):
    s = load_set(set_id)
    sid, fam, spec = next(d for d in declared_sets() if d[0] == set_id)
    assert s.name == set_id and len(s) == spec.count
    assert s.digest == s.manifest["digest"] == set_digest([i.digest for i in s.instances])
    assert [i.digest for i in s.instances] == [i.digest for i in fam.instances(spec.seed, spec.count)]
    assert s.manifest["family"] == fam.id and s.manifest["seed"] == spec.seed
    size = sum(p.stat().st_size for p in set_path(set_id).iterdir())
    assert size < 400_000, "frozen sets stay small"


@pytest.mark.parametrize("set_id", DECLARED)
def test_frozen_references_are_sound(set_id):
    s = load_set(set_id)
    for inst in s.instances:
        r = s.reference(inst)
        if r is None:
            continue
        assert r["provenance"] in PROVEN + ("milp-gap", "heuristic")
        assert r["bound"] is None or r["bound"] <= r["cost"] * (1 + 1e-9)
        if r["provenance"] in PROVEN:
            assert r["gap"] in (0, 0.0, None)
        ev = evaluate(inst, np.asarray(r["decision"], dtype=np.int8))
        assert ev.feasible and ev.cost == pytest.approx(r["cost"], rel=1e-9)


@pytest.mark.parametrize("set_id", DECLARED)
def test_frozen_sets_verify_without_resolving(set_id):
    assert verify_set(set_id, resolve=False) == []


# ------------------------------------------------------------------------------ loading
def test_load_a_folder_of_files_and_a_single_file(tmp_path):
    insts = get_family("zoo:single").instances(0, 3)
    for k, inst in enumerate(insts):
        save_instance(inst, tmp_path / f"{k:02d}.{'npz' if k % 2 else 'json'}")
    s = load_set(tmp_path)
    assert [i.digest for i in s] == [i.digest for i in insts] and s.references == {}
    one = load_set(tmp_path / "00.json")
    assert len(one) == 1 and one.instances[0].digest == insts[0].digest


def test_load_by_manifest_path(tmp_path):
    fam = get_family("dmro")
    insts = fam.instances(9, 2)
    write_set(tmp_path / "s", insts, _manifest("mine/x", fam.id, 9, 0, insts, "json"))
    a = load_set(tmp_path / "s")
    b = load_set(tmp_path / "s" / MANIFEST)
    assert a.name == b.name == "mine/x" and a.digest == b.digest


def test_unknown_set_suggests_the_closest():
    with pytest.raises(SetError, match="no instance set 'dmro-v1/tset'.*Did you mean dmro-v1/test"):
        load_set("dmro-v1/tset")
    with pytest.raises(SetError, match="not a set ID|no instance set"):
        load_set("nothing-here")


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(SetError, match="no instance files"):
        load_set(tmp_path)


def test_a_changed_member_file_is_caught(tmp_path):
    folder = _copy_set(DECLARED[0], tmp_path)
    man = json.loads((folder / MANIFEST).read_text())
    f = folder / man["members"][1]["file"]
    other = get_family("dmro").generate(123, 0)
    save_instance(other, f)
    with pytest.raises(SetError, match=rf"{man['members'][1]['file']}: content digest .* does not match"):
        load_set(folder)
    problems = verify_set(folder, resolve=False)
    assert len(problems) == 1 and man["members"][1]["file"] in problems[0]


def test_a_generator_change_is_caught(tmp_path):
    """A set whose files match its manifest but which its family no longer regenerates."""
    fam = get_family("dmro")
    stale = fam.instances(2, 3)
    man = _manifest("dmro-v1/fake", fam.id, 1, 0, stale, "json")   # claims seed 1
    write_set(tmp_path / "s", stale, man)
    problems = verify_set(tmp_path / "s", resolve=False)
    assert len(problems) == 3
    assert "set dmro-v1/fake: 000.json (dmro-v1/s2/0): digest changed" in problems[0]
    assert "needs a new family version" in problems[0]


def test_a_changed_reference_cost_is_caught(tmp_path):
    fam = get_family("zoo:single")
    insts = fam.instances(0, 2)
    xs = [np.zeros(inst.n_layers, dtype=np.int8) for inst in insts]
    refs = {inst.digest: {"cost": evaluate(inst, x).cost * (1.01 if k == 0 else 1.0), "bound": None,
                          "provenance": "heuristic", "gap": None, "solver": "test",
                          "wall_time": 0.0, "decision": x.tolist()}
            for k, (inst, x) in enumerate(zip(insts, xs))}
    man = _manifest("zoo-v1:single/fake", fam.id, 0, 0, insts, "json", references=refs)
    write_set(tmp_path / "s", insts, man)
    problems = verify_set(tmp_path / "s", resolve=False)
    assert len(problems) == 1
    assert "zoo-v1:single/s0/0: the reference decision now costs" in problems[0]


def test_write_set_never_leaves_half_a_set(tmp_path):
    fam = get_family("dmro")
    insts = fam.instances(0, 2)
    man = _manifest("x/y", fam.id, 0, 0, insts, "json")
    write_set(tmp_path / "s", insts, man)
    with pytest.raises(SetError, match="not empty"):
        write_set(tmp_path / "s", insts, man)
    bad = dict(man, members=man["members"] + [{"file": "002.json", "digest": "x"}])
    bad["members"][0] = dict(bad["members"][0])
    with pytest.raises(Exception):
        write_set(tmp_path / "s", insts + [object()], bad, force=True)
    assert load_set(tmp_path / "s").digest == set_digest([i.digest for i in insts])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_freeze_into_another_root_without_references(tmp_path):
    sid = "zoo-v1:single/test"
    s = freeze_set(sid, references=False, root=tmp_path)
    assert (tmp_path / "zoo-v1" / "single" / "test" / MANIFEST).is_file()
    assert s.manifest["references_note"].startswith("references not computed")
    with pytest.raises(SetError, match="already frozen"):
        freeze_set(sid, references=False, root=tmp_path)
    with pytest.raises(SetError, match="no family declares a set 'zoo-v1:single/tst'.*Did you mean"):
        freeze_set("zoo-v1:single/tst", references=False, root=tmp_path)
    frozen = load_set(sid)
    assert s.digest == frozen.digest


# ------------------------------------------------------------------------------ command line
def test_cli_verify_sets_ok_and_failure(tmp_path, capsys):
    assert main(["instances", "verify-sets", "--no-resolve", DECLARED[0]]) == 0
    assert f"ok   {DECLARED[0]}" in capsys.readouterr().out
    folder = _copy_set(DECLARED[0], tmp_path)
    man = json.loads((folder / MANIFEST).read_text())
    man["members"][0]["digest"] = "0" * 64
    (folder / MANIFEST).write_text(json.dumps(man))
    assert main(["instances", "verify-sets", "--no-resolve", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "FAIL" in err and "000" in err and "1 of 1 sets failed" in err


def test_cli_stream_writes_frames(tmp_path, capsys):
    out = tmp_path / "st"
    assert main(["instances", "stream", "dmro", "--seed", "1", "--frames", "4", "--out", str(out),
                 "--environment", "alexnet-mid", "--switch-at", "2", "--switch-to", "vgg16-mid"]) == 0
    s = load_set(out)
    fam = get_family("dmro")
    expect = list(fam.stream(1, 4, environment="alexnet-mid", switch_at=2, switch_to="vgg16-mid"))
    assert [i.digest for i in s] == [i.digest for i in expect]
    assert s.manifest["stream"]["switch_to"] == "vgg16-mid"
    assert verify_set(out, resolve=False) == []
    man = json.loads((out / MANIFEST).read_text())
    man["stream"]["switch_at"] = 3                       # not the stream that was written
    (out / MANIFEST).write_text(json.dumps(man))
    problems = verify_set(out, resolve=False)
    assert len(problems) == 1 and "002.json" in problems[0] and "digest changed" in problems[0]


def test_cli_stream_bad_environment_exits_2(tmp_path, capsys):
    out = tmp_path / "st"
    assert main(["instances", "stream", "dmro", "--seed", "1", "--frames", "4", "--out", str(out),
                 "--switch-at", "2", "--switch-to", "vgg-mid"]) == 2
    assert "Did you mean" in capsys.readouterr().err and not out.exists()


def test_sets_dir_is_beside_the_definitions():
    assert (sets_dir().parent / "dmro.toml").is_file()


class _FakeReference:
    """Stands in for offbench.reference in the freezing machinery's tests only (tmp folders):
    the all-device decision, labelled for what it is (a heuristic), or with a chosen label."""

    def __init__(self, provenance="heuristic", scale=1.0):
        self.provenance = provenance
        self.scale = scale
        self.calls = 0

    def compute_reference(self, inst, time_limit=None):
        from types import SimpleNamespace

        self.calls += 1
        x = np.zeros(inst.n_layers, dtype=np.int8)
        cost = evaluate(inst, x).cost * self.scale
        return SimpleNamespace(cost=cost, bound=None if self.provenance == "heuristic" else cost,
                               provenance=self.provenance, gap=None if self.provenance == "heuristic" else 0.0,
                               solver="fake", wall_time=0.0, decision=x)


def test_freeze_with_references_and_catch_a_changed_optimum(tmp_path, monkeypatch):
    import sys
    import types

    fake = _FakeReference("exhaustive")
    mod = types.ModuleType("offbench.reference")
    mod.compute_reference = fake.compute_reference
    monkeypatch.setitem(sys.modules, "offbench.reference", mod)
    sid = "zoo-v1:single/test"
    s = freeze_set(sid, root=tmp_path, time_limit=1.0)
    assert fake.calls == len(s) and len(s.references) == len(s)
    r = s.reference(s.instances[0])
    assert r["provenance"] == "exhaustive" and r["solver"] == "fake" and len(r["decision"]) == s.instances[0].n_layers
    folder = set_path(sid, tmp_path)
    assert verify_set(folder) == []                       # recomputed, same optimum
    mod.compute_reference = _FakeReference("exhaustive", scale=0.5).compute_reference
    problems = verify_set(folder)
    assert len(problems) == len(s) and "optimum changed" in problems[0]
    mod.compute_reference = _FakeReference("heuristic").compute_reference
    problems = verify_set(folder)
    assert "no longer proven" in problems[0]
    assert verify_set(folder, resolve=False) == []


def test_freeze_refuses_a_bad_provenance(tmp_path, monkeypatch):
    import sys
    import types

    mod = types.ModuleType("offbench.reference")
    mod.compute_reference = _FakeReference("guess").compute_reference
    monkeypatch.setitem(sys.modules, "offbench.reference", mod)
    with pytest.raises(SetError, match="provenance 'guess'"):
        freeze_set("zoo-v1:single/test", root=tmp_path)
    assert not set_path("zoo-v1:single/test", tmp_path).exists()


@pytest.mark.parametrize("set_id", ["zoo-v1:single/test", "capacitated-v1:small/test"])
def test_frozen_optima_are_recomputed_equal(set_id):
    s = load_set(set_id)
    assert s.references, f"{set_id} has no references"
    assert verify_set(set_id, resolve=True) == []


@pytest.mark.slow
@pytest.mark.parametrize("set_id", DECLARED)
def test_every_frozen_set_verifies_with_its_optima_recomputed(set_id):
    assert verify_set(set_id, resolve=True) == []


# ------------------------------------------------------------------------------ review fixes
@pytest.fixture
def own_instances(tmp_path, monkeypatch):
    """A copy of the family definitions and frozen sets that a test may damage."""
    root = tmp_path / "instances"
    shutil.copytree(sets_dir().parent, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("OFFBENCH_INSTANCES_DIR", str(root))
    return root


def test_write_set_interrupted_between_renames_keeps_the_old_set(tmp_path, monkeypatch):
    import os

    fam = get_family("dmro")
    old, new = fam.instances(0, 2), fam.instances(1, 2)
    write_set(tmp_path / "s", old, _manifest("x/y", fam.id, 0, 0, old, "json"))
    real = os.replace
    calls = []

    def interrupted(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:          # the old set moved aside, the new one not yet in place
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_set(tmp_path / "s", new, _manifest("x/y", fam.id, 1, 0, new, "json"), force=True)
    monkeypatch.setattr(os, "replace", real)
    assert load_set(tmp_path / "s").digest == set_digest([i.digest for i in old])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_list_sets_skips_temporary_folders_of_a_killed_writer(tmp_path):
    fam = get_family("dmro")
    insts = fam.instances(0, 1)
    write_set(tmp_path / "f" / "test", insts, _manifest("f/test", fam.id, 0, 0, insts, "json"))
    shutil.copytree(tmp_path / "f" / "test", tmp_path / "f" / ".test.999.tmp")
    assert list_sets(tmp_path) == ["f/test"]


def test_cli_verify_sets_unknown_set_exits_2_before_verifying(capsys):
    assert main(["instances", "verify-sets", "--no-resolve", DECLARED[0], "dmro-v1/tset"]) == 2
    out, err = capsys.readouterr()
    assert "no instance set 'dmro-v1/tset'" in err and "Did you mean dmro-v1/test" in err
    assert out == "" and "Traceback" not in err


def test_verify_catches_a_set_that_no_longer_matches_its_declaration(own_instances, capsys):
    toml = own_instances / "zoo.toml"
    toml.write_text(toml.read_text().replace("seed = 4001", "seed = 4002"))
    problems = verify_set("zoo-v1:single/test", resolve=False)
    assert len(problems) == 1
    assert "set zoo-v1:single/test: the manifest says seed 4001, the family definition declares 4002" in problems[0]
    assert main(["instances", "verify-sets", "--no-resolve", "zoo-v1:single/test"]) == 1


def test_verify_all_reports_a_declared_set_that_is_not_frozen(own_instances, capsys):
    shutil.rmtree(set_path("zoo-v1:single/test"))
    assert verify_set("zoo-v1:single/test") == [
        "set zoo-v1:single/test: declared by family zoo-v1:single but not frozen "
        "(offbench instances freeze zoo-v1:single/test)"]
    assert main(["instances", "verify-sets", "--no-resolve"]) == 1
    out, err = capsys.readouterr()
    assert "FAIL set zoo-v1:single/test: declared by family" in err and f"ok   {DECLARED[0]}" in out


def test_verify_catches_a_lost_reference_and_a_bad_reference_decision(own_instances):
    sid = "zoo-v1:single/test"
    man_path = set_path(sid) / MANIFEST
    man = json.loads(man_path.read_text())
    digests = [m["digest"] for m in man["members"]]
    del man["references"][digests[1]]
    man["references"][digests[2]]["decision"] = [0, 1]
    man_path.write_text(json.dumps(man))
    problems = verify_set(sid, resolve=False)
    assert len(problems) == 2
    assert "zoo-v1:single/s4001/1: no reference, though the set's other members have one" in problems[0]
    assert "zoo-v1:single/s4001/2: the reference decision is not a decision of this instance" in problems[1]


def test_verify_records_a_reference_that_cannot_be_recomputed(tmp_path, monkeypatch):
    import sys
    import types

    def broken(inst, time_limit=None):
        raise RuntimeError("solver crashed")

    mod = types.ModuleType("offbench.reference")
    mod.compute_reference = _FakeReference("exhaustive").compute_reference
    monkeypatch.setitem(sys.modules, "offbench.reference", mod)
    s = freeze_set("zoo-v1:single/test", root=tmp_path, time_limit=1.0)
    mod.compute_reference = broken
    problems = verify_set(s.path)
    assert len(problems) == len(s)
    assert "recomputing the reference failed: RuntimeError: solver crashed" in problems[0]


@pytest.mark.parametrize("set_id", DECLARED)
def test_a_set_says_how_its_references_were_proven(set_id):
    """The declaration's doc (shown by `offbench instances show`) names the method behind every
    frozen reference."""
    _, _, spec = next(d for d in declared_sets() if d[0] == set_id)
    words = {"dp": ("dynamic programming", "dp"), "exhaustive": ("exhaustive",),
             "mincut": ("minimum cut", "mincut"), "milp": ("MILP",), "milp-gap": ("MILP",),
             "heuristic": ("heuristic",)}
    for provenance in {r["provenance"] for r in load_set(set_id).references.values()}:
        assert any(w in spec.doc for w in words[provenance]), (set_id, provenance, spec.doc)
