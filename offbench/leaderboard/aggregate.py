"""Static leaderboard tables from a store of any size, without loading its rows (issue 14).

:func:`static_table` computes what :mod:`offbench.leaderboard.build` puts in one (source, track)
table of the static kind from one pass over the table's rows in key order: SQLite selects
them (joined with their instance's all-device cost and their reference's provenance) and
classifies each row (refused, flagged, solved, infeasible, failed) in SQL; the pass keeps a few
numbers per row in numpy arrays, never a dict per row. The statistics are then computed per
entry (a solver, its parameters and its track configuration) from those arrays: counts and
rates, the per-instance mean of the fallback ratio (seeds averaged, instances in key order), its
geometric mean and bootstrap interval, the median, the latency quantiles and the wins. What a
table needs row by row (the plots' rows, the paired ratios of ``--compare``) is loaded only when
asked for (:class:`LazyRows`).

The numbers are those of the row-by-row definitions in :mod:`offbench.leaderboard.build`
(:func:`~offbench.leaderboard.build.solved`, :func:`~offbench.leaderboard.build.refused`,
:func:`~offbench.leaderboard.build.flagged`, :func:`~offbench.leaderboard.build.fallback_ratio`),
bit for bit: the SQL classification is tested against them row by row
(``tests/test_leaderboard_scale.py``), every sum runs in numpy in the order the row-by-row code
used, and the bootstrap (:func:`geometric_mean_ci`) draws the resamples of
:func:`offbench.metrics.geometric_mean_ci` in chunks of rows, so that a table of a million
instances needs tens of megabytes instead of tens of gigabytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import metrics
from ..store import KEY_COLUMNS, canonical_json, decode_result

#: Rows fetched from SQLite at a time.
FETCH_ROWS = 65_536

#: Elements of one chunk of the bootstrap's resample matrix (8 bytes each, a few arrays of it).
BOOTSTRAP_CHUNK = 1 << 22


#: Above this many instances in an entry, its interval is the normal one (see
#: :func:`geometric_mean_ci`).
NORMAL_CI_ABOVE = 20_000

#: What a table's note says where :data:`NORMAL_CI_ABOVE` applied.
NORMAL_CI_NOTE = (f"95% CI of entries with more than {NORMAL_CI_ABOVE:,} instances: the normal "
                  "interval of the mean log ratio (mean +- 1.96 standard errors, mapped back by "
                  "exp), which the bootstrap's 2000 resamples approach closer than their own "
                  "Monte-Carlo error at that size, at a cost of 2000 x instances draws")


def geometric_mean_ci(values) -> tuple[float, float, float]:
    """:func:`offbench.metrics.geometric_mean_ci` (without clusters) for tables of any size.

    Up to :data:`NORMAL_CI_ABOVE` values, the same numbers bit for bit in bounded memory: the
    resamples are drawn by successive ``Generator.integers`` calls of whole rows of the
    resample matrix, which continue one stream exactly as a single call does, and each row is
    summed by numpy as before. Above it (and with every value finite), the normal interval of
    the mean of the logs (:data:`NORMAL_CI_NOTE`); :func:`uses_normal_ci` says when.
    """
    x = np.asarray(values, dtype=np.float64)
    k = x.size
    resamples = metrics.BOOTSTRAP_RESAMPLES
    if k * resamples <= BOOTSTRAP_CHUNK or k == 1:
        return metrics.geometric_mean_ci(x)
    logs = metrics.logs(np.maximum(x, 1e-300))
    if uses_normal_ci(logs):
        from statistics import NormalDist

        mean = float(logs.mean())
        half = NormalDist().inv_cdf(1.0 - (1.0 - metrics.CONFIDENCE) / 2.0) * float(logs.std()) / math.sqrt(k)
        return (metrics.exp(mean), metrics.exp(mean - half), metrics.exp(mean + half))
    with np.errstate(invalid="ignore"):
        mean = float(logs.mean())
        rng = np.random.default_rng(metrics.BOOTSTRAP_SEED)
        counts = np.ones(k)
        boot = np.empty(resamples)
        step = max(1, BOOTSTRAP_CHUNK // k)
        for s in range(0, resamples, step):
            n = min(step, resamples - s)
            pick = rng.integers(0, k, size=(n, k))
            boot[s:s + n] = logs[pick].sum(axis=1) / counts[pick].sum(axis=1)
            del pick
        alpha = (1.0 - metrics.CONFIDENCE) / 2.0
        lo, hi = metrics.quantiles_inf(boot, (alpha, 1.0 - alpha))
    return (metrics.exp(mean), metrics.exp(lo), metrics.exp(hi))


# ------------------------------------------------------------------------------------------
# The row classification of build.py, in SQL (tested equal to it row by row).


def uses_normal_ci(logs: np.ndarray) -> bool:
    """Whether :func:`geometric_mean_ci` gives the normal interval for these logs."""
    return logs.size > NORMAL_CI_ABOVE and bool(np.isfinite(logs).all())


def _truthy(expr: str, path: str) -> str:
    """SQL for Python's ``bool(value)`` of the JSON value at ``path`` of ``expr`` (NULL,
    false, 0, "", [] and {} are false; an absent key too)."""
    v = f"json_extract({expr}, '{path}')"
    return (f"(CASE json_type({expr}, '{path}') WHEN 'true' THEN 1 WHEN 'integer' THEN {v} != 0 "
            f"WHEN 'real' THEN {v} != 0 WHEN 'text' THEN length({v}) > 0 "
            f"WHEN 'array' THEN json_array_length({expr}, '{path}') > 0 "
            f"WHEN 'object' THEN {v} != '{{}}' ELSE 0 END)")


def classification(columns: set[str]) -> dict[str, str]:
    """SQL expressions (over ``results r``) of each row's class, for a results table with
    these columns (stores of schemas 1 and 2 have no ``flags`` or ``refereed``)."""
    refused = ("(r.status = 'refused' OR (r.status = 'error' AND "
               "substr(coalesce(r.error, ''), 1, 12) = 'unsupported:'))")
    has_flags = (f"(r.flags IS NOT NULL AND r.flags != '[]' AND {_truthy('r.flags', '$')})"
                 if "flags" in columns else "0")
    violation = (f"(instr(r.info, '\"reference_violation\"') > 0 AND "
                 f"{_truthy('r.info', '$.reference_violation')})")
    overrun = ("(instr(r.info, '\"overrun_wall_time\"') > 0 AND "
               "json_type(r.info, '$.overrun_wall_time') IS NOT NULL)")
    decided = "(r.decision IS NOT NULL AND coalesce(r.feasible, 0) != 0)"
    return {
        "refused": refused,
        "has_flags": has_flags,
        "flagged": f"({has_flags} OR {violation})",
        # solved, but for "not refused and not flagged" (combined in numpy)
        "solved_rest": (f"(coalesce(r.counted_infeasible, 0) = 0 AND {decided} AND "
                        f"(r.status IN ('optimal', 'feasible') OR (r.status = 'timeout' AND NOT {overrun})) "
                        # against a reference cost of 0, only a cost of 0 is solved
                        f"AND NOT (r.ref_cost IS NOT NULL AND r.ref_cost <= 0 AND "
                        f"coalesce(r.cost > 0, 1)))"),
        "infeasible": (f"(CASE WHEN r.counted_infeasible IS NOT NULL THEN r.counted_infeasible != 0 "
                       f"ELSE NOT {decided} END)"),
        "failed": "(r.status IN ('error', 'timeout'))",
        "unrefereed": "(r.refereed IS NOT NULL AND r.refereed = 0)" if "refereed" in columns else "0",
        "counted_infeasible": ("(CASE WHEN r.counted_infeasible IS NULL THEN -1 "
                               "WHEN r.counted_infeasible != 0 THEN 1 ELSE 0 END)"),
    }


def result_columns(conn) -> set[str]:
    return {r[1] for r in conn.execute("PRAGMA table_info(results)")}


# ------------------------------------------------------------------------------------------
# One static table.


@dataclass
class TableFilter:
    """Which rows make one static table: ``WHERE`` SQL over ``results r`` and its arguments."""

    where: str
    args: tuple
    #: Only rows whose key is in this set (``offbench run`` prints the table of its own jobs).
    keys: set | None = None

    def sql(self, select: str, order: bool = True) -> str:
        q = f"SELECT {select} FROM results r WHERE {self.where}"
        if order:
            q += " ORDER BY " + ", ".join(f"r.{c}" for c in KEY_COLUMNS)
        return q


@dataclass
class StaticAggregate:
    """What one static table needs, per entry (in order of first row) and overall."""

    #: per entry, ``(solver ID, parameter hash, track configuration as canonical JSON)``
    keys: list[tuple[str, str, str]]
    values: list[dict]
    params: list[dict]
    first_track_config: dict
    n_rows: int
    below: int
    flagged_by_solver: dict[str, int]
    unrefereed: int
    #: some entry's interval is the normal one (:data:`NORMAL_CI_NOTE`)
    normal_ci: bool = False
    run_ids: set = field(default_factory=set)
    seeds: set = field(default_factory=set)
    #: distinct instances of the table (ids: the instances table's rowid, or negative for a row
    #: whose instance is not stored) and the reference provenance code of each (-1: none)
    instance_ids: np.ndarray | None = None
    instance_ref: np.ndarray | None = None


def static_table(conn, flt: TableFilter, ref_codes: dict[str, int],
                 missing_ids: dict[str, int] | None = None) -> StaticAggregate | None:
    """Aggregate one static table's rows (None when no row matches).

    ``ref_codes`` numbers the references' provenances (``SELECT DISTINCT provenance FROM
    refs``); ``missing_ids`` numbers the digests of rows whose instance is not stored (shared
    by the tables of one leaderboard, so that an instance has one id in all of them).
    """
    c = classification(result_columns(conn))
    prov_case = ("CASE f.provenance " + " ".join(f"WHEN ? THEN {v}" for v in ref_codes.values())
                 + " ELSE -1 END") if ref_codes else "-1"
    # One integer of flags per row (bit k: _BITS[k]); counted_infeasible (-1 for NULL) above.
    bits = " | ".join(f"(({c[name]}) << {k})" for k, name in enumerate(_BITS))
    bits += f" | (({c['counted_infeasible']} + 1) << {len(_BITS)})"
    # The fallback ratio of a row that is not solved (build.fallback_ratio; SQLite divides as
    # Python does; 9e999 is inf), and the cost a solved row is scored at (build._scored_cost).
    fb_other = ("CASE WHEN r.ref_cost IS NULL THEN NULL WHEN i.all_device_cost IS NULL THEN "
                "(CASE WHEN r.counted_infeasible != 0 THEN r.ratio END) WHEN r.ref_cost > 0 THEN "
                "i.all_device_cost / r.ref_cost WHEN i.all_device_cost = 0 THEN 1.0 ELSE 9e999 END")
    # The entries (solver, parameters, track configuration) of the table, numbered in SQL: an
    # integer per row instead of three strings. Configurations are compared as canonical JSON
    # (two texts of one configuration are one entry), as build._key compares them.
    found = conn.execute(f"SELECT DISTINCT r.solver_id, r.param_hash, r.track_config "
                         f"FROM results r WHERE {flt.where}", flt.args).fetchall()
    if not found:
        return None
    configs: dict[str, str] = {}  # track_config as stored -> canonical (a few distinct ones)
    entry_of: dict[tuple[str, str, str], int] = {}
    codes_found = [entry_of.setdefault((sid, ph, _canonical(text, configs)), len(entry_of))
                   for sid, ph, text in found]
    ekeys = list(entry_of)
    entry_case = ("CASE " + " ".join(
        f"WHEN r.solver_id = ? AND r.param_hash = ? AND r.track_config = ? THEN {j}"
        for j in codes_found) + " END")
    select = (
        f"{entry_case}, NULL, i.rowid, CASE WHEN i.rowid IS NULL THEN r.instance_digest END, "
        f"{bits}, r.ratio, {fb_other}, coalesce(r.cost, i.all_device_cost), r.wall_time, "
        f"r.evaluations, r.seed, r.run_id, {prov_case}, r.row_id"
    )
    if flt.keys is not None:
        select += ", " + ", ".join(f"r.{k}" for k in KEY_COLUMNS)
    q = (f"SELECT {select} FROM results r LEFT JOIN instances i ON i.digest = r.instance_digest "
         f"LEFT JOIN refs f ON f.instance_digest = r.instance_digest WHERE {flt.where} ORDER BY "
         + ", ".join(f"r.{k}" for k in KEY_COLUMNS))
    args = tuple(x for k in found for x in k) + tuple(ref_codes) + tuple(flt.args)
    missing_ids = {} if missing_ids is None else missing_ids
    parts: list[dict[str, np.ndarray]] = []
    cur = conn.execute(q, args)
    while True:
        chunk = cur.fetchmany(FETCH_ROWS)
        if not chunk:
            break
        if flt.keys is not None:
            chunk = [row for row in chunk if _row_key(row[-len(KEY_COLUMNS):], configs) in flt.keys]
            if not chunk:
                continue
        cols_ = list(zip(*chunk))
        del chunk
        g = np.array(cols_[0], dtype=np.int32)
        if any(d is not None for d in cols_[3]):
            iid = np.array([(-1 - missing_ids.setdefault(d, len(missing_ids))) if i is None else i
                            for i, d in zip(cols_[2], cols_[3])], dtype=np.int64)
        else:
            iid = np.array(cols_[2], dtype=np.int64)
        b = np.array(cols_[4], dtype=np.int64)
        part = {name: (b >> k) & 1 == 1 for k, name in enumerate(_BITS)}
        part.update({
            "g": g, "iid": iid, "ci": (((b >> len(_BITS)) & 3) - 1).astype(np.int8),
            "ratio": np.array(cols_[5], dtype=np.float64), "fb_other": np.array(cols_[6], dtype=np.float64),
            "scost": np.array(cols_[7], dtype=np.float64), "wall": np.array(cols_[8], dtype=np.float64),
            "evals": np.array(cols_[9], dtype=np.float64), "seed": np.array(cols_[10], dtype=np.int64),
            "run": np.array(cols_[11], dtype=np.int64), "prov": np.array(cols_[12], dtype=np.int32),
            "row_id": np.array(cols_[13], dtype=np.int64),
        })
        parts.append(part)
        del cols_
    if not parts:
        return None
    a = {}
    for k in list(parts[0]):  # column by column: the parts are freed as they are joined
        a[k] = np.concatenate([p.pop(k) for p in parts])
    del parts
    # Entries in the order of their first row (in key order), as the row-by-row code had them.
    codes, first = np.unique(a["g"], return_index=True)
    codes = codes[np.argsort(first, kind="stable")]
    renumber = np.full(len(ekeys), -1, dtype=np.int32)
    renumber[codes] = np.arange(codes.size, dtype=np.int32)
    a["g"] = renumber[a["g"]]
    return _aggregate(conn, a, [ekeys[c] for c in codes], flt)


#: The flags of a row, one bit each (see :func:`classification`).
_BITS = ("refused", "flagged", "has_flags", "solved_rest", "infeasible", "failed", "unrefereed")


_CONFIG = KEY_COLUMNS.index("track_config")


def _canonical(text: str, configs: dict[str, str]) -> str:
    """A stored track configuration as canonical JSON (``configs`` caches them)."""
    if text not in configs:
        configs[text] = canonical_json(json.loads(text))
    return configs[text]


def _row_key(vals, configs: dict[str, str]) -> tuple:
    """A row's key as ``build._key`` makes it (its track configuration as canonical JSON)."""
    out = list(vals)
    out[_CONFIG] = _canonical(out[_CONFIG], configs)
    return tuple(out)


