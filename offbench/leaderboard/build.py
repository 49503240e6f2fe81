"""Leaderboard statistics: the tables of a results store (:func:`build`), per (source, track).

:func:`build` reads the store and makes one table per (source, track), with the provenance of
its rows (offbench version and commit, source digests, seeds, solver parameters, machine, library
versions, the run specs). Each track's columns, notes and scored frames come from the track
registry (:mod:`offbench.tracks`). Static tables are aggregated without a dict per row
(:mod:`offbench.leaderboard.aggregate`: SQLite classifies and selects, numpy sums, in the order
and with the numbers of the row-by-row rules below), so a store of millions of rows fits in
memory; their rows (``Table.rows``, ``Table.paired``) are read when a plot or a comparison
asks for them. Learning-track tables (one row per stream) are built from their rows.

Scoring follows SPEC.md section 6. A row is **solved** when its decision is feasible and the
referee accepts it (status ``optimal`` or ``feasible``, or a ``timeout`` that returned in time with
a feasible decision; no referee flags); a **refused** row (the solver declared the instance out of
its scope: status ``refused``, or an error that says ``unsupported:``) is counted apart and never
scored; every other row (failed, infeasible, missing, flagged) is scored at the **fallback**:
the all-device ratio of its instance. Where the reference cost is 0, a cost of 0 has ratio 1 and
any other cost ``inf``.

Columns of a static table, per entry: a solver (an ID and its parameters) run with one track
configuration (time limit, reference mode, track settings: a key column of the store). Rows of
one solver under different configurations are different entries, never pooled; their labels
name what differs (``milp-v1 (time_limit=0.01)``, :func:`_label_entries`).

``n``                   rows (instances x seeds), refused ones included
``gmean ratio``         geometric mean over instances of the fallback ratio (seeds averaged per
                        instance first): what the table ranks by, ties broken by solved rate
``95% CI``              percentile bootstrap interval of that geometric mean, resampling instances
                        (2000 resamples, seed 0: the same interval on every run); above 20,000
                        instances, the normal interval of the mean log ratio (the table says so)
``median``              median over instances of the fallback ratio
``solved``              solved rows / scored rows (refused rows left out)
``refused``             refused rows
``gmean solved``        geometric mean of the ratio over solved rows only
``failed``              rows with status ``error`` or ``timeout`` (refusals not counted)
``p50 ms``, ``p95 ms``  median and 95th percentile of decision latency (wall time)
``evals``               cost-model evaluations per decision
``SGM ms``              shifted geometric mean of solve time, shift 10 ms
``wins``                instances where this solver's mean cost is the best among the solvers
                        whose decisions there were all solved (ties count for all)

Learning-track tables report per-frame latency and evaluations over the scored frames, the
solved rate over the scored frames, and the geometric mean over runs (seeds) of the summary
ratio of their track (:mod:`offbench.tracks`): online, the mean over each stream's final window and
the frames until the moving mean stays under 1.01 (median over runs; ``never`` when most runs
never do); generalization, the mean over the held-out frames; adaptation, the mean over the
first frames after the switch and the frames until 1.02. Quality columns (everything but the latency and time columns) are
identical whichever executor ran the jobs, resumed or not; rows are read in key order and the
bootstrap has a fixed seed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .. import metrics
from .. import tracks as track_registry
from ..tracks.outcome import decision_solved
from . import aggregate as _aggregate
from .unfinished import unfinished_sources
from ..errors import UserError
from ..store import KEY_COLUMNS, Store, canonical_json, reading

FORMATS = ("md", "csv", "latex")
PROVENANCE_TAG = "offbench-provenance:"

#: Columns that measure time: they differ between runs and are left out of verification.
TIMING_COLUMNS = ("p50 ms", "p95 ms", "SGM ms")

CSV_HEADER = ("source", "track", "solver", "solver_id", "param_hash", "n", "ratio_gmean",
              "ratio_ci_low", "ratio_ci_high", "ratio_median", "solved_rate", "refused",
              "ratio_gmean_solved", "infeasible_rate", "failed", "frames_to_threshold",
              "latency_p50_s", "latency_p95_s", "evaluations_per_decision", "sgm_time_s", "wins")
CSV_TIMING = ("latency_p50_s", "latency_p95_s", "sgm_time_s")


class LeaderboardError(UserError):
    """A leaderboard that cannot be made, read or verified (the message says why)."""


@dataclass
class Entry:
    """One line of a table (a solver, its parameters and its track configuration): display
    cells and raw values."""

    label: str
    solver_id: str
    param_hash: str
    params: dict
    values: dict
    #: the track configuration of the entry's rows (time limit, reference mode, track settings)
    track_config: dict = field(default_factory=dict)
    #: ``track_config`` as canonical JSON (as in the store's key)
    config: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """What :attr:`Table.rows` and :attr:`Table.paired` are keyed by: ``(solver ID,
        parameter hash, track configuration as canonical JSON)``."""
        return (self.solver_id, self.param_hash, self.config)


@dataclass
class Table:
    """One (source, track) table."""

    source: str
    source_digest: str
    track: str
    size: int
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)
    #: Not rendered: the rows of each entry (by :attr:`Entry.key`), for plots.
    rows: dict = field(default_factory=dict, repr=False)
    #: Not rendered: per-frame rows by result ``row_id`` (learning tracks), for plots.
    frames: dict = field(default_factory=dict, repr=False)
    #: Not rendered: per entry (by :attr:`Entry.key`), the fallback ratio per instance
    #: (seeds averaged; a stream table: per seed), for paired comparisons and plots.
    paired: dict = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        unit = "frames per stream" if track_registry.get(self.track).stream else "instances"
        return f"{self.source} / {self.track} ({self.size} {unit})"

    @property
    def columns(self) -> tuple[str, ...]:
        return track_registry.get(self.track).columns


@dataclass
class Leaderboard:
    """Tables with their provenance."""

    provenance: dict
    tables: list[Table]


def build(store: Store, *, keys: Iterable[tuple] | None = None, offbench_version: str | None = None,
          sources: Sequence[tuple[str, str]] | None = None, tracks: Sequence[str] | None = None,
          solvers: Sequence[tuple[str, str]] | None = None) -> Leaderboard:
    """Derive the leaderboard from a store.

    Parameters
    ----------
    store : Store
    keys : iterable of tuple, optional
        Only rows with these keys (``offbench run`` prints the table of its own jobs).
    offbench_version : str, optional
        Rows of this offbench version (default: the running one).
    sources : sequence of (name, digest), optional
        Only these sources (default: every source that has rows).
    tracks : sequence of str, optional
    solvers : sequence of (solver ID, parameter hash), optional

    Raises
    ------
    LeaderboardError
        No rows match (the message lists the versions that have rows).
    offbench.store.StoreError
        The store is damaged (SQLite found a page it did not write).
    """
    with reading(store.path):  # a damaged page: one message naming the store
        return _build(store, keys=keys, offbench_version=offbench_version, sources=sources,
                      tracks=tracks, solvers=solvers)


def _build(store: Store, *, keys, offbench_version, sources, tracks, solvers) -> Leaderboard:
    from .. import __version__

    version = offbench_version or __version__
    conn = store.conn
    wanted = set(keys) if keys is not None else None
    keep = list(dict.fromkeys(tuple(x) for x in solvers)) if solvers is not None else None
    # Static rows are aggregated in SQLite and numpy (aggregate.py), table by table; stream rows
    # (one per stream and solver) are read as dicts.
    present = [r[0] for r in conn.execute(
        "SELECT DISTINCT track FROM results WHERE offbench_version = ?", (version,))]
    present = [t for t in present if not tracks or t in tracks]
    stream_tracks = sorted(t for t in present if _is_stream(t))
    static_tracks = [t for t in present if t not in stream_tracks]
    stream_rows = []
    for t in stream_tracks:
        stream_rows += [r for r in store.results(offbench_version=version, track=t)
                        if (wanted is None or _key(r) in wanted)
                        and (keep is None or (r["solver_id"], r["param_hash"]) in keep)]
    frames_by_row = store.frames([r["row_id"] for r in stream_rows]) if stream_rows else {}
    by_digest: dict[str, list[dict]] = {}
    for r in stream_rows:
        by_digest.setdefault(r["instance_digest"], []).append(r)
    all_sources = [dict(zip([d[0] for d in cur.description], row)) for cur in
                   [conn.execute("SELECT * FROM sources ORDER BY source_id")] for row in cur.fetchall()]
    for src in all_sources:
        src["spec"] = json.loads(src["spec"])
    if sources is not None:
        want = {tuple(x) for x in sources}
        all_sources = [x for x in all_sources if (x["name"], x["digest"]) in want]
    names = [x["name"] for x in all_sources]
    ref_codes = {p: i for i, (p,) in enumerate(conn.execute("SELECT DISTINCT provenance FROM refs"))}
    missing_ids: dict[str, int] = {}
    tables: list[Table] = []
    used = _Used()
    used_sources = []
    for s in all_sources:
        name = s["name"] if names.count(s["name"]) == 1 else f"{s['name']}@{s['digest'][:8]}"
        made = []
        if s["kind"] == "stream":
            srows = by_digest.get(s["digest"], [])
            s["members"] = [r[0] for r in conn.execute(  # a stream's frames: small
                "SELECT instance_digest FROM source_members WHERE source_id = ? ORDER BY position",
                (s["source_id"],))]
            for track in sorted({r["track"] for r in srows}, key=_track_order):
                trows = [r for r in srows if r["track"] == track]
                used.add_rows(trows)
                used.digests.update(s["members"])  # its frames: their references were used
                made.append(_stream_table(name, s, trows, frames_by_row))
        elif static_tracks:
            size = conn.execute("SELECT COUNT(DISTINCT instance_digest) FROM source_members "
                                "WHERE source_id = ?", (s["source_id"],)).fetchone()[0]
            for track in sorted(static_tracks, key=_track_order):
                flt = _filter(version, track, s["source_id"], keep, wanted)
                a = _aggregate.static_table(conn, flt, ref_codes, missing_ids)
                if a is not None:
                    used.add_static(a, track)
                    made.append(_static_table(name, s, a, track, size, store.path, flt))
        if made:
            used_sources.append({**s, "display": name})
            tables += made
    if not used.n_rows:
        others = [v for v in store.versions() if v != version]
        hint = (f"; rows of other offbench versions: {', '.join(others)} (--offbench-version)"
                if others else "; run `offbench run` first")
        if (wanted is None and tracks and _count(conn, version, keep, tracks) == 0
                and _count(conn, version, keep, None)):
            have = sorted((r[0] for r in conn.execute(
                "SELECT DISTINCT track FROM results WHERE offbench_version = ?", (version,))),
                key=_track_order_safe)
            raise LeaderboardError(
                f"store {store.path}: no result rows of track {', '.join(tracks)} for offbench "
                f"{version} (its rows are of track{'s' if len(have) != 1 else ''} "
                f"{', '.join(have)})")
        if wanted is not None or _count(conn, version, keep, tracks) == 0:
            raise LeaderboardError(f"store {store.path}: no result rows for offbench {version}{hint}")
    if not tables:
        unfinished = unfinished_sources(conn, version)
        if unfinished:
            raise LeaderboardError(f"store {store.path}: {unfinished}")
        raise LeaderboardError(f"store {store.path}: no source has rows matching the selection")
    _label_entries(tables)
    prov = _provenance(store, used, used_sources, version, ref_codes)
    return Leaderboard(provenance=prov, tables=tables)


def _filter(version: str, track: str, source_id: int, keep, wanted) -> "_aggregate.TableFilter":
    """The rows of one static table: a source's instances, one track, the selection."""
    where = ("r.offbench_version = ? AND r.track = ? AND r.instance_digest IN "
             "(SELECT instance_digest FROM source_members WHERE source_id = ?)")
    args: tuple = (version, track, source_id)
    if keep is not None:
        if keep:
            where += (" AND (r.solver_id, r.param_hash) IN (VALUES "
                      + ", ".join("(?, ?)" for _ in keep) + ")")
            args += tuple(x for k in keep for x in k)
        else:
            where += " AND 0"
    return _aggregate.TableFilter(where, args, wanted)


