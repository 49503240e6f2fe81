"""The results store: keys, append-only rows, one writer, frames, references, clear errors."""

from __future__ import annotations

import json
import sqlite3

import pytest

from offbench import __version__
from offbench.generators import random_instance
from offbench.store import KEY_COLUMNS, Store, StoreError


def _row(digest: str, solver: str = "fx-zero-v1", seed: int = 0, **kw) -> dict:
    row = {"instance_digest": digest, "solver_id": solver, "param_hash": "h" * 64, "seed": seed,
           "track": "static", "track_config": {"time_limit": 1.0}, "offbench_version": __version__,
           "params": {}, "status": "feasible", "cost": 1.5, "feasible": True, "ref_cost": 1.0,
           "ratio": 1.5, "counted_infeasible": False, "bound": None, "gap": None,
           "wall_time": 0.01, "evaluations": 3, "decision": "0120", "error": None, "info": {},
           "run_id": 1, "worker": "test"}
    row.update(kw)
    return row


def _begin(store: Store) -> int:
    return store.begin_run(spec={"name": "t"}, spec_hash="s", offbench_version=__version__,
                           offbench_commit=None, machine={}, libraries={}, executor="test",
                           command=None)


def test_rows_round_trip_in_key_order(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store.open(path) as s:
        assert _begin(s) == 1
        for seed in (2, 0, 1):  # written out of order
            s.add_result(_row("b" * 64, seed=seed))
        s.add_result(_row("a" * 64, ratio=None, ref_cost=None, feasible=None, decision=None,
                          status="error", error="boom", cost=None))
    with Store.open_readonly(path) as s:
        rows = s.results()
        assert [(r["instance_digest"][0], r["seed"]) for r in rows] == [("a", 0), ("b", 0), ("b", 1), ("b", 2)]
        assert rows[0]["status"] == "error" and rows[0]["error"] == "boom" and rows[0]["cost"] is None
        assert rows[1]["feasible"] is True and rows[1]["track_config"] == {"time_limit": 1.0}
        assert rows[1]["decision"] == "0120" and rows[1]["evaluations"] == 3


def test_duplicate_key_is_refused_and_existing_keys_found(tmp_path):
    with Store.open(tmp_path / "r.sqlite") as s:
        _begin(s)
        s.add_result(_row("a" * 64))
        with pytest.raises(StoreError, match="already present"):
            s.add_result(_row("a" * 64, cost=2.0))
        key = tuple(_row("a" * 64)[c] for c in KEY_COLUMNS)
        key = key[:5] + ('{"time_limit":1.0}',) + key[6:]
        other = key[:3] + (9,) + key[4:]
        assert s.existing_keys([key, other]) == {key}
        assert s.count_results() == 1


def test_results_are_append_only(tmp_path):
    with Store.open(tmp_path / "r.sqlite") as s:
        _begin(s)
        s.add_result(_row("a" * 64), frames=[{"frame": 0, "instance_digest": "f", "status": "feasible",
                                             "wall_time": 0.1, "evaluations": 1}])
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            s.conn.execute("UPDATE results SET cost = 0")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            s.conn.execute("DELETE FROM results")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            s.conn.execute("DELETE FROM frames")


def test_frames_are_written_with_their_row(tmp_path):
    with Store.open(tmp_path / "r.sqlite") as s:
        _begin(s)
        frames = [{"frame": k, "instance_digest": f"d{k}", "status": "feasible", "cost": float(k),
                   "feasible": True, "ratio": 1.0 + k / 10, "counted_infeasible": False,
                   "wall_time": 0.001, "evaluations": 2, "decision": "01"} for k in range(3)]
        rid = s.add_result(_row("a" * 64, track="online"), frames)
        got = s.frames([rid])[rid]
        assert [f["frame"] for f in got] == [0, 1, 2]
        assert got[2]["ratio"] == pytest.approx(1.2) and got[0]["feasible"] is True


def test_a_failed_frame_insert_leaves_no_row(tmp_path):
    """One transaction per job: the row and its frames are written together or not at all."""
    with Store.open(tmp_path / "r.sqlite") as s:
        _begin(s)
        bad = [{"frame": 0, "instance_digest": "d", "status": "feasible", "wall_time": 0.0},
               {"frame": 0, "instance_digest": "d", "status": "feasible", "wall_time": 0.0}]
        with pytest.raises(sqlite3.IntegrityError):
            s.add_result(_row("a" * 64, track="online"), bad)
        assert s.count_results() == 0


def test_one_writer_at_a_time(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store.open(path):
        with pytest.raises(StoreError, match="another offbench run is writing"):
            Store.open(path)
        with Store.open_readonly(path) as r:  # readers are welcome meanwhile
            assert r.count_results() == 0
    with Store.open(path):  # the lock went with the writer
        pass


def test_a_symlink_to_a_store_shares_its_lock_and_nothing_is_left_beside_it(tmp_path):
    path = tmp_path / "r.sqlite"
    link = tmp_path / "link.sqlite"
    link.symlink_to(path)
    with Store.open(path) as s:
        inst = random_instance(0, n_jobs=1)
        s.add_instances([(inst, 1.0)])
        with pytest.raises(StoreError, match="another offbench run is writing"):
            Store.open(link)  # the same file by another name: the same lock
    with Store.open(link) as s:
        assert s.known_instances([inst.digest]) == {inst.digest}
    # The writer's lock file, the WAL and its shared memory go when the last writer closes,
    # and a reader after it leaves none behind either.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.sqlite", "r.sqlite"]
    with Store.open_readonly(path) as r:
        assert r.known_instances([inst.digest]) == {inst.digest}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.sqlite", "r.sqlite"]


def test_references_and_instances(tmp_path):
    inst = random_instance(3, n_jobs=2)
    with Store.open(tmp_path / "r.sqlite") as s:
        assert s.add_instances([(inst, 7.0)]) == 1
        assert s.add_instances([(inst, 7.0)]) == 0
        assert s.known_instances([inst.digest, "x"]) == {inst.digest}
        assert s.instance(inst.digest).digest == inst.digest
        ref = {"cost": 2.0, "bound": 2.0, "provenance": "exhaustive", "gap": 0.0,
               "solver": "exhaustive-v1", "wall_time": 0.1, "decision": [0, 1, 2]}
        assert s.add_reference(inst.digest, ref, origin="computed", settings={"time_limit": 60},
                               offbench_version=__version__)
        assert not s.add_reference(inst.digest, {**ref, "cost": 1.0}, origin="computed",
                                   settings={}, offbench_version=__version__)
        got = s.references([inst.digest])[inst.digest]
        assert got["cost"] == 2.0 and got["decision"] == "012" and got["provenance"] == "exhaustive"
        sid = s.add_source(name="src", digest="d", kind="random", spec={"k": 1}, members=[inst.digest])
        assert s.add_source(name="src", digest="d", kind="random", spec={"k": 1}, members=[inst.digest]) == sid
        assert s.sources()[0]["members"] == [inst.digest]


def test_clear_errors(tmp_path):
    with pytest.raises(StoreError, match="no such results store"):
        Store.open_readonly(tmp_path / "missing.sqlite")
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="not an offbench results store"):
        Store.open(other)
    with pytest.raises(StoreError, match="not an offbench results store"):
        Store.open_readonly(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not an offbench results store"):
        Store.open(junk)
    with pytest.raises(StoreError, match="is a directory"):
        Store.open(tmp_path)
    import os

    fifo = tmp_path / "pipe.sqlite"
    os.mkfifo(fifo)
    with pytest.raises(StoreError, match="not a regular file"):
        Store.open(fifo)
    assert not (tmp_path / "pipe.sqlite.lock").exists()


def test_a_refused_file_is_left_untouched(tmp_path):
    """A foreign SQLite database, a store of another schema version and a non-database file are
    refused before anything is written: same bytes, same journal mode, no lock file beside."""
    foreign = tmp_path / "foreign.sqlite"
    c = sqlite3.connect(foreign)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    old = tmp_path / "old.sqlite"
    c = sqlite3.connect(old)
    c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    c.execute("INSERT INTO meta VALUES ('format', 'offbench-results'), ('schema_version', '0')")
    c.commit()
    c.close()
    text = tmp_path / "notes.txt"
    text.write_text("my notes\n" * 50)
    for path, why in ((foreign, "not an offbench results store"), (old, "schema version 0"),
                      (text, "not an offbench results store")):
        before = path.read_bytes()
        with pytest.raises(StoreError, match=why):
            Store.open(path)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(path.name)) == [path.name]


#: The DDL of schema version 1 (offbench before per-frame learner metrics), verbatim: a store
#: written by that offbench, to test that this one migrates it and never misreads it.
V1_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT,
    spec TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    offbench_version TEXT NOT NULL,
    offbench_commit TEXT,
    machine TEXT NOT NULL,
    libraries TEXT NOT NULL,
    executor TEXT NOT NULL,
    command TEXT
);
CREATE TABLE IF NOT EXISTS sources (
    source_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    size INTEGER NOT NULL,
    UNIQUE (name, digest)
);
CREATE TABLE IF NOT EXISTS source_members (
    source_id INTEGER NOT NULL REFERENCES sources(source_id),
    position INTEGER NOT NULL,
    instance_digest TEXT NOT NULL,
    PRIMARY KEY (source_id, position)
);
CREATE TABLE IF NOT EXISTS instances (
    digest TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    n_devices INTEGER NOT NULL,
    n_jobs INTEGER NOT NULL,
    n_layers INTEGER NOT NULL,
    has_capacities INTEGER NOT NULL,
    has_deadlines INTEGER NOT NULL,
    all_device_cost REAL NOT NULL,
    content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    instance_digest TEXT PRIMARY KEY,
    cost REAL NOT NULL,
    bound REAL,
    provenance TEXT NOT NULL,
    gap REAL,
    solver TEXT,
    wall_time REAL,
    decision TEXT,
    origin TEXT NOT NULL,
    settings TEXT NOT NULL,
    offbench_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_digest TEXT NOT NULL,
    solver_id TEXT NOT NULL,
    param_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    track TEXT NOT NULL,
    track_config TEXT NOT NULL,
    offbench_version TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('optimal', 'feasible', 'timeout', 'error')),
    cost REAL,
    feasible INTEGER,
    ref_cost REAL,
    ratio REAL,
    counted_infeasible INTEGER,
    bound REAL,
    gap REAL,
    wall_time REAL NOT NULL,
    evaluations INTEGER NOT NULL,
    decision TEXT,
    error TEXT,
    info TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    worker TEXT,
    finished_at TEXT NOT NULL,
    UNIQUE (instance_digest, solver_id, param_hash, seed, track, track_config, offbench_version)
);
CREATE TABLE IF NOT EXISTS frames (
    row_id INTEGER NOT NULL REFERENCES results(row_id),
    frame INTEGER NOT NULL,
    instance_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    cost REAL,
    feasible INTEGER,
    ref_cost REAL,
    ratio REAL,
    counted_infeasible INTEGER,
    wall_time REAL NOT NULL,
    evaluations INTEGER NOT NULL,
    decision TEXT,
    error TEXT,
    PRIMARY KEY (row_id, frame)
);
CREATE TRIGGER IF NOT EXISTS results_append_only_u BEFORE UPDATE ON results
    BEGIN SELECT RAISE(ABORT, 'results are append-only'); END;
