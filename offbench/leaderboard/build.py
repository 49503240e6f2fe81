"""Leaderboard statistics: the tables of a results store (:func:`build`), per (source, track).

:func:`build` reads the store and makes one table per (source, track), with the provenance of
its rows (offbench version and commit, source digests, seeds, solver parameters, machine, library
versions, the run specs). Each track's columns, notes and scored frames come from the track
registry (:mod:`offbench.tracks`).

Scoring follows SPEC.md section 6. A row is **solved** when its decision is feasible and the
referee accepts it (status ``optimal`` or ``feasible``, or a ``timeout`` that returned in time with
a feasible decision; no referee flags); a **refused** row (the solver declared the instance out of
its scope: status ``refused``, or an error that says ``unsupported:``) is counted apart and never
scored; every other row (failed, infeasible, missing, flagged) is scored at the **fallback**:
the all-device ratio of its instance. Where the reference cost is 0, a cost of 0 has ratio 1 and
any other cost ``inf``.

Columns of a static table, per solver (an ID and its parameters):

``n``                   rows (instances x seeds), refused ones included
``gmean ratio``         geometric mean over instances of the fallback ratio (seeds averaged per
                        instance first): what the table ranks by, ties broken by solved rate
``95% CI``              percentile bootstrap interval of that geometric mean, resampling instances
                        (2000 resamples, seed 0: the same interval on every run)
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

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .. import metrics
from .. import tracks as track_registry
from ..errors import UserError
from ..store import KEY_COLUMNS, Store, canonical_json

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
    """One solver's line of a table: display cells and raw values."""

    label: str
    solver_id: str
    param_hash: str
    params: dict
    values: dict


