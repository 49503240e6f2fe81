"""The results store against awkward paths and damaged files, and what a kill keeps.

- A ``--store`` whose name holds ``#``, ``?``, ``%XX``, spaces or any script is written, resumed
  and read (SQLite URIs are percent-escaped), and no stray file appears beside it.
- References are committed by the batch rule of results: a run killed (``SIGKILL``) during a
  block's reference phase keeps the references finished before the last batch.
- A damaged store (a page overwritten, a header overwritten) is refused by ``offbench run`` and
  ``offbench leaderboard`` with one message naming it, exit 2, no traceback.
- A ``--store`` that cannot be written is named as such (not its logs folder); a meta table
  without its schema version row says so; a write-ahead log a read-only reader cannot read is
  refused with a message instead of hiding its rows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from offbench.cli import main
from offbench.run import loop
from offbench.store import Store, StoreError

RUN = ["run", "--family", "dmro-v1", "--count", "3", "--solver", "greedy", "-j", "0", "--quiet"]


def _cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------------------ names SQLite URIs would cut
@pytest.mark.parametrize("name", ["run#1.sqlite", "q?mode=rw.sqlite", "p%25x.sqlite",
                                  "a b.sqlite", "résultats 結果.sqlite"])
def test_a_store_name_with_uri_characters_opens_read_only(tmp_path, name):
    path = tmp_path / name
    with Store.open(path) as s:
        s.conn.execute("INSERT INTO meta VALUES ('probe', 'x')")
    before = sorted(os.listdir(tmp_path))
    with Store.open_readonly(path) as s:
        assert dict(s.conn.execute("SELECT key, value FROM meta"))["probe"] == "x"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            s.conn.execute("INSERT INTO meta VALUES ('w', 'y')")
    assert sorted(os.listdir(tmp_path)) == before == [name]


def test_run_resume_and_leaderboard_with_such_a_name(tmp_path, capsys):
    folder = tmp_path / "dir #2 ?%41"
    store = folder / "run#1?x=%25 é.sqlite"
    rc, _, err = _cli(capsys, *RUN, "--no-leaderboard", "--store", store)
    assert rc == 0, err
    rc, _, err = _cli(capsys, *RUN, "--store", store)  # resumed: nothing to do, then the table
    assert rc == 0, err
    rc, out, err = _cli(capsys, "leaderboard", "--store", store)
    assert rc == 0, err
    assert "greedy" in out
    assert sorted(os.listdir(folder)) == sorted([store.name, "logs"])
    assert sorted(os.listdir(tmp_path)) == [folder.name]
    with Store.open_readonly(store) as s:
        assert s.count_results() == 3


# ------------------------------------------------------------------ references and kills
class _FakeStore:
    def __init__(self):
        self.batches = []

    def write_batch(self, **kw):
        self.batches.append({k: len(v) for k, v in kw.items()})
        return len(kw["results"])


def test_references_are_flushed_by_the_batch_rule(monkeypatch):
    w = loop._Writer(_FakeStore())
    w.reference("d0", {"cost": 1.0, "wall_time": 0.001}, "computed", {}, "v")
    assert w.store.batches == []  # young and cheap: waits for its batch
    w.reference("d1", {"cost": 1.0, "wall_time": loop.BATCH_SECONDS}, "computed", {}, "v")
    assert w.store.batches == [{"instances": 0, "members": 0, "references": 2, "results": 0}]
    w.reference("d2", {"cost": 1.0, "wall_time": None}, "computed", {}, "v")
    assert len(w.store.batches) == 1
    later = w.since + loop.BATCH_SECONDS + 1.0
    monkeypatch.setattr(loop.time, "monotonic", lambda: later)
    w.reference("d3", {"cost": 1.0, "wall_time": 0.0}, "computed", {}, "v")
    assert w.store.batches[-1]["references"] == 2


_KILLER = textwrap.dedent("""
    import os, signal, sys, time
    from offbench.run import InProcessExecutor, parse_spec, run
    from offbench.run import loop

    class KillAfter(InProcessExecutor):
        # SIGKILL as the 4th reference comes back, each one a batch window after the last
        def run(self, jobs, on_start):
            n = 0
            for job, out in super().run(jobs, on_start):
                if job.kind == "reference":
                    n += 1
                    if n == 4:
                        os.kill(os.getpid(), signal.SIGKILL)
                    time.sleep(loop.BATCH_SECONDS + 0.1)
                yield job, out

    spec = parse_spec({"name": "k", "reference": {"mode": "auto", "time_limit": 20.0},
                       "sources": [{"kind": "random", "name": "tiny", "count": 6,
                                    "n_devices": 2, "n_jobs": 2, "layers": [1, 3]}],
                       "solvers": ["greedy"]})
    run(spec, sys.argv[1], executor=KillAfter())
