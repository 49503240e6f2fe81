"""A store whose run was interrupted: a generated source is recorded only with its last member,
so its rows have no table yet. ``offbench leaderboard`` and ``report`` said "no source has rows
matching the selection" (with no selection given); they now name the unfinished sources, the
run and the command that finishes them, and print the tables of the sources that are whole."""

from __future__ import annotations

import pytest

from offbench.cli import main
from offbench.run import InProcessExecutor, parse_spec, run
from offbench.store import Store
from tests.test_runner import FIXTURES

SPEC = {
    "name": "unfinished-test",
    "solvers_dirs": [FIXTURES],
    "seeds": [0],
    "reference": {"mode": "none"},
    "sources": [{"kind": "family", "family": "dmro-v1[n_devices=2]", "name": "fam", "seed": 3,
                 "count": 5},
                {"kind": "random", "name": "rnd", "seed": 5, "count": 6, "n_devices": 2,
                 "n_jobs": 2, "layers": [1, 3]}],
    "solvers": ["fx-zero"],
}


def _interrupted(path, after: int) -> None:
    class Stop(InProcessExecutor):
        seen = 0  # over every block the run hands over

        def run(self, jobs, on_start):
            for job, out in super().run(jobs, on_start):
                Stop.seen += 1
                if Stop.seen == after:
                    raise KeyboardInterrupt
                yield job, out

    with pytest.raises(KeyboardInterrupt):
        run(parse_spec(SPEC), path, executor=Stop())


def test_no_table_yet_names_the_unfinished_source_and_how_to_finish_it(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    _interrupted(store, 4)  # fam's first members only: no source recorded
    with Store.open_readonly(store) as s:
        assert s.count_results() == 3 and s.sources() == []
    capsys.readouterr()
    assert main(["leaderboard", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "no source has rows matching the selection" not in err
    assert "3 result rows belong to sources not finished yet: run 1 (interrupted; sources fam, rnd)" in err
    assert "run the same `offbench run` command again" in err
    assert main(["report", "--store", str(store), "--out", str(tmp_path / "r.html")]) == 2
    assert "not finished yet" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
    # resumed, the store has both tables and no note
    run(parse_spec(SPEC), store, executor=InProcessExecutor())
    capsys.readouterr()
    assert main(["leaderboard", "--store", str(store)]) == 0
    out = capsys.readouterr()
    assert "fam" in out.out and "rnd" in out.out and "not finished" not in out.err


def test_the_whole_sources_tables_come_with_a_note_of_the_rest(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    _interrupted(store, 8)  # fam whole, rnd's first two members
    with Store.open_readonly(store) as s:
        assert [x["name"] for x in s.sources()] == ["fam"] and s.count_results() == 7
    capsys.readouterr()
    assert main(["leaderboard", "--store", str(store)]) == 0
    out = capsys.readouterr()
    assert "fam" in out.out
    assert ("offbench leaderboard: not in these tables: 2 result rows belong to sources not "
            "finished yet: run 1 (interrupted; source rnd)") in out.err
