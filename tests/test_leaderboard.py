"""Leaderboard statistics, tables in three formats with provenance, verify, row export, plots."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from offbench import metrics
from offbench.cli import main
from offbench.leaderboard import (LeaderboardError, build, compare, export_rows, read_table,
                                  render, verify)
from offbench.run import InProcessExecutor, parse_spec, run
from offbench.store import Store

FIXTURES = str(Path(__file__).parent / "fixtures_solvers")


# ------------------------------------------------------------------------------ metrics
def test_bootstrap_is_deterministic_and_brackets_the_mean():
    rng = np.random.default_rng(1)
    x = 1 + rng.exponential(0.1, 40)
    a = metrics.bootstrap_mean_ci(x)
    assert a == metrics.bootstrap_mean_ci(x)
    mean, lo, hi = a
    assert mean == pytest.approx(x.mean()) and lo < mean < hi
    # Half the width shrinks roughly with sqrt(n): four times the data, about half the width.
    m2, lo2, hi2 = metrics.bootstrap_mean_ci(np.tile(x, 4))
    assert 0.3 < (hi2 - lo2) / (hi - lo) < 0.7
    assert all(math.isnan(v) for v in metrics.bootstrap_mean_ci([]))
    assert metrics.bootstrap_mean_ci([1.2]) == (1.2, 1.2, 1.2)


def test_bootstrap_resamples_whole_clusters():
    # Two instances, each repeated over 10 seeds with no spread: the interval is that of
    # two values, not of twenty.
    vals = [1.0] * 10 + [2.0] * 10
    groups = ["a"] * 10 + ["b"] * 10
    mean, lo, hi = metrics.bootstrap_mean_ci(vals, groups)
    assert mean == 1.5 and lo == 1.0 and hi == 2.0
    _, lo_rows, hi_rows = metrics.bootstrap_mean_ci(vals)
    assert hi_rows - lo_rows < hi - lo
    assert metrics.bootstrap_mean_ci([1.0, 1.0], ["a", "a"]) == (1.0, 1.0, 1.0)


def test_shifted_geometric_mean_and_quantiles():
    assert metrics.shifted_geometric_mean([0.0, 0.0]) == pytest.approx(0.0)
    t = [0.09, 0.99]  # (0.1 * 1.0) ** 0.5 - 0.01
    assert metrics.shifted_geometric_mean(t) == pytest.approx(math.sqrt(0.1) - 0.01)
    assert metrics.shifted_geometric_mean([0.5] * 7) == pytest.approx(0.5)
    assert metrics.quantile([1, 2, 3, 4], 0.5) == 2.5
    assert math.isnan(metrics.quantile([], 0.5))


def test_moving_mean_and_frames_until_stays_below():
    assert metrics.moving_mean([1, 2, 3, 4], 2).tolist() == [1, 1.5, 2.5, 3.5]
    r = [1.5, 1.2, 1.0, 1.0, 1.3, 1.0, 1.0, 1.0]
    # window 1: last value above 1.01 is frame 4 (0-based), so it stays under from 6 frames on.
    assert metrics.frames_until_stays_below(r, 1, 1.01) == 6
    assert metrics.frames_until_stays_below([1.0] * 5, 3, 1.01) == 1
    assert metrics.frames_until_stays_below([1.0, 1.0, 1.5], 1, 1.01) is None
    assert metrics.frames_until_stays_below([], 3, 1.01) is None


def test_best_mask_and_performance_profile():
    c = np.array([[1.0, 1.0, 2.0], [3.0, np.nan, 1.5], [2.0, 4.0, 8.0]])
    assert metrics.best_mask(c).tolist() == [[True, True, False], [False, False, True], [True, False, False]]
    taus, prof = metrics.performance_profile(c)
    assert taus[0] == 1.0
    at1 = prof[0]
    assert at1.tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert prof[-1].tolist() == pytest.approx([1.0, 2 / 3, 1.0])  # nan never counts


def test_ties_are_relative_whatever_the_scale_and_agree_with_the_profile():
    rng = np.random.default_rng(3)
    for scale in (1e-5, 1.0, 1e6):
        base = scale * (1 + rng.random((30, 1)))
        # 0: equal costs; 1: within rounding (a tie); 2: one part in a million worse (no tie)
        c = np.hstack([base, base * (1 + 1e-13), base * (1 + 1e-6), 2 * base])
        wins = metrics.best_mask(c).sum(axis=0)
        assert wins.tolist() == [30, 30, 0, 0], scale
        _, prof = metrics.performance_profile(c)
        assert (prof[0] * 30).round().tolist() == wins.tolist()


def test_ecdf():
    x, y = metrics.ecdf([3, 1, 2])
    assert x.tolist() == [1, 2, 3] and y.tolist() == pytest.approx([1 / 3, 2 / 3, 1])


# ------------------------------------------------------------------------------ tables
SPEC = {
    "name": "lb",
    "solvers_dirs": [FIXTURES],
    "time_limit": 5.0,
    "seeds": [0, 1],
    "reference": {"mode": "none"},
    "sources": [{"kind": "random", "name": "tiny", "count": 4, "n_jobs": 2, "layers": [1, 3],
                 "capacities": True}],
    "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 6}},
                {"id": "fx-random-best", "params": {"samples": 2}, "seeds": [0]},
                {"id": "fx-raise", "seeds": [0]}],
}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("lb") / "r.sqlite"
    spec = parse_spec(SPEC)
    run(spec, path, executor=InProcessExecutor())
    return path


def test_tables_in_three_formats_carry_provenance(store_path):
    with Store.open_readonly(store_path) as s:
        board = build(s)
    assert len(board.tables) == 1
    t = board.tables[0]
    labels = [e.label for e in t.entries]
    # Two parameter sets of one solver are told apart by the parameter that differs.
    assert "fx-random-best-v1[samples=6]" in labels and "fx-random-best-v1[samples=2]" in labels
    raise_entry = next(e for e in t.entries if e.solver_id == "fx-raise-v1")
    assert raise_entry.values["failed"] == 4 and raise_entry.values["infeasible"] == 1.0
    assert raise_entry.values["wins"] == 0  # a failure never wins
    zero = next(e for e in t.entries if e.solver_id == "fx-zero-v1")
    assert zero.values["n"] == 8 and zero.values["evals"] == 0.0
    for fmt in ("md", "csv", "latex"):
        text = render(board, fmt)
        # CSV is a plain table; its provenance is the sidecar written beside it
        got_fmt, prov, tables = read_table(text, board.provenance if fmt == "csv" else None)
        assert got_fmt == fmt
        assert prov["seeds"] == [0, 1] and prov["offbench_version"]
        assert prov["sources"][0]["digest"] == t.source_digest
        assert {s["id"] for s in prov["solvers"]} == {"fx-zero-v1", "fx-random-best-v1", "fx-raise-v1"}
        assert prov["statistics"]["sgm_shift_s"] == 0.01
        assert prov["machines"][0]["cpus"] and prov["libraries"][0]["numpy"]
        assert len(tables) == 1 and len(tables[0][2]) == 4
    md = render(board, "md")
    assert "shift 10 ms" in md and "| solver | n | gmean ratio |" in md
    latex = render(board, "latex")
    assert "\\toprule" in latex and "fx-random-best-v1[samples=6]" in latex
    rows = list(csv.reader(io.StringIO("\n".join(l for l in render(board, "csv").splitlines()
                                                  if not l.startswith("#")))))
    assert rows[0][:3] == ["source", "track", "solver"] and len(rows) == 5


def test_leaderboard_is_identical_on_every_build(store_path):
    with Store.open_readonly(store_path) as s:
        a = render(build(s), "csv")
        b = render(build(s), "csv")
    strip = lambda t: [l for l in t.splitlines() if "p50" not in l]  # noqa: E731
    assert strip(a) == strip(b)


def test_verify_passes_and_catches_an_edited_number(store_path, tmp_path):
    with Store.open_readonly(store_path) as s:
        text = render(build(s), "md")
    report = verify(text, executor=InProcessExecutor(), solvers_dirs=[FIXTURES], workdir=tmp_path)
    assert report.ok, report.differences
    assert report.rows == 4 and report.numbers > 20
    # Edit the evaluations of one row by hand: verify must say where.
    lines = text.splitlines()
    i = next(k for k, l in enumerate(lines) if l.startswith("| fx-random-best-v1[samples=6]"))
    cells = lines[i].split("|")
    header = next(l for l in lines if l.startswith("| solver")).split("|")
    cells[[c.strip() for c in header].index("evals")] = " 99.0 "
    lines[i] = "|".join(cells)
    (tmp_path / "v2").mkdir()
    bad = verify("\n".join(lines), executor=InProcessExecutor(), solvers_dirs=[FIXTURES], workdir=tmp_path / "v2")
    assert not bad.ok
    assert any("evals" in d and "99.0" in d for d in bad.differences)


def test_verify_fails_when_the_instances_changed(store_path, tmp_path):
    """A re-run that draws other instances (a changed generator; here an edited seed) is a
    failed verification that says so, not an error about an empty selection."""
    with Store.open_readonly(store_path) as s:
        text = render(build(s), "md")
    line = next(l for l in text.splitlines() if "offbench-provenance:" in l)
    prov = json.loads(line.split("offbench-provenance:", 1)[1].removesuffix("-->"))
    prov["specs"][0]["sources"][0]["seed"] = 99
    edited = text.replace(line, f"<!-- offbench-provenance: {json.dumps(prov)} -->")
    report = verify(edited, executor=InProcessExecutor(), solvers_dirs=[FIXTURES], workdir=tmp_path)
    assert not report.ok
    assert any(d.startswith("source tiny: the table's instances have digest") for d in report.differences)


def test_verify_names_the_parameters_that_changed(store_path, tmp_path):
    """A solver whose validated parameters differ in the re-run (a parameter added with its
    default, say) is reported by name, not only as a row missing from the re-run."""
    with Store.open_readonly(store_path) as s:
        text = render(build(s), "md")
    line = next(l for l in text.splitlines() if "offbench-provenance:" in l)
    prov = json.loads(line.split("offbench-provenance:", 1)[1].removesuffix("-->"))
    entry = next(e for e in prov["solvers"] if e["id"] == "fx-zero-v1")
    old_hash, entry["param_hash"], entry["params"] = entry["param_hash"], "0" * 64, {"passes": 1}
    prov["selection"]["solvers"] = [["fx-zero-v1", "0" * 64] if h == old_hash else [i, h]
                                    for i, h in prov["selection"]["solvers"]]
    edited = text.replace(line, f"<!-- offbench-provenance: {json.dumps(prov)} -->")
    report = verify(edited, executor=InProcessExecutor(), solvers_dirs=[FIXTURES], workdir=tmp_path)
    assert not report.ok
    assert ("solver fx-zero-v1: its parameters changed since the table was made (hash 000000000000 -> "
            f"{old_hash[:12]}): passes = 1 (gone)") in report.differences


def test_verify_refuses_text_without_provenance():
    with pytest.raises(LeaderboardError, match="no offbench provenance"):
        read_table("| solver | n |\n|---|---|\n| a | 1 |\n")


def test_row_export_loads_with_pandas_defaults(store_path, tmp_path):
    import pandas as pd

    with Store.open_readonly(store_path) as s:
        n = export_rows(s, tmp_path / "rows.jsonl")
        assert n == 4 * (2 + 2 + 1 + 1)
        recs = [json.loads(l) for l in (tmp_path / "rows.jsonl").read_text().splitlines()]
        # one object per result; the provenance is in the sidecar, not in the file
        assert len(recs) == n and {r["source"] for r in recs} == {"tiny"}
        assert sum(r["status"] == "error" for r in recs) == 4
        prov = json.loads((tmp_path / "rows.jsonl.provenance.json").read_text())["offbench-provenance"]
        assert prov["rows"] == n and prov["specs"][0]["name"] == "lb" and prov["machines"]
        assert len(pd.read_json(tmp_path / "rows.jsonl", lines=True)) == n
        export_rows(s, tmp_path / "rows.csv")
        df = pd.read_csv(tmp_path / "rows.csv")
        assert len(df) == n and list(df.columns[:3]) == ["source", "family", "instance_digest"]
        # decisions keep every digit: all-device decisions are strings of zeros, prefixed
        zero = df[df.solver_id == "fx-zero-v1"].decision
        assert all(isinstance(d, str) and d.startswith("d") and set(d[1:]) == {"0"} for d in zero)
        assert df.solved.dtype == bool and not df[df.solver_id == "fx-raise-v1"].solved.any()
        assert (tmp_path / "rows.csv.provenance.json").is_file()
        export_rows(s, tmp_path / "rows.parquet")
        pq = pd.read_parquet(tmp_path / "rows.parquet")
        assert len(pq) == n and pq.decision.dropna().str.fullmatch("[012]+").all()
        with pytest.raises(LeaderboardError, match=".csv, .jsonl or .parquet"):
            export_rows(s, tmp_path / "rows.txt")


def test_results_load_gives_tidy_frames(store_path):
    import offbench
    import offbench.results

    res = offbench.results.load(store_path)
    assert len(res.results) == 24 and {"source", "family", "track", "solver_id",
                                       "fallback_ratio", "solved"} <= set(res.results.columns)
    assert set(res.results.track) == {"static"} and res.frames.empty
    assert list(res.sources.name) == ["tiny"]
    assert callable(offbench.run) and offbench.run.parse_spec  # the package, and a function


def test_csv_table_loads_with_pandas_and_verifies_through_its_sidecar(store_path, tmp_path):
    import pandas as pd

    out = tmp_path / "lb.csv"
    assert main(["leaderboard", "--store", str(store_path), "--format", "csv", "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 4 and "ratio_gmean" in df.columns and "solved_rate" in df.columns
    from offbench.leaderboard.render import read_sidecar

    prov = read_sidecar(out)
    assert prov["specs"][0]["name"] == "lb"
    assert read_table(out.read_text(), prov)[0] == "csv"


def test_terminal_view_is_aligned_with_a_short_provenance(store_path, capsys):
    assert main(["leaderboard", "--store", str(store_path)]) == 0
    out = capsys.readouterr().out
    assert "offbench-provenance" not in out and len(out) < 6000
    lines = out.splitlines()
    assert any("gmean ratio" in l for l in lines)
    assert lines[0].startswith("store ") and len([l for l in lines if l.startswith("machine:")]) == 1


def test_compare_on_the_command_line(scored_store, capsys):
    assert main(["leaderboard", "--store", str(scored_store), "--compare", "fx-zero", "fx-raise"]) == 0
    out = capsys.readouterr().out
    assert "Wilcoxon" in out and "fx-zero-v1" in out
    assert main(["leaderboard", "--store", str(scored_store), "--compare", "fx-zero", "nobody"]) == 2
    err = capsys.readouterr().err  # the unknown name, and the solvers there are
    assert "no solver 'nobody'" in err
    assert "solvers: fx-raise-v1, fx-random-best-v1, fx-zero-v1" in err


def test_compare_goes_where_and_as_the_table_goes(scored_store, tmp_path, capsys):
    """``-o FILE --compare``: the comparison is written into FILE (it went to stdout), in the
    table's format (it was Markdown after a LaTeX table); a CSV table cannot hold it."""
    args = ["leaderboard", "--store", str(scored_store), "--compare", "fx-zero", "fx-raise"]
    for fmt, suffix in (("md", "md"), ("latex", "tex")):
        out = tmp_path / f"t.{suffix}"
        assert main(args + ["--format", fmt, "-o", str(out)]) == 0
        assert "Wilcoxon" not in capsys.readouterr().out
        text = out.read_text()
        assert "Paired comparisons" in text and "fx-zero-v1" in text.split("Paired comparisons")[1]
        assert ("\\begin{tabular}{lllrrrrrr}" in text) == (fmt == "latex")
        assert ("## Paired comparisons" in text) == (fmt == "md")
        # what verify reads: the leaderboard table alone
        got_fmt, _, tables = read_table(text)
        assert got_fmt == fmt and len(tables) == 1 and len(tables[0][2]) == 4
    assert main(args + ["--format", "latex"]) == 0
    assert "\\caption{Paired comparisons" in capsys.readouterr().out
    assert main(args + ["--format", "csv", "-o", str(tmp_path / "t.csv")]) == 2
    assert "--compare with --format csv" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_a_track_without_rows_is_named(store_path, capsys):
    assert main(["leaderboard", "--store", str(store_path), "--track", "online"]) == 2
    err = capsys.readouterr().err
    assert "no result rows of track online" in err and "its rows are of track static" in err