def _aggregate(conn, a: dict, keys: list[tuple[str, str, str]],
               flt: TableFilter) -> StaticAggregate:
    n = a["g"].size
    refused = a["refused"]
    solved = ~refused & ~a["flagged"] & a["solved_rest"]
    scored = ~refused
    # The fallback ratio (build.fallback_ratio): NaN stands for None (a stored ratio is finite).
    ratio = a["ratio"]
    fb = np.where(solved, ratio, a["fb_other"])
    fb[refused] = np.nan
    # The cost a row is scored at in the wins (build._scored_cost; NaN: not solved).
    scost = np.where(solved, a["scost"], np.nan)
    # Instances: ids in key order; positions in the table's instance list for the wins.
    uniq, first = np.unique(a["iid"], return_index=True)
    pos = np.searchsorted(uniq, a["iid"])
    mat = np.full((uniq.size, len(keys)), np.nan)
    values, params = [], []
    normal_ci = False
    for j, key in enumerate(keys):
        m = a["g"] == j
        gi = np.flatnonzero(m)
        sc = gi[scored[gi]]
        # wins: the mean scored cost per instance (NaN if any seed was not solved)
        if sc.size:
            seg_pos, seg_mean = _segment_means(pos[sc], scost[sc])
            mat[seg_pos, j] = seg_mean
        fbs = fb[sc]
        has_ref = bool(sc.size) and not bool(np.isnan(fbs).any())
        if has_ref:
            _, per_inst = _segment_means(a["iid"][sc], fbs)
            solved_ratios = ratio[sc][solved[sc] & ~np.isnan(ratio[sc])]
            g_, lo, hi = geometric_mean_ci(per_inst)
            # (uses_normal_ci of the logs: a floored value's log is finite iff the value is)
            normal_ci |= per_inst.size > NORMAL_CI_ABOVE and bool(np.isfinite(per_inst).all())
            stats = {"ratio": g_, "ci_low": lo, "ci_high": hi,
                     "median": float(np.median(per_inst)) if per_inst.size else math.nan,
                     "gmean_solved": (metrics.geometric_mean(solved_ratios) if solved_ratios.size
                                      else math.nan)}
        else:
            stats = {"ratio": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                     "median": math.nan, "gmean_solved": math.nan}
        wt = a["wall"][gi]
        ns = int(sc.size)
        values.append({
            "n": int(gi.size),
            **stats,
            "solved": (int(solved[sc].sum()) / ns) if ns else math.nan,
            "refused": int(refused[gi].sum()),
            "infeasible": float(np.mean(a["infeasible"][sc])) if ns else math.nan,
            "failed": int(a["failed"][sc].sum()),
            "p50": metrics.quantile(wt, 0.5), "p95": metrics.quantile(wt, 0.95),
            "evals": float(np.mean(a["evals"][gi])),
            "sgm": metrics.shifted_geometric_mean(wt),
            "wins": 0,
            "frames_to_threshold": None,
        })
        row = conn.execute("SELECT params FROM results WHERE row_id = ?", (int(a["row_id"][gi[0]]),)).fetchone()
        params.append(json.loads(row[0]))
    wins = metrics.best_mask(mat).sum(axis=0) if uniq.size else np.zeros(len(keys))
    for j, v in enumerate(values):
        v["wins"] = int(wins[j])
    first_row = conn.execute("SELECT track_config FROM results WHERE row_id = ?",
                             (int(a["row_id"][0]),)).fetchone()
    below = np.unique(a["iid"][ratio < 1 - 1e-9]).size
    flagged_by: dict[str, int] = {}
    for j, key in enumerate(keys):
        k = int((a["has_flags"] & (a["g"] == j)).sum())
        if k:
            flagged_by[key[0]] = flagged_by.get(key[0], 0) + k
    return StaticAggregate(
        keys=keys, values=values, params=params, first_track_config=json.loads(first_row[0]),
        n_rows=n, below=int(below), flagged_by_solver=flagged_by,
        unrefereed=int(a["unrefereed"].sum()), normal_ci=normal_ci, run_ids=set(np.unique(a["run"]).tolist()),
        seeds=set(np.unique(a["seed"]).tolist()), instance_ids=uniq,
        instance_ref=a["prov"][first])


