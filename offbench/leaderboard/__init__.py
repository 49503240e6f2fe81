"""Leaderboards: tables derived from the results store, never edited by hand.

:mod:`offbench.leaderboard.build`
    The statistics: one table per (source, track) from the store's rows (:func:`build`), with
    their provenance; the columns are documented there.
:mod:`offbench.leaderboard.aggregate`
    Static tables of stores of any size: rows classified in SQLite and summed in numpy, bit for
    bit the row-by-row numbers, without a dict per row.
:mod:`offbench.leaderboard.render`
    Formats: Markdown, CSV, LaTeX and the terminal (:func:`render`, :func:`print_terminal`);
    Markdown and LaTeX carry their provenance (``offbench-provenance: {json}``), every written
    file has it in a sidecar JSON (:func:`sidecar_path`); :func:`read_table`.
:mod:`offbench.leaderboard.compare`
    Paired comparisons of two solvers on the same instances (Wilcoxon signed-rank).
:mod:`offbench.leaderboard.verify`
    :func:`verify` re-runs the specs a table names into a fresh store and fails if any quality
    number differs.
:mod:`offbench.leaderboard.export`
    Row exports (:func:`export_rows`), per-frame exports of the learning tracks
    (:func:`export_frames`) as CSV, JSON lines or Parquet, and atomic writes
    (:func:`write_output`).
"""

from .build import (CSV_HEADER, CSV_TIMING, FORMATS, PROVENANCE_TAG, TIMING_COLUMNS, Entry,
                    Leaderboard, LeaderboardError, Table, build)
from .export import (FRAME_EXPORT_COLUMNS, ROW_EXPORT_COLUMNS, export_frames, export_rows,
                     write_output)
from .compare import Comparison, compare
from .render import (csv_rows, display_cells, latex_escape, print_terminal, provenance_lines,
                     read_sidecar, read_table, render, sidecar_path)
from .verify import VerifyReport, verify

__all__ = ["Comparison", "compare", "print_terminal", "read_sidecar", "sidecar_path", "CSV_HEADER", "CSV_TIMING", "FORMATS", "FRAME_EXPORT_COLUMNS", "PROVENANCE_TAG",
           "ROW_EXPORT_COLUMNS",
           "TIMING_COLUMNS", "Entry", "Leaderboard", "LeaderboardError", "Table", "VerifyReport",
           "build", "csv_rows", "display_cells", "export_frames", "export_rows", "latex_escape",
           "provenance_lines", "read_table", "render", "verify", "write_output"]
