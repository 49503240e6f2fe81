"""Leaderboards: tables derived from the results store, never edited by hand.

:func:`build` reads the store and makes one table per (source, track); :func:`render` writes them
as Markdown, CSV or LaTeX, each starting with its provenance (offbench version and commit,
source digests, seeds, solver parameters, machine, library versions, the run specs) in a form a
program can read back (``offbench-provenance: {json}``). :func:`verify` re-runs the specs a table
names into a fresh store and fails if any quality number differs.

Columns of a static table, per solver (an ID and its parameters):

``n``                   rows (instances x seeds)
``ratio``               mean cost ratio ``rho`` (SPEC.md section 6; infeasible or missing
                        decisions scored at the all-device cost)
``95% CI``              percentile bootstrap interval of that mean, resampling instances
                        (2000 resamples, seed 0: the same interval on every run)
``infeasible``          share of rows counted infeasible (infeasible or no decision)
``failed``              rows with status ``error`` or ``timeout``
``p50 ms``, ``p95 ms``  median and 95th percentile of decision latency (wall time)
``evals``               cost-model evaluations per decision
``SGM ms``              shifted geometric mean of solve time, shift 10 ms
``wins``                instances where this solver's mean scored cost is the best among the
                        solvers whose decisions there were all feasible (ties count for all)

Learning-track tables report per-frame latency and evaluations over the scored frames and the
summary ratio of :mod:`offbench.tracks`: online, the mean over each stream's final window and
the frames until the moving mean stays under 1.01 (median over runs; ``never`` when most runs
never do); generalization, the mean over the held-out frames; adaptation, the mean over the
first frames after the switch and the frames until 1.02. Quality columns (everything but the latency and time columns) are
identical whichever executor ran the jobs, resumed or not; rows are read in key order and the
bootstrap has a fixed seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from . import metrics
from .errors import UserError
from .store import KEY_COLUMNS, Store, canonical_json

FORMATS = ("md", "csv", "latex")
PROVENANCE_TAG = "offbench-provenance:"

STATIC_COLUMNS = ("solver", "n", "ratio", "95% CI", "infeasible", "failed", "p50 ms", "p95 ms",
                  "evals", "SGM ms", "wins")
ONLINE_COLUMNS = ("solver", "n", "final ratio", "95% CI", "frames to 1.01", "infeasible",
                  "failed frames", "p50 ms", "p95 ms", "evals", "SGM ms", "wins")
GENERALIZATION_COLUMNS = ("solver", "n", "held-out ratio", "95% CI", "infeasible",
                          "failed frames", "p50 ms", "p95 ms", "evals", "SGM ms", "wins")
ADAPTATION_COLUMNS = ("solver", "n", "ratio after switch", "95% CI", "frames to 1.02",
                      "infeasible", "failed frames", "p50 ms", "p95 ms", "evals", "SGM ms", "wins")
TRACK_COLUMNS = {"static": STATIC_COLUMNS, "online": ONLINE_COLUMNS,
                 "generalization": GENERALIZATION_COLUMNS, "adaptation": ADAPTATION_COLUMNS}
#: Columns that measure time: they differ between runs and are left out of :func:`verify`.
TIMING_COLUMNS = ("p50 ms", "p95 ms", "SGM ms")

CSV_HEADER = ("source", "track", "solver", "solver_id", "param_hash", "n", "ratio_mean",
              "ratio_ci_low", "ratio_ci_high", "infeasible_rate", "failed", "frames_to_threshold",
              "latency_p50_s", "latency_p95_s", "evaluations_per_decision", "sgm_time_s", "wins")
CSV_TIMING = ("latency_p50_s", "latency_p95_s", "sgm_time_s")


class LeaderboardError(UserError):
    """A leaderboard that cannot be made, read or verified (the message says why)."""


# ==================================================================================== building
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

    @property
    def title(self) -> str:
        unit = "instances" if self.track == "static" else "frames per stream"
        return f"{self.source} / {self.track} ({self.size} {unit})"

    @property
    def columns(self) -> tuple[str, ...]:
        return TRACK_COLUMNS[self.track]


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
    from . import __version__

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
    if any(r["track"] != "static" for r in rows):
        frames_by_row = store.frames([r["row_id"] for r in rows if r["track"] != "static"])
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
                     if r["track"] == "static"]
            srows.sort(key=_key)
        if not srows:
            continue
        used_sources.append({**s, "display": name})
        for track in sorted({r["track"] for r in srows}, key=_track_order):
            trows = [r for r in srows if r["track"] == track]
            used_rows += trows
            if track == "static":
                tables.append(_static_table(name, s, trows, info))
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
    from .solver import TRACKS

    return TRACKS.index(t) if t in TRACKS else len(TRACKS)


def _entries(rows: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault((r["solver_id"], r["param_hash"]), []).append(r)
    return out


def _scored_cost(r: dict, info: dict) -> float:
    """The cost SPEC.md scores a row at: its cost when it has a feasible decision, else the
    all-device cost of the instance."""
    if r.get("ratio") is not None and r.get("ref_cost") is not None:
        return r["ratio"] * r["ref_cost"]
    if r.get("decision") is not None and r.get("feasible"):
        return r["cost"]
    return info[r["instance_digest"]]["all_device_cost"]


def _infeasible(r: dict) -> bool:
    if r.get("counted_infeasible") is not None:
        return bool(r["counted_infeasible"])
    return not (r.get("decision") is not None and r.get("feasible"))


def _static_table(name: str, s: dict, rows: list[dict], info: dict) -> Table:
    groups = _entries(rows)
    members = list(dict.fromkeys(r["instance_digest"] for r in rows))
    order = list(groups)
    # wins: per instance, each entry's mean scored cost; the best (ties count for all) wins.
    mat = np.full((len(members), len(order)), np.nan)
    pos = {d: i for i, d in enumerate(members)}
    for j, k in enumerate(order):
        per: dict[str, list[float]] = {}
        for r in groups[k]:
            # Only feasible decisions can win: a failed row makes its instance ineligible.
            r["_infeasible"] = _infeasible(r)
            r["_scored"] = _scored_cost(r, info)
            v = math.nan if r["_infeasible"] else r["_scored"]
            per.setdefault(r["instance_digest"], []).append(v)
        for d, v in per.items():
            mat[pos[d], j] = float(np.mean(v))
    wins = metrics.best_mask(mat).sum(axis=0) if len(members) else np.zeros(len(order))
    entries = []
    for j, k in enumerate(order):
        g = groups[k]
        ratios = [r["ratio"] for r in g]
        scored = all(x is not None for x in ratios)
        mean, lo, hi = (metrics.bootstrap_mean_ci(ratios, [r["instance_digest"] for r in g])
                        if scored else (math.nan, math.nan, math.nan))
        wt = [r["wall_time"] for r in g]
        inf = [r["_infeasible"] for r in g]
        vals = {
            "n": len(g),
            "ratio": mean, "ci_low": lo, "ci_high": hi,
            "infeasible": float(np.mean(inf)) if inf else math.nan,
            "failed": sum(1 for r in g if r["status"] in ("error", "timeout")),
            "p50": metrics.quantile(wt, 0.5), "p95": metrics.quantile(wt, 0.95),
            "evals": float(np.mean([r["evaluations"] for r in g])),
            "sgm": metrics.shifted_geometric_mean(wt),
            "wins": int(wins[j]),
            "frames_to_threshold": None,
        }
        entries.append(Entry(label="", solver_id=k[0], param_hash=k[1], params=g[0]["params"], values=vals))
    entries.sort(key=lambda e: (_nan_last(e.values["ratio"]), e.values["infeasible"], e.solver_id, e.param_hash))
    notes = []
    if any(math.isnan(e.values["ratio"]) for e in entries):
        notes.append("ratio n/a: rows without a reference (reference mode 'none'); wins compare scored costs")
    below = sorted({r["instance_digest"] for r in rows if r["ratio"] is not None and r["ratio"] < 1 - 1e-9})
    if below:
        # Only an unproven reference (heuristic, milp-gap) can be beaten; a proven one never is
        # (that row would be a loud error). Said here, so a ratio under 1 is never a mystery.
        notes.append(f"ratio below 1 on {len(below)} instance{'s' if len(below) != 1 else ''}: a "
                     "solver beat the instance's unproven reference (heuristic or milp-gap), so "
                     "ratios there are against a cost that is not the optimum")
    return Table(source=name, source_digest=s["digest"], track="static", size=len(set(s["members"])),
                 entries=entries, notes=notes, rows=groups)


def _stream_table(name: str, s: dict, rows: list[dict], frames_by_row: dict) -> Table:
    """A learning-track table: per solver, the rows' summary ratio (final window, held-out
    frames, or the frames right after the switch), frames to the threshold, and per-frame
    latency, evaluations and infeasibility over the scored frames."""
    from .tracks import scored_frames

    track = rows[0]["track"]
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
        mean, lo, hi = (metrics.bootstrap_mean_ci(ratios) if scored else (math.nan,) * 3)
        fr = []
        missing = 0  # scored frames of jobs that gave no decision at all: counted infeasible
        for r in g:
            all_frames = frames_by_row.get(r["row_id"], [])
            fr += [all_frames[i] for i in scored_frames(track, r["track_config"], len(all_frames))]
            if not all_frames:
                cfg = r["track_config"]
                missing += len(scored_frames(track, cfg, int(cfg.get("frames", 0))))
        wt = [f["wall_time"] for f in fr]
        ft = [math.inf if r["info"].get("frames_to_threshold") is None else r["info"]["frames_to_threshold"]
              for r in g]
        med = (float(np.median(ft)) if ft and scored and track != "generalization" else math.nan)
        vals = {
            "n": len(g),
            "ratio": mean, "ci_low": lo, "ci_high": hi,
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
    entries.sort(key=lambda e: (_nan_last(e.values["ratio"]), e.solver_id, e.param_hash))
    cfg = rows[0]["track_config"]
    if track == "online":
        notes = [f"final ratio: mean over the last {cfg.get('window')} frames of each stream; "
                 "frames to 1.01: median over runs of the frames until the moving mean stays "
                 "under 1.01 (never: most runs never do)"]
    elif track == "generalization":
        notes = [f"trained (decide and learn) on the first {cfg.get('train_frames')} frames; "
                 f"held-out ratio: mean over the other {cfg.get('frames', 0) - cfg.get('train_frames', 0)} "
                 "frames, decided without learning; latency, evaluations and infeasibility over "
                 "the held-out frames"]
    else:
        notes = [f"new environment from frame {cfg.get('switch_at')}; ratio after switch: mean over "
                 f"its first {cfg.get('window')} frames; frames to 1.02: median over runs of the "
                 "frames after the switch until the moving mean stays under 1.02; latency, "
                 "evaluations and infeasibility over the frames after the switch"]
    return Table(source=name, source_digest=s["digest"], track=track,
                 size=len(s["members"]), entries=entries, notes=notes, rows=groups,
                 frames={r["row_id"]: frames_by_row.get(r["row_id"], []) for r in rows})


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
        "statistics": {"bootstrap_resamples": metrics.BOOTSTRAP_RESAMPLES,
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


# ==================================================================================== cells
def _f(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, fmt)


def _ms(v) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    ms = v * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def display_cells(t: Table, e: Entry) -> list[str]:
    """The displayed cells of one entry (Markdown and LaTeX)."""
    v = e.values
    ci = "n/a" if math.isnan(v["ci_low"]) else f"[{v['ci_low']:.4f}, {v['ci_high']:.4f}]"
    common_tail = [_ms(v["p50"]), _ms(v["p95"]), _f(v["evals"], ".1f"), _ms(v["sgm"]), str(v["wins"])]
    inf = "n/a" if math.isnan(v["infeasible"]) else f"{100 * v['infeasible']:.1f}%"
    if t.track in ("static", "generalization"):
        return [e.label, str(v["n"]), _f(v["ratio"], ".4f"), ci, inf, str(v["failed"]), *common_tail]
    ft = v["frames_to_threshold"]
    fts = "n/a" if ft is None or math.isnan(ft) else "never" if math.isinf(ft) else f"{ft:g}"
    return [e.label, str(v["n"]), _f(v["ratio"], ".4f"), ci, fts, inf, str(v["failed"]), *common_tail]


def _csv_value(v) -> str:
    if v is None or (isinstance(v, float) and (math.isnan(v))):
        return ""
    if isinstance(v, float):
        return "inf" if math.isinf(v) else repr(v)
    return str(v)


def csv_rows(board: Leaderboard) -> list[list[str]]:
    out = []
    for t in board.tables:
        for e in t.entries:
            v = e.values
            out.append([t.source, t.track, e.label, e.solver_id, e.param_hash, str(v["n"]),
                        _csv_value(v["ratio"]), _csv_value(v["ci_low"]), _csv_value(v["ci_high"]),
                        _csv_value(v["infeasible"]), str(v["failed"]),
                        _csv_value(v.get("frames_to_threshold")),
                        _csv_value(v["p50"]), _csv_value(v["p95"]), _csv_value(v["evals"]),
                        _csv_value(v["sgm"]), str(v["wins"])])
    return out


# ==================================================================================== rendering
def provenance_lines(board: Leaderboard) -> list[str]:
    """The human-readable provenance header (one line each, no comment markers)."""
    p = board.provenance
    lines = [f"offbench leaderboard, derived from the results store {p['store']} "
             f"({p['rows']} rows from run{'s' if len(p['runs']) != 1 else ''} "
             f"{', '.join(map(str, p['runs']))}); never edited by hand",
             f"offbench {p['offbench_version']}, commit {', '.join(p['offbench_commits'])}"]
    for s in p["sources"]:
        lines.append(f"source {s['name']}: {s['kind']}, {s['size']} "
                     f"{'frames' if s['kind'] == 'stream' else 'instances'}, digest {s['digest']}")
    lines.append(f"seeds: {', '.join(map(str, p['seeds']))}")
    for s in p["solvers"]:
        params = ", ".join(f"{k}={v}" for k, v in s["params"].items()) or "no parameters"
        lines.append(f"solver {s['id']}: {params} (parameter hash {s['param_hash'][:12]})")
    if p["references"]:
        lines.append("references: " + ", ".join(f"{n} {k}" for k, n in p["references"].items()))
    for m in p["machines"]:
        lines.append(f"machine: {m.get('system')} {m.get('machine')}, {m.get('cpu') or 'unknown CPU'}, "
                     f"{m.get('cpus')} CPUs, Python {m.get('python')}")
    for lib in p["libraries"]:
        lines.append("libraries: " + ", ".join(f"{k} {v}" for k, v in lib.items() if v))
    st = p["statistics"]
    lines.append(f"statistics: mean cost ratio with a {100 * st['confidence']:.0f}% percentile "
                 f"bootstrap interval ({st['bootstrap_resamples']} resamples over instances, seed "
                 f"{st['bootstrap_seed']}); SGM = shifted geometric mean of solve time, shift "
                 f"{st['sgm_shift_s'] * 1e3:g} ms; latency = solve wall time; wins = instances where "
                 "the solver's mean cost is the best among solvers with only feasible decisions "
                 "there, ties counting for all")
    lines.append(f"executors: {', '.join(p['executors'])}")
    return lines


def _prov_json(board: Leaderboard) -> str:
    return json.dumps(board.provenance, sort_keys=True, separators=(",", ":"), allow_nan=False)


def render(board: Leaderboard, fmt: str = "md") -> str:
    """The leaderboard as Markdown (``md``), CSV (``csv``) or LaTeX (``latex``) text."""
    if fmt == "md":
        return _render_md(board)
    if fmt == "csv":
        return _render_csv(board)
    if fmt == "latex":
        return _render_latex(board)
    raise LeaderboardError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


def _render_md(board: Leaderboard) -> str:
    out = ["# offbench leaderboard", ""]
    out += [f"- {line}" for line in provenance_lines(board)]
    out += ["", f"<!-- {PROVENANCE_TAG} {_prov_json(board)} -->", ""]
    for t in board.tables:
        out += [f"## {t.title}", ""]
        cols = t.columns
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "|".join("---" if c == "solver" else "---:" for c in cols) + "|")
        for e in t.entries:
            out.append("| " + " | ".join(display_cells(t, e)) + " |")
        out.append("")
        for n in t.notes:
            out.append(f"_{n}_")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _render_csv(board: Leaderboard) -> str:
    buf = io.StringIO()
    for line in provenance_lines(board):
        buf.write(f"# {line}\n")
    buf.write(f"# {PROVENANCE_TAG} {_prov_json(board)}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for row in csv_rows(board):
        w.writerow(row)
    return buf.getvalue()


_LATEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
              "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESC.get(c, c) for c in text)


def _render_latex(board: Leaderboard) -> str:
    out = [f"% {line}" for line in provenance_lines(board)]
    out.append(f"% {PROVENANCE_TAG} {_prov_json(board)}")
    out.append("% Needs \\usepackage{booktabs}.")
    for t in board.tables:
        cols = t.columns
        out += ["\\begin{table}[t]", "\\centering", "\\small",
                f"\\caption{{{latex_escape(t.title)}. " + latex_escape(
                    "Mean cost ratio with 95% bootstrap interval; latency in ms; SGM: shifted "
                    "geometric mean of solve time (shift 10 ms).") + "}",
                "\\begin{tabular}{l" + "r" * (len(cols) - 1) + "}", "\\toprule",
                " & ".join(latex_escape(c) for c in cols) + " \\\\", "\\midrule"]
        for e in t.entries:
            out.append(" & ".join(latex_escape(c) for c in display_cells(t, e)) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


# ==================================================================================== reading back
def read_table(text: str) -> tuple[str, dict, list[tuple[str, list[str], list[list[str]]]]]:
    """Parse a rendered leaderboard: ``(format, provenance, [(title, header, rows), ...])``.

    Raises
    ------
    LeaderboardError
        The text has no offbench provenance line, or its tables cannot be read.
    """
    prov = None
    for line in text.splitlines():
        i = line.find(PROVENANCE_TAG)
        if i >= 0:
            js = line[i + len(PROVENANCE_TAG):].strip()
            if js.endswith("-->"):
                js = js[:-3].strip()
            try:
                prov = json.loads(js)
            except json.JSONDecodeError as e:
                raise LeaderboardError(f"the provenance line is not valid JSON ({e.msg})") from None
            break
    if prov is None:
        raise LeaderboardError("no offbench provenance line in this table (was it written by "
                               "`offbench leaderboard`?)")
    lines = text.splitlines()
    if any(line.startswith("\\begin{tabular}") for line in lines):
        return "latex", prov, _parse_latex(lines)
    if any(line.startswith("|") for line in lines):
        return "md", prov, _parse_md(lines)
    return "csv", prov, _parse_csv(lines)


def _parse_md(lines: list[str]):
    out, title, header, rows = [], None, None, []
    for line in lines + [""]:
        if line.startswith("## "):
            title = line[3:].strip()
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif header is not None:
            out.append((title or "", header, rows))
            header, rows = None, []
    return out


def _parse_latex(lines: list[str]):
    out, title, header, rows, inside = [], None, None, [], False
    for line in lines:
        if line.startswith("\\caption{"):
            title = line[len("\\caption{"):].split(". ")[0]
        elif line.startswith("\\begin{tabular}"):
            inside, header, rows = True, None, []
        elif line.startswith("\\end{tabular}"):
            out.append((title or "", header or [], rows))
            inside = False
        elif inside and line.endswith("\\\\"):
            cells = [c.strip() for c in line[:-2].split(" & ")]
            if header is None:
                header = cells
            else:
                rows.append(cells)
    return out


def _parse_csv(lines: list[str]):
    body = [line for line in lines if not line.startswith("#") and line.strip()]
    rdr = list(csv.reader(body))
    if not rdr:
        raise LeaderboardError("no CSV rows in this table")
    header, rows = rdr[0], rdr[1:]
    if tuple(header) != CSV_HEADER:
        raise LeaderboardError("the CSV header is not that of an offbench leaderboard")
    tables: dict[tuple, list] = {}
    for r in rows:
        tables.setdefault((r[0], r[1]), []).append(r)
    return [(f"{k[0]} / {k[1]}", list(header), v) for k, v in tables.items()]


def _quality_view(tables) -> dict:
    """``{(title, solver label): {column: cell}}`` over the quality columns only."""
    out = {}
    for title, header, rows in tables:
        skip = set(TIMING_COLUMNS) | set(CSV_TIMING)
        if "solver" not in header:
            raise LeaderboardError(f"table {title!r} has no 'solver' column")
        si = header.index("solver")
        for r in rows:
            if len(r) != len(header):
                raise LeaderboardError(f"table {title!r}: a row has {len(r)} cells for {len(header)} columns")
            out[(title, r[si])] = {h: c for h, c in zip(header, r) if h not in skip}
    return out


# ==================================================================================== verify
@dataclass
class VerifyReport:
    """What :func:`verify` compared and what differed."""

    format: str
    tables: int
    rows: int
    numbers: int
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def verify(text: str, *, executor=None, workdir=None, progress=None) -> VerifyReport:
    """Re-run the specs named in a rendered table's provenance into a fresh store, rebuild the
    table, and compare every quality number (all columns but latency and time).

    Parameters
    ----------
    text : str
        The table (Markdown, CSV or LaTeX, as written by :func:`render`).
    executor : offbench.runner.Executor, optional
    workdir : path-like, optional
        Where the fresh store goes (default: a temporary folder, removed afterwards).
    """
    import tempfile
    from pathlib import Path

    from . import __version__
    from .runner import parse_spec, plan, run

    fmt, prov, claimed = read_table(text)
    if prov.get("offbench_version") != __version__:
        raise LeaderboardError(f"the table was made by offbench {prov.get('offbench_version')}, "
                               f"this is offbench {__version__}; verify it with that version")
    specs = prov.get("specs") or []
    if not specs:
        raise LeaderboardError("the table's provenance names no run specs to re-run")
    tmp = tempfile.TemporaryDirectory(prefix="offbench-verify-") if workdir is None else None
    root = Path(tmp.name if tmp else workdir)
    try:
        store_path = root / "verify.sqlite"
        for i, raw in enumerate(specs):
            spec = parse_spec(raw, where=f"provenance spec {i}")
            run(spec, store_path, executor=executor, progress=progress, plan_=plan(spec),
                command="offbench leaderboard verify")
        diffs = []
        with Store.open_readonly(store_path) as store:
            sel = prov["selection"]
            rerun: dict[str, list[str]] = {}
            for s in store.sources():
                rerun.setdefault(s["name"], []).append(s["digest"])
            chosen = []
            for name, digest in sel["sources"]:
                if digest in rerun.get(name, ()):
                    chosen.append((name, digest))
                elif name in rerun:  # the same source now gives other instances
                    diffs.append(f"source {name}: the table's instances have digest {digest[:12]}, "
                                 f"the re-run's {rerun[name][-1][:12]} (the generator, the family "
                                 "or the instance files changed)")
                    chosen.append((name, rerun[name][-1]))
                else:
                    diffs.append(f"source {name}: in the table but not in the re-run")
            try:
                board = build(store, sources=chosen, solvers=[tuple(s) for s in sel["solvers"]],
                              tracks=sel["tracks"])
                # The fresh store's path differs; tables are compared on their cells.
                board.provenance["store"] = prov.get("store")
                _, _, fresh = read_table(render(board, fmt))
            except LeaderboardError as e:
                diffs.append(f"the re-run gives no table: {e}")
                fresh = []
    finally:
        if tmp is not None:
            tmp.cleanup()
    a, b = _quality_view(claimed), _quality_view(fresh)
    for k in sorted(set(a) | set(b)):
        if k not in b:
            diffs.append(f"{k[0]}: row {k[1]!r} is in the table but not in the re-run")
            continue
        if k not in a:
            diffs.append(f"{k[0]}: row {k[1]!r} is in the re-run but not in the table")
            continue
        for col in a[k]:
            if a[k][col] != b[k].get(col):
                diffs.append(f"{k[0]}: {k[1]}: {col}: table says {a[k][col]!r}, re-run gives {b[k].get(col)!r}")
    numbers = sum(len(v) - 1 for v in a.values())
    return VerifyReport(format=fmt, tables=len(claimed), rows=len(a), numbers=numbers, differences=diffs)


# ==================================================================================== row export
ROW_EXPORT_COLUMNS = ("source", "instance_digest", "instance_name", "solver_id", "params",
                      "param_hash", "seed", "track", "track_config", "offbench_version", "status",
                      "cost", "feasible", "ref_cost", "ref_provenance", "ratio",
                      "counted_infeasible", "bound", "gap", "wall_time", "evaluations",
                      "decision", "error", "run_id", "worker", "finished_at")


def export_rows(store: Store, path, *, offbench_version: str | None = None) -> int:
    """Write every result row (one per job, with its source, instance name and reference
    provenance) to ``path``: ``.csv`` or ``.jsonl``.

    Like a table, the export starts with the provenance of its rows: ``#`` lines in CSV (as
    :func:`render` writes them), and in JSON lines a first object ``{"offbench-provenance":
    {...}}`` before one object per row. Returns the number of rows written. The file is
    written whole or not at all.
    """
    from pathlib import Path

    from . import __version__
    from .commands._util import _clean

    p = Path(path)
    if p.suffix not in (".csv", ".jsonl"):
        raise LeaderboardError(f"--rows {p}: expected a .csv or .jsonl file name")
    version = offbench_version or __version__
    board = build(store, offbench_version=version)
    rows = store.results(offbench_version=version)
    info = store.instance_info()
    refs = store.references()
    src_of: dict[str, list[str]] = {}
    for s in store.sources():
        if s["kind"] == "stream":
            src_of.setdefault(s["digest"], []).append(s["name"])
        else:
            for d in s["members"]:
                src_of.setdefault(d, []).append(s["name"])
    records = []
    for r in rows:
        rec = {c: r.get(c) for c in ROW_EXPORT_COLUMNS}
        rec["source"] = ";".join(dict.fromkeys(src_of.get(r["instance_digest"], [])))
        rec["instance_name"] = info.get(r["instance_digest"], {}).get("name")
        rec["ref_provenance"] = refs.get(r["instance_digest"], {}).get("provenance")
        records.append(rec)
    if p.suffix == ".jsonl":
        text = json.dumps({PROVENANCE_TAG.rstrip(":"): board.provenance}, sort_keys=True) + "\n"
        text += "".join(json.dumps(_clean(rec), sort_keys=False) + "\n" for rec in records)
    else:
        buf = io.StringIO()
        buf.write("# offbench result rows: one row per job, never edited by hand\n")
        for line in provenance_lines(board):
            buf.write(f"# {line}\n")
        buf.write(f"# {PROVENANCE_TAG} {_prov_json(board)}\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(ROW_EXPORT_COLUMNS)
        for rec in records:
            w.writerow([canonical_json(v) if isinstance(v, (dict, list)) else _csv_value(v)
                        if isinstance(v, float) else ("" if v is None else v) for v in rec.values()])
        text = buf.getvalue()
    write_output(p, text, "--rows")
    return len(records)


def write_output(path, text: str, what: str = "--output") -> None:
    """Write a table or export to ``path``: atomically (whole file or nothing) for a regular
    file; straight through for anything else that exists (``/dev/stdout``, a pipe), which must
    never be replaced by a file."""
    import os
    import stat
    from pathlib import Path

    from .instance import atomic_write

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise LeaderboardError(f"{what} {p}: {e.strerror}") from None
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(p, text.encode())
    except OSError as e:
        raise LeaderboardError(f"{what} {p}: cannot write ({e.strerror})") from None
