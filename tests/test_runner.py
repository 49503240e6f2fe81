"""``offbench run`` end to end: specs, executors, failure rows, resume, tracks, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offbench.cli import main
from offbench.run import (InProcessExecutor, PoolExecutor, SpecError, apply_overrides,
                          default_spec, parse_spec, plan, run)
from offbench.store import Store

FIXTURES = str(Path(__file__).parent / "fixtures_solvers")
REFERENCE = "auto"

#: Every failure kind a run must survive, on a small capacitated set.
SPEC = {
    "name": "runner-test",
    "solvers_dirs": [FIXTURES],
    "time_limit": 0.3,
    "kill_after": 1.5,
    "seeds": [0, 1],
    "reference": {"mode": REFERENCE, "time_limit": 20.0},
    "sources": [{"kind": "random", "name": "tiny", "count": 3, "n_devices": 2, "n_jobs": 2,
                 "layers": [1, 3], "capacities": True},
                {"kind": "random", "name": "one", "seed": 11, "count": 1, "n_jobs": 2}],
    "solvers": [
        "fx-zero",
        {"id": "fx-random-best", "params": {"samples": 5}},
        {"id": "fx-raise", "seeds": [0]},
        {"id": "fx-invalid", "seeds": [0]},
        {"id": "fx-all-edge", "seeds": [0]},
        {"id": "fx-sleep", "params": {"seconds": 30.0}, "seeds": [0], "sources": ["one"]},
    ],
}


def _statuses(path) -> dict:
    with Store.open_readonly(path) as s:
        out = {}
        for r in s.results():
            out.setdefault(r["solver_id"], set()).add(r["status"])
        return out


@pytest.fixture(scope="module")
def in_process_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("inproc") / "r.sqlite"
    summary = run(parse_spec(SPEC), path, executor=InProcessExecutor())
    assert summary.done == summary.planned == 4 * (2 + 2 + 1 + 1 + 1) + 1
    return path


def test_failures_become_rows_with_the_right_status(in_process_store):
    st = _statuses(in_process_store)
    assert st["fx-zero-v1"] == {"feasible"}
    assert st["fx-raise-v1"] == {"error"}
    assert st["fx-invalid-v1"] == {"error"}
    assert st["fx-sleep-v1"] == {"timeout"}
    with Store.open_readonly(in_process_store) as s:
        rows = {r["solver_id"]: r for r in s.results()}
    assert "fixture failure on purpose" in rows["fx-raise-v1"]["error"]
    assert "invalid decision" in rows["fx-invalid-v1"]["error"]
    assert "kill_after=1.5" in rows["fx-sleep-v1"]["error"]
    assert rows["fx-sleep-v1"]["decision"] is None and rows["fx-sleep-v1"]["counted_infeasible"] in (True, None)
    # A missing decision is counted infeasible whenever rows are scored.
    for sid in ("fx-raise-v1", "fx-invalid-v1"):
        assert rows[sid]["counted_infeasible"] is True
    with Store.open_readonly(in_process_store) as s:
        edge = [r for r in s.results() if r["solver_id"] == "fx-all-edge-v1"]
    infeasible = [r for r in edge if r["feasible"] is False]
    assert infeasible and all(r["status"] == "feasible" for r in edge)  # infeasible, still a row
    assert all(r["counted_infeasible"] is True and r["decision"] == "1" * len(r["decision"])
               for r in infeasible)


def test_pool_gives_the_same_rows_kills_what_hangs_and_replaces_dead_workers(in_process_store, tmp_path):
    path = tmp_path / "pool.sqlite"
    die = parse_spec({**SPEC, "seeds": [0], "reference": {"mode": "none"},
                      "sources": [{"kind": "random", "count": 1}], "solvers": ["fx-die", "fx-zero"]})
    with PoolExecutor(2) as ex:
        run(parse_spec(SPEC), path, executor=ex)
        summary = run(die, tmp_path / "die.sqlite", executor=ex)  # the same, warm workers
    with Store.open_readonly(path) as a, Store.open_readonly(in_process_store) as b:
        assert a.quality_snapshot() == b.quality_snapshot()
        rows = {r["solver_id"]: r for r in a.results()}
    assert rows["fx-sleep-v1"]["status"] == "timeout"
    assert rows["fx-sleep-v1"]["info"]["stopped_by"] == "SIGKILL of its worker process"
    assert summary.statuses == {"error": 1, "feasible": 1}
    with Store.open_readonly(tmp_path / "die.sqlite") as s:
        errs = [r["error"] for r in s.results() if r["solver_id"] == "fx-die-v1"]
    assert len(errs) == 1 and "worker process died" in errs[0] and "SIGKILL" in errs[0]


def test_resume_skips_what_is_done_without_duplicates(in_process_store, tmp_path):
    import shutil

    path = tmp_path / "copy.sqlite"
    shutil.copy(in_process_store, path)
    before = Store.open_readonly(path).quality_snapshot()
    summary = run(parse_spec(SPEC), path, executor=InProcessExecutor())
    assert summary.done == 0 and summary.already == summary.planned
    with Store.open_readonly(path) as s:
        assert s.quality_snapshot() == before
        assert len(s.runs()) == 2  # both invocations are recorded for the provenance


def test_more_seeds_add_only_the_new_jobs(tmp_path):
    base = {**SPEC, "reference": {"mode": "none"}, "solvers": ["fx-zero"], "seeds": [0]}
    path = tmp_path / "r.sqlite"
    assert run(parse_spec(base), path, executor=InProcessExecutor()).done == 4
    s2 = run(parse_spec({**base, "seeds": [0, 1]}), path, executor=InProcessExecutor())
    assert (s2.done, s2.already) == (4, 4)


def test_spec_errors_name_the_key():
    with pytest.raises(SpecError, match="unknown key 'seed'. Did you mean 'seeds'"):
        parse_spec({**SPEC, "seed": [1]})
    with pytest.raises(SpecError, match=r"tracks\[0\]: unknown track 'statc'; did you mean 'static'"):
        parse_spec({**SPEC, "tracks": ["statc"]})
    with pytest.raises(SpecError, match="switch_at and switch_to go together"):
        parse_spec({**SPEC, "sources": [{"kind": "stream", "family": "dmro-v1", "switch_at": 3}]})
    with pytest.raises(SpecError, match=r"The 'count' key of run spec sources\[0\] must be an int in \[1, inf\)\. Got 0\."):
        parse_spec({**SPEC, "sources": [{"kind": "random", "count": 0}]})
    with pytest.raises(SpecError, match=r"solvers\[0\]: unknown solver 'fx-zer0'"):
        parse_spec({**SPEC, "solvers": ["fx-zer0"]})
    with pytest.raises(SpecError, match=r"solvers\[0\]: The 'samples' parameter of solver fx-random-best-v1 must be an int"):
        parse_spec({**SPEC, "solvers": [{"id": "fx-random-best", "params": {"samples": 0}}]})
    with pytest.raises(SpecError, match=r"The 'time_limit' key of run spec must be a float in \(0, inf\) or None\. Got -1\."):
        parse_spec({**SPEC, "time_limit": -1})
    # the seeds are listed in the plan: 10**11 of them was a MemoryError traceback
    with pytest.raises(SpecError, match=r"The 'repetitions' key of run spec must be an int in "
                                        r"\[1, 1000000\]\. Got 100000000000\."):
        parse_spec({**{k: v for k, v in SPEC.items() if k != "seeds"}, "repetitions": 10**11})
    with pytest.raises(SpecError, match="layers must be \\[L, L\\]"):
        parse_spec({**SPEC, "sources": [{"kind": "stream", "random": {"layers": [1, 3]}}]})
    with pytest.raises(SpecError, match="the same solver and parameters"):
        parse_spec({**SPEC, "solvers": ["fx-zero", "fx-zero-v1"]})
    # A family or set that cannot be found names the source it came from.
    with pytest.raises(SpecError, match="^source 'dmro-v9': "):
        plan(parse_spec({**SPEC, "solvers": ["fx-zero"],
                         "sources": [{"kind": "family", "family": "dmro-v9"}]}))
    with pytest.raises(SpecError, match="^source 'no-such-set/x': "):
        plan(parse_spec({**SPEC, "solvers": ["fx-zero"],
                         "sources": [{"kind": "set", "set": "no-such-set/x"}]}))
    with pytest.raises(SpecError, match="^source 'drift': family dmro-v1 has no environment 'nope'"):
        plan(parse_spec({**SPEC, "solvers": ["fx-zero"], "tracks": ["adaptation"],
                         "sources": [{"kind": "stream", "family": "dmro-v1", "name": "drift",
                                      "frames": 3, "switch_at": 1, "switch_to": "nope"}]}))


def test_cli_overrides_replace_parts_of_the_spec():
    raw = apply_overrides(dict(SPEC), solvers=["fx-random-best:samples=3"], seeds=[4],
                          time_limit=2.0)
    spec = parse_spec(raw)
    assert [(s.id, s.params, s.seeds, s.time_limit) for s in spec.solvers] == [
        ("fx-random-best-v1", {"samples": 3, "sleep": 0.0}, (4,), 2.0)]


@pytest.mark.parametrize("key, value, options, message", [
    ("reference", ["auto"], {"reference": "none"}, r"reference: expected a table, got \['auto'\]"),
    ("solvers", "fx-zero", {"families": ["dmro-v1"]}, "solvers: expected a non-empty list"),
    ("solvers", {"id": "fx-zero"}, {"time_limit": 2.0}, "solvers: expected a non-empty list"),
    ("solvers_dirs", 3, {"solvers_dirs": [FIXTURES]}, r"'solvers_dirs\[0\]' key .* Got 3\."),
])
def test_cli_overrides_leave_a_misshapen_part_to_be_named(key, value, options, message):
    # An option folded into a spec part of the wrong shape: a traceback ('list' object is not a
    # mapping), or the part read as a list (a string one solver per letter: 'unknown solver
    # 'f''; a table one per key), before parse_spec could name the key.
    with pytest.raises(SpecError, match=message):
        parse_spec(apply_overrides({**SPEC, key: value}, **options))


def test_cli_solvers_dir_adds_to_one_folder_written_as_a_string(tmp_path):
    raw = apply_overrides({**SPEC, "solvers_dirs": FIXTURES}, solvers_dirs=[str(tmp_path)])
    assert parse_spec(raw).solvers_dirs == [FIXTURES, str(tmp_path)]


def test_cli_run_prints_the_table_and_refuses_bad_input(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'name = "cli"\nsolvers_dirs = ["%s"]\nseeds = [0]\nreference = { mode = "none" }\n'
        '[[sources]]\nkind = "random"\ncount = 2\nn_jobs = 2\n'
        '[[solvers]]\nid = "fx-zero"\n[[solvers]]\nid = "fx-random-best"\nparams = { samples = 3 }\n'
        % FIXTURES)
    store = tmp_path / "out" / "r.sqlite"
    assert main(["run", str(cfg), "--store", str(store), "-j", "0"]) == 0
    out = capsys.readouterr()
    # aligned tables under a provenance summary (the full provenance goes into files)
    assert "fx-zero-v1" in out.out and "gmean ratio" in out.out
    assert "offbench-provenance" not in out.out and out.out.startswith("store ")
    assert "4 jobs run" in out.err
    # JSON lines: plan, one per job, summary; nothing else on stdout.
    assert main(["run", str(cfg), "--store", str(tmp_path / "j.sqlite"), "-j", "0", "--jsonl"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["plan"] + ["job"] * 4 + ["summary"]
    assert {e["solver"] for e in events if e["event"] == "job"} == {"fx-zero-v1", "fx-random-best-v1"}
    # A solver that prints, in this very process: its chatter goes to stderr, not into the JSON.
    assert main(["run", str(cfg), "--store", str(tmp_path / "c.sqlite"), "-j", "0", "--jsonl",
                 "--solver", "fx-chatty"]) == 0
    out = capsys.readouterr()
    assert len([json.loads(line) for line in out.out.splitlines()]) == 1 + 2 + 1
    assert "fx-chatty: thinking out loud" in out.err
    # Bad input: a message, exit 2, and no store written.
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg.read_text().replace('kind = "random"', 'kind = "randm"'))
    assert main(["run", str(bad), "--store", str(tmp_path / "never.sqlite")]) == 2
    assert "sources[0].kind: expected one of random" in capsys.readouterr().err
    assert not (tmp_path / "never.sqlite").exists()
    (tmp_path / "broken.toml").write_text("name = ")
    assert main(["run", str(tmp_path / "broken.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["run", str(cfg), "--store", str(store), "-j", "-1"]) == 2


def test_online_track_writes_frames(tmp_path):
    spec = parse_spec({
        "name": "online", "solvers_dirs": [FIXTURES], "time_limit": 5.0, "tracks": ["online"],
        "seeds": [0, 1], "reference": {"mode": REFERENCE}, "online": {"window": 4},
        "sources": [{"kind": "stream", "frames": 12, "random": {"n_devices": 2, "n_jobs": 2, "layers": [3, 3]}}],
        "solvers": ["fx-learner", "fx-zero", {"id": "fx-raise", "seeds": [0]}],
    })
    summary = run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor())
    assert summary.done == 5
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        rows = {(r["solver_id"], r["seed"]): r for r in s.results()}
        frames = s.frames()
    learner = rows[("fx-learner-v1", 0)]
    fr = frames[learner["row_id"]]
    assert [f["frame"] for f in fr] == list(range(12))
    assert all(f["evaluations"] == 3 for f in fr)  # best of 1 + 2 mutations per frame
    # What learn() returned is stored with each frame (numbers only); a baseline learns nothing.
    assert [f["info"]["learned"] for f in fr] == list(range(1, 13))
    assert all(0.0 <= f["info"]["placed_remote"] <= 1.0 for f in fr)
    assert all(f["info"] == {} for f in frames[rows[("fx-zero-v1", 0)]["row_id"]])
    # ... and exported, one line per frame with its job's solver, seed and source.
    assert main(["leaderboard", "--store", str(tmp_path / "r.sqlite"), "-o", str(tmp_path / "t.md"),
                 "--frames", str(tmp_path / "f.jsonl")]) == 0
    lines = [json.loads(x) for x in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert len(lines) == 12 * 5 and (tmp_path / "f.jsonl.provenance.json").is_file()
    mine = [x for x in lines if x["solver_id"] == "fx-learner-v1" and x["seed"] == 0]
    assert [x["info"]["learned"] for x in mine] == list(range(1, 13))
    assert all(x["track"] == "online" and x["source"] == "random/stream" for x in mine)
    assert main(["leaderboard", "--store", str(tmp_path / "r.sqlite"), "-o", str(tmp_path / "t.md"),
                 "--frames", str(tmp_path / "f.csv")]) == 0
    text = (tmp_path / "f.csv").read_text()
    assert '{""learned"":1,' in text and len([x for x in text.splitlines() if not x.startswith("#")]) == 61
    assert learner["info"]["learning"] is True and learner["info"]["window"] == 4
    assert rows[("fx-zero-v1", 0)]["info"]["learning"] is False  # a static solver as baseline
    assert rows[("fx-raise-v1", 0)]["info"]["error_frames"] == 12
    assert all(f["ratio"] >= 1 - 1e-9 for f in fr)
    assert learner["ratio"] == pytest.approx(sum(f["ratio"] for f in fr[-4:]) / 4)


def test_static_solver_overrun_is_marked_timeout():
    from offbench.tracks import Outcome

    out = Outcome(status="feasible", wall_time=3.0)
    out.mark_overrun(1.0)
    assert out.status == "timeout" and "its time limit of 1 s" in out.error
    assert out.info["overrun_wall_time"] == 3.0
    out = Outcome(status="feasible", wall_time=1.4)
    out.mark_overrun(1.0)
    assert out.status == "feasible"


def test_default_spec_is_valid():
    raw = default_spec()
    assert raw["sources"] and raw["solvers"]
    spec = parse_spec(raw, where="default")  # every solver it names is built in
    assert len(plan(spec).jobs) > 0


def test_generalization_and_adaptation_tracks(tmp_path):
    spec = parse_spec({
        "name": "learning-tracks", "solvers_dirs": [FIXTURES], "time_limit": 5.0,
        "tracks": ["generalization", "adaptation"], "seeds": [0], "reference": {"mode": REFERENCE},
        "generalization": {"train_frames": 8}, "adaptation": {"window": 3},
        "sources": [
            {"kind": "stream", "name": "iid", "frames": 12,
             "random": {"n_devices": 2, "n_jobs": 2, "layers": [3, 3]}},
            {"kind": "stream", "name": "drift", "family": "deadline-v1:small", "frames": 10,
             "switch_at": 6, "switch_to": "tight"},
        ],
        "solvers": ["fx-learner", "fx-zero"],
    })
    pl = plan(spec)
    # generalization runs on both streams (both longer than 8 frames); adaptation only where
    # the stream switches, and says so for the other.
    assert sorted((j.track, j.source) for j in pl.jobs) == sorted(
        [("generalization", "iid")] * 2 + [("generalization", "drift")] * 2 + [("adaptation", "drift")] * 2)
    assert any("adaptation track on iid" in s and "no switch_at" in s for s in pl.skipped)
    run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor(), plan_=pl)
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        rows = {(r["solver_id"], r["track"], r["track_config"]["frames"]): r for r in s.results()}
        frames = s.frames()
        from offbench.leaderboard import build, render

        text = render(build(s), "md")
    gen = rows[("fx-learner-v1", "generalization", 12)]
    assert gen["info"]["scored_frames"] == 4 and gen["evaluations"] == 4 * 3
    assert len(frames[gen["row_id"]]) == 12
    # Learned from the first 8 frames only: the held-out frames carry no learner metrics.
    assert [bool(f["info"]) for f in frames[gen["row_id"]]] == [True] * 8 + [False] * 4
    ada = rows[("fx-learner-v1", "adaptation", 10)]
    assert ada["track_config"]["switch_at"] == 6 and ada["info"]["scored_frames"] == 4
    assert "## drift / adaptation (10 frames per stream)" in text
    assert "| solver | n | held-out ratio |" in text and "| solver | n | ratio after switch |" in text
    fr = frames[ada["row_id"]]
    assert ada["ratio"] == pytest.approx(sum(f["ratio"] for f in fr[6:9]) / 3)


def test_yaml_spec_and_dry_run(tmp_path, capsys):
    from offbench.run import load_spec_file

    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"name: yaml\nsolvers_dirs: [{FIXTURES}]\nseeds: [0, 1]\n"
                   "sources:\n  - {kind: random, count: 2}\nsolvers:\n  - fx-zero\n"
                   "  - {id: fx-random-best, params: {samples: 2}}\n")
    spec = parse_spec(load_spec_file(cfg))
    assert [s.id for s in spec.solvers] == ["fx-zero-v1", "fx-random-best-v1"]
    assert main(["run", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 jobs" in out and "solver fx-random-best-v1(samples=2, sleep=0.0)" in out
    (tmp_path / "bad.yaml").write_text("sources: [unclosed\n")
    assert main(["run", str(tmp_path / "bad.yaml")]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_a_frozen_set_brings_its_own_references(tmp_path):
    from offbench import instance_sets

    assert "deadline-v1:small/test" in instance_sets.list_sets()
    spec = parse_spec({"name": "set", "solvers_dirs": [FIXTURES], "seeds": [0],
                       "sources": [{"kind": "set", "set": "deadline-v1:small/test"}],
                       "solvers": ["fx-zero"]})
    summary = run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor())
    assert summary.references_computed == 0 and summary.done == 8
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        refs = s.references()
        rows = s.results()
    assert {r["origin"] for r in refs.values()} == {"set:deadline-v1:small/test"}
    assert all(r["ratio"] >= 1.0 and r["ref_cost"] == refs[r["instance_digest"]]["cost"] for r in rows)


def test_the_documented_spec_example_parses():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    import offbench.run.spec as r

    doc = r.__doc__
    block = doc[doc.index('    name = "my-benchmark"'):].split('"""')[0]
    text = "\n".join(line[4:] for line in block.splitlines()  # folders that do not exist here
                     if "solvers_dirs" not in line and "families_dirs" not in line)
    spec = parse_spec(tomllib.loads(text))
    assert [s.id for s in spec.solvers] == ["local-search-v1"]
    assert spec.solvers[0].sources == ("capacitated-v1:small",)


