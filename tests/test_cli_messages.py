"""Messages for a user's mistakes on the command line name the option the user gave (a new
user's trial found some that named another option, a seed for an index, or a run spec that the
user never wrote)."""

from __future__ import annotations

import pytest

from offbench.cli import main
from offbench.generators import random_instance
from offbench.instance import save_instance


@pytest.fixture
def inst_path(tmp_path):
    p = tmp_path / "i.json"
    save_instance(random_instance(4, n_jobs=2, layers=(2, 3)), p)
    return p


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("option,value,want", [
    ("--time-limit", "0", "argument --time-limit: expected a number of seconds > 0, got '0'"),
    ("--kill-after", "nan", "argument --kill-after: expected a number of seconds > 0, got 'nan'"),
    ("--seed", "-3", "argument --seed: expected an integer >= 0, got '-3'"),
])
def test_solve_options_are_named(capsys, inst_path, option, value, want):
    assert _error(capsys, ["solve", str(inst_path), "--solver", "greedy", option, value]).endswith(want)


def test_an_index_is_not_called_a_seed(capsys, tmp_path):
    err = _error(capsys, ["instances", "generate", "dmro-v1", "--start", "-1", "--count", "1",
                          "-o", str(tmp_path / "g")])
    assert err.endswith("argument --start: expected an integer >= 0, got '-1'")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("argv,want", [
    (["generate", "dmro-v1", "--seed", "0", "--count", "0"],
     "--count: expected a number of instances >= 1, got '0'"),
    (["generate", "dmro-v1", "--seed", "0", "--count", str(2**64)],
     f"--count: expected a number of instances of at most 2**63 - 1, got {2**64}"),
    (["stream", "dmro", "--seed", "0", "--frames", "x"],
     "--frames: expected a number of frames >= 1, got 'x'"),
])
def test_instance_counts_are_named(capsys, tmp_path, argv, want):
    """'expected a count: an integer >= 1' named neither --count nor --frames."""
    assert _error(capsys, ["instances", *argv, "--out", str(tmp_path / "g")]).endswith(want)
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("seeds,want", [
    ("1,1", "--seeds 1,1: seed 1 is given twice"),
    (str(2**63), f"--seeds: a seed is at most 2**63 - 1 = {2**63 - 1} (the store keeps 64-bit "
                 f"integers), got {2**63}"),
])
def test_run_seeds_are_named_as_the_option_not_a_spec(capsys, tmp_path, seeds, want):
    err = _error(capsys, ["run", "--family", "dmro-v1", "--count", "1", "--solver", "greedy",
                          "--seeds", seeds, "--store", str(tmp_path / "s.sqlite")])
    assert err.endswith(want) and "run spec" not in err
    assert not (tmp_path / "s.sqlite").exists()


def test_a_key_twice_in_a_solver_option_names_that_option(capsys, tmp_path):
    err = _error(capsys, ["run", "--family", "dmro-v1", "--count", "1", "--solver",
                          "local-search:restarts=2,restarts=3", "--store", str(tmp_path / "s.sqlite")])
    assert err.endswith("--solver local-search:restarts=2,restarts=3: key restarts: given twice (2 and 3)")


def test_compare_of_one_entry_with_itself_says_so(capsys, tmp_path):
    store = str(tmp_path / "s.sqlite")
    assert main(["run", "--family", "dmro-v1", "--count", "3", "--solver", "greedy", "--solver",
                 "all-device", "--store", store, "--quiet", "--no-leaderboard", "-j", "0"]) == 0
    err = _error(capsys, ["leaderboard", "--store", store, "--compare", "greedy", "greedy-v1"])
    assert "--compare greedy greedy-v1: both name the same entry (greedy-v1 in dmro-v1" in err
    assert main(["leaderboard", "--store", store, "--compare", "greedy", "all-device"]) == 0


def test_a_count_past_what_a_store_keeps_is_refused(capsys, tmp_path):
    err = _error(capsys, ["run", "--family", "dmro-v1", "--count", str(10**23), "--solver",
                          "greedy", "--store", str(tmp_path / "s.sqlite")])
    assert err.endswith(f"--count: expected a number of instances of at most 2**63 - 1 (the store "
                        f"keeps 64-bit integers), got {10**23}")
    assert not (tmp_path / "s.sqlite").exists()


def test_solving_a_sets_manifest_says_what_the_file_is(capsys, tmp_path):
    out = tmp_path / "set"
    assert main(["instances", "generate", "dmro-v1", "--seed", "0", "--count", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    err = _error(capsys, ["solve", str(out / "manifest.json"), "--solver", "greedy"])
    assert "manifest.json: the manifest of an instance set" in err
    assert "unknown key" not in err and "--instances" in err


def test_plots_into_a_file_is_refused_before_drawing(capsys, tmp_path):
    store = str(tmp_path / "s.sqlite")
    assert main(["run", "--family", "dmro-v1", "--count", "2", "--solver", "greedy", "--store",
                 store, "--quiet", "--no-leaderboard", "-j", "0", "--reference", "none"]) == 0
    (tmp_path / "pf").write_text("x")
    capsys.readouterr()
    assert main(["leaderboard", "--store", store, "--plots", str(tmp_path / "pf")]) == 2
    err = capsys.readouterr().err
    assert "pf: a file, not a folder" in err and "drawing the figures" not in err
    assert (tmp_path / "pf").read_text() == "x"

    # report --out: the same check, before 'drawing the figures of 1 table' is announced
    assert main(["report", "--store", store, "--out", str(tmp_path / "pf")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "pf: a file, not a folder" in err and "drawing" not in err
    assert (tmp_path / "pf").read_text() == "x"


def test_the_jsonl_plan_event_does_not_claim_counts_it_cannot_know(capsys, tmp_path):
    """The plan event of a run on a finished store said already_in_store 0 and to_run 60: the
    run finds what the store holds as it goes, so those are null, and the summary counts."""
    import json

    argv = ["run", "--family", "dmro-v1", "--count", "2", "--solver", "greedy", "--store",
            str(tmp_path / "s.sqlite"), "--jsonl", "--reference", "none", "-j", "0"]
    for already in (0, 2):
        assert main(argv) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        plan, summary = events[0], events[-1]
        assert plan["event"] == "plan" and plan["jobs"] == 2
        assert plan["already_in_store"] is None and plan["to_run"] is None
        assert summary["event"] == "summary" and summary["already"] == already
