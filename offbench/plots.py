"""Figures of a leaderboard (matplotlib, Agg; PNG and PDF): performance profiles (per table and
one over all sources), ECDFs of cost ratio, quality against time (anytime curves of the solvers
that record incumbent trajectories), learning curves and adaptation curves.

Every figure draws a solver in the same colour, marker and line style
(:func:`solver_style`, a stable mapping from the solver ID and parameter hash, the same in every
figure and every run). Lines that coincide (exact solvers tied at ratio 1) stay visible: each
line carries its markers at its own offset, and the figure names the curves that are identical.
Fallback-scored points are never drawn as solved ones (SPEC.md section 6): a decision that is
not solved is a failure (``inf``) in the performance profiles, the ECDFs count solved rows only
(the curve's ceiling is the solved rate), and learning curves average solved frames only, with
the solved rate in a panel of its own.

Nothing here touches ``matplotlib.pyplot`` or the global backend: each figure is a
:class:`matplotlib.figure.Figure` drawn on an Agg canvas, so plotting inside a program that uses
another backend changes nothing there. :func:`write_plots` writes every figure a leaderboard
supports; the ``*_figure`` functions draw one figure from plain arrays.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import metrics
from .errors import UserError

FORMATS = ("png", "pdf")


def _figure(width: float = 6.4, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the figure in each format, each file whole or not at all."""
    import io

    from .instance import atomic_write

    out = []
    for fmt in formats:
        path = stem.with_name(stem.name + "." + fmt)
        meta = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata=meta)
        atomic_write(path, buf.getvalue())
        out.append(path)
    return out


#: Colours (matplotlib's tab10, then dark tones of tab20b and tab20c) and markers that solvers
#: are drawn with: :func:`solver_style` picks one of each from the solver ID.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
          "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
LINESTYLES = ("-", "--", "-.", ":")

#: Fixed styles of the built-in solvers (by name, any version), so that the figures of the
#: committed results never share a colour; any other solver gets one from a hash of its ID.
_BUILTIN = ("exhaustive", "dp", "milp", "lp-bound", "local-search", "neurosurgeon", "greedy",
            "random", "all-device", "all-edge", "all-cloud", "sb3-dqn", "sb3-ppo", "sb3-a2c",
            "droo", "ddlo", "dmro", "mincut", "dads")