""")


def test_a_kill_in_the_reference_phase_keeps_the_references_done_before(tmp_path):
    store = tmp_path / "k.sqlite"
    p = subprocess.run([sys.executable, "-c", _KILLER, str(store)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -9, p.stderr[-2000:]
    con = sqlite3.connect(store)  # WAL replayed: what was committed
    try:
        refs = con.execute("SELECT COUNT(*) FROM refs").fetchone()[0]
        results = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    finally:
        con.close()
    # References 1..3 came back a batch window apart: 1 and 2 were committed as 2 came back
    # (its batch was due), 3 with 4 in the batch the kill lost, or sooner.
    assert refs >= 2 and results == 0


# ------------------------------------------------------------------ damaged stores
@pytest.fixture(scope="module")
def clean_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "s.sqlite"
    assert main([*RUN, "--count", "40", "--no-leaderboard", "--store", str(path)]) == 0
    return path


def _damage(src, dst, *, page_of: str | None = None, header: bool = False):
    shutil.copy(src, dst)
    con = sqlite3.connect(dst)
    try:
        size = con.execute("PRAGMA page_size").fetchone()[0]
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name=?",
                           (page_of,)).fetchone()[0] if page_of else None
    finally:
        con.close()
    with open(dst, "r+b") as f:
        if header:
            f.write(b"\xff" * 100)
        else:
            f.seek((root - 1) * size)
            f.write(b"\xff" * size)
    return dst


@pytest.mark.parametrize("page_of", ["results", "sqlite_autoindex_results_1"])
def test_run_on_a_damaged_store_says_so(clean_store, tmp_path, capsys, page_of):
    bad = _damage(clean_store, tmp_path / "bad store.sqlite", page_of=page_of)
    rc, _, err = _cli(capsys, *RUN, "--count", "40", "--store", bad)
    assert rc == 2
    assert "Traceback" not in err and "the store is damaged" in err and str(bad) in err
    assert "PRAGMA integrity_check" in err


def test_leaderboard_on_a_damaged_store_says_so(clean_store, tmp_path, capsys):
    bad = _damage(clean_store, tmp_path / "bad.sqlite", page_of="results")
    rc, _, err = _cli(capsys, "leaderboard", "--store", bad)
    assert rc == 2
    assert "Traceback" not in err and "the store is damaged" in err and "bad.sqlite" in err


def test_a_damaged_header_is_damaged_not_another_file(clean_store, tmp_path, capsys):
    bad = _damage(clean_store, tmp_path / "h.sqlite", header=True)
    for args in (["leaderboard", "--store", bad], [*RUN, "--store", bad]):
        rc, _, err = _cli(capsys, *args)
        assert rc == 2 and "the store is damaged" in err and "not an offbench" not in err, err
    text = tmp_path / "notes.sqlite"
    text.write_text("just some notes, long enough to be a file\n" * 20)
    rc, _, err = _cli(capsys, "leaderboard", "--store", text)
    assert rc == 2 and "not an offbench results store" in err and "is damaged" not in err


def test_a_meta_table_without_its_version_says_so(clean_store, tmp_path):
    path = tmp_path / "m.sqlite"
    shutil.copy(clean_store, path)
    con = sqlite3.connect(path)
    con.execute("DELETE FROM meta WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="no schema_version row") as e:
        Store.open_readonly(path)
    assert "None" not in str(e.value)


# ------------------------------------------------------------------ where a store cannot be
def test_a_store_under_a_file_is_named_not_its_logs_folder(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    rc, _, err = _cli(capsys, *RUN, "--store", tmp_path / "afile" / "s.sqlite")
    assert rc == 2
    assert "--store" in err and "logs" not in err and "is a file, not a folder" in err


def test_a_store_whose_logs_folder_cannot_be_made_is_named(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    real = Path.mkdir

    def refuse(self, *a, **kw):
        if self.name == "logs":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", refuse)
    rc, _, err = _cli(capsys, *RUN, "--store", tmp_path / "s.sqlite")
    assert rc == 2
    assert err.startswith(f"offbench: error: --store {tmp_path / 's.sqlite'}: "), err


def _drop_privileges() -> list[str] | None:
    """A command prefix under which a read-only folder is read-only (root ignores modes)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


def test_a_write_ahead_log_in_a_read_only_folder_is_refused_with_a_message(clean_store, tmp_path):
    prefix = _drop_privileges()
    if prefix is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made")
    src = tmp_path / "src.sqlite"
    shutil.copy(clean_store, src)
    folder = tmp_path / "ro"
    folder.mkdir()
    s = Store.open(src)  # WAL mode; a commit in the log, as a writer killed before closing
    try:
        s.conn.execute("INSERT INTO meta VALUES ('late', 'commit')")
        shutil.copy(src, folder / "s.sqlite")
        shutil.copy(str(src) + "-wal", folder / "s.sqlite-wal")
    finally:
        s.close()
    code = ("from offbench.store import Store, StoreError\n"
            "try:\n    Store.open_readonly(%r).close(); print('opened')\n"
            "except StoreError as e:\n    print(e)\n") % str(folder / "s.sqlite")
    os.chmod(folder, 0o555)
    try:
        p = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120)
    finally:
        os.chmod(folder, 0o755)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "write-ahead log s.sqlite-wal" in p.stdout and "writable folder" in p.stdout, p.stdout
