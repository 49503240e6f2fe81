"""Results as pandas DataFrames, and running a benchmark from Python.

::

    import offbench, offbench.results

    summary = offbench.run("my_run.toml", store="out/results.sqlite")   # or a dict, or None
    res = offbench.results.load("out/results.sqlite")
    res.results     # one row per job: source, family, track, solver_id, seed, status, solved,
                    # refused, ratio, fallback_ratio, wall_time, decision, ...
    res.frames      # one row per frame of each learning-track job
    res.sources     # one row per source: name, kind, family, digest, size
    res.results.groupby(["source", "solver_id"]).fallback_ratio.agg(gmean)

:func:`load` reads a store read-only (it never migrates or locks it). Columns are those of
:data:`offbench.leaderboard.ROW_EXPORT_COLUMNS` and :data:`FRAME_EXPORT_COLUMNS`; ``params``,
``track_config``, ``info`` stay dicts and ``flags`` lists, and a decision is its string of one
digit per layer (``"000120"``: 0 device, 1 edge, 2 cloud). ``fallback_ratio`` is the ratio that
SPEC.md section 6 scores a row at (a decision that is not solved at the all-device ratio;
``None`` for a refusal), the number the leaderboards' geometric means are taken of.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class Results:
    """The DataFrames of one store (one offbench version)."""

    results: Any
    frames: Any
    sources: Any


def load(store: str | os.PathLike, *, offbench_version: str | None = None) -> Results:
    """The result rows, frame rows and sources of a store as pandas DataFrames.

    Parameters
    ----------
    store : path-like
        A results store written by ``offbench run``.
    offbench_version : str, optional
        Rows of this offbench version (default: the running one).

    Raises
    ------
    offbench.store.StoreError
        No store there, or one that cannot be read (the message says why).
    """
    import pandas as pd

    from .leaderboard.export import (FRAME_EXPORT_COLUMNS, ROW_EXPORT_COLUMNS, _family,
                                     frame_records, row_records)
    from .store import Store

    with Store.open_readonly(store) as s:
        rows = row_records(s, offbench_version=offbench_version)
        frames = frame_records(s, offbench_version=offbench_version)
        sources = [{"name": x["name"], "kind": x["kind"], "family": _family(x["spec"]),
                    "digest": x["digest"], "size": x["size"]} for x in s.sources()]
    return Results(results=pd.DataFrame(rows, columns=list(ROW_EXPORT_COLUMNS)),
                   frames=pd.DataFrame(frames, columns=list(FRAME_EXPORT_COLUMNS)),
                   sources=pd.DataFrame(sources, columns=["name", "kind", "family", "digest", "size"]))


def run(spec=None, store: str | os.PathLike = "offbench-results/results.sqlite", *,
        jobs: int | None = None, progress: bool = False):
    """Run a benchmark into a store, as ``offbench run`` does (resuming: jobs already in the
    store are skipped); also ``offbench.run(...)``.

    Parameters
    ----------
    spec : None, path-like or dict
        A run spec: None for the built-in benchmark, a TOML/YAML file, or a dict of the same
        keys (:mod:`offbench.run.spec`).
    store : path-like
        The results store (created if missing).
    jobs : int, optional
        Worker processes (default: CPUs; 0: in this process).
    progress : bool
        Show the progress bar on standard error.

    Returns
    -------
    offbench.run.RunSummary

    Raises
    ------
    offbench.UserError
        A bad spec (the message names the key).
    """
    from .run.api import run_benchmark

    return run_benchmark(spec, store, jobs=jobs, progress=progress)
