"""The results store: an embedded SQLite file, append-only, written by one process.

Every finished job of ``offbench run`` is one row of ``results``, keyed by

    (instance digest, solver ID, parameter hash, seed, track, track config, offbench version)

and written in one transaction together with its per-frame rows (``frames``, for the learning
tracks). The key is a ``UNIQUE`` constraint, so a resumed run can never add a duplicate; triggers
refuse ``UPDATE`` and ``DELETE`` on results and frames (append-only). The file is in WAL mode with
``synchronous=NORMAL``: a transaction that has committed survives the writer being killed
(``SIGKILL`` included) at any moment, and one that has not committed leaves no trace. Only power
loss can lose the last commits (never half of one).

One writer at a time: :meth:`Store.open` for writing takes an exclusive ``flock`` on
``PATH.lock`` (released by the kernel if the writer dies), so a second ``offbench run`` on the same
store is refused with a message instead of interleaving. Readers (``offbench leaderboard``) may
read while a run writes.

Tables
------
``runs``
    One row per ``offbench run`` invocation: its spec (canonical JSON), the offbench version and
    commit, machine and library versions, the executor. The provenance of every table.
``sources`` / ``source_members``
    Each instance source (a family draw, a frozen set, a random draw, a frame stream) by name and
    digest, and the digests of its instances in order.
``instances``
    Each instance once, by content digest: sizes, its all-device cost, and the instance itself
    (its instance file, SPEC.md section 3, zlib-compressed: lossless and never unpickled).
``refs``
    Each instance's reference (SPEC.md section 6), computed once and reused, with provenance.
``results``
    One row per job: status, cost, feasibility, reference cost and cost ratio, bound, gap, wall
    time, evaluations, decision (one digit per layer), error text, extra info (JSON), and what
    the referee (:mod:`offbench.run.referee`) found:

    ``flags``
        JSON list of flag names (:data:`offbench.run.referee.FLAGS`: ``false_optimal``,
        ``bound_above_optimum``, ``bound_above_cost``, ``non_finite_bound``,
        ``non_finite_objective``, ``cost_mismatch``, ``invalid_decision``,
        ``below_proven_optimum``, ``bad_status``, ``malformed_frames``, ``tampered``), sorted;
        ``[]`` when every claim holds. A row with any flag is **not solved**: its ``ratio`` is
        the all-device fallback ratio, ``counted_infeasible`` is 1, and it never wins.
    ``refereed``
        1 when the row was judged by a process that no solver's code ran in (pool, Dask, or an
        in-process run of offbench's own solvers only); 0 for an in-process run that loaded a
        plug-in (its numbers may have been changed by that plug-in: tables must mark it); NULL
        for rows written before the referee (schema 2 and older).

    The columns that count (``cost``, ``feasible``, ``ratio``, ``counted_infeasible``, ``gap``,
    ``wall_time``) are the referee's, never the solver's: ``wall_time`` is measured by the
    process that ran the sandbox (the sandbox's own figure is ``info.self_reported_wall_time``);
    ``evaluations`` are self-reported (counted in the solver's process), shown but never scored.
``built_members``
    Which instance each member of a generated source (a family or random draw) turned out to
    be, recorded as the run builds them (a run builds members where they are solved, so their
    digests are known only then): ``(member key, position) -> instance digest``
    (:meth:`Store.record_members`). A resumed run reads it to skip finished members without
    building them, and the source's row is written from it once every member is known.
``frames``
    Per-frame rows of a learning-track job, keyed by (result row, frame index), with what the
    learner said it learned from that frame (``info``: JSON, e.g. ``{"loss": 0.12}``).

Kept whole (about 1,100 lines): one schema and the one class that reads and writes it, so that
the append-only guarantees (triggers, the unique key, one transaction per job, the writer lock)
and every query that relies on them can be checked in one file.

Writing in batches: :meth:`Store.write_batch` appends many jobs' rows (with their instances,
members and references) in one transaction, skipping a row whose key is already present (the
same job finished twice: a Dask task re-run after its worker died). ``offbench run`` commits a
batch at least every quarter of a second (:mod:`offbench.run.loop`): a kill loses at most that
batch, which a resume redoes.

Paths and damage: SQLite URIs (the read-only opens) are built from the percent-escaped path
(:func:`_uri`), so any file name works. SQLite's own errors saying a file is damaged (a page
that is not what it wrote, a header that is not its) become one message naming the store
(:func:`damaged_error`): when opening, and, for reads after it, in :meth:`Store.__exit__`,
:func:`reading` and the run loop.

Schema versions: 2 added ``frames.info``; 3 added ``results.flags`` and ``results.refereed``
(``built_members`` was added to version 3 as it stands: created when a store is opened for
writing; older readers ignore it).
A store of version 1 or 2 is migrated when it is opened for writing (the columns added and the
version bumped in one transaction: its frames read as having learned nothing to report, ``{}``;
its rows as unflagged, ``[]``, and of unknown refereeing, NULL); read-only, it is read as its
version with the same meaning. A store of any other version is refused with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import sqlite3
import urllib.parse
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import UserError

SCHEMA_VERSION = 3
#: Older schema versions this offbench reads, and migrates when it opens them for writing.
MIGRATABLE = ("1", "2")
STORE_FORMAT = "offbench-results"

#: The default store of ``offbench run`` and ``offbench leaderboard`` (relative to the working
#: directory; ``/offbench-results/`` is git-ignored).
DEFAULT_STORE = os.path.join("offbench-results", "results.sqlite")

KEY_COLUMNS = ("instance_digest", "solver_id", "param_hash", "seed", "track", "track_config",
               "offbench_version")

#: Result columns that must be identical whichever executor ran a job, resumed or not.
QUALITY_COLUMNS = ("status", "cost", "feasible", "ref_cost", "ratio", "counted_infeasible",
                   "bound", "gap", "evaluations", "decision", "error", "flags")

RESULT_COLUMNS = KEY_COLUMNS + (
    "params", "status", "cost", "feasible", "ref_cost", "ratio", "counted_infeasible", "bound",
    "gap", "wall_time", "evaluations", "decision", "error", "info", "run_id", "worker",
    "finished_at", "flags", "refereed",
)

FRAME_COLUMNS = ("frame", "instance_digest", "status", "cost", "feasible", "ref_cost", "ratio",
                 "counted_infeasible", "wall_time", "evaluations", "decision", "error", "info")

_SCHEMA = f"""
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
    flags TEXT NOT NULL DEFAULT '[]',
    refereed INTEGER,
    UNIQUE ({", ".join(KEY_COLUMNS)})
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
    info TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (row_id, frame)
);
CREATE TABLE IF NOT EXISTS built_members (
    member_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    instance_digest TEXT NOT NULL,
    PRIMARY KEY (member_key, position)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS results_append_only_u BEFORE UPDATE ON results
    BEGIN SELECT RAISE(ABORT, 'results are append-only'); END;
CREATE TRIGGER IF NOT EXISTS results_append_only_d BEFORE DELETE ON results
    BEGIN SELECT RAISE(ABORT, 'results are append-only'); END;
CREATE TRIGGER IF NOT EXISTS frames_append_only_u BEFORE UPDATE ON frames
    BEGIN SELECT RAISE(ABORT, 'frames are append-only'); END;
CREATE TRIGGER IF NOT EXISTS frames_append_only_d BEFORE DELETE ON frames
    BEGIN SELECT RAISE(ABORT, 'frames are append-only'); END;
"""


def now() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def canonical_json(obj: Any) -> str:
    """Compact JSON with sorted keys: the text that hashes and keys are made of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _real(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None



def decode_result(r: dict) -> dict:
    """Decode a result row read from SQL in place (JSON columns, booleans), and return it."""
    for k in ("params", "info", "track_config"):
        r[k] = json.loads(r[k])
    # Schemas 1 and 2 (read-only, not migrated): no flags, refereeing unknown.
    r["flags"] = json.loads(r["flags"]) if r.get("flags") is not None else []
    r["refereed"] = None if r.get("refereed") is None else bool(r["refereed"])
    for k in ("feasible", "counted_infeasible"):
        if r[k] is not None:
            r[k] = bool(r[k])
    return r

class StoreError(UserError):
    """A results store that cannot be opened or used (named by its path)."""


class Store:
    """An open results store.

    Use :meth:`open` (write, one process at a time) or :meth:`open_readonly`.

    Parameters
    ----------
    path : path-like
        The SQLite file.
    """

    def __init__(self, path: str | os.PathLike, conn: sqlite3.Connection, *, writable: bool,
                 lock_fd: int | None = None):
        self.path = Path(path)
        self.conn = conn
        self.writable = writable
        self._lock_fd = lock_fd
        #: The schema version of the file (a read-only store of an older version keeps it).
        self.schema_version = SCHEMA_VERSION

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike) -> "Store":
        """Open (creating if needed) a store for writing, holding its writer lock.

        Raises
        ------
        StoreError
            Another process is writing to it, the folder cannot be created, or the file is not an
            offbench results store of this schema version.
        """
        given, p = cls.check_writable(path)
        lock_fd = _lock(p)
        try:
            conn = sqlite3.connect(str(p), isolation_level=None, timeout=30.0)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                store = cls(p, conn, writable=True, lock_fd=lock_fd)
                store._init_schema()
            except sqlite3.DatabaseError as e:
                conn.close()
                if _readonly_error(e):
                    raise StoreError(f"--store {given}: cannot write there ({e}); copy the store "
                                     "to a writable folder, or give another --store") from None
                raise _unreadable(given, e) from None
        except BaseException:
            _unlock(lock_fd, p)
            raise
        store._lock_path = p
        return store

    @classmethod
    def check_writable(cls, path: str | os.PathLike) -> tuple[Path, Path]:
        """Check, without locking or writing it, that a store can be opened for writing there
        (creating its folder): what :meth:`open` checks first. ``offbench run`` calls it before
        it makes anything beside the store (its logs folder), so that a bad ``--store`` is
        named as such. Returns the path given and the real file's path.

        Raises
        ------
        StoreError
            As :meth:`open` (but for the writer lock).
        """
        given = Path(path)
        try:
            given.parent.mkdir(parents=True, exist_ok=True)
            # The lock and the database are those of the real file: a symbolic link to a store
            # must not give a second writer a second lock file (and a second WAL).
            p = given.resolve()
        except (OSError, RuntimeError) as e:
            above = next((a for a in given.parents if a.exists()), None)
            if above is not None and not above.is_dir():
                raise StoreError(f"--store {given}: {above} is a file, not a folder; give a "
                                 "path in a folder") from None
            raise StoreError(f"--store {given}: cannot create its folder or follow its path "
                             f"({getattr(e, 'strerror', None) or e})") from None
        if p.exists() and p.is_dir():
            raise StoreError(f"--store {p}: is a directory; give a file path such as {p / 'results.sqlite'}")
        if p.exists() and not p.is_file():
            raise StoreError(f"--store {p}: not a regular file (a device, a pipe?); give a file "
                             "path such as results.sqlite")
        if p.exists() and p.stat().st_size > 0:
            # Refuse a file that is not a store of this schema before writing anything: no
            # lock file beside it, no WAL switch, no tables added to someone else's database.
            cls.open_readonly(p).close()
        if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
            raise StoreError(f"--store {given}: the store or its folder is read-only; a run writes "
                             "the store, its lock and its journal there. Copy it to a writable "
                             "folder, or give another --store")
        return given, p

    @classmethod
    def open_readonly(cls, path: str | os.PathLike) -> "Store":
        """Open an existing store for reading (no lock; a run may be writing meanwhile)."""
        p = Path(path)
        if not p.is_file():
            raise StoreError(f"--store {p}: no such results store (run `offbench run --store {p}` first)")
        store = None
        try:
            conn = sqlite3.connect(_uri(p, "mode=ro"), uri=True, isolation_level=None,
                                   timeout=30.0)
            store = cls(p, conn, writable=False)
            store._check_schema()
        except sqlite3.DatabaseError as e:
            if store is not None:
                store.close()
            if not _readonly_error(e):
                raise _unreadable(p, e) from None
            # A store in WAL mode in a folder this process cannot write (a read-only mount, a
            # shared results folder): SQLite cannot make the shared-memory file beside it.
            # Nobody can be writing there either, so it is read as an immutable file, which
            # SQLite reads without its write-ahead log: one with commits in it is refused.
            wal = p.with_name(p.name + "-wal")
            if wal.is_file() and wal.stat().st_size > 0:
                raise StoreError(
                    f"--store {p}: it has commits in its write-ahead log {wal.name} (its writer "
                    "was stopped before it closed the store), which SQLite cannot read in a "
                    f"folder this process cannot write; copy {p.name} and {wal.name} together "
                    "to a writable folder and read the copy there") from None
            store = _open_immutable(cls, p)
        except BaseException:
            if store is not None:
                store.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection and release the writer lock.

        The writer leaves the store as one file: it switches the journal back from WAL (which
        checkpoints and removes ``-wal`` and ``-shm``), so that later read-only opens, which
        cannot remove those files, find none to leave behind. With readers still connected the
        switch is skipped; the next writer switches to WAL again."""
        if self.conn is not None:
            if self.writable:
                try:
                    self.conn.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.Error:
                    pass
            self.conn.close()
            self.conn = None
        if self._lock_fd is not None:
            _unlock(self._lock_fd, getattr(self, "_lock_path", None))
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if damaged(exc):
            raise damaged_error(self.path, exc) from None

    def _init_schema(self) -> None:
        c = self.conn
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise StoreError(f"--store {self.path}: an SQLite file, but not an offbench results store "
                             f"(it has tables {', '.join(sorted(tables))})")
        if "meta" in tables:
            self._migrate()
        c.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _split_sql(_SCHEMA):
                c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (STORE_FORMAT,))
            c.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._check_schema()

    def _migrate(self) -> None:
        """Bring a store of an older schema version (:data:`MIGRATABLE`) to this one, in one
        transaction: version 1 -> 2 adds ``frames.info`` (``{}`` for the frames already there);
        2 -> 3 adds ``results.flags`` (``[]``) and ``results.refereed`` (NULL: unknown)."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            version = dict(c.execute("SELECT key, value FROM meta")).get("schema_version")
            if version == "1":
                c.execute("ALTER TABLE frames ADD COLUMN info TEXT NOT NULL DEFAULT '{}'")
            if version in ("1", "2"):
                c.execute("ALTER TABLE results ADD COLUMN flags TEXT NOT NULL DEFAULT '[]'")
                c.execute("ALTER TABLE results ADD COLUMN refereed INTEGER")
                c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _check_schema(self) -> None:
        try:
            meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        except sqlite3.OperationalError as e:
            if "no such table" not in str(e):
                raise  # unreadable (a read-only folder, a damaged file): the caller says which
            raise StoreError(f"--store {self.path}: not an offbench results store (no meta table)") from None
        if meta.get("format") != STORE_FORMAT:
            raise StoreError(f"--store {self.path}: not an offbench results store")
        version = meta.get("schema_version")
        if version is None:
            raise StoreError(f"--store {self.path}: its meta table has no schema_version row: a "
                             "damaged store, or not an offbench results store")
        if version in MIGRATABLE and not self.writable:
            self.schema_version = int(version)
            return
        if version != str(SCHEMA_VERSION):
            newer = version.isdigit() and int(version) > SCHEMA_VERSION
            raise StoreError(
                f"--store {self.path}: schema version {version}, but this offbench reads versions "
                f"{', '.join(MIGRATABLE)} (migrating them to {SCHEMA_VERSION} when it writes) and "
                f"{SCHEMA_VERSION}; "
                + ("it was written by a newer offbench: upgrade offbench to read it" if newer else
                   "use a new store path (or the offbench version that wrote it)"))

    def transaction(self):
        """A context manager: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception)."""
        return _Transaction(self.conn)

    def _need_writable(self) -> None:
        if not self.writable:
            raise StoreError(f"--store {self.path}: opened read-only")

    # ------------------------------------------------------------------ runs
    def begin_run(self, *, spec: dict, spec_hash: str, offbench_version: str,
                  offbench_commit: str | None, machine: dict, libraries: dict, executor: str,
                  command: str | None) -> int:
        """Record the start of a run; returns its ``run_id``."""
        self._need_writable()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (started_at, spec, spec_hash, offbench_version, offbench_commit, "
                "machine, libraries, executor, command) VALUES (?,?,?,?,?,?,?,?,?)",
                (now(), canonical_json(spec), spec_hash, offbench_version, offbench_commit,
                 canonical_json(machine), canonical_json(libraries), executor, command))
            return int(cur.lastrowid)

    def end_run(self, run_id: int, outcome: str) -> None:
        """Record how a run ended (``complete``, ``interrupted``, ``failed``)."""
        self._need_writable()
        with self.transaction():
            self.conn.execute("UPDATE runs SET finished_at=?, outcome=? WHERE run_id=?",
                              (now(), outcome, run_id))

    def runs(self, run_ids: Iterable[int] | None = None) -> list[dict]:
        """Run records (spec, machine, libraries decoded), by ``run_id``."""
        q = "SELECT * FROM runs"
        args: tuple = ()
        if run_ids is not None:
            ids = sorted(set(int(r) for r in run_ids))
            if not ids:
                return []
            q += f" WHERE run_id IN ({','.join('?' * len(ids))})"
            args = tuple(ids)
        out = []
        for r in self._dicts(q + " ORDER BY run_id", args):
            for k in ("spec", "machine", "libraries"):
                r[k] = json.loads(r[k])
            out.append(r)
        return out

    # ------------------------------------------------------------------ sources and instances
    def add_source(self, *, name: str, digest: str, kind: str, spec: dict,
                   members: Iterable[str]) -> int:
        """Record an instance source and its members (idempotent); returns its ``source_id``.

        ``members`` may be any iterable of digests (a lazy source streams them from
        :meth:`member_digests`)."""
        self._need_writable()
        with self.transaction():
            row = self.conn.execute("SELECT source_id, size FROM sources WHERE name=? AND digest=?",
                                    (name, digest)).fetchone()
            if row is not None:
                return int(row[0])
            cur = self.conn.execute(
                "INSERT INTO sources (name, digest, kind, spec, size) VALUES (?,?,?,?,?)",
                (name, digest, kind, canonical_json(spec), 0))
            sid = int(cur.lastrowid)
            n = [0]

            def rows():
                for i, d in enumerate(members):
                    n[0] = i + 1
                    yield (sid, i, d)

            self.conn.executemany("INSERT INTO source_members VALUES (?,?,?)", rows())
            self.conn.execute("UPDATE sources SET size=? WHERE source_id=?", (n[0], sid))
            return sid

    def has_source(self, name: str, digest: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sources WHERE name=? AND digest=?",
                                 (name, digest)).fetchone() is not None

    # ------------------------------------------------------------------ built members
    def member_digests(self, member_key: str, start: int = 0, stop: int | None = None) -> dict[int, str]:
        """The digests recorded for positions ``start .. stop - 1`` of a generated source
        (:meth:`record_members`), by position; positions not built yet are absent."""
        q = "SELECT position, instance_digest FROM built_members WHERE member_key=? AND position>=?"
        args: tuple = (member_key, start)
        if stop is not None:
            q += " AND position<?"
            args += (stop,)
        return dict(self.conn.execute(q, args))

    def count_members(self, member_key: str, count: int) -> int:
        """How many of positions ``0 .. count - 1`` have a recorded digest."""
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM built_members WHERE member_key=? AND position<?",
            (member_key, count)).fetchone()[0])

    def iter_member_digests(self, member_key: str, count: int):
        """The distinct digests recorded for positions ``0 .. count - 1``, in the order of
        their first position (streamed; an instance drawn twice counts once)."""
        cur = self.conn.cursor()
        cur.execute(
            "SELECT instance_digest FROM built_members WHERE member_key=? AND position<? "
            "GROUP BY instance_digest ORDER BY MIN(position)", (member_key, count))
        for (d,) in cur:
            yield d

    def record_members(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """Record ``(member key, position, digest)`` of built members (first one wins)."""
        self._need_writable()
        with self.transaction():
            self.conn.executemany("INSERT OR IGNORE INTO built_members VALUES (?,?,?)", rows)

    def sources(self) -> list[dict]:
        """Every source with its members (list of digests in order)."""
        out = self._dicts("SELECT * FROM sources ORDER BY source_id")
        for s in out:
            s["spec"] = json.loads(s["spec"])
            s["members"] = [r[0] for r in self.conn.execute(
                "SELECT instance_digest FROM source_members WHERE source_id=? ORDER BY position",
                (s["source_id"],))]
        return out

    def add_instances(self, items: Iterable[tuple[Any, float]]) -> int:
        """Record instances (``(Instance, all_device_cost)`` pairs) not yet stored; returns how
        many were new."""
        self._need_writable()
        new = 0
        with self.transaction():
            for inst, adc in items:
                cur = self.conn.execute("INSERT OR IGNORE INTO instances VALUES (?,?,?,?,?,?,?,?,?)",
                                        instance_record(inst, adc))
                new += cur.rowcount
        return new

    def known_instances(self, digests: Iterable[str]) -> set[str]:
        """The subset of ``digests`` already in ``instances``."""
        return self._present("SELECT digest FROM instances WHERE digest IN ({})", list(digests))

    def instance(self, digest: str):
        """The stored instance with this digest (an :class:`~offbench.instance.Instance`)."""
        from .instance import Instance

        row = self.conn.execute("SELECT content FROM instances WHERE digest=?", (digest,)).fetchone()
        if row is None:
            raise StoreError(f"--store {self.path}: no instance with digest {digest[:12]}")
        return Instance.from_json(zlib.decompress(bytes(row[0])))

    def instance_info(self) -> dict[str, dict]:
        """Sizes, names and all-device costs of every stored instance, by digest."""
        return {r["digest"]: r for r in self._dicts(
            "SELECT digest, name, n_devices, n_jobs, n_layers, has_capacities, has_deadlines, "
            "all_device_cost FROM instances")}

    # ------------------------------------------------------------------ references
    def add_reference(self, digest: str, ref: dict, *, origin: str, settings: dict,
                      offbench_version: str) -> bool:
        """Cache an instance's reference (first one wins); returns whether it was new.

        ``ref`` has the keys of ``offbench.reference.Reference.to_dict()``: ``cost``, ``bound``,
        ``provenance``, ``gap``, ``solver``, ``wall_time``, ``decision``.
        """
        self._need_writable()
        with self.transaction():
            return self._insert_reference(digest, ref, origin, settings, offbench_version)

    def _insert_reference(self, digest, ref, origin, settings, offbench_version) -> bool:
        r = stored_reference(ref)
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO refs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (digest, r["cost"], r["bound"], r["provenance"], r["gap"], r["solver"],
             r["wall_time"], r["decision"], origin, canonical_json(settings), offbench_version,
             now()))
        return cur.rowcount == 1

    def references(self, digests: Iterable[str] | None = None) -> dict[str, dict]:
        """Cached references by instance digest."""
        if digests is None:
            rows = self._dicts("SELECT * FROM refs")
        else:
            ds = list(digests)
            rows = []
            for chunk in _chunks(ds, 500):
                rows += self._dicts(
                    f"SELECT * FROM refs WHERE instance_digest IN ({','.join('?' * len(chunk))})",
                    tuple(chunk))
        out = {}
        for r in rows:
            r["settings"] = json.loads(r["settings"])
            out[r["instance_digest"]] = r
        return out

    # ------------------------------------------------------------------ results
    def existing_keys(self, keys: Sequence[tuple]) -> set[tuple]:
        """The subset of job keys (tuples in :data:`KEY_COLUMNS` order) already present."""
        if not keys:
            return set()
        present = set()
        # One indexed lookup per distinct (digest) keeps this fast for large runs.
        wanted = set(keys)
        digests = sorted({k[0] for k in keys})
        cols = ", ".join(KEY_COLUMNS)
        for chunk in _chunks(digests, 500):
            for row in self.conn.execute(
                    f"SELECT {cols} FROM results WHERE instance_digest IN ({','.join('?' * len(chunk))})",
                    tuple(chunk)):
                if row in wanted:
                    present.add(row)
        return present

    def write_batch(self, *, instances: Sequence[tuple] = (), members: Sequence[tuple] = (),
                    references: Sequence[tuple] = (),
                    results: Sequence[tuple[dict, Sequence[dict]]] = ()) -> int:
        """Append many jobs in one transaction; returns how many result rows were new.

        ``instances``: :func:`instance_record` tuples (those already stored are skipped);
        ``members``: ``(member key, position, digest)`` (:meth:`record_members`);
        ``references``: ``(digest, reference dict, origin, settings, offbench version)``
        (:meth:`add_reference`, first one wins); ``results``: ``(row, frames)`` as
        :meth:`add_result` takes them. A result whose key is already present is skipped with
        its frames (the same job finished twice, as when a Dask task runs again after its
        worker died): a batch never duplicates a row.
        """
        self._need_writable()
        new = 0
        with self.transaction():
            if instances:
                self.conn.executemany("INSERT OR IGNORE INTO instances VALUES (?,?,?,?,?,?,?,?,?)",
                                      instances)
            if members:
                self.conn.executemany("INSERT OR IGNORE INTO built_members VALUES (?,?,?)", members)
            for digest, ref, origin, settings, version in references:
                self._insert_reference(digest, ref, origin, settings, version)
            sql = (f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(RESULT_COLUMNS))}) "
                   f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO NOTHING")
            plain: list = []  # consecutive rows without frames: one call, in order

            def write_plain() -> int:
                before = self.conn.total_changes
                self.conn.executemany(sql, plain)
                plain.clear()
                return self.conn.total_changes - before  # the rows that were new

            stamp = now()  # the rows without their finish time: when they are stored
            for row, frames in results:
                if not frames:
                    plain.append(_result_values(row, stamp))
                    continue
                if plain:
                    new += write_plain()
                cur = self.conn.execute(sql, _result_values(row, stamp))
                if cur.rowcount != 1:
                    continue
                new += 1
                self._insert_frames(int(cur.lastrowid), frames)
            if plain:
                new += write_plain()
        return new

    def add_result(self, row: dict, frames: Sequence[dict] = ()) -> int:
        """Append one job's row and its frames in one transaction; returns its ``row_id``.

        Raises
        ------
        StoreError
            A row with the same key is already present (a resumed run skips those first, so
            this means two writers or a bug).
        """
        self._need_writable()
        values = _result_values(row)
        try:
            with self.transaction():
                cur = self.conn.execute(
                    f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(RESULT_COLUMNS))})", values)
                rid = int(cur.lastrowid)
                if frames:
                    self._insert_frames(rid, frames)
        except sqlite3.IntegrityError as e:
            if "UNIQUE constraint failed: results." in str(e):
                key = tuple(row.get(c) for c in KEY_COLUMNS)
                raise StoreError(f"--store {self.path}: a row with key {key} is already present "
                                 "(is another process writing to this store?)") from None
            raise
        return rid

    def _insert_frames(self, rid: int, frames: Sequence[dict]) -> None:
        self.conn.executemany(
            f"INSERT INTO frames (row_id, {', '.join(FRAME_COLUMNS)}) "
            f"VALUES (?, {', '.join('?' * len(FRAME_COLUMNS))})",
            [(rid, *(_frame_value(c, f.get(c)) for c in FRAME_COLUMNS)) for f in frames])

    def results(self, *, offbench_version: str | None = None, track: str | None = None) -> list[dict]:
        """Result rows as dicts, ordered by key (deterministic whatever order they were written in).

        ``params``, ``info`` and ``track_config`` are decoded from JSON; ``feasible`` and
        ``counted_infeasible`` are bools (or None).
        """
        q = "SELECT * FROM results"
        cond, args = [], []
        if offbench_version is not None:
            cond.append("offbench_version = ?")
            args.append(offbench_version)
        if track is not None:
            cond.append("track = ?")
            args.append(track)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY " + ", ".join(KEY_COLUMNS)
        out = self._dicts(q, tuple(args))
        for r in out:
            decode_result(r)
        return out

    def frames(self, row_ids: Iterable[int] | None = None) -> dict[int, list[dict]]:
        """Per-frame rows by result ``row_id``, each list in frame order."""
        q = "SELECT * FROM frames"
        args: tuple = ()
        if row_ids is not None:
            ids = sorted(set(int(r) for r in row_ids))
            if not ids:
                return {}
            q += f" WHERE row_id IN ({','.join('?' * len(ids))})"
            args = tuple(ids)
        out: dict[int, list[dict]] = {}
        for r in self._dicts(q + " ORDER BY row_id, frame", args):
            for k in ("feasible", "counted_infeasible"):
                if r[k] is not None:
                    r[k] = bool(r[k])
            # Schema 1 (read-only, not migrated) had no info: nothing was reported.
            r["info"] = json.loads(r["info"]) if r.get("info") is not None else {}
            out.setdefault(r["row_id"], []).append(r)
        return out

    def quality_snapshot(self) -> list[tuple]:
        """Every row's key and quality columns (plus its frames' quality columns), in key order.

        Two stores filled by the same spec on any executors, resumed or not, have equal
        snapshots (wall times, workers and row ids are left out).
        """
        cols = ", ".join(KEY_COLUMNS + QUALITY_COLUMNS)
        fcols = ("frame", "instance_digest", "status", "cost", "feasible", "ref_cost", "ratio",
                 "counted_infeasible", "evaluations", "decision", "error")
        out = []
        for row in self.conn.execute(f"SELECT row_id, {cols} FROM results ORDER BY "
                                     + ", ".join(KEY_COLUMNS)).fetchall():
            frames = tuple(self.conn.execute(
                f"SELECT {', '.join(fcols)} FROM frames WHERE row_id=? ORDER BY frame", (row[0],)))
            out.append(tuple(row[1:]) + (frames,))
        return out

    def count_results(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def versions(self) -> list[str]:
        """The offbench versions that have rows in this store."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT offbench_version FROM results ORDER BY offbench_version")]

    # ------------------------------------------------------------------ helpers
    def _dicts(self, q: str, args: tuple = ()) -> list[dict]:
        cur = self.conn.execute(q, args)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def _present(self, q: str, values: list) -> set:
        out = set()
        for chunk in _chunks(values, 500):
            out.update(r[0] for r in self.conn.execute(q.format(",".join("?" * len(chunk))), tuple(chunk)))
        return out


def stored_reference(ref: dict) -> dict:
    """A reference's fields as the store keeps them (and :meth:`Store.references` reads them
    back): non-finite numbers as None, the decision as one digit per layer. A Dask worker
    scores against this form, as the runner does against the cached row."""
    dec = ref.get("decision")
    if dec is not None and not isinstance(dec, str):
        dec = "".join(str(int(v)) for v in dec)
    return {"cost": float(ref["cost"]), "bound": _real(ref.get("bound")),
            "provenance": str(ref["provenance"]), "gap": _real(ref.get("gap")),
            "solver": ref.get("solver"), "wall_time": _real(ref.get("wall_time")), "decision": dec}


def instance_record(inst, all_device_cost: float, text: str | None = None) -> tuple:
    """An instance's row of ``instances`` (content: its JSON, ``text`` if given (as
    :meth:`~offbench.instance.Instance.compact_json_and_digest` gives it), zlib-compressed at
    level 1: a third of level 6's time for a few per cent more bytes), made wherever the
    instance is built (a Dask worker or a builder process sends it to the runner)."""
    if text is None:
        text = inst.to_json(indent=None)
    return (inst.digest, inst.name, int(inst.n_devices), int(inst.n_jobs), int(inst.n_layers),
            int(inst.has_capacities), int(inst.has_deadlines), float(all_device_cost),
            sqlite3.Binary(zlib.compress(text.encode(), 1)))


def _json_column(v) -> str:
    """A JSON column's text (:func:`canonical_json`); an empty object or list without the
    encoder (most rows' ``params`` and ``flags``)."""
    if not v and (v is None or type(v) is dict):
        return "{}"
    return canonical_json(v)


def _column_plan() -> tuple:
    """How :func:`_result_values` converts each of :data:`RESULT_COLUMNS`: 0 as it is, 1 a JSON
    object, 2 the sorted flags, 3 a 0/1 flag or None, 4 a finite real or None (the wall
    time 0.0 when missing), 5 the evaluations (0 when missing), 6 the time it was stored when
    missing."""
    how = {"params": 1, "info": 1, "track_config": 1, "flags": 2, "refereed": 3, "feasible": 3,
           "counted_infeasible": 3, "cost": 4, "ref_cost": 4, "ratio": 4, "bound": 4, "gap": 4,
           "wall_time": 4, "evaluations": 5, "finished_at": 6}
    return tuple((c, how.get(c, 0)) for c in RESULT_COLUMNS)


_COLUMN_PLAN = _column_plan()


def _result_values(row: dict, stamp: str | None = None) -> list:
    """A result row (dict) as the values of :data:`RESULT_COLUMNS`, JSON columns encoded;
    ``finished_at``, when the row has none, is ``stamp`` (default: now)."""
    values = []
    get = row.get
    for c, how in _COLUMN_PLAN:
        v = get(c)
        if how == 0:
            pass
        elif how == 1:
            if not isinstance(v, str):
                v = _json_column(v)
        elif how == 2:
            if not isinstance(v, str):
                v = "[]" if not v else canonical_json(sorted(set(v)))
        elif how == 3:
            if v is not None:
                v = int(bool(v))
        elif how == 4:
            v = _real(v)
            if v is None and c == "wall_time":
                v = 0.0
        elif how == 5:
            if v is None:
                v = 0
        elif v is None:  # 6: finished_at
            v = stamp or now()
        values.append(v)
    return values


def _frame_value(c: str, v):
    if c == "info":
        return canonical_json(v if v is not None else {})
    if c in ("cost", "ref_cost", "ratio", "wall_time"):
        v = _real(v)
        return 0.0 if (v is None and c == "wall_time") else v
    if c in ("feasible", "counted_infeasible") and v is not None:
        return int(bool(v))
    if c == "evaluations":
        return int(v or 0)
    return v


class _Transaction:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


def _chunks(seq: Sequence, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _split_sql(script: str) -> list[str]:
    """Split the schema into statements (triggers contain ``;`` inside BEGIN ... END)."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf))
    return out


def damaged(e: BaseException | None) -> bool:
    """Whether an SQLite error says the file is damaged (a page that is not what SQLite
    wrote: ``database disk image is malformed``; a header that is not SQLite's: ``file is not
    a database``)."""
    if not isinstance(e, sqlite3.DatabaseError):
        return False
    text = str(e).lower()
    return "malformed" in text or "not a database" in text


@contextlib.contextmanager
def reading(path):
    """Within it, an SQLite error saying the store at ``path`` is damaged becomes
    :func:`damaged_error` (one message, no traceback)."""
    try:
        yield
    except sqlite3.DatabaseError as e:
        if damaged(e):
            raise damaged_error(path, e) from None
        raise


def damaged_error(path, e: BaseException) -> StoreError:
    """The message for a store SQLite found damaged while reading or writing it."""
    q = shlex.quote(str(path))
    return StoreError(f"--store {path}: the store is damaged ({e}): part of the file is not "
                      f"what SQLite wrote. Check it with `sqlite3 {q} \"PRAGMA "
                      "integrity_check\"`, and restore it from a copy (or give another --store)")


def _unreadable(p: Path, e: sqlite3.DatabaseError) -> StoreError:
    """The message for a file SQLite could not open as a store: damaged if it looks like an
    offbench store (its schema's text is in the file, or it has SQLite's header), else not a
    store at all."""
    if damaged(e) and _looks_like_store(p):
        return damaged_error(p, e)
    return StoreError(f"--store {p}: not an offbench results store ({e})")


def _looks_like_store(p: Path) -> bool:
    """Whether the start of the file is SQLite's header or holds the schema of a store (page 1
    keeps every table's CREATE text, and the meta table is near the start): a damaged header
    leaves the rest."""
    try:
        with open(p, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return False
    return head.startswith(b"SQLite format 3\x00") or b"results_append_only" in head


def _readonly_error(e: Exception) -> bool:
    text = str(e).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _uri(p: Path, query: str) -> str:
    """The SQLite URI of file ``p`` with ``query``. The path is percent-escaped (RFC 3986, as
    SQLite decodes it): raw, a ``#`` or ``?`` in a file or folder name would end the path there
    and drop the query (``mode=ro`` among it), and ``%XX`` would be decoded. The bytes are the
    file system's (any name, even one that is not UTF-8)."""
    return f"file:{urllib.parse.quote(os.fsencode(p.resolve()), safe='/')}?{query}"


def _open_immutable(cls, p: Path) -> "Store":
    try:
        conn = sqlite3.connect(_uri(p, "mode=ro&immutable=1"), uri=True,
                               isolation_level=None, timeout=30.0)
        store = cls(p, conn, writable=False)
    except sqlite3.DatabaseError as e:
        raise StoreError(f"--store {p}: cannot read it ({e})") from None
    try:
        store._check_schema()
    except sqlite3.DatabaseError as e:
        store.close()
        raise _unreadable(p, e) from None
    except BaseException:
        store.close()
        raise
    return store


def _lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _lock(path: Path) -> int:
    """Take the writer lock ``PATH.lock`` (``flock``; the kernel releases it if the writer dies).

    The lock file is removed when the writer closes the store, so a lock held on a file that was
    unlinked meanwhile is no lock: after taking it, the file's identity is checked against the
    path, and the lock is taken again on the new file if they differ."""
    import fcntl

    lock_path = _lock_file(path)
    for _ in range(100):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise StoreError(f"--store {path}: another offbench run is writing to it{who}; wait "
                             "for it to finish or use another --store") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)  # the previous writer removed it as we opened it: take the new one
    raise StoreError(f"--store {path}: could not take its writer lock {lock_path}")


def _unlock(fd: int, path: Path | None = None) -> None:
    """Release the writer lock; with ``path``, remove the lock file first (while still held, so
    no other writer can hold a lock on the removed file without noticing: see :func:`_lock`)."""
    import fcntl

    try:
        if path is not None:
            try:
                os.unlink(_lock_file(path))
            except OSError:
                pass
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