def test_spec_name_survives_solver_source_filters():
    # A solver's `sources` filter once overwrote the spec's name (and so its hash and the
    # provenance of every table).
    assert parse_spec(SPEC).name == "runner-test"
    assert parse_spec(default_spec()).name == "offbench-default"


def test_a_job_without_a_decision_counts_infeasible_without_references(tmp_path):
    """SPEC.md section 6: a missing decision is counted in the infeasible rate, also when the
    run computes no references (a hard-killed job, here)."""
    from offbench.leaderboard import build

    spec = parse_spec({**SPEC, "reference": {"mode": "none"}, "kill_after": 0.3, "seeds": [0],
                       "sources": [{"kind": "random", "count": 1, "n_jobs": 2}],
                       "solvers": [{"id": "fx-sleep", "params": {"seconds": 5.0}}, "fx-zero"]})
    run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor())
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        rows = {r["solver_id"]: r for r in s.results()}
        board = build(s)
    assert rows["fx-sleep-v1"]["status"] == "timeout"
    assert rows["fx-sleep-v1"]["counted_infeasible"] is True
    rate = {e.solver_id: e.values["infeasible"] for e in board.tables[0].entries}
    assert rate == {"fx-sleep-v1": 1.0, "fx-zero-v1": 0.0}


def test_an_instance_listed_twice_counts_once(tmp_path):
    from offbench.generators import random_instance
    from offbench.leaderboard import build

    folder = tmp_path / "insts"
    folder.mkdir()
    for i in range(2):
        (folder / f"i{i}.json").write_text(random_instance(i, n_jobs=2).to_json())
    spec = parse_spec({"name": "dup", "solvers_dirs": [FIXTURES], "reference": {"mode": "none"},
                       "sources": [{"kind": "files", "name": "twice",
                                    "paths": [str(folder), str(folder / "*.json")]}],
                       "solvers": ["fx-zero"]})
    assert len(plan(spec).sources[0].instances) == 2
    run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor())
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        t = build(s).tables[0]
    assert t.size == 2 and t.entries[0].values["n"] == 2


