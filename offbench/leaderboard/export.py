"""Exports of a store and the one way leaderboard files are written.

:func:`export_rows` writes every result row (one per job, with its source, instance name and
reference provenance) as CSV or JSON lines, :func:`export_frames` every per-frame row of the
learning tracks (with what each learner reported per frame); :func:`write_output` writes a table
or an export whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json

from .._json import clean
from ..store import Store, canonical_json
from .build import PROVENANCE_TAG, LeaderboardError, _is_stream, build
from .render import _csv_value, _prov_json, provenance_lines


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

    from .. import __version__

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
        text += "".join(json.dumps(clean(rec), sort_keys=False) + "\n" for rec in records)
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

    from ..instance import atomic_write

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


#: Columns of a per-frame export: the job's key and source, then the frame row (its ``info``:
#: what the learner reported for that frame, as JSON).
FRAME_EXPORT_COLUMNS = ("source", "solver_id", "param_hash", "seed", "track", "track_config",
                        "offbench_version", "row_id", "frame", "instance_digest", "status",
                        "cost", "feasible", "ref_cost", "ratio", "counted_infeasible",
                        "wall_time", "evaluations", "decision", "error", "info")


def export_frames(store: Store, path, *, offbench_version: str | None = None) -> int:
    """Write every per-frame row of the learning tracks (one per frame of each stream job, with
    its job's solver, seed, track and source, and what the learner reported in ``info``) to
    ``path``: ``.csv`` (``info`` as JSON text) or ``.jsonl``. Returns the number of frames
    written; the file is written whole or not at all, headed by the provenance as
    :func:`export_rows` is.
    """
    from pathlib import Path

    from .. import __version__

    p = Path(path)
    if p.suffix not in (".csv", ".jsonl"):
        raise LeaderboardError(f"--frames {p}: expected a .csv or .jsonl file name")
    version = offbench_version or __version__
    board = build(store, offbench_version=version)
    rows = [r for r in store.results(offbench_version=version) if _is_stream(r["track"])]
    frames = store.frames([r["row_id"] for r in rows])
    names = {s["digest"]: s["name"] for s in store.sources() if s["kind"] == "stream"}
    records = []
    for r in rows:
        for f in frames.get(r["row_id"], []):
            rec = {c: r.get(c) for c in FRAME_EXPORT_COLUMNS[:8]}
            rec["source"] = names.get(r["instance_digest"])
            rec.update({c: f.get(c) for c in FRAME_EXPORT_COLUMNS[8:]})
            records.append(rec)
    if p.suffix == ".jsonl":
        text = json.dumps({PROVENANCE_TAG.rstrip(":"): board.provenance}, sort_keys=True) + "\n"
        text += "".join(json.dumps(clean(rec), sort_keys=False) + "\n" for rec in records)
    else:
        buf = io.StringIO()
        buf.write("# offbench frame rows: one row per frame of each learning-track job\n")
        for line in provenance_lines(board):
            buf.write(f"# {line}\n")
        buf.write(f"# {PROVENANCE_TAG} {_prov_json(board)}\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(FRAME_EXPORT_COLUMNS)
        for rec in records:
            w.writerow([canonical_json(clean(v)) if isinstance(v, (dict, list)) else _csv_value(v)
                        if isinstance(v, float) else ("" if v is None else v) for v in rec.values()])
        text = buf.getvalue()
    write_output(p, text, "--frames")
    return len(records)