def test_help_says_95_percent(capsys):
    with pytest.raises(SystemExit):
        main(["leaderboard", "--help"])
    out = capsys.readouterr().out
    assert "95%" in out and "95%%" not in out


def test_leaderboard_cli(store_path, tmp_path, capsys):
    out = tmp_path / "t.tex"
    assert main(["leaderboard", "--store", str(store_path), "--format", "latex", "-o", str(out)]) == 0
    assert read_table(out.read_text())[0] == "latex"
    assert (tmp_path / "t.tex.provenance.json").is_file()
    assert main(["leaderboard", "--store", str(tmp_path / "nope.sqlite")]) == 2
    assert "no such results store" in capsys.readouterr().err
    assert main(["leaderboard", "--store", str(store_path), "--offbench-version", "0.0.0"]) == 2
    assert "no result rows for offbench 0.0.0" in capsys.readouterr().err


def test_plots_write_png_and_pdf(store_path, tmp_path):
    from offbench.plots import adaptation_curves_figure, write_plots

    with Store.open_readonly(store_path) as s:
        board = build(s)
    files = write_plots(board, tmp_path / "plots")
    names = sorted(p.name for p in files)
    assert names == ["all-static-profile.pdf", "all-static-profile.png", "tiny-static-profile.pdf",
                     "tiny-static-profile.png"]  # no ratios: no ECDF
    assert all(p.stat().st_size > 1000 for p in files)
    assert (tmp_path / "plots" / "tiny-static-profile.png").read_bytes()[:4] == b"\x89PNG"
    fig = adaptation_curves_figure({"a": [[1.3, 1.2, 1.05, 1.01, 1.0]]}, switch_at=2, window=2)
    assert fig.axes[-1].get_xlabel().startswith("frames since")
    from offbench.plots import learning_curves_figure

    fig = learning_curves_figure({"a": [[1.5, 1.2, 1.0, 1.0], [1.3, 1.1, 1.0, 1.0]]}, window=2)
    ax = fig.axes[0]
    lo = ax.collections[0].get_paths()[0].vertices[:, 1].min()
    assert lo >= 1.0  # the band never dips below the best ratio
    assert any("band" in t.get_text() for t in ax.get_legend().get_texts())  # the band is named
    assert fig.axes[1].get_ylabel() == "solved %"