def test_a_stream_job_without_any_decision_is_scored_at_the_all_device_cost(tmp_path):
    """A learning-track job killed before it decided anything: its ratio is that of deciding
    nothing (all-device, as fx-zero decides), and all its scored frames count infeasible."""
    from offbench.leaderboard import build

    spec = parse_spec({
        "name": "stream-killed", "solvers_dirs": [FIXTURES], "tracks": ["online"], "seeds": [0],
        "kill_after": 0.3, "reference": {"mode": REFERENCE}, "online": {"window": 3},
        "sources": [{"kind": "stream", "frames": 6, "random": {"n_devices": 2, "n_jobs": 2, "layers": [2, 2]}}],
        "solvers": [{"id": "fx-sleep", "params": {"seconds": 5.0}}, "fx-zero"],
    })
    run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor())
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        rows = {r["solver_id"]: r for r in s.results()}
        entries = {e.solver_id: e.values for e in build(s).tables[0].entries}
    assert rows["fx-sleep-v1"]["status"] == "timeout"
    assert entries["fx-sleep-v1"]["infeasible"] == 1.0 and entries["fx-zero-v1"]["infeasible"] == 0.0
    assert entries["fx-sleep-v1"]["wins"] == 0
    assert rows["fx-sleep-v1"]["ratio"] == pytest.approx(rows["fx-zero-v1"]["ratio"], rel=1e-12)


