"""Exports of a store and the one way leaderboard files are written.

:func:`export_rows` writes every result row (one per job, with its source, family, instance name
and reference provenance, its fallback ratio and whether it was solved) and :func:`export_frames`
every per-frame row of the learning tracks (with what each learner reported per frame), as CSV,
JSON lines or Parquet; :func:`row_records` and :func:`frame_records` are the same records as
Python values (what :func:`offbench.results.load` makes DataFrames of). Every export loads with
the reader's defaults: CSV has one plain header line (``pandas.read_csv(path)``), JSON lines are
one object per row (``pandas.read_json(path, lines=True)``), Parquet is typed
(``pandas.read_parquet(path)``). The provenance of an export goes into its sidecar JSON
(``rows.csv.provenance.json``), never into the file. In CSV and JSON lines a decision is
written ``d`` + one digit per layer (``d000120``: 0 device, 1 edge, 2 cloud), a string that no
reader takes for a number; in Parquet and in Python it is the plain digit string.
:func:`write_output` writes a table or an export whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import math

from .._json import clean
from ..store import Store, canonical_json
from .build import LeaderboardError, _is_stream, build, fallback_ratio, refused, solved
from .render import _csv_value, provenance_json

#: The prefix of a decision in text exports (CSV, JSON lines).
DECISION_PREFIX = "d"

ROW_EXPORT_COLUMNS = ("source", "family", "instance_digest", "instance_name", "solver_id",
                      "params", "param_hash", "seed", "track", "track_config", "offbench_version",
                      "status", "solved", "refused", "cost", "feasible", "ref_cost",
                      "ref_provenance", "ratio", "fallback_ratio", "counted_infeasible", "bound",
                      "gap", "wall_time", "evaluations", "decision", "error", "flags", "run_id",
                      "worker", "finished_at")

#: Columns of a per-frame export: the job's key and source, then the frame row (its ``info``:
#: what the learner reported for that frame, as JSON).
FRAME_EXPORT_COLUMNS = ("source", "family", "solver_id", "param_hash", "seed", "track",
                        "track_config", "offbench_version", "row_id", "frame", "instance_digest",
                        "status", "solved", "cost", "feasible", "ref_cost", "ratio",
                        "counted_infeasible", "wall_time", "evaluations", "decision", "error",
                        "info")

#: Columns of the exports that are numbers (a missing one NaN in Parquet), even where a store
#: has no value in them; every other column without a value is text.
FLOAT_COLUMNS = frozenset({"cost", "ref_cost", "ratio", "fallback_ratio", "bound", "gap",
                           "wall_time"})

_SUFFIXES = (".csv", ".jsonl", ".parquet")


def _family(spec: dict) -> str | None:
    f = spec.get("family") if isinstance(spec, dict) else None
    if f is None and isinstance(spec, dict) and spec.get("kind") == "set":
        f = str(spec.get("set", "")).split(":")[0] or None
    return f


def _source_maps(store: Store) -> tuple[dict, dict]:
    """``(sources by digest, family by digest)``: the sources an instance (or stream) belongs
    to, joined by ``;``, and its family when the source names one."""
    src_of: dict[str, list[str]] = {}
    fam_of: dict[str, list[str]] = {}
    for s in store.sources():
        digests = [s["digest"]] if s["kind"] == "stream" else s["members"]
        fam = _family(s["spec"])
        for d in digests:
            src_of.setdefault(d, []).append(s["name"])
            if fam:
                fam_of.setdefault(d, []).append(fam)
    join = lambda m: {d: ";".join(dict.fromkeys(v)) for d, v in m.items()}  # noqa: E731
    return join(src_of), join(fam_of)


def row_records(store: Store, *, offbench_version: str | None = None) -> list[dict]:
    """Every result row of one offbench version as a dict of :data:`ROW_EXPORT_COLUMNS`
    (Python values: ``params``, ``track_config`` dicts, ``flags`` a list, ``decision`` digits)."""
    from .. import __version__

    rows = store.results(offbench_version=offbench_version or __version__)
    info = store.instance_info()
    refs = store.references()
    src_of, fam_of = _source_maps(store)
    out = []
    for r in rows:
        rec = {c: r.get(c) for c in ROW_EXPORT_COLUMNS}
        d = r["instance_digest"]
        rec["source"] = src_of.get(d)
        rec["family"] = fam_of.get(d)
        rec["instance_name"] = info.get(d, {}).get("name")
        rec["ref_provenance"] = refs.get(d, {}).get("provenance")
        rec["flags"] = list(r.get("flags") or [])
        rec["refused"] = refused(r)
        rec["solved"] = solved(r)
        if _is_stream(r["track"]):
            rec["fallback_ratio"] = r.get("ratio")
        else:
            rec["fallback_ratio"] = fallback_ratio(r, info)
        out.append(rec)
    return out


def frame_records(store: Store, *, offbench_version: str | None = None) -> list[dict]:
    """Every per-frame row of the learning tracks as a dict of :data:`FRAME_EXPORT_COLUMNS`."""
    from .. import __version__

    rows = [r for r in store.results(offbench_version=offbench_version or __version__)
            if _is_stream(r["track"])]
    frames = store.frames([r["row_id"] for r in rows])
    src_of, fam_of = _source_maps(store)
    out = []
    for r in rows:
        for f in frames.get(r["row_id"], []):
            rec = {c: r.get(c) for c in FRAME_EXPORT_COLUMNS[:9]}
            rec["source"] = src_of.get(r["instance_digest"])
            rec["family"] = fam_of.get(r["instance_digest"])
            rec.update({c: f.get(c) for c in FRAME_EXPORT_COLUMNS[9:] if c != "solved"})
            rec["solved"] = solved(f)
            out.append(rec)
    return out


def _text_value(c: str, v):
    if c == "decision" and v is not None:
        return DECISION_PREFIX + str(v)
    return v


def _write_records(path, records: list[dict], columns: tuple[str, ...], board, what: str) -> None:
    from pathlib import Path

    p = Path(path)
    if p.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {}
        for c in columns:
            vals = [rec.get(c) for rec in records]
            if c in ("params", "track_config", "info", "flags"):
                vals = [None if v is None else canonical_json(clean(v)) for v in vals]
            if c in FLOAT_COLUMNS or (vals and all(isinstance(v, float) or v is None
                                                   for v in vals) and any(v is not None
                                                                          for v in vals)):
                vals = [math.nan if v is None else v for v in vals]
            elif vals and all(v is None for v in vals):
                # a text column with no value in this store (no job failed: no error text)
                # stays text, so that exports of several stores read as one data set
                vals = pa.array(vals, type=pa.string())
            cols[c] = vals
        try:
            table = pa.table(cols)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table = pa.table({c: [None if v is None else str(v) for v in vs] for c, vs in cols.items()})
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        data = buf.getvalue().to_pybytes()
    elif p.suffix == ".jsonl":
        data = "".join(json.dumps(clean({c: _text_value(c, rec.get(c)) for c in columns}))
                       + "\n" for rec in records).encode()
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for rec in records:
            row = []
            for c in columns:
                v = _text_value(c, rec.get(c))
                row.append(canonical_json(clean(v)) if isinstance(v, (dict, list)) else
                           _csv_value(v) if isinstance(v, float) else "" if v is None else v)
            w.writerow(row)
        data = buf.getvalue().encode()
    write_output(p, data, what, provenance=board)


def _check_suffix(path, what: str):
    from pathlib import Path

    p = Path(path)
    if p.suffix not in _SUFFIXES:
        raise LeaderboardError(f"{what} {p}: expected a .csv, .jsonl or .parquet file name")
    return p


def export_rows(store: Store, path, *, offbench_version: str | None = None) -> int:
    """Write every result row (:func:`row_records`) to ``path`` (``.csv``, ``.jsonl`` or
    ``.parquet``), its provenance to the sidecar; returns the number of rows written. The file
    is written whole or not at all."""
    p = _check_suffix(path, "--rows")
    board = build(store, offbench_version=offbench_version)
    records = row_records(store, offbench_version=offbench_version)
    _write_records(p, records, ROW_EXPORT_COLUMNS, board, "--rows")
    return len(records)


def export_frames(store: Store, path, *, offbench_version: str | None = None) -> int:
    """Write every per-frame row of the learning tracks (:func:`frame_records`) to ``path``
    (``.csv``, ``.jsonl`` or ``.parquet``), its provenance to the sidecar; returns the number
    of frames written. The file is written whole or not at all."""
    p = _check_suffix(path, "--frames")
    board = build(store, offbench_version=offbench_version)
    records = frame_records(store, offbench_version=offbench_version)
    _write_records(p, records, FRAME_EXPORT_COLUMNS, board, "--frames")
    return len(records)


def write_output(path, text, what: str = "--output", *, provenance=None) -> None:
    """Write a table or export (``text``: str or bytes) to ``path``: atomically (whole file or
    nothing) for a regular file; straight through for anything else that exists
    (``/dev/stdout``, a pipe), which must never be replaced by a file. With ``provenance`` (a
    :class:`~offbench.leaderboard.Leaderboard`), a regular file gets its full provenance in the
    sidecar JSON beside it (:func:`~offbench.leaderboard.render.sidecar_path`)."""
    import os
    import stat
    from pathlib import Path

    from ..instance import atomic_write

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise LeaderboardError(f"{what} {p}: {e.strerror}") from None
    try:
        data = text.encode() if isinstance(text, str) else bytes(text)
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(p, "wb") as f:
                f.write(data)
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        if provenance is not None:
            from .render import sidecar_path

            atomic_write(sidecar_path(p), provenance_json(provenance).encode())
        atomic_write(p, data)
    except OSError as e:
        raise LeaderboardError(f"{what} {p}: cannot write ({e.strerror})") from None