def _hash(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def solver_style(solver_id: str, param_hash: str = "") -> dict:
    """The colour, marker and line style of a solver in every figure: a stable function of its
    ID (the built-in solvers have fixed ones) and, for the line style, of its parameter hash
    (two parameter sets of one solver share colour and marker)."""
    name = re.sub(r"-v\d+$", "", solver_id)
    if name in _BUILTIN:
        i = _BUILTIN.index(name)
        color, marker = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
    else:
        h = _hash(name)
        color, marker = COLORS[h % len(COLORS)], MARKERS[(h // len(COLORS)) % len(MARKERS)]
    ls = LINESTYLES[_hash(param_hash) % len(LINESTYLES)] if param_hash else "-"
    return {"color": color, "marker": marker, "linestyle": ls}


def _style_of(label: str, styles: Mapping[str, dict] | None) -> dict:
    if styles and label in styles:
        return dict(styles[label])
    return solver_style(label.split("[")[0])


def _tie_note(ax, curves: dict) -> None:
    """Name the curves that are identical (drawn on top of each other) under the axes."""
    groups: dict[bytes, list[str]] = {}
    for lab, (x, y) in curves.items():
        key = np.round(np.concatenate([np.asarray(x, float), np.asarray(y, float)]), 9).tobytes()
        groups.setdefault(key, []).append(lab)
    tied = [g for g in groups.values() if len(g) > 1]
    if tied:
        text = "identical curves (markers offset): " + "; ".join(" = ".join(g) for g in tied)
        ax.annotate(text, xy=(0.0, -0.2), xycoords="axes fraction", fontsize="x-small",
                    va="top", wrap=True)


def _ratio_axis(ax, top: float) -> None:
    """A log2 x axis (plain tick labels) when ratios span more than a factor of 4."""
    if top > 4:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def performance_profile_figure(costs: np.ndarray, labels: Sequence[str], title: str = "",
                               styles: Mapping[str, dict] | None = None):
    """Dolan-More performance profiles from a matrix (instances x solvers) of scored costs
    (``nan`` or ``inf`` where a solver has no solved decision: a failure)."""
    taus, prof = metrics.performance_profile(costs)
    fig = _figure(6.8, 4.6)
    ax = fig.add_subplot()
    tmax = float(taus[-1]) if taus.size else 1.0
    drawn = {}
    n = max(len(labels), 1)
    for j, lab in enumerate(labels):
        x = np.concatenate([taus, [max(tmax * 1.05, 1.0001)]])
        y = np.concatenate([prof[:, j], [prof[-1, j]]])
        st = _style_of(lab, styles)
        ax.step(x, y, where="post", label=lab, color=st["color"], linestyle=st["linestyle"],
                linewidth=1.4)
        # markers at the line's own offset along it, so that tied lines stay visible
        k = max(1, len(x) // 6)
        ax.plot(x[(j * k) // n::k], y[(j * k) // n::k], linestyle="none", marker=st["marker"],
                color=st["color"], markersize=5, alpha=0.9)
        drawn[lab] = (x, y)
    _ratio_axis(ax, tmax)
    ax.set_xlabel(r"performance ratio $\tau$ (cost / best solved cost on the instance)")
    ax.set_ylabel(r"fraction of instances solved with ratio $\leq \tau$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "Performance profile")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, labels, styles, loc="lower right")
    _tie_note(ax, drawn)
    return fig


def _legend(ax, labels, styles, **kw) -> None:
    from matplotlib.lines import Line2D

    handles = []
    for lab in labels:
        st = _style_of(lab, styles)
        handles.append(Line2D([], [], color=st["color"], linestyle=st["linestyle"],
                              marker=st["marker"], label=lab))
    extra = [h for h in ax.get_legend_handles_labels()[0] if h.get_label() not in labels
             and not h.get_label().startswith("_")]
    ax.legend(handles=handles + extra, fontsize="small", **kw)


def ecdf_figure(ratios: Mapping[str, Sequence[float]], title: str = "",
                styles: Mapping[str, dict] | None = None,
                solved: Mapping[str, Sequence[bool]] | None = None):
    """Empirical CDFs of cost ratio over **solved** rows, one curve per solver: the fraction of
    all its rows that are solved with ratio ``<= rho``, so the curve's ceiling is its solved
    rate (given in the legend). ``solved``: per label, whether each row is solved (default:
    every row with a finite ratio)."""
    fig = _figure(6.8, 4.6)
    ax = fig.add_subplot()
    top = 1.0
    labels, drawn = [], {}
    n = max(len(ratios), 1)
    for j, (lab, vals) in enumerate(ratios.items()):
        ok = list(solved[lab]) if solved is not None else [True] * len(vals)
        v = [x for x, s in zip(vals, ok) if s and x is not None and math.isfinite(x)]
        total = len(vals)
        rate = len(v) / total if total else 0.0
        name = f"{lab} (solved {100 * rate:.0f}%)"
        labels.append(name)
        st = _style_of(lab, styles)
        if not v:
            ax.plot([], [], color=st["color"], label=name)
            continue
        x, y = metrics.ecdf(v)
        y = y * rate
        top = max(top, float(x[-1]))
        xs, ys = np.concatenate([[x[0]], x]), np.concatenate([[0.0], y])
        ax.step(xs, ys, where="post", color=st["color"], linestyle=st["linestyle"], linewidth=1.4)
        k = max(1, len(xs) // 6)
        ax.plot(xs[(j * k) // n::k], ys[(j * k) // n::k], linestyle="none", marker=st["marker"],
                color=st["color"], markersize=5)
        drawn[name] = (xs, ys)
    _ratio_axis(ax, top)
    ax.set_xlabel(r"cost ratio $\rho$ = cost / reference cost (solved decisions)")
    ax.set_ylabel(r"fraction of rows solved with ratio $\leq \rho$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "Cost ratio ECDF")
    ax.grid(True, alpha=0.3)
    _legend(ax, labels, {nm: _style_of(lab, styles) for nm, lab in zip(labels, ratios)},
            loc="lower right")
    _tie_note(ax, drawn)
    return fig


#: Suboptimality below this is drawn at it (the anytime figure's log axis has no 0).
ANYTIME_FLOOR = 1e-6


def anytime_curve(runs: Sequence[tuple], grid: np.ndarray) -> np.ndarray:
    """Each run's best ratio so far at the times of ``grid``: an array (runs x grid), ``inf``
    before a run's first feasible incumbent (no decision yet: a failure, like an unsolved
    instance in a profile).

    A run is ``(t, ratio, end, final)``: the referee-priced trajectory (times, ratios with None
    or ``nan`` for an infeasible point), the row's wall time, and the row's own ratio if it is
    solved (None otherwise), which holds from ``end`` on; a fifth element, the run's instance,
    is ignored here (:func:`anytime_instances` groups by it).
    """
    out = np.full((len(runs), grid.size), np.inf)
    for k, (t, ratio, end, final, *_) in enumerate(runs):
        ts = [float(a) for a, r in zip(t, ratio) if r is not None and math.isfinite(r)]
        rs = [float(r) for r in ratio if r is not None and math.isfinite(r)]
        if final is not None and math.isfinite(final):
            ts.append(float(end))
            rs.append(float(final))
        if not ts:
            continue
        ts = np.asarray(ts)
        best = np.minimum.accumulate(np.asarray(rs))
        order = np.argsort(ts, kind="stable")
        ts, best = ts[order], np.minimum.accumulate(best[order])
        idx = np.searchsorted(ts, grid, side="right") - 1
        have = idx >= 0
        out[k, have] = best[idx[have]]
    return out


def anytime_instances(runs: Sequence[tuple], grid: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Per instance, the best ratio so far at the times of ``grid`` with its seeds averaged:
    ``(values, seeds)``, an array (instances x grid) and the number of runs of each instance.

    A run is ``(t, ratio, end, final, instance)`` (:func:`anytime_curve`; without the fifth
    element each run is an instance of its own). The seeds of an instance are averaged as the
    leaderboard averages them before it ranks (SPEC.md section 6, "seeds averaged per instance
    first": the arithmetic mean of the seeds' ratios, :func:`offbench.leaderboard.build.instance_ratios`),
    here at each time of the grid; while any seed of an instance has no incumbent yet, the
    instance has none (``inf``). Instances are in the order of their first run.
    """
    curves = anytime_curve(runs, grid)
    groups: dict = {}
    for k, r in enumerate(runs):
        groups.setdefault(r[4] if len(r) > 4 else ("run", k), []).append(k)
    values = np.array([curves[idx].mean(axis=0) for idx in groups.values()])
    return values.reshape(len(groups), grid.size), [len(idx) for idx in groups.values()]


def _anytime_count(seeds: Sequence[int]) -> str:
    """``16 instances``, ``16 instances x 3 seeds`` or ``16 instances, 1 to 3 seeds``."""
    n = len(seeds)
    text = f"{n} instance{'s' if n != 1 else ''}"
    lo, hi = min(seeds), max(seeds)
    if hi == 1:
        return text
    if lo == hi:
        return f"{text} x {hi} seeds"
    return f"{text}, {lo} to {hi} seeds"


def anytime_figure(runs: Mapping[str, Sequence[tuple]], title: str = "",
                   styles: Mapping[str, dict] | None = None):
    """Quality against time (benchopt's convergence curves): for each solver, the median over
    its instances of ``best ratio so far - 1`` (cost over the reference, minus one; an
    instance's seeds averaged first, :func:`anytime_instances`) against the time since its
    solve started, with the band between the 25th and 75th percentiles over instances. Ratios
    are the referee's pricing of the recorded incumbents (:func:`anytime_curve`; ``runs``: per
    label, a list of ``(t, ratio, end, final, instance)``). The legend counts instances (and
    seeds, where an instance has more than one run). Where more than a quarter (half) of the
    instances have no incumbent yet, the band's top (the median) is not drawn; a ratio at or
    below the reference is drawn at :data:`ANYTIME_FLOOR`."""
    fig = _figure(6.8, 4.6)
    ax = fig.add_subplot()
    starts = [max(float(t), 1e-4) for rs in runs.values() for r in rs for t in r[0]]
    ends = [max(float(r[2]), 1e-4) for rs in runs.values() for r in rs]
    lo = min(starts + ends) if starts or ends else 1e-4
    hi = max(ends + starts + [lo * 10])
    grid = np.geomspace(lo / 1.2, hi * 1.05, 240)
    labels = []
    n = max(len(runs), 1)
    drawn = {}
    for j, (lab, rs) in enumerate(runs.items()):
        if not rs:
            continue
        vals, seeds = anytime_instances(rs, grid)
        q = np.quantile(vals, [0.25, 0.5, 0.75], axis=0, method="inverted_cdf")
        sub = np.where(np.isfinite(q), np.maximum(q - 1.0, ANYTIME_FLOOR), np.nan)
        st = _style_of(lab, styles)
        name = f"{lab} ({_anytime_count(seeds)})"
        labels.append(name)
        ax.plot(grid, sub[1], color=st["color"], linestyle=st["linestyle"], linewidth=1.5,
                drawstyle="steps-post")
        ax.fill_between(grid, sub[0], sub[2], step="post", color=st["color"], alpha=0.15,
                        linewidth=0)
        k = max(1, grid.size // 6)
        sel = slice((j * k) // n, None, k)
        ax.plot(grid[sel], sub[1][sel], linestyle="none", marker=st["marker"], color=st["color"],
                markersize=5)
        drawn[name] = (grid, np.nan_to_num(sub[1], nan=-1.0))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time since the solve started (s)")
    ax.set_ylabel(f"cost / reference - 1 (median; floor {ANYTIME_FLOOR:g})")
    ax.set_title(title or "Quality against time")
    ax.grid(True, which="both", alpha=0.3)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    for nm, lab in zip(labels, [k for k, v in runs.items() if v]):
        st = _style_of(lab, styles)
        handles.append(Line2D([], [], color=st["color"], linestyle=st["linestyle"],
                              marker=st["marker"], label=nm))
    handles.append(Patch(color="0.6", alpha=0.3, label="band: 25-75 % of instances"))
    ax.legend(handles=handles, fontsize="small", loc="upper right")
    ax.annotate("incumbents priced by the referee, an instance's seeds averaged;\nno line where "
                "over half the instances have no incumbent yet", xy=(0.0, -0.2), xycoords="axes fraction",
                fontsize="x-small", va="top")
    _tie_note(ax, drawn)
    return fig


def _moving_band(curve: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing moving mean over the finite values (``nan``: a frame not solved, left out), and
    a band of one moving standard deviation around it, kept within the range of the values (a
    ratio band never dips below the best ratio seen)."""
    c = np.asarray(curve, dtype=float)
    ok = np.isfinite(c)
    v = np.where(ok, c, 0.0)
    cnt = metrics.moving_mean(ok.astype(float), window)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = metrics.moving_mean(v, window) / cnt
        m2 = metrics.moving_mean(v ** 2, window) / cnt
    sd = np.sqrt(np.maximum(m2 - m ** 2, 0.0))
    lo_v, hi_v = (np.nanmin(c), np.nanmax(c)) if ok.any() else (np.nan, np.nan)
    return m, np.maximum(m - sd, lo_v), np.minimum(m + sd, hi_v)


BAND = "band: 1 moving s.d."


def _mean_curves(ax, curves: Mapping[str, Sequence[Sequence[float]]], window: int, x0: int,
                 suffix: str = "", raw: bool = False, styles: Mapping[str, dict] | None = None,
                 rate_ax=None) -> None:
    """Per solver: the per-frame ratio averaged over runs (solved frames only: ``nan`` frames
    are left out), its trailing moving mean (line) with a band of one moving standard
    deviation, (``raw``) the averaged ratios faintly, and on ``rate_ax`` the moving solved
    rate; frame ``k`` is drawn at ``x0 + k``."""
    for j, (lab, runs) in enumerate(curves.items()):
        runs = [np.asarray(r, dtype=float) for r in runs if len(r)]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        stack = np.array([r[:n] for r in runs])
        with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
        m, lo, hi = _moving_band(mean, window)
        x = x0 + np.arange(n)
        st = _style_of(lab, styles)
        k = max(1, n // 8)
        ax.plot(x, m, label=lab + suffix, color=st["color"], linestyle=st["linestyle"],
                marker=st["marker"], markevery=(j * k // max(len(curves), 1), k), markersize=4)
        ax.fill_between(x, lo, hi, color=st["color"], alpha=0.2, linewidth=0)
        if raw:
            ax.plot(x, mean, color=st["color"], alpha=0.25, linewidth=0.6)
        if rate_ax is not None:
            rate = metrics.moving_mean(np.isfinite(stack).mean(axis=0), window)
            rate_ax.plot(x, 100 * rate, color=st["color"], linestyle=st["linestyle"])


def learning_curves_figure(curves: Mapping[str, Sequence[Sequence[float]]], window: int,
                           title: str = "", threshold: float | None = None,
                           styles: Mapping[str, dict] | None = None):
    """Cost ratio over frames: per solver, the per-frame ratio over solved frames averaged over
    runs (faint), its trailing moving mean (line), and a band of one moving standard deviation
    (named in the legend); below it, the moving solved rate.

    Parameters
    ----------
    curves : mapping label -> list of per-run ratio sequences (one per stream seed; ``nan``
        for a frame that was not solved)
    window : int
        Moving-window length in frames.
    threshold : float, optional
        Drawn as a dashed line: the track's convergence threshold
        (:attr:`offbench.tracks.Track.threshold`, 1.01 on the online track).
    """
    fig = _figure(7.0, 5.2)
    ax, rax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    _mean_curves(ax, curves, window, x0=1, suffix=f" (moving mean, {window} frames)", raw=True,
                 styles=styles, rate_ax=rax)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label=f"ratio {threshold:g}")
    ax.fill_between([], [], [], color="grey", alpha=0.2, label=BAND)
    rax.set_xlabel("frame")
    ax.set_ylabel(r"cost ratio $\rho$ (solved frames)")
    rax.set_ylabel("solved %")
    rax.set_ylim(-5, 105)
    ax.set_title(title or "Learning curves")
    ax.grid(True, alpha=0.3)
    rax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def adaptation_curves_figure(curves: Mapping[str, Sequence[Sequence[float]]], switch_at: int,
                             window: int, title: str = "", threshold: float | None = None,
                             styles: Mapping[str, dict] | None = None):
    """Cost ratio around a change of environment: frames before and after ``switch_at``, the
    moving mean over solved frames with its band (named in the legend), a vertical line at the
    switch, the track's threshold as a dashed line (:attr:`offbench.tracks.Track.threshold`,
    1.02 on the adaptation track), and the moving solved rate below."""
    fig = _figure(7.0, 5.2)
    ax, rax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    _mean_curves(ax, curves, window, x0=-switch_at, styles=styles, rate_ax=rax)
    for a in (ax, rax):
        a.axvline(0, color="black", linewidth=0.8)
        a.grid(True, alpha=0.3)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label=f"ratio {threshold:g}")
    ax.fill_between([], [], [], color="grey", alpha=0.2, label=BAND)
    rax.set_xlabel("frames since the new environment")
    ax.set_ylabel(r"cost ratio $\rho$ (moving mean, solved frames)")
    rax.set_ylabel("solved %")
    rax.set_ylim(-5, 105)
    ax.set_title(title or "Adaptation curves")
    ax.legend(fontsize="small")
    return fig


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "table"


def _styles(t) -> dict:
    return {e.label: solver_style(e.solver_id, _variant(e)) for e in t.entries}


def _variant(e) -> str:
    """What tells an entry's line style from its solver's other entries: its parameter hash
    where its label names parameters, and its track configuration where the label names
    settings (``milp-v1 (time_limit=0.01)``); "" for a solver's only entry."""
    out = e.param_hash if "[" in e.label else ""
    return out + e.config if " (" in e.label else out


def _static_matrix(t) -> tuple[list[str], list[str], np.ndarray]:
    """``(instance digests, labels, costs)`` of a static table: per instance and entry the mean
    scored cost over seeds, ``inf`` where any decision there was not solved (a failure in the
    profile) and ``nan`` where the entry has no row or only refusals."""
    labels = [e.label for e in t.entries]
    keys = [e.key for e in t.entries]
    members = sorted({r["instance_digest"] for k in keys for r in t.rows[k]})
    pos = {d: i for i, d in enumerate(members)}
    mat = np.full((len(members), len(keys)), np.nan)
    for j, k in enumerate(keys):
        per: dict[str, list[float]] = {}
        for r in t.rows[k]:
            if r.get("_refused"):
                continue
            v = r["_scored"] if r.get("_solved") else math.inf
            per.setdefault(r["instance_digest"], []).append(v)
        for d, v in per.items():
            mat[pos[d], j] = float(np.mean(v))
    return members, labels, mat


def _static_figures(t, title: str) -> dict:
    """Drawers (name -> function making the figure) of an instance-source table: the
    performance profile and the ratio ECDF."""
    keys = [e.key for e in t.entries]
    out: dict = {}
    members, labels, mat = _static_matrix(t)
    styles = _styles(t)
    if members:
        out["profile"] = lambda: performance_profile_figure(mat, labels, f"Performance profile: {title}",
                                                            styles=styles)
    rows = {e.label: [r for r in t.rows[k] if not r.get("_refused")] for e, k in zip(t.entries, keys)}
    ratios = {lab: [r["ratio"] for r in rs] for lab, rs in rows.items()}
    solved = {lab: [bool(r.get("_solved")) for r in rs] for lab, rs in rows.items()}
    if any(v is not None for vals in ratios.values() for v in vals):
        out["ecdf"] = lambda: ecdf_figure(ratios, f"Cost ratio ECDF: {title}", styles=styles,
                                          solved=solved)
    runs = _anytime_runs(t)
    if runs:
        out["anytime"] = lambda: anytime_figure(runs, f"Quality against time: {title}",
                                                styles=styles)
    return out


def _anytime_runs(t) -> dict:
    """Per entry of a static table, the priced trajectories of its rows (``(t, ratio, end,
    final, instance digest)`` for :func:`anytime_figure`); entries without any are left out."""
    from .leaderboard.build import solved

    out = {}
    for e in t.entries:
        runs = []
        for r in t.rows[e.key]:
            tr = (r.get("info") or {}).get("trajectory")
            if r.get("_refused") or not isinstance(tr, dict) or "ratio" not in tr:
                continue
            final = r.get("ratio") if solved(r) else None
            runs.append((tr["t"], tr["ratio"], float(r.get("wall_time") or 0.0), final,
                         r["instance_digest"]))
        if runs:
            out[e.label] = runs
    return out


def aggregate_profile_figure(board):
    """One performance profile over the instances of every table whose track draws profiles
    (each instance of each source once), or None when there is none."""
    from . import tracks

    blocks, all_labels, styles = [], [], {}
    for t in board.tables:
        if tracks.get(t.track).stream or "profile" not in tracks.get(t.track).figures:
            continue
        members, labels, mat = _static_matrix(t)
        if not members:
            continue
        blocks.append((labels, mat))
        styles.update(_styles(t))
        for lab in labels:
            if lab not in all_labels:
                all_labels.append(lab)
    if not blocks:
        return None
    rows = []
    for labels, mat in blocks:
        big = np.full((mat.shape[0], len(all_labels)), np.nan)
        for j, lab in enumerate(labels):
            big[:, all_labels.index(lab)] = mat[:, j]
        rows.append(big)
    mat = np.vstack(rows)
    n = mat.shape[0]
    fig = performance_profile_figure(mat, all_labels, f"Performance profile: all sources "
                                     f"({n} instances of {len(blocks)} tables)", styles=styles)
    fig.axes[0].annotate("an instance a solver did not run on (or refused) counts as not solved",
                         xy=(1.0, -0.2), xycoords="axes fraction", fontsize="x-small",
                         ha="right", va="top")
    return fig


def _stream_figures(t, title: str) -> dict:
    """Drawers of a stream table: learning curves, and adaptation curves around the switch."""
    from . import tracks
    from .leaderboard.build import solved

    track = tracks.get(t.track)
    keys = [e.key for e in t.entries]
    curves = {}
    window = 50
    for e, k in zip(t.entries, keys):
        runs = []
        for r in t.rows[k]:
            window = int(r["track_config"].get("window", window))
            fr = t.frames.get(r["row_id"], [])
            if fr and any(f["ratio"] is not None for f in fr):
                # a frame that is not solved is left out of the ratio curve (nan), and counted
                # in the solved-rate panel
                runs.append([f["ratio"] if solved(f) and f["ratio"] is not None else math.nan
                             for f in fr])
        if runs:
            curves[e.label] = runs
    if not curves:
        return {}
    window = max(1, min(window, min(len(r) for rs in curves.values() for r in rs)))
    switch = int(t.rows[keys[0]][0]["track_config"].get("switch_at", 0))
    styles = _styles(t)
    return {
        "learning": lambda: learning_curves_figure(curves, window, f"Learning curves: {title}",
                                                   threshold=track.threshold, styles=styles),
        "adaptation": lambda: adaptation_curves_figure(curves, switch, window, f"Adaptation: {title}",
                                                       threshold=track.threshold, styles=styles),
    }


def output_folder(out_dir, option: str = "--plots") -> Path:
    """The folder an option names (``--plots``, report's ``--out``), made if it is not there; a
    UserError naming the option, before anything is drawn, where it cannot be made or written in."""
    import os

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out}: a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{option} {out}: cannot create the folder ({e.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"{option} {out}: cannot write in the folder (permission denied)")
    return out


def write_plots(board, out_dir, *, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write every figure of a leaderboard into ``out_dir`` (PNG and PDF of each).

    Each table gets the figures its track names (:attr:`offbench.tracks.Track.figures`): the
    static track a performance profile (``*-profile``), a ratio ECDF (``*-ecdf``) and, when some
    solver recorded incumbent trajectories, quality against time (``*-anytime``); the online
    and generalization tracks learning curves (``*-learning``, with the track's threshold drawn
    where it has one); the adaptation track adaptation curves (``*-adaptation``); and when
    there are static tables, one performance profile over all of them (``all-static-profile``).
    Returns the files written.
    """
    from . import tracks

    out = output_folder(out_dir)
    files: list[Path] = []
    for t in board.tables:
        track = tracks.get(t.track)
        stem = out / f"{_slug(t.source)}-{t.track}"
        title = f"{t.source}, {t.track} track"
        drawers = (_stream_figures if track.stream else _static_figures)(t, title)
        for name in track.figures:
            if name not in FIGURES:
                raise UserError(f"track {t.track} names figure {name!r}; offbench draws "
                                f"{', '.join(FIGURES)}")
            if name in drawers:
                files += _save(drawers[name](), stem.with_name(f"{stem.name}-{name}"), formats)
    agg = aggregate_profile_figure(board)
    if agg is not None:
        files += _save(agg, out / "all-static-profile", formats)
    return files


#: The figures a track may name in :attr:`offbench.tracks.Track.figures`.
FIGURES = ("profile", "ecdf", "anytime", "learning", "adaptation")
