"""Figures of a leaderboard (matplotlib, Agg; PNG and PDF): performance profiles, ECDFs of cost
ratio, learning curves and adaptation curves.

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


def _ratio_axis(ax, top: float) -> None:
    """A log2 x axis (plain tick labels) when ratios span more than a factor of 4."""
    if top > 4:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def performance_profile_figure(costs: np.ndarray, labels: Sequence[str], title: str = ""):
    """Dolan-More performance profiles from a matrix (instances x solvers) of scored costs
    (``nan`` where a solver has no row)."""
    taus, prof = metrics.performance_profile(costs)
    fig = _figure()
    ax = fig.add_subplot()
    tmax = float(taus[-1]) if taus.size else 1.0
    for j, lab in enumerate(labels):
        x = np.concatenate([taus, [max(tmax * 1.05, 1.0001)]])
        y = np.concatenate([prof[:, j], [prof[-1, j]]])
        ax.step(x, y, where="post", label=lab)
    _ratio_axis(ax, tmax)
    ax.set_xlabel(r"performance ratio $\tau$ (cost / best cost on the instance)")
    ax.set_ylabel(r"fraction of instances with ratio $\leq \tau$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "Performance profile")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return fig


def ecdf_figure(ratios: Mapping[str, Sequence[float]], title: str = ""):
    """Empirical CDFs of cost ratio, one curve per solver."""
    fig = _figure()
    ax = fig.add_subplot()
    top = 1.0
    for lab, vals in ratios.items():
        v = [x for x in vals if x is not None and math.isfinite(x)]
        if not v:
            continue
        x, y = metrics.ecdf(v)
        top = max(top, float(x[-1]))
        ax.step(np.concatenate([[x[0]], x]), np.concatenate([[0.0], y]), where="post", label=lab)
    _ratio_axis(ax, top)
    ax.set_xlabel(r"cost ratio $\rho$ = cost / reference cost")
    ax.set_ylabel(r"fraction of rows with ratio $\leq \rho$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "Cost ratio ECDF")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return fig


def _moving_band(curve: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing moving mean, and a band of one moving standard deviation around it, kept
    within the range of the values (a ratio band never dips below the best ratio seen)."""
    m = metrics.moving_mean(curve, window)
    m2 = metrics.moving_mean(curve ** 2, window)
    sd = np.sqrt(np.maximum(m2 - m ** 2, 0.0))
    return m, np.maximum(m - sd, curve.min()), np.minimum(m + sd, curve.max())


def _mean_curves(ax, curves: Mapping[str, Sequence[Sequence[float]]], window: int, x0: int,
                 suffix: str = "", raw: bool = False) -> None:
    """Per solver: the per-frame ratio averaged over runs, its trailing moving mean (line) with a
    band of one moving standard deviation, and (``raw``) the averaged ratios faintly; frame ``k``
    is drawn at ``x0 + k``."""
    for lab, runs in curves.items():
        runs = [np.asarray(r, dtype=float) for r in runs if len(r)]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        mean = np.mean([r[:n] for r in runs], axis=0)
        m, lo, hi = _moving_band(mean, window)
        x = x0 + np.arange(n)
        line, = ax.plot(x, m, label=lab + suffix)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        if raw:
            ax.plot(x, mean, color=line.get_color(), alpha=0.25, linewidth=0.6)