def test_the_warm_up_solve_is_short():
    """The untimed warm-up solve gets at most WARM_UP_TIME_LIMIT seconds, not the job's limit
    (a solver that uses its whole limit would pay it twice in every process)."""
    import numpy as np

    from offbench import tracks
    from offbench.generators import random_instance
    from offbench.run import Job
    from offbench.solver import Proposal, Solver

    seen = []

    class Recorder(Solver):
        name = "test-recorder"

        def _solve(self, inst, ctx):
            seen.append(ctx.time_limit)
            return Proposal(np.zeros(inst.n_layers, dtype=np.int8))

    inst = random_instance(0, n_jobs=1)
    for limit, expected in ((60.0, tracks.WARM_UP_TIME_LIMIT), (0.2, 0.2), (None, tracks.WARM_UP_TIME_LIMIT)):
        tracks.warm_up(Job(kind="solve", index=0, source="s", digest=inst.digest, instance=inst,
                           time_limit=limit), Recorder)
        assert seen[-1] == expected


def test_a_job_travels_without_the_cost_tables_cached_on_its_instance():
    """The Instance strips its caches for pickling (the runner builds no lean copies)."""
    import pickle

    from offbench import cost
    from offbench.generators import random_instance
    from offbench.run import Job

    inst = random_instance(3, n_jobs=2)
    cost.tables(inst)
    digest = inst.digest
    assert "_offbench_tables" in inst.__dict__
    job = Job(kind="solve", index=0, source="s", digest=digest, instance=inst)
    back = pickle.loads(pickle.dumps(job))
    assert "_offbench_tables" not in back.instance.__dict__
    assert back.instance.__dict__["digest"] == digest and back.instance == inst
    assert cost.evaluate(back.instance, [0] * inst.n_layers).cost == cost.evaluate(inst, [0] * inst.n_layers).cost