@dataclass
class Table:
    """One (source, track) table."""

    source: str
    source_digest: str
    track: str
    size: int
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)
    #: Not rendered: the rows of each entry (by ``(solver_id, param_hash)``), for plots.
    rows: dict = field(default_factory=dict, repr=False)
    #: Not rendered: per-frame rows by result ``row_id`` (learning tracks), for plots.
    frames: dict = field(default_factory=dict, repr=False)
    #: Not rendered: per entry (by ``(solver_id, param_hash)``), the fallback ratio per instance
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
    """
    from .. import __version__

    version = offbench_version or __version__
    rows = store.results(offbench_version=version)
    if keys is not None:
        wanted = set(keys)
        rows = [r for r in rows if _key(r) in wanted]
    if solvers is not None:
        keep = {tuple(x) for x in solvers}
        rows = [r for r in rows if (r["solver_id"], r["param_hash"]) in keep]
    if tracks:
        rows = [r for r in rows if r["track"] in tracks]
    if not rows:
        others = [v for v in store.versions() if v != version]
        hint = (f"; rows of other offbench versions: {', '.join(others)} (--offbench-version)"
                if others else "; run `offbench run` first")
        raise LeaderboardError(f"store {store.path}: no result rows for offbench {version}{hint}")
    all_sources = store.sources()
    if sources is not None:
        want = {tuple(s) for s in sources}
        all_sources = [s for s in all_sources if (s["name"], s["digest"]) in want]
    names = [s["name"] for s in all_sources]
    info = store.instance_info()
    frames_by_row = {}
    stream_rows = [r["row_id"] for r in rows if _is_stream(r["track"])]
    if stream_rows:
        frames_by_row = store.frames(stream_rows)
    by_digest: dict[str, list[dict]] = {}
    for r in rows:
        by_digest.setdefault(r["instance_digest"], []).append(r)
    tables: list[Table] = []
    used_rows: list[dict] = []
    used_sources = []
    for s in all_sources:
        name = s["name"] if names.count(s["name"]) == 1 else f"{s['name']}@{s['digest'][:8]}"
        stream = s["kind"] == "stream"
        if stream:
            srows = by_digest.get(s["digest"], [])
        else:
            srows = [r for d in dict.fromkeys(s["members"]) for r in by_digest.get(d, [])
                     if not _is_stream(r["track"])]
            srows.sort(key=_key)
        if not srows:
            continue
        used_sources.append({**s, "display": name})
        for track in sorted({r["track"] for r in srows}, key=_track_order):
            trows = [r for r in srows if r["track"] == track]
            used_rows += trows
            if not track_registry.get(track).stream:
                tables.append(_static_table(name, s, trows, info, track))
            else:
                tables.append(_stream_table(name, s, trows, frames_by_row))
    if not tables:
        raise LeaderboardError(f"store {store.path}: no source has rows matching the selection")
    _label_entries(tables)
    prov = _provenance(store, used_rows, used_sources, version)
    return Leaderboard(provenance=prov, tables=tables)


def _key(r: dict) -> tuple:
    return tuple(canonical_json(r[c]) if c == "track_config" else r[c] for c in KEY_COLUMNS)


def _track_order(t: str) -> int:
    return track_registry.order(t)


def _is_stream(t: str) -> bool:
    """Whether rows of this track are stream rows (a track not registered here counts as one
    if it is not static: its tables cannot be built, and say so)."""
    try:
        return track_registry.get(t).stream
    except track_registry.TrackError:
        raise LeaderboardError(f"the store has rows of track {t!r}, which is not registered "
                               f"here (tracks: {', '.join(track_registry.names())})") from None


def _entries(rows: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault((r["solver_id"], r["param_hash"]), []).append(r)
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
    notes = []
    by: dict[str, int] = {}
    for r in rows:
        if r.get("flags"):
            by[r["solver_id"]] = by.get(r["solver_id"], 0) + 1
    if by:
        notes.append("flagged by the referee (a false claim or a changed cost model; scored at "
                     "the all-device fallback, never a win): "
                     + ", ".join(f"{k} {v} row{'s' if v != 1 else ''}" for k, v in sorted(by.items())))
    n = sum(1 for r in rows if r.get("refereed") is False)
    if n:
        notes.append(f"UNREFEREED: {n} row{'s' if n != 1 else ''} from an in-process run (-j 0) "
                     "that loaded a solver from outside offbench, which may have changed these "
                     "numbers; re-run on the pool (-j N) to referee them")
    return notes


def solved(r: dict) -> bool:
    """Whether a row (or frame row) is solved: a feasible decision the referee accepts, from a
    solver that returned in time (SPEC.md section 6)."""
    if refused(r) or flagged(r):
        return False
    if r.get("counted_infeasible"):
        return False
    if r.get("decision") is None or not r.get("feasible"):
        return False
    if r.get("status") in ("optimal", "feasible"):
        return True
    return r.get("status") == "timeout" and "overrun_wall_time" not in (r.get("info") or {})


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
    """The cost a row is scored at: its cost when solved, else the all-device cost."""
    if solved(r) and r.get("cost") is not None:
        return float(r["cost"])
    return float(info[r["instance_digest"]]["all_device_cost"])


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
            e.solver_id, e.param_hash)


def _static_table(name: str, s: dict, rows: list[dict], info: dict, track: str = "static") -> Table:
    groups = _entries(rows)
    members = list(dict.fromkeys(r["instance_digest"] for r in rows))
    order = list(groups)
    # wins: per instance, each entry's mean scored cost; the best (ties count for all) wins,
    # among the entries whose decisions there were all solved.
    mat = np.full((len(members), len(order)), np.nan)
    pos = {d: i for i, d in enumerate(members)}
    for j, k in enumerate(order):
        per: dict[str, list[float]] = {}
        for r in groups[k]:
            r["_infeasible"] = _infeasible(r)
            r["_solved"] = solved(r)
            r["_refused"] = refused(r)
            if r["_refused"]:
                continue
            r["_scored"] = _scored_cost(r, info)
            per.setdefault(r["instance_digest"], []).append(r["_scored"] if r["_solved"] else math.nan)
        for d, v in per.items():
            mat[pos[d], j] = float(np.mean(v))
    wins = metrics.best_mask(mat).sum(axis=0) if len(members) else np.zeros(len(order))
    entries = []
    for j, k in enumerate(order):
        g = groups[k]
        scored = [r for r in g if not r["_refused"]]
        per_inst = instance_ratios(scored, info)
        has_ref = bool(scored) and all(fallback_ratio(r, info) is not None for r in scored)
        stats = (_ratio_stats(list(per_inst.values()),
                              [r["ratio"] for r in scored if r["_solved"] and r["ratio"] is not None])
                 if has_ref else {"ratio": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                                  "median": math.nan, "gmean_solved": math.nan})
        wt = [r["wall_time"] for r in g]
        vals = {
            "n": len(g),
            **stats,
            "solved": (sum(r["_solved"] for r in scored) / len(scored)) if scored else math.nan,
            "refused": sum(r["_refused"] for r in g),
            "infeasible": float(np.mean([r["_infeasible"] for r in scored])) if scored else math.nan,
            "failed": sum(1 for r in scored if r["status"] in ("error", "timeout")),
            "p50": metrics.quantile(wt, 0.5), "p95": metrics.quantile(wt, 0.95),
            "evals": float(np.mean([r["evaluations"] for r in g])),
            "sgm": metrics.shifted_geometric_mean(wt),
            "wins": int(wins[j]),
            "frames_to_threshold": None,
        }
        entries.append(Entry(label="", solver_id=k[0], param_hash=k[1], params=g[0]["params"], values=vals))
    entries.sort(key=_rank_key)
    notes = []
    if any(math.isnan(e.values["ratio"]) for e in entries):
        notes.append("ratio n/a: rows without a reference (reference mode 'none') or only refused "
                     "rows; wins compare scored costs")
    below = sorted({r["instance_digest"] for r in rows if r["ratio"] is not None and r["ratio"] < 1 - 1e-9})
    if below:
        # Only an unproven reference (heuristic, milp-gap) can be beaten; a proven one never is
        # (that row would be a loud error). Said here, so a ratio under 1 is never a mystery.
        notes.append(f"ratio below 1 on {len(below)} instance{'s' if len(below) != 1 else ''}: a "
                     "solver beat the instance's unproven reference (heuristic or milp-gap), so "
                     "ratios there are against a cost that is not the optimum")
    notes += track_registry.get(track).notes(rows[0]["track_config"] if rows else {})
    notes += referee_notes(rows)
    return Table(source=name, source_digest=s["digest"], track=track, size=len(set(s["members"])),
                 entries=entries, notes=notes, rows=groups,
                 paired={k: instance_ratios([r for r in g if not r["_refused"]], info)
                         for k, g in groups.items()})


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
        missing = 0  # scored frames of jobs that gave no decision at all: counted infeasible
        for r in g:
            all_frames = frames_by_row.get(r["row_id"], [])
            fr += [all_frames[i] for i in tr.scored_frames(r["track_config"], len(all_frames))]
            if not all_frames:
                cfg = r["track_config"]
                missing += len(tr.scored_frames(cfg, int(cfg.get("frames", 0))))
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
        entries.append(Entry(label="", solver_id=k[0], param_hash=k[1], params=g[0]["params"], values=vals))
    entries.sort(key=_rank_key)
    notes = tr.notes(rows[0]["track_config"]) + referee_notes(rows)
    return Table(source=name, source_digest=s["digest"], track=track,
                 size=len(s["members"]), entries=entries, notes=notes, rows=groups,
                 frames={r["row_id"]: frames_by_row.get(r["row_id"], []) for r in rows},
                 paired={k: {f"seed {r['seed']}": r["ratio"] for r in g if r["ratio"] is not None}
                         for k, g in groups.items()})


def _nan_last(v: float) -> float:
    return math.inf if v is None or math.isnan(v) else v


def _label_entries(tables: list[Table]) -> None:
    """Label each entry by its solver ID, adding the parameters that tell apart two entries of
    one solver (``local-search-v1[passes=5]``)."""
    params_of: dict[str, dict[str, dict]] = {}
    for t in tables:
        for e in t.entries:
            params_of.setdefault(e.solver_id, {})[e.param_hash] = e.params
    for t in tables:
        for e in t.entries:
            variants = params_of[e.solver_id]
            if len(variants) == 1:
                e.label = e.solver_id
                continue
            keys = sorted({k for p in variants.values() for k in p})
            differ = [k for k in keys if len({canonical_json(p.get(k)) for p in variants.values()}) > 1]
            e.label = e.solver_id + "[" + ",".join(f"{k}={e.params.get(k)}" for k in differ) + "]"


def _provenance(store: Store, rows: list[dict], sources: list[dict], version: str) -> dict:
    runs = store.runs({r["run_id"] for r in rows})
    specs, seen = [], set()
    for run in runs:
        if run["spec_hash"] not in seen:
            seen.add(run["spec_hash"])
            specs.append(run["spec"])
    solvers = {}
    for r in rows:
        solvers.setdefault((r["solver_id"], r["param_hash"]), r["params"])
    refs = store.references({r["instance_digest"] for r in rows})
    ref_prov: dict[str, int] = {}
    for r in refs.values():
        ref_prov[r["provenance"]] = ref_prov.get(r["provenance"], 0) + 1
    return {
        "offbench_version": version,
        "offbench_commits": sorted({r["offbench_commit"] or "unknown" for r in runs}),
        "store": str(store.path),
        "rows": len(rows),
        "runs": [r["run_id"] for r in runs],
        "sources": [{"name": s["display"], "kind": s["kind"], "digest": s["digest"],
                     "size": s["size"], "spec": s["spec"]} for s in sources],
        "seeds": sorted({r["seed"] for r in rows}),
        "solvers": [{"id": k[0], "param_hash": k[1], "params": p} for k, p in sorted(solvers.items())],
        "references": dict(sorted(ref_prov.items())),
        "machines": _distinct([r["machine"] for r in runs]),
        "libraries": _distinct([r["libraries"] for r in runs]),
        "executors": sorted({r["executor"] for r in runs}),
        "statistics": {"ranking": "geometric mean of the fallback ratio (SPEC.md section 6)",
                       "bootstrap_resamples": metrics.BOOTSTRAP_RESAMPLES,
                       "bootstrap_seed": metrics.BOOTSTRAP_SEED, "confidence": metrics.CONFIDENCE,
                       "sgm_shift_s": metrics.SGM_SHIFT, "tie_rtol": metrics.TIE_RTOL},
        "selection": {"sources": [[s["name"], s["digest"]] for s in sources],
                      "solvers": [list(k) for k in sorted(solvers)],
                      "tracks": sorted({r["track"] for r in rows}, key=_track_order)},
        "specs": specs,
    }


def _distinct(items: list[dict]) -> list[dict]:
    out, seen = [], set()
    for it in items:
        k = canonical_json(it)
        if k not in seen:
            seen.add(k)
            out.append(it)
    return out