def _count(conn, version: str, keep, tracks) -> int:
    """Rows of a version in the selection (whatever their source)."""
    where, args = "offbench_version = ?", [version]
    if tracks:
        where += f" AND track IN ({','.join('?' * len(tracks))})"
        args += list(tracks)
    if keep is not None:
        if not keep:
            return 0
        where += (" AND (solver_id, param_hash) IN (VALUES " + ", ".join("(?, ?)" for _ in keep) + ")")
        args += [x for k in keep for x in k]
    return int(conn.execute(f"SELECT COUNT(*) FROM results WHERE {where}", args).fetchone()[0])


class _Used:
    """What the tables used, for the provenance: rows, runs, seeds, solvers, tracks, and the
    instances (static: ids with their reference's provenance code; streams: digests)."""

    def __init__(self):
        self.n_rows = 0
        self.run_ids: set = set()
        self.seeds: set = set()
        self.solvers: dict = {}
        self.tracks: set = set()
        self.digests: set = set()
        self.ids: list = []
        self.refs: list = []
        self.normal_ci = False

    def add_rows(self, rows: list[dict]) -> None:
        self.n_rows += len(rows)
        for r in rows:
            self.run_ids.add(r["run_id"])
            self.seeds.add(r["seed"])
            self.solvers.setdefault((r["solver_id"], r["param_hash"]), r["params"])
            self.tracks.add(r["track"])
            self.digests.add(r["instance_digest"])

    def add_static(self, a, track: str) -> None:
        self.n_rows += a.n_rows
        self.run_ids |= a.run_ids
        self.seeds |= a.seeds
        for k, p in zip(a.keys, a.params):
            self.solvers.setdefault(k[:2], p)
        self.tracks.add(track)
        self.ids.append(a.instance_ids)
        self.refs.append(a.instance_ref)
        self.normal_ci |= a.normal_ci