def test_the_missing_dependency_hint_names_the_right_extra():
    from offbench._deps import install_hint

    assert install_hint(["torch"]) == "pip install 'offbench[torch]'"
    hint = install_hint(["ortools"])  # a dependency of offbench itself, not the torch extra
    assert "ortools" in hint and "offbench[" not in hint
    assert install_hint(["yaml"]).startswith("pip install 'pyyaml")
    assert install_hint(["not_a_module_here"]) == "pip install not-a-module-here"


def test_the_reference_chain_compiles_before_the_hard_limit_starts(monkeypatch):
    """The first reference job in a process warms the reference chain's kernels before the
    hard limit starts counting (a cold Numba cache once cost references their kill_after)."""
    import importlib

    from offbench.generators import random_instance
    from offbench.run import Job

    ex = importlib.import_module("offbench.run.execute")  # the module (the package exports the function)
    calls = []
    monkeypatch.setattr(ex, "_warm_references", lambda: calls.append("warm"))
    monkeypatch.setattr(ex, "_WARMED", set())
    inst = random_instance(1, n_jobs=2)
    job = Job(kind="reference", index=0, source="s", digest=inst.digest, instance=inst, time_limit=5.0)
    out = ex.execute(job, started=lambda: calls.append("started"))
    assert out.error is None and out.reference["cost"] > 0
    ex.execute(job, started=lambda: calls.append("started"))
    assert calls == ["warm", "started", "started"]