def test_a_solver_has_one_style_in_every_figure_and_ties_are_named():
    from offbench.plots import ecdf_figure, performance_profile_figure, solver_style

    assert solver_style("milp-v1") == solver_style("milp-v2") != solver_style("dp-v1")
    assert solver_style("my-solver-v1") == solver_style("my-solver-v1")
    builtin = ["exhaustive", "dp", "milp", "lp-bound", "local-search", "neurosurgeon", "greedy",
               "random", "all-device"]
    assert len({solver_style(f"{b}-v1")["color"] for b in builtin}) == len(builtin)
    costs = np.array([[1.0, 1.0, 2.0], [2.0, 2.0, 2.0]])
    fig = performance_profile_figure(costs, ["dp-v1", "milp-v1", "greedy-v1"])
    ax = fig.axes[0]
    colors = {l.get_label(): l.get_color() for l in ax.get_legend().get_lines()}
    assert colors["dp-v1"] == solver_style("dp-v1")["color"]
    assert any("dp-v1 = milp-v1" in t.get_text() for t in ax.texts)
    # the ECDF counts solved rows only: its ceiling is the solved rate
    fig = ecdf_figure({"a-v1": [1.0, 1.1, 1.0, 1.0]}, solved={"a-v1": [True, True, False, False]})
    line = fig.axes[0].lines[0]
    assert max(line.get_ydata()) == 0.5
    assert "solved 50%" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_output_to_a_device_writes_through_it(store_path, tmp_path):
    """--output /dev/stdout (or a pipe) must be written to, never replaced by a file."""
    import os
    import stat

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    import threading

    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    assert main(["leaderboard", "--store", str(store_path), "-o", str(fifo)]) == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the pipe
    assert got and got[0].startswith("# offbench leaderboard")