def _key(r: dict) -> tuple:
    return tuple(canonical_json(r[c]) if c == "track_config" else r[c] for c in KEY_COLUMNS)


def _track_order(t: str) -> int:
    return track_registry.order(t)


def _track_order_safe(t: str) -> tuple:
    """:func:`_track_order`, with tracks that are not registered here last."""
    try:
        return (_track_order(t), t)
    except track_registry.TrackError:
        return (math.inf, t)


def _is_stream(t: str) -> bool:
    """Whether rows of this track are stream rows (a track not registered here counts as one
    if it is not static: its tables cannot be built, and say so)."""
    try:
        return track_registry.get(t).stream
    except track_registry.TrackError:
        raise LeaderboardError(f"the store has rows of track {t!r}, which is not registered "
                               f"here (tracks: {', '.join(track_registry.names())})") from None


def _entries(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows by entry (:attr:`Entry.key`), in order of first row."""
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(_aggregate.entry_key(r), []).append(r)
    return out


def refused(r: dict) -> bool:
    """Whether a row is a refusal: the solver declared the instance outside its scope
    (SPEC.md section 6: counted apart, never scored, never a failure)."""
    if r.get("status") == "refused":
        return True
    return r.get("status") == "error" and str(r.get("error") or "").startswith("unsupported:")


def flagged(r: dict) -> bool:
    """Whether the referee flagged a row (a violation of the solver's claims or sandbox)."""
    for k in ("flags", "violations"):
        v = r.get(k)
        if v:
            return True
    info = r.get("info") or {}
    return bool(info.get("reference_violation"))


def referee_notes(rows: list[dict]) -> list[str]:
    """Notes on what the referee (:mod:`offbench.run.referee`) said about a table's rows: rows
    it flagged (by solver) and rows it could not referee (an in-process run with a plug-in)."""
    by: dict[str, int] = {}
    for r in rows:
        if r.get("flags"):
            by[r["solver_id"]] = by.get(r["solver_id"], 0) + 1
    return _referee_notes(by, sum(1 for r in rows if r.get("refereed") is False))


def _referee_notes(by: dict[str, int], n: int) -> list[str]:
    """:func:`referee_notes` from counts: flagged rows by solver, unrefereed rows."""
    notes = []
    if by:
        notes.append("flagged by the referee (a false claim or a changed cost model; scored at "
                     "the all-device fallback, never a win): "
                     + ", ".join(f"{k} {v} row{'s' if v != 1 else ''}" for k, v in sorted(by.items())))
    if n:
        notes.append(f"UNREFEREED: {n} row{'s' if n != 1 else ''} from an in-process run (-j 0) "
                     "that loaded a solver from outside offbench, which may have changed these "
                     "numbers; re-run on the pool (-j N) to referee them")
    return notes


def solved(r: dict) -> bool:
    """Whether a row (or frame row) is solved: a feasible decision the referee accepts, from a
    solver that returned in time (SPEC.md section 6): not refused, not flagged, and
    :func:`~offbench.tracks.outcome.decision_solved`."""
    return not (refused(r) or flagged(r)) and decision_solved(r)


def fallback_ratio(r: dict, info: dict) -> float | None:
    """The ratio SPEC.md section 6 scores a row at: its ratio when solved, else the all-device
    ratio of its instance (``inf`` against a reference cost of 0 with a positive all-device
    cost); None for a refused row or a row without a reference."""
    if refused(r):
        return None
    if solved(r):
        return r.get("ratio")
    ref = r.get("ref_cost")
    if ref is None:
        return None
    ad = (info.get(r["instance_digest"]) or {}).get("all_device_cost")
    if ad is None:
        return r.get("ratio") if r.get("counted_infeasible") else None
    if ref > 0:
        return float(ad) / float(ref)
    return 1.0 if ad == 0 else math.inf


def _scored_cost(r: dict, info: dict) -> float:
    """The cost a row is scored at: its cost when solved, else the all-device cost (``nan``
    when its instance is not in the store)."""
    if solved(r) and r.get("cost") is not None:
        return float(r["cost"])
    ad = (info.get(r["instance_digest"]) or {}).get("all_device_cost")
    return math.nan if ad is None else float(ad)


def _infeasible(r: dict) -> bool:
    if r.get("counted_infeasible") is not None:
        return bool(r["counted_infeasible"])
    return not (r.get("decision") is not None and r.get("feasible"))


def instance_ratios(rows: list[dict], info: dict) -> dict[str, float]:
    """Per instance, the mean fallback ratio over its seeds (refused rows and rows without a
    reference left out): what the geometric mean, median and paired tests use."""
    per: dict[str, list[float]] = {}
    for r in rows:
        v = fallback_ratio(r, info)
        if v is not None:
            per.setdefault(r["instance_digest"], []).append(v)
    return {d: float(np.mean(v)) for d, v in per.items()}


def _ratio_stats(per_instance: list[float], solved_ratios: list[float]) -> dict:
    g, lo, hi = metrics.geometric_mean_ci(per_instance)
    return {"ratio": g, "ci_low": lo, "ci_high": hi,
            "median": float(np.median(per_instance)) if per_instance else math.nan,
            "gmean_solved": metrics.geometric_mean(solved_ratios) if solved_ratios else math.nan}


def _rank_key(e: Entry) -> tuple:
    v = e.values
    sr = v.get("solved")
    return (_nan_last(v["ratio"]), -(sr if sr is not None and not math.isnan(sr) else -1.0),
            e.solver_id, e.param_hash, e.config)


def _static_table(name: str, s: dict, a, track: str, size: int, path, flt) -> Table:
    """A static table from its aggregate (:func:`offbench.leaderboard.aggregate.static_table`);
    its rows and paired ratios are read from the store at ``path`` when first asked for."""
    entries = [Entry(label="", solver_id=k[0], param_hash=k[1], params=p, values=v,
                     track_config=json.loads(k[2]), config=k[2])
               for k, p, v in zip(a.keys, a.params, a.values)]
    entries.sort(key=_rank_key)
    notes = []
    if any(math.isnan(e.values["ratio"]) for e in entries):
        notes.append("ratio n/a: rows without a reference (reference mode 'none') or only refused "
                     "rows; wins compare scored costs")
    if a.below:
        # Only an unproven reference (heuristic, milp-gap) can be beaten; a proven one never is
        # (that row would be a loud error). Said here, so a ratio under 1 is never a mystery.
        notes.append(f"ratio below 1 on {a.below} instance{'s' if a.below != 1 else ''}: a "
                     "solver beat the instance's unproven reference (heuristic or milp-gap), so "
                     "ratios there are against a cost that is not the optimum")
    if a.normal_ci:
        notes.append(_aggregate.NORMAL_CI_NOTE)
    notes += _track_notes(track, [a.first_track_config] + [e.track_config for e in entries])
    notes += _referee_notes(a.flagged_by_solver, a.unrefereed)
    rows = _aggregate.LazyRows(path, flt, a.keys, _annotate)
    return Table(source=name, source_digest=s["digest"], track=track, size=size,
                 entries=entries, notes=notes, rows=rows,
                 paired=_aggregate.LazyPaired(rows, instance_ratios))


def _track_notes(track: str, configs: list[dict]) -> list[str]:
    """The track's notes for each distinct track configuration of a table, in order, each note
    once (one configuration, as a rule: then its notes alone)."""
    out: list[str] = []
    for cfg in configs:
        out += [n for n in track_registry.get(track).notes(cfg) if n not in out]
    return out


def _annotate(groups: dict[tuple, list[dict]], info: dict) -> None:
    """Mark each row of a static table as the tables score it (``_infeasible``, ``_solved``,
    ``_refused``, and ``_scored`` for a row that is not refused): what the plots read."""
    for g in groups.values():
        for r in g:
            r["_infeasible"] = _infeasible(r)
            r["_solved"] = solved(r)
            r["_refused"] = refused(r)
            if not r["_refused"]:
                r["_scored"] = _scored_cost(r, info)


def _stream_table(name: str, s: dict, rows: list[dict], frames_by_row: dict) -> Table:
    """A learning-track table: per solver, the rows' summary ratio (final window, held-out
    frames, or the frames right after the switch), frames to the threshold, and per-frame
    latency, evaluations and infeasibility over the scored frames."""
    track = rows[0]["track"]
    tr = track_registry.get(track)
    groups = _entries(rows)
    order = list(groups)
    seeds = sorted({r["seed"] for r in rows})
    # wins: per stream seed, the best summary ratio (ties count for all).
    mat = np.full((len(seeds), len(order)), np.nan)
    for j, k in enumerate(order):
        for r in groups[k]:
            if r["ratio"] is not None and r["status"] not in ("error", "timeout"):
                mat[seeds.index(r["seed"]), j] = r["ratio"]
    wins = metrics.best_mask(mat).sum(axis=0)
    entries = []
    for j, k in enumerate(order):
        g = groups[k]
        ratios = [r["ratio"] for r in g]
        scored = all(x is not None for x in ratios)
        fr = []
        # scored frames without a frame row (a job that gave no decision at all, or frames a
        # stream that stopped never reached): counted infeasible, unsolved
        missing = 0
        for r in g:
            all_frames = frames_by_row.get(r["row_id"], [])
            total = max(int(r["track_config"].get("frames", 0)), len(all_frames))
            scored_k = tr.scored_frames(r["track_config"], total)
            fr += [all_frames[i] for i in scored_k if i < len(all_frames)]
            missing += sum(1 for i in scored_k if i >= len(all_frames))
        wt = [f["wall_time"] for f in fr]
        ft = [math.inf if r["info"].get("frames_to_threshold") is None else r["info"]["frames_to_threshold"]
              for r in g]
        med = (float(np.median(ft)) if ft and scored and tr.threshold is not None else math.nan)
        solved_frames = [f for f in fr if solved(f)]
        stats = (_ratio_stats(ratios, [f["ratio"] for f in solved_frames if f["ratio"] is not None])
                 if scored else {"ratio": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                                 "median": math.nan, "gmean_solved": math.nan})
        vals = {
            "n": len(g),
            **stats,
            "solved": len(solved_frames) / (len(fr) + missing) if fr or missing else math.nan,
            "refused": 0,
            "frames_to_threshold": med,
            "infeasible": ((sum(bool(f["counted_infeasible"]) for f in fr) + missing) / (len(fr) + missing)
                           if fr or missing else math.nan),
            "failed": sum(1 for f in fr if f["status"] in ("error", "timeout"))
                      + sum(1 for r in g if r["status"] in ("error", "timeout")),
            "p50": metrics.quantile(wt, 0.5), "p95": metrics.quantile(wt, 0.95),
            "evals": float(np.mean([f["evaluations"] for f in fr])) if fr else math.nan,
            "sgm": metrics.shifted_geometric_mean(wt) if wt else math.nan,
            "wins": int(wins[j]),
        }
        entries.append(Entry(label="", solver_id=k[0], param_hash=k[1], params=g[0]["params"],
                             values=vals, track_config=g[0]["track_config"], config=k[2]))
    entries.sort(key=_rank_key)
    notes = _track_notes(track, [rows[0]["track_config"]]
                         + [g[0]["track_config"] for g in groups.values()])
    notes += referee_notes(rows)
    return Table(source=name, source_digest=s["digest"], track=track,
                 size=len(s["members"]), entries=entries, notes=notes,
                 rows=_aggregate.EntryDict(groups),
                 frames={r["row_id"]: frames_by_row.get(r["row_id"], []) for r in rows},
                 paired=_aggregate.EntryDict(
                     {k: {f"seed {r['seed']}": r["ratio"] for r in g if r["ratio"] is not None}
                      for k, g in groups.items()}))


def _nan_last(v: float) -> float:
    return math.inf if v is None or math.isnan(v) else v


def _label_entries(tables: list[Table]) -> None:
    """Label each entry by its solver ID, adding the parameters that tell apart two entries of
    one solver (``local-search-v1[passes=5]``) and, where one solver with one parameter set ran
    under several track configurations in a table, the settings that differ
    (``milp-v1 (time_limit=0.01)``; on every table of that track, so that a label names one
    thing throughout). Settings that differ only between solvers, or only between sources (a
    stream's length), are not named."""
    params_of: dict[str, dict[str, dict]] = {}
    settings: dict[tuple[str, str], set[str]] = {}  # (solver ID, track) -> settings that differ
    for t in tables:
        configs: dict[tuple[str, str], dict[str, dict]] = {}
        for e in t.entries:
            params_of.setdefault(e.solver_id, {})[e.param_hash] = e.params
            configs.setdefault((e.solver_id, e.param_hash), {})[e.config] = e.track_config
        for (sid, _), variants in configs.items():
            if len(variants) > 1:
                settings.setdefault((sid, t.track), set()).update(_differ(list(variants.values())))
    for t in tables:
        for e in t.entries:
            variants = params_of[e.solver_id]
            if len(variants) == 1:
                e.label = e.solver_id
            else:
                differ = _differ(list(variants.values()))
                e.label = (e.solver_id + "["
                           + ",".join(f"{k}={e.params.get(k)}" for k in differ) + "]")
            differ = sorted(settings.get((e.solver_id, t.track), ()))
            if differ:
                e.label += " (" + ", ".join(f"{k}={e.track_config.get(k)}" for k in differ) + ")"


def _differ(variants: list[dict]) -> list[str]:
    """The keys (sorted) whose values are not the same in all of these dicts (absent: None)."""
    keys = sorted({k for p in variants for k in p})
    return [k for k in keys if len({canonical_json(p.get(k)) for p in variants}) > 1]


def _provenance(store: Store, used: _Used, sources: list[dict], version: str,
                ref_codes: dict[str, int]) -> dict:
    runs = store.runs(used.run_ids)
    specs, seen = [], set()
    for run in runs:
        if run["spec_hash"] not in seen:
            seen.add(run["spec_hash"])
            specs.append(run["spec"])
    solvers = used.solvers
    ref_prov: dict[str, int] = {}
    for r in store.references(used.digests).values():
        ref_prov[r["provenance"]] = ref_prov.get(r["provenance"], 0) + 1
    if used.ids:  # static instances, each counted once however many tables it is in
        ids, first = np.unique(np.concatenate(used.ids), return_index=True)
        codes = np.concatenate(used.refs)[first]
        names = {v: k for k, v in ref_codes.items()}
        for code, n in zip(*np.unique(codes[codes >= 0], return_counts=True)):
            ref_prov[names[int(code)]] = ref_prov.get(names[int(code)], 0) + int(n)
    return {
        "offbench_version": version,
        "offbench_commits": sorted({r["offbench_commit"] or "unknown" for r in runs}),
        "store": str(store.path),
        "rows": used.n_rows,
        "runs": [r["run_id"] for r in runs],
        "sources": [{"name": s["display"], "kind": s["kind"], "digest": s["digest"],
                     "size": s["size"], "spec": s["spec"],
                     **({"references_digest": set_references_digest(store, s["source_id"])}
                        if s["kind"] == "set" else {})} for s in sources],
        "seeds": sorted(used.seeds),
        "solvers": [{"id": k[0], "param_hash": k[1], "params": p} for k, p in sorted(solvers.items())],
        "references": dict(sorted(ref_prov.items())),
        "machines": _distinct([r["machine"] for r in runs]),
        "libraries": _distinct([r["libraries"] for r in runs]),
        "executors": sorted({r["executor"] for r in runs}),
        "statistics": {"ranking": "geometric mean of the fallback ratio (SPEC.md section 6)",
                       "bootstrap_resamples": metrics.BOOTSTRAP_RESAMPLES,
                       "bootstrap_seed": metrics.BOOTSTRAP_SEED, "confidence": metrics.CONFIDENCE,
                       "sgm_shift_s": metrics.SGM_SHIFT, "tie_rtol": metrics.TIE_RTOL,
                       # only where it applied, so that other tables' provenance is unchanged
                       **({"normal_ci_above_instances": _aggregate.NORMAL_CI_ABOVE}
                          if used.normal_ci else {})},
        "selection": {"sources": [[s["name"], s["digest"]] for s in sources],
                      "solvers": [list(k) for k in sorted(solvers)],
                      "tracks": sorted(used.tracks, key=_track_order)},
        "specs": specs,
    }


def set_references_digest(store: Store, source_id: int) -> str:
    """The digest of the references a set source's ratios used
    (:func:`offbench.instance_sets.references_digest` of the store's references of its members):
    a table records it, and ``verify`` compares it with the re-run's to say when the set's
    references were replaced since the table was made."""
    from ..instance_sets import references_digest

    members = [d for (d,) in store.conn.execute(
        "SELECT DISTINCT instance_digest FROM source_members WHERE source_id = ?", (source_id,))]
    return references_digest(store.references(members))


def _distinct(items: list[dict]) -> list[dict]:
    out, seen = [], set()
    for it in items:
        k = canonical_json(it)
        if k not in seen:
            seen.add(k)
            out.append(it)
    return out