CREATE TRIGGER IF NOT EXISTS results_append_only_d BEFORE DELETE ON results
    BEGIN SELECT RAISE(ABORT, 'results are append-only'); END;
CREATE TRIGGER IF NOT EXISTS frames_append_only_u BEFORE UPDATE ON frames
    BEGIN SELECT RAISE(ABORT, 'frames are append-only'); END;
CREATE TRIGGER IF NOT EXISTS frames_append_only_d BEFORE DELETE ON frames
    BEGIN SELECT RAISE(ABORT, 'frames are append-only'); END;
"""


def _v1_store(path) -> None:
    """A schema-1 store with one online row and two frames, as the old offbench wrote it."""
    c = sqlite3.connect(path)
    c.executescript(V1_DDL)
    c.execute("INSERT INTO meta VALUES ('format', 'offbench-results'), ('schema_version', '1')")
    c.execute("INSERT INTO runs (started_at, spec, spec_hash, offbench_version, offbench_commit, "
              "machine, libraries, executor, command) VALUES ('t', '{}', 's', ?, NULL, '{}', '{}', "
              "'test', NULL)", (__version__,))
    row = _row("a" * 64, track="online")
    cols = [k for k in row]
    vals = [json.dumps(v, sort_keys=True, separators=(",", ":")) if isinstance(v, dict) else
            (int(v) if isinstance(v, bool) else v) for v in row.values()]
    c.execute(f"INSERT INTO results ({', '.join(cols)}, finished_at) VALUES "
              f"({', '.join('?' * len(cols))}, 't')", vals)
    for k in range(2):
        c.execute("INSERT INTO frames (row_id, frame, instance_digest, status, cost, feasible, "
                  "ref_cost, ratio, counted_infeasible, wall_time, evaluations, decision, error) "
                  "VALUES (1, ?, 'd', 'feasible', 1.0, 1, 1.0, 1.0, 0, 0.01, 2, '01', NULL)", (k,))
    c.commit()
    c.close()


def test_a_schema_1_store_is_read_as_it_is_and_migrated_when_written(tmp_path):
    path = tmp_path / "old.sqlite"
    _v1_store(path)
    # Read-only: read as version 1, the file untouched; its frames reported nothing.
    before = path.read_bytes()
    with Store.open_readonly(path) as s:
        assert s.schema_version == 1
        (rid, frames), = s.frames().items()
        assert [f["frame"] for f in frames] == [0, 1] and all(f["info"] == {} for f in frames)
        assert s.results()[0]["track"] == "online"
    assert path.read_bytes() == before
    # Written: migrated in one transaction (column added, version bumped); old frames keep {}.
    with Store.open(path) as s:
        assert s.schema_version == 3
        assert dict(s.conn.execute("SELECT key, value FROM meta"))["schema_version"] == "3"
        cols = [r[1] for r in s.conn.execute("PRAGMA table_info(frames)")]
        assert cols[-1] == "info"
        # 2 -> 3: the referee's columns; old rows unflagged, refereeing unknown
        rcols = [r[1] for r in s.conn.execute("PRAGMA table_info(results)")]
        assert rcols[-2:] == ["flags", "refereed"]
        assert s.results()[0]["flags"] == [] and s.results()[0]["refereed"] is None
        rid2 = s.add_result(_row("b" * 64, track="online"), [
            {"frame": 0, "instance_digest": "d", "status": "feasible", "wall_time": 0.0,
             "info": {"loss": 0.25, "epsilon": 0.1, "K": 3}}])
        got = s.frames()
        assert all(f["info"] == {} for f in got[rid])
        assert got[rid2][0]["info"] == {"loss": 0.25, "epsilon": 0.1, "K": 3}
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            s.conn.execute("UPDATE frames SET info = '{}'")
    with Store.open_readonly(path) as s:
        assert s.schema_version == 3 and len(s.results()) == 2


def test_a_store_of_a_newer_schema_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "new.sqlite"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    c.execute("INSERT INTO meta VALUES ('format', 'offbench-results'), ('schema_version', '99')")
    c.commit()
    c.close()
    for opener in (Store.open, Store.open_readonly):
        with pytest.raises(StoreError, match="schema version 99.*newer offbench: upgrade offbench"):
            opener(path)