def _segment_means(ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means of ``values`` over runs of equal consecutive ``ids`` (rows in key order, so one
    run per instance), as ``np.mean`` of each run's list gives them; returns each run's id and
    mean, in order."""
    if ids.size == 0:
        return ids, values
    starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
    counts = np.diff(np.append(starts, ids.size))
    if counts.max() == 1:
        return ids[starts], values[starts].copy()
    # Not np.add.reduceat, which adds in another order than np.mean: the runs of one length
    # as the rows of a matrix, each row summed as np.mean sums a list (tested equal).
    out = np.empty(starts.size)
    for length in np.unique(counts):
        sel = np.flatnonzero(counts == length)
        out[sel] = values[starts[sel][:, None] + np.arange(length)].sum(axis=1) / length
    return ids[starts], out


# ------------------------------------------------------------------------------------------
# Rows on demand (plots, paired comparisons).


def entry_key(r: dict) -> tuple[str, str, str]:
    """The entry of a decoded result row: ``(solver ID, parameter hash, track configuration as
    canonical JSON)`` (:attr:`offbench.leaderboard.build.Entry.key`)."""
    return (r["solver_id"], r["param_hash"], canonical_json(r["track_config"]))


class EntryKeyed(Mapping):
    """Something per entry of a table, keyed by :attr:`~offbench.leaderboard.build.Entry.key`.

    A ``(solver ID, parameter hash)`` pair finds an entry too where it names only one of the
    table's entries (callers written before the track configuration was part of the key); a
    pair that names several (one solver run under several track configurations) is a
    ``KeyError`` that says to ask by ``Entry.key``.
    """

    _keys: list

    def _resolve(self, key):
        if isinstance(key, tuple) and len(key) == 2:
            hits = [k for k in self._keys if k[:2] == key]
            if len(hits) == 1:
                return hits[0]
            if hits:
                raise KeyError(f"{key!r} names {len(hits)} entries (one solver under several "
                               "track configurations): ask by Entry.key")
        return key

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class EntryDict(EntryKeyed):
    """An :class:`EntryKeyed` mapping over a dict (the tables of the learning tracks)."""

    def __init__(self, data: dict):
        self._data = dict(data)
        self._keys = list(self._data)

    def __getitem__(self, key):
        return self._data[self._resolve(key)]

    def __repr__(self) -> str:
        return f"EntryDict({self._data!r})"


class LazyRows(EntryKeyed):
    """A table's rows by entry, loaded from the store the first time one is asked for.

    Each row is a dict as :meth:`offbench.store.Store.results` gives it, annotated by
    ``annotate`` (the row-by-row classification of :mod:`offbench.leaderboard.build`). The
    store is opened again read-only for this, so it works after the store that built the
    table is closed.
    """

    def __init__(self, path, flt: TableFilter, keys: list[tuple[str, str, str]], annotate):
        self._path = path
        self._flt = flt
        self._keys = list(keys)
        self._annotate = annotate
        self._rows: dict | None = None
        self.info: dict | None = None

    def _load(self) -> dict:
        if self._rows is None:
            from ..store import Store

            with Store.open_readonly(self._path) as store:
                cols = result_columns(store.conn)
                rows = store._dicts(self._flt.sql("r.*"), self._flt.args)
                self.info = store.instance_info()
            out: dict = {k: [] for k in self._keys}
            for r in rows:
                _decode(r, cols)
                if self._flt.keys is not None and _dict_key(r) not in self._flt.keys:
                    continue
                out.setdefault(entry_key(r), []).append(r)
            self._annotate(out, self.info)
            self._rows = out
        return self._rows

    def __getitem__(self, key):
        return self._load()[self._resolve(key)]


class LazyPaired(EntryKeyed):
    """Per entry, the fallback ratio per instance (``build.instance_ratios``), from
    :class:`LazyRows` when first asked for."""

    def __init__(self, rows: LazyRows, ratios):
        self._rows = rows
        self._ratios = ratios
        self._cache: dict = {}
        self._keys = rows._keys

    def __getitem__(self, key):
        key = self._resolve(key)
        if key not in self._cache:
            rows = self._rows[key]
            self._cache[key] = self._ratios([r for r in rows if not r["_refused"]], self._rows.info)
        return self._cache[key]


def _decode(r: dict, cols: set[str]) -> None:
    """Decode a result row as :meth:`offbench.store.Store.results` does."""
    decode_result(r)


def _dict_key(r: dict) -> tuple:
    return tuple(canonical_json(r[c]) if c == "track_config" else r[c] for c in KEY_COLUMNS)