def test_stream_jobs_are_refereed_alike_on_the_pool_and_in_process(tmp_path):
    """The referee re-prices and re-scores every frame in the runner; the frames, the summary
    ratio and the flags are the same whichever executor ran the stream."""
    spec = parse_spec({
        "name": "online-ref", "solvers_dirs": [FIXTURES], "time_limit": 5.0, "tracks": ["online"],
        "seeds": [0], "reference": {"mode": REFERENCE}, "online": {"window": 4},
        "sources": [{"kind": "stream", "frames": 8, "random": {"n_devices": 2, "n_jobs": 2, "layers": [3, 3]}}],
        "solvers": ["fx-learner", "fx-zero"],
    })
    run(spec, tmp_path / "a.sqlite", executor=InProcessExecutor())
    with PoolExecutor(1) as ex:
        run(spec, tmp_path / "b.sqlite", executor=ex)
    with Store.open_readonly(tmp_path / "a.sqlite") as a, Store.open_readonly(tmp_path / "b.sqlite") as b:
        assert a.quality_snapshot() == b.quality_snapshot()
        rows = b.results()
        assert all(r["refereed"] is True and r["flags"] == [] and r["ratio"] >= 1.0 for r in rows)
        assert all("supervised_time" in r["info"] for r in rows)
        # in-process with fixture plug-ins: stored as unrefereed
        assert all(r["refereed"] is False for r in a.results())
