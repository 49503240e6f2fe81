"""Leaderboards: tables derived from the results store, never edited by hand.

:mod:`offbench.leaderboard.build`
    The statistics: one table per (source, track) from the store's rows (:func:`build`), with
    their provenance; the columns are documented there.
:mod:`offbench.leaderboard.render`
    Formats: Markdown, CSV and LaTeX (:func:`render`), each starting with its provenance in a
    form a program can read back (``offbench-provenance: {json}``); :func:`read_table`.
:mod:`offbench.leaderboard.verify`
    :func:`verify` re-runs the specs a table names into a fresh store and fails if any quality
    number differs.
:mod:`offbench.leaderboard.export`
    Row exports (:func:`export_rows`), per-frame exports of the learning tracks
    (:func:`export_frames`), and atomic writes (:func:`write_output`).
"""

from .build import (CSV_HEADER, CSV_TIMING, FORMATS, PROVENANCE_TAG, TIMING_COLUMNS, Entry,
                    Leaderboard, LeaderboardError, Table, build)
from .export import (FRAME_EXPORT_COLUMNS, ROW_EXPORT_COLUMNS, export_frames, export_rows,
                     write_output)
from .render import csv_rows, display_cells, latex_escape, provenance_lines, read_table, render
from .verify import VerifyReport, verify

__all__ = ["CSV_HEADER", "CSV_TIMING", "FORMATS", "FRAME_EXPORT_COLUMNS", "PROVENANCE_TAG",
           "ROW_EXPORT_COLUMNS",
           "TIMING_COLUMNS", "Entry", "Leaderboard", "LeaderboardError", "Table", "VerifyReport",
           "build", "csv_rows", "display_cells", "export_frames", "export_rows", "latex_escape",
           "provenance_lines", "read_table", "render", "verify", "write_output"]