def learning_curves_figure(curves: Mapping[str, Sequence[Sequence[float]]], window: int,
                           title: str = "", threshold: float | None = None):
    """Cost ratio over frames: per solver, the per-frame ratio averaged over runs (faint), its
    trailing moving mean (line), and a band of one moving standard deviation.

    Parameters
    ----------
    curves : mapping label -> list of per-run ratio sequences (one per stream seed)
    window : int
        Moving-window length in frames.
    threshold : float, optional
        Drawn as a dashed line: the track's convergence threshold
        (:attr:`offbench.tracks.Track.threshold`, 1.01 on the online track).
    """
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    _mean_curves(ax, curves, window, x0=1, suffix=f" (moving mean, {window} frames)", raw=True)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label=f"ratio {threshold:g}")
    ax.set_xlabel("frame")
    ax.set_ylabel(r"cost ratio $\rho$")
    ax.set_title(title or "Learning curves")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def adaptation_curves_figure(curves: Mapping[str, Sequence[Sequence[float]]], switch_at: int,
                             window: int, title: str = "", threshold: float | None = None):
    """Cost ratio around a change of environment: frames before and after ``switch_at``, the
    moving mean with its band, a vertical line at the switch, and the track's threshold as a
    dashed line (:attr:`offbench.tracks.Track.threshold`, 1.02 on the adaptation track)."""
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    _mean_curves(ax, curves, window, x0=-switch_at)
    ax.axvline(0, color="black", linewidth=0.8)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label=f"ratio {threshold:g}")
    ax.set_xlabel("frames since the new environment")
    ax.set_ylabel(r"cost ratio $\rho$ (moving mean)")
    ax.set_title(title or "Adaptation curves")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "table"


def _static_figures(t, title: str) -> dict:
    """Drawers (name -> function making the figure) of an instance-source table: the
    performance profile and the ratio ECDF."""
    labels = [e.label for e in t.entries]
    keys = [(e.solver_id, e.param_hash) for e in t.entries]
    out: dict = {}
    members = sorted({r["instance_digest"] for k in keys for r in t.rows[k]})
    pos = {d: i for i, d in enumerate(members)}
    mat = np.full((len(members), len(keys)), np.nan)
    for j, k in enumerate(keys):
        per: dict[str, list[float]] = {}
        for r in t.rows[k]:
            # A failed or infeasible row counts as a failure (ratio inf) in the profile.
            v = math.inf if r["_infeasible"] else r["_scored"]
            per.setdefault(r["instance_digest"], []).append(v)
        for d, v in per.items():
            mat[pos[d], j] = float(np.mean(v))
    if members:
        out["profile"] = lambda: performance_profile_figure(mat, labels, f"Performance profile: {title}")
    ratios = {e.label: [r["ratio"] for r in t.rows[k]] for e, k in zip(t.entries, keys)}
    if any(v is not None for vals in ratios.values() for v in vals):
        out["ecdf"] = lambda: ecdf_figure(ratios, f"Cost ratio ECDF: {title}")
    return out


def _stream_figures(t, title: str) -> dict:
    """Drawers of a stream table: learning curves, and adaptation curves around the switch."""
    from . import tracks

    track = tracks.get(t.track)
    keys = [(e.solver_id, e.param_hash) for e in t.entries]
    curves = {}
    window = 50
    for e, k in zip(t.entries, keys):
        runs = []
        for r in t.rows[k]:
            window = int(r["track_config"].get("window", window))
            fr = t.frames.get(r["row_id"], [])
            if fr and all(f["ratio"] is not None for f in fr):
                runs.append([f["ratio"] for f in fr])
        if runs:
            curves[e.label] = runs
    if not curves:
        return {}
    window = max(1, min(window, min(len(r) for rs in curves.values() for r in rs)))
    switch = int(t.rows[keys[0]][0]["track_config"].get("switch_at", 0))
    return {
        "learning": lambda: learning_curves_figure(curves, window, f"Learning curves: {title}",
                                                   threshold=track.threshold),
        "adaptation": lambda: adaptation_curves_figure(curves, switch, window, f"Adaptation: {title}",
                                                       threshold=track.threshold),
    }


def write_plots(board, out_dir, *, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write every figure of a leaderboard into ``out_dir`` (PNG and PDF of each).

    Each table gets the figures its track names (:attr:`offbench.tracks.Track.figures`): the
    static track a performance profile (``*-profile``) and a ratio ECDF (``*-ecdf``); the online
    and generalization tracks learning curves (``*-learning``, with the track's threshold drawn
    where it has one); the adaptation track adaptation curves (``*-adaptation``). Returns the
    files written.
    """
    from . import tracks

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--plots {out}: cannot create the folder ({e.strerror})") from None
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
    return files


#: The figures a track may name in :attr:`offbench.tracks.Track.figures`.
FIGURES = ("profile", "ecdf", "learning", "adaptation")
