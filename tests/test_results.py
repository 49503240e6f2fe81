"""What a run shows and gives: the progress bar (compile phase, ETA, counts) and the Python API
to results (``offbench.results``; the exports are tested in test_leaderboard.py, the types of
Parquet exports here)."""

from __future__ import annotations

import io
import math
from types import SimpleNamespace

from offbench import progress as progress_mod
from offbench.progress import Progress


def _plan(n_jobs=10):
    spec = SimpleNamespace(solvers=[SimpleNamespace(id="a-v1")], tracks=["static"])
    src = SimpleNamespace(instances=[0] * 4, name="s", kind="family", digest="x" * 64)
    return SimpleNamespace(jobs=[None] * n_jobs, sources=[src], spec=spec, skipped=[])


class _Job:
    kind = "solve"

    def label(self):
        return "a-v1 on s#0"


def test_header_counts_reference_jobs_and_the_bar_says_it_is_compiling(monkeypatch):
    err = io.StringIO()
    p = Progress("bar", err=err)
    p.plan(total=12, already=0, plan=_plan(10), executor="pool of 2", references=2)
    head = err.getvalue()
    assert "10 solve jobs" in head and "12 jobs to run, 2 of them reference jobs" in head
    assert "compiling" in p.bar_text() and "0/12" in p.bar_text()
    assert "ETA" not in p.bar_text()


def test_eta_comes_from_measured_job_times_not_the_compile_phase(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: clock[0])
    p = Progress("quiet", err=io.StringIO())
    p.plan(total=100, already=0, plan=_plan(100), executor="x", references=0)
    clock[0] = 30.0  # the first job finishes after a 30 s compile
    p.finished(_Job(), {"status": "optimal"})
    assert math.isinf(p.eta())  # nothing measured yet: no ETA rather than an absurd one
    for _ in range(9):  # then one job every 0.1 s
        clock[0] += 0.1
        p.finished(_Job(), {"status": "optimal"})
    assert p.eta() == __import__("pytest").approx(90 * 0.1)
    assert "ETA 0:09" in p.bar_text()


def test_validate_names_each_bad_file_and_goes_on(tmp_path, capsys):
    from offbench.cli import main

    assert main(["instances", "generate", "capacitated-v1:small", "--seed", "0", "--count", "2",
                 "--out", str(tmp_path)]) == 0
    (tmp_path / "bad.json").write_text('{"x": 1}')
    capsys.readouterr()
    files = sorted(str(p) for p in tmp_path.glob("*.json"))
    assert main(["validate", *files, str(tmp_path / "nope.json")]) == 2
    out, err = capsys.readouterr()
    assert out.count(": ok:") == 2  # the good files after the bad one were still checked
    assert "bad.json: x: unknown key" in err and "nope.json" in err
    assert "manifest.json: skipped: the manifest" in err
    assert err.strip().splitlines()[-1] == ("offbench: error: 2 of 5 files are not valid "
                                           "instances (each named above)")


def test_every_command_line_option_has_help():
    import argparse

    from offbench.cli import build_parser

    missing = []

    def walk(parser, path):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    walk(sp, path + [name])
            elif not a.help and not isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
                missing.append(f"{' '.join(path)} {a.option_strings or a.dest}")

    walk(build_parser(), ["offbench"])
    assert not missing, missing


def test_solver_output_goes_to_the_run_log_not_the_terminal(tmp_path, capfd):
    import os
    import subprocess
    import sys

    from offbench.progress import SolverLog

    log = SolverLog(tmp_path / "logs" / "run.log")
    with log:
        os.write(2, b"Running HiGHS (a native banner)\n")
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('from a worker\\n')"],
                       check=True)
        print("offbench's own message", file=sys.stderr)
    err = capfd.readouterr().err
    text = (tmp_path / "logs" / "run.log").read_text()
    assert log.written and "HiGHS" in text and "from a worker" in text
    assert "HiGHS" not in err and "from a worker" not in err and "offbench's own message" in err
    with SolverLog(tmp_path / "logs" / "quiet.log") as quiet:
        pass
    assert not quiet.written and not (tmp_path / "logs" / "quiet.log").exists()
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err  # fd 2 is restored


def test_parquet_exports_of_two_stores_read_as_one(tmp_path):
    """A store in which no job failed wrote its Parquet ``error`` column (all missing) as
    numbers (double), a store with failures as text: reading the two as one data set
    (``pyarrow.parquet.read_table(files)``, Dask) failed ("Failed to parse string: 'unsupported: ...' as a scalar of type double"). Text
    columns stay text, number columns numbers, whatever a store holds."""
    from types import SimpleNamespace

    import pyarrow.parquet as pq

    from offbench.leaderboard.export import ROW_EXPORT_COLUMNS, _write_records

    board = SimpleNamespace(provenance={})
    base = {c: None for c in ROW_EXPORT_COLUMNS} | {"seed": 0, "solved": True, "cost": 1.5}
    (tmp_path / "d").mkdir()
    _write_records(tmp_path / "d" / "a.parquet", [base], ROW_EXPORT_COLUMNS, board, "--rows")
    failed = base | {"error": "unsupported: too many layers", "bound": 1.0}
    _write_records(tmp_path / "d" / "b.parquet", [failed], ROW_EXPORT_COLUMNS, board, "--rows")
    files = [str(tmp_path / "d" / f"{n}.parquet") for n in "ab"]
    a, b = (pq.read_schema(f) for f in files)
    assert str(a.field("error").type) == "string" and str(a.field("bound").type) == "double"
    assert a == b
    both = pq.read_table(files).to_pandas()  # one data set (the sidecars lie beside them)
    assert len(both) == 2 and set(both.error.fillna("-")) == {"-", "unsupported: too many layers"}