def test_output_dash_is_stdout(store_path, tmp_path, capsys, monkeypatch):
    """-o - wrote files named '-' and '-.provenance.json' in the working folder."""
    monkeypatch.chdir(tmp_path)
    assert main(["leaderboard", "--store", str(store_path), "--format", "csv", "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("source,track,solver,")
    assert not list(tmp_path.iterdir())


def test_a_beaten_unproven_reference_is_said_under_the_table(tmp_path):
    """A ratio under 1 can only come from an unproven reference; the table says so."""
    from offbench import __version__
    from offbench.generators import random_instance

    inst = random_instance(0, n_jobs=2, name="random-0")
    path = tmp_path / "r.sqlite"
    with Store.open(path) as s:  # a cached, unproven and poor reference for the instance
        s.add_reference(inst.digest, {"cost": 1e9, "provenance": "heuristic", "solver": "x"},
                        origin="test", settings={}, offbench_version=__version__)
    spec = parse_spec({"name": "beaten", "solvers_dirs": [FIXTURES],
                       "sources": [{"kind": "random", "count": 1, "n_jobs": 2}],
                       "solvers": ["fx-zero"]})
    assert run(spec, path, executor=InProcessExecutor()).references_computed == 0
    with Store.open_readonly(path) as s:
        t = build(s).tables[0]
    assert t.entries[0].values["ratio"] < 1
    assert any(n.startswith("ratio below 1 on 1 instance:") for n in t.notes)


# ---------------------------------------------------------------------------- scoring (SPEC 6)
def _row(d, status="feasible", feasible=True, ratio=1.0, ref=10.0, counted=False, error=None,
         decision="01", **kw):
    return {"instance_digest": d, "status": status, "feasible": feasible, "ratio": ratio,
            "ref_cost": ref, "counted_infeasible": counted, "error": error, "decision": decision,
            "cost": None if ratio is None else ratio * ref, "info": {}, **kw}


def test_failed_infeasible_and_flagged_rows_score_at_the_fallback_and_refusals_apart():
    from offbench.leaderboard.build import fallback_ratio, instance_ratios, refused, solved

    info = {"a": {"all_device_cost": 30.0}, "z": {"all_device_cost": 5.0}, "y": {"all_device_cost": 0.0}}
    ok = _row("a", ratio=1.5)
    assert solved(ok) and fallback_ratio(ok, info) == 1.5
    inf = _row("a", feasible=False, ratio=3.0, counted=True)
    assert not solved(inf) and fallback_ratio(inf, info) == 3.0
    # an error row that still carries a feasible decision (a rejected claim) is not solved
    err = _row("a", status="error", ratio=1.0, error="claimed optimal, but ...")
    assert not solved(err) and fallback_ratio(err, info) == 3.0
    flag = _row("a", ratio=1.0, flags=["bound"])
    assert not solved(flag) and fallback_ratio(flag, info) == 3.0
    late = _row("a", status="timeout", ratio=1.2, info={"overrun_wall_time": 9.0})
    assert not solved(late) and fallback_ratio(late, info) == 3.0
    in_time = _row("a", status="timeout", ratio=1.2)
    assert solved(in_time) and fallback_ratio(in_time, info) == 1.2
    ref = _row("a", status="error", ratio=None, decision=None, error="unsupported: coupled")
    assert refused(ref) and not solved(ref) and fallback_ratio(ref, info) is None
    # reference cost 0: a cost of 0 is ratio 1, anything else unsolved (fallback inf unless 0)
    assert fallback_ratio(_row("z", feasible=False, counted=True, ratio=None, ref=0.0), info) == math.inf
    assert fallback_ratio(_row("y", feasible=False, counted=True, ratio=None, ref=0.0), info) == 1.0
    # ... and a feasible decision of positive cost there is not solved (it used to count as
    # solved, with no ratio: its entry read n/a and solved 100 %)
    pos = _row("z", ratio=None, ref=0.0, cost=0.54)
    assert not solved(pos) and fallback_ratio(pos, info) == math.inf
    zero = _row("z", ratio=1.0, ref=0.0, cost=0.0)
    assert solved(zero) and fallback_ratio(zero, info) == 1.0
    # seeds averaged per instance first; refused rows left out
    per = instance_ratios([ok, inf, ref, _row("z", ratio=2.0, ref=2.5)], info)
    assert per == {"a": 2.25, "z": 2.0}


def test_geometric_mean_ranks_and_the_outlier_does_not():
    from offbench import metrics

    g, lo, hi = metrics.geometric_mean_ci([1.0, 1.0, 1.0, 1000.0])
    assert g == pytest.approx(1000 ** 0.25) and lo <= g <= hi
    # an instance of fallback ratio inf (reference cost 0): the upper end is inf, not NaN
    # (np.quantile between two infinite resample means gives inf - inf)
    g, lo, hi = metrics.geometric_mean_ci([1.0, 2.0, 1.5, math.inf])
    assert g == math.inf and hi == math.inf and 1.0 <= lo < 2.0
    assert metrics.geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    st = metrics.paired_wilcoxon([1.0] * 12, [1.0 + 0.1 * k for k in range(1, 13)])
    assert st["a_better"] == 12 and st["b_better"] == 0 and st["p_value"] < 0.01
    same = metrics.paired_wilcoxon([1.0, 2.0], [1.0, 2.0])
    assert same["ties"] == 2 and same["p_value"] == 1.0


@pytest.fixture(scope="module")
def scored_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("lbref") / "r.sqlite"
    run(parse_spec({**SPEC, "name": "lbref", "reference": {"mode": "auto"}}), path,
        executor=InProcessExecutor())
    return path


def test_a_never_solving_solver_ranks_below_and_never_wins(scored_store):
    from offbench.leaderboard.compare import compare

    with Store.open_readonly(scored_store) as s:
        board = build(s)
    t = board.tables[0]
    raise_entry = next(e for e in t.entries if e.solver_id == "fx-raise-v1")
    assert raise_entry.values["solved"] == 0.0 and raise_entry.values["wins"] == 0
    assert math.isnan(raise_entry.values["gmean_solved"])
    # tables rank by the geometric mean, ties broken by the solved rate
    keys = [(e.values["ratio"], -e.values["solved"]) for e in t.entries
            if not math.isnan(e.values["ratio"])]
    assert keys == sorted(keys)
    # fx-raise is scored at the all-device fallback, which is what fx-zero (all device) gets by
    # solving: the same geometric mean, and the solved rate puts fx-zero first
    zero = next(e for e in t.entries if e.solver_id == "fx-zero-v1")
    assert raise_entry.values["ratio"] == pytest.approx(zero.values["ratio"])
    assert t.entries.index(zero) < t.entries.index(raise_entry) and zero.values["solved"] == 1.0
    comps = compare(board, "fx-zero", "fx-raise")
    assert len(comps) == 1 and comps[0].n == 4 and 0.0 <= comps[0].p_value <= 1.0
    with pytest.raises(LeaderboardError, match="no solver 'nobody'"):
        compare(board, "fx-zero", "nobody")


MIXED = {**SPEC, "name": "mixed", "reference": {"mode": "auto"}, "time_limit": 1.0,
         "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 2}}]}


def test_runs_of_other_settings_are_other_entries_never_pooled(tmp_path, capsys):
    """One solver run with two time limits, then with references off: three entries per
    solver, each with the numbers of its run alone (they were pooled into one entry, n three
    times the instances, and the reference-less run made its every ratio n/a), labelled by
    the settings that differ in every format; comparisons, verify and plots follow."""
    runs = [MIXED, {**MIXED, "time_limit": 2.0},
            {**MIXED, "time_limit": 2.0, "reference": {"mode": "none"}}]
    path = tmp_path / "r.sqlite"
    for i, raw in enumerate(runs):
        run(parse_spec(raw), path, executor=InProcessExecutor())
        run(parse_spec(raw), tmp_path / f"alone{i}.sqlite", executor=InProcessExecutor())
    with Store.open_readonly(path) as s:
        board = build(s)
    (t,) = board.tables
    by = {e.label: e for e in t.entries}
    assert set(by) == {f"{sid} (reference={ref}, time_limit={tl})"
                       for sid in ("fx-zero-v1", "fx-random-best-v1")
                       for ref, tl in (("auto", 1.0), ("auto", 2.0), ("none", 2.0))}
    quality = ("n", "ratio", "ci_low", "ci_high", "median", "solved", "refused", "gmean_solved",
               "infeasible", "failed", "evals")
    for i, raw in enumerate(runs):
        with Store.open_readonly(tmp_path / f"alone{i}.sqlite") as s:
            (alone,) = build(s).tables
        for a in alone.entries:  # the numbers of each run alone, bit for bit
            e = next(e for e in t.entries if e.key == a.key)
            assert e.values["n"] == 8
            for k in quality:
                assert repr(e.values[k]) == repr(a.values[k]), (e.label, k)
            assert math.isnan(e.values["ratio"]) == (raw["reference"]["mode"] == "none")
    csv_labels = [r[2] for r in csv.reader(io.StringIO(render(board, "csv")))][1:]
    assert sorted(csv_labels) == sorted(by)
    assert "fx-zero-v1 (reference=none, time\\_limit=2.0)" in render(board, "latex")
    # a bare name now names three entries; a label names one
    with pytest.raises(LeaderboardError, match="3 entries .* give the full label"):
        compare(board, "fx-zero", "fx-random-best")
    (c,) = compare(board, "fx-zero-v1 (reference=auto, time_limit=1.0)",
                   "fx-zero-v1 (reference=auto, time_limit=2.0)")
    assert c.n == 4 and c.ties == 4
    text = render(board, "md")
    report = verify(text, executor=InProcessExecutor(), workdir=tmp_path,
                    solvers_dirs=[FIXTURES])
    assert report.ok and report.rows == 6, report.differences
    # the figures draw each entry (they looked rows up by solver and parameters: a KeyError)
    from offbench.plots import write_plots

    written = write_plots(board, tmp_path / "fig")
    assert any(str(p).endswith(".png") for p in written)


def test_verify_a_csv_table_through_its_sidecar(store_path, tmp_path, capsys):
    out = tmp_path / "lb.csv"
    assert main(["leaderboard", "--store", str(store_path), "--format", "csv", "-o", str(out)]) == 0
    assert main(["leaderboard", "verify", str(out), "-j", "0", "--quiet",
                 "--solvers-dir", FIXTURES]) == 0
    ok = capsys.readouterr().out
    assert re.search(r": OK: 1 table, \d+ solver rows, ", ok), ok  # (not "1 tables")
    (tmp_path / "lb.csv.provenance.json").unlink()
    assert main(["leaderboard", "verify", str(out), "-j", "0", "--quiet"]) == 2
    assert "no provenance sidecar" in capsys.readouterr().err


def test_verify_says_when_a_sets_references_were_replaced(tmp_path, monkeypatch):
    """Issue 9 item 3: a table records the references of each frozen set it used; when the set's
    references are recomputed and replaced (a new references_version with its history), verify
    names the set, the version and why, beside the ratios that changed."""
    import shutil

    from offbench.instance_sets import load_set, references_digest, set_path, sets_dir

    root = tmp_path / "instances"
    shutil.copytree(sets_dir().parent, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("OFFBENCH_INSTANCES_DIR", str(root))
    spec = parse_spec({"name": "refs", "tracks": ["static"], "seeds": [0],
                       "sources": [{"kind": "set", "set": "dmro-v1/test"}],
                       "solvers": [{"id": "all-device"}]})
    store = tmp_path / "s.sqlite"
    run(spec, store, executor=InProcessExecutor())
    with Store.open_readonly(store) as s:
        board = build(s)
    text = render(board, "md")
    src = board.provenance["sources"][0]
    assert src["references_digest"] == references_digest(load_set("dmro-v1/test").references)
    report = verify(text, executor=InProcessExecutor(), workdir=tmp_path / "v1")
    assert report.ok, report.differences

    # Replace one member's reference as a recomputation would (a better incumbent, version 2).
    manifest = set_path("dmro-v1/test") / "manifest.json"
    data = json.loads(manifest.read_text())
    digest, old = sorted(data["references"].items())[0]
    data["references"][digest] = {**old, "cost": old["cost"] * 0.5}
    data["references_version"] = 2
    data["references_history"] = [{"version": 1, "replaced_in_version": 2,
                                   "why": "recomputed in a test", "old": {digest: old}}]
    manifest.write_text(json.dumps(data))
    (tmp_path / "v2").mkdir()
    report = verify(text, executor=InProcessExecutor(), workdir=tmp_path / "v2")
    assert not report.ok
    line = next(d for d in report.differences if d.startswith("source dmro-v1/test:"))
    assert "other references than the set has now" in line
    assert "references version 2" in line and "recomputed in a test" in line
    assert any("gmean ratio" in d for d in report.differences)  # the ratios moved, and say so


ZERO_COST = {  # every cost is energy; everything offloaded costs 0 (the device's energy only)
    "format": "offbench-instance", "version": 1, "name": "zero", "weights": {"time": 0.0, "energy": 1.0},
    "edge": {"speed": 1e12, "energy_per_op": 0.0, "capacity": None},
    "cloud": {"speed": 1e13, "energy_per_op": 0.0, "capacity": None},
    "backhaul": {"rate": 1e8, "latency": 0.02, "energy_per_bit": 0.0},
    "devices": [{"speed": 1e10, "power_compute": 3.0, "power_tx": 0.0, "power_rx": 0.0,
                 "rate_up": 2e7, "rate_down": 5e7, "latency": 0.005}],
    "jobs": [{"device": 0, "ops": [2e8, 4e8, 1e8, 3e8], "bits": [1.2e6, 6e5, 2e5, 8e3, 1e3]},
             {"device": 0, "ops": [1e8, 5e8, 2e8], "bits": [1e6, 5e5, 2e5, 1e3]}]}


def test_a_reference_cost_of_0_scores_positive_costs_unsolved_end_to_end(tmp_path):
    """SPEC.md section 6 on a real run: milp's incumbents reach cost 0 from 0.54 (a trajectory
    point of ratio inf used to stop the run with a JSON traceback), all-device's 0.54 is not
    solved (it was counted solved, its entry n/a), and the SQL aggregation agrees."""
    (tmp_path / "zero.json").write_text(json.dumps(ZERO_COST))
    spec = parse_spec({"name": "zero", "time_limit": 5.0, "reference": {"mode": "auto"},
                       "sources": [{"kind": "files", "paths": [str(tmp_path / "zero.json")]}],
                       "solvers": ["all-device", "milp"]})
    path = tmp_path / "r.sqlite"
    run(spec, path, executor=InProcessExecutor())
    with Store.open_readonly(path) as s:
        rows = {r["solver_id"]: r for r in s.results()}
        t = build(s).tables[0]
    assert rows["milp-v1"]["ref_cost"] == 0.0 and rows["milp-v1"]["cost"] == 0.0
    tr = rows["milp-v1"]["info"]["trajectory"]
    assert tr["cost"][0] > 0 and tr["ratio"][0] is None and tr["ratio"][-1] == 1.0
    v = {e.solver_id: e.values for e in t.entries}
    assert v["milp-v1"]["ratio"] == 1.0 and v["milp-v1"]["solved"] == 1.0
    assert v["all-device-v1"]["solved"] == 0.0
    assert v["all-device-v1"]["ratio"] == math.inf and v["all-device-v1"]["median"] == math.inf
    assert [e.solver_id for e in t.entries] == ["milp-v1", "all-device-v1"]
    # the row-by-row rules (row export, paired comparisons) say the same as the aggregation
    from offbench.leaderboard.export import row_records

    with Store.open_readonly(path) as s:
        recs = {r["solver_id"]: r for r in row_records(s)}
    assert recs["all-device-v1"]["solved"] is False and recs["all-device-v1"]["fallback_ratio"] == math.inf
    assert recs["milp-v1"]["solved"] is True and recs["milp-v1"]["fallback_ratio"] == 1.0


def test_changed_parameters_pairs_each_set_with_its_own():
    """A solver the table holds with two parameter sets, both changed by a new parameter: each
    old set is named once, beside its own new set, not beside the other (four lines, two of them
    wrong, before)."""
    from offbench.leaderboard.verify import _changed_parameters

    table = [{"id": "d-v1", "param_hash": "a" * 64, "params": {"q": "cost"}},
             {"id": "d-v1", "param_hash": "b" * 64, "params": {"q": "learned"}},
             {"id": "e-v1", "param_hash": "e" * 64, "params": {"k": 1}}]
    rows = [{"solver_id": "d-v1", "param_hash": "c" * 64, "params": {"q": "cost", "adapt": True}},
            {"solver_id": "d-v1", "param_hash": "d" * 64, "params": {"q": "learned", "adapt": True}},
            {"solver_id": "e-v1", "param_hash": "e" * 64, "params": {"k": 1}}]
    got = [line for _, line in _changed_parameters(table, rows)]
    assert got == ["solver d-v1: its parameters changed since the table was made (hash "
                   "aaaaaaaaaaaa -> cccccccccccc): adapt = True (new)",
                   "solver d-v1: its parameters changed since the table was made (hash "
                   "bbbbbbbbbbbb -> dddddddddddd): adapt = True (new)"]
    # one set unchanged, one changed: the unchanged one is not offered as the changed one's pair
    rows2 = [rows[0], {"solver_id": "d-v1", "param_hash": "b" * 64, "params": {"q": "learned"}}]
    assert [line for _, line in _changed_parameters(table[:2], rows2)] == [
        "solver d-v1: its parameters changed since the table was made (hash aaaaaaaaaaaa -> "
        "cccccccccccc): adapt = True (new)"]
