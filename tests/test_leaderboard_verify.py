"""``offbench leaderboard verify`` fails a table with faked numbers: a second row for a solver, a
row that Markdown shows and a line-based reader skips, a tampered paired comparison, provenance
that the re-run contradicts (and a header or sidecar that contradicts the provenance line)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from offbench.cli import main
from offbench.leaderboard import LeaderboardError, build, read_table, render, verify
from offbench.leaderboard.compare import COMPARISON_HEADER, compare
from offbench.leaderboard.render import render_comparisons
from offbench.run import InProcessExecutor, parse_spec, run
from offbench.store import Store

FIXTURES = str(Path(__file__).parent / "fixtures_solvers")
SPEC = {
    "name": "lbv",
    "solvers_dirs": [FIXTURES],
    "time_limit": 5.0,
    "seeds": [0, 1],
    "reference": {"mode": "auto"},
    "sources": [{"kind": "random", "name": "tiny", "count": 4, "n_jobs": 2, "layers": [1, 3],
                 "capacities": True}],
    "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 6}},
                {"id": "fx-random-best", "params": {"samples": 2}, "seeds": [0]}],
}
A, B = "fx-random-best-v1[samples=6]", "fx-zero"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("lbv") / "r.sqlite"
    run(parse_spec(SPEC), path, executor=InProcessExecutor())
    return path


def _board(store):
    with Store.open_readonly(store) as s:
        board = build(s)
        comps = compare(board, A, B)
    return board, comps


def _table(store, fmt="md", *, comparison=False, edit=None):
    """The rendered table (with the paired comparison of A and B), its provenance edited by
    ``edit`` before rendering (header and provenance line then agree)."""
    board, comps = _board(store)
    if edit is not None:
        board.provenance = copy.deepcopy(board.provenance)
        edit(board.provenance)
    return render(board, fmt) + (render_comparisons(comps, fmt) if comparison else "")


def _verify(text, tmp_path, name, provenance=None):
    (tmp_path / name).mkdir()
    return verify(text, executor=InProcessExecutor(), solvers_dirs=[FIXTURES],
                  workdir=tmp_path / name, provenance=provenance)


def _row(text, label):
    return next(line for line in text.splitlines() if line.startswith(f"| {label} |"))


# ------------------------------------------------------------------------------ passes
def test_an_untouched_table_verifies_with_its_comparison_and_machine_notes(store, tmp_path):
    """Markdown and LaTeX with a paired comparison verify; another commit, machine, libraries
    and executor are said (notes), not failed."""

    def elsewhere(p):
        p["offbench_commits"] = ["0" * 40]
        p["machines"][0]["cpu"] = "Cray-1"
        p["libraries"][0]["numpy"] = "0.0.1"
        p["executors"] = ["pool of 64 worker processes"]

    md = _table(store, comparison=True, edit=elsewhere)
    report = _verify(md, tmp_path, "md")
    assert report.ok, report.differences
    assert report.comparisons == 1 and report.rows == 3
    notes = "\n".join(report.notes)
    for field in ("offbench_commits", "machines[0].cpu", "libraries[0].numpy", "executors"):
        assert field in notes, notes
    tex = _table(store, "latex", comparison=True)
    report = _verify(tex, tmp_path, "tex")
    assert report.ok and report.comparisons == 1, report.differences
    board, _ = _board(store)  # CSV: the provenance is the sidecar's
    report = _verify(render(board, "csv"), tmp_path, "csv", provenance=board.provenance)
    assert report.ok and report.rows == 3, report.differences


# ------------------------------------------------------------------------------ item 1
def test_a_second_row_for_a_solver_fails_naming_it(store, tmp_path):
    """An extra row for a solver that has one (fake numbers above the real row) was
    overwritten by the real one when read, and the table verified."""
    md = _table(store)
    real = _row(md, "fx-zero-v1")
    fake = re.sub(r"\| \d+\.\d{4} \|", "| 1.0001 |", real, count=1)
    assert fake != real
    report = _verify(md.replace(real, fake + "\n" + real), tmp_path, "md")
    assert not report.ok
    assert any("solver row 'fx-zero-v1' is given twice" in d for d in report.differences), \
        report.differences


def test_a_table_given_twice_fails(store):
    """A second copy of a table (other numbers, the same title) would overwrite the first."""
    from offbench.leaderboard.render import read_document
    from offbench.leaderboard.verify import _compare_tables

    md = _table(store)
    doubled = md + "\n" + md[md.index("## "):]
    claimed, fresh = read_document(doubled), read_document(md)
    assert len(claimed.tables) == 2
    assert any("the table is given twice" in d for d in _compare_tables(claimed, fresh, []))


def test_rows_in_another_order_and_edited_notes_fail(store):
    """The order of the rows (the ranking a reader sees) and the notes under a table (with
    their numbers) are the re-run's too; a missing UNREFEREED note is the executor's, said."""
    from offbench.leaderboard.render import read_document
    from offbench.leaderboard.verify import _compare_tables

    md = _table(store)
    fresh = read_document(md)
    assert _compare_tables(read_document(md), fresh, []) == []
    first, second = _row(md, "fx-zero-v1"), _row(md, A)
    swapped = md.replace(first, "\0").replace(second, first).replace("\0", second)
    diffs = _compare_tables(read_document(swapped), fresh, [])
    assert len(diffs) == 1 and "the rows are in another order" in diffs[0], diffs
    note = next(line for line in md.splitlines() if line.startswith("_UNREFEREED: "))
    edited = md.replace(note, re.sub(r"\d+", "1", note, count=1))
    diffs = _compare_tables(read_document(edited), fresh, [])
    assert len(diffs) == 2 and "the table's note 'UNREFEREED: 1 row" in diffs[0], diffs
    notes: list[str] = []
    assert _compare_tables(read_document(md.replace(note + "\n", "")), fresh, notes) == []
    assert notes and "UNREFEREED" in notes[0]


# ------------------------------------------------------------------------------ item 2
def _hide(md: str, how: str) -> str:
    last = md.split("\n\n## ")[1].split("\n\n")[1].splitlines()[-1]  # the first table's last row
    fake = "| magic-v1 |" + last.split("|", 2)[2]
    tail = last.split("|", 2)[2]
    if how == "indented row":
        return md.replace(last, last + "\n " + fake)
    if how == "row without pipes":
        return md.replace(last, last + "\nmagic-v1 |" + tail.rstrip("|"))
    if how == "indented table":
        section = md[md.index("## "):].split("\n\n")
        table = "\n".join("  " + line for line in section[1].replace(last, fake).splitlines())
        return md + "\n## extra\n\n" + table + "\n"
    if how == "quoted table":
        section = md[md.index("## "):].split("\n\n")
        table = "\n".join("> " + line for line in section[1].replace(last, fake).splitlines())
        return md + "\n" + table + "\n"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["indented row", "row without pipes", "indented table",
                                 "quoted table"])
def test_a_row_markdown_shows_is_read_or_refused(store, how):
    """Markdown (GFM tables) shows each of these fakes as a table row with the solver
    magic-v1; the reader that took only lines starting with '|' skipped it, and verify said
    OK. Now the table is refused, naming the line."""
    md = _table(store)
    faked = _hide(md, how)
    try:  # markdown-it-py, installed with rich, is the Markdown here: the fake is a row
        from markdown_it import MarkdownIt

        assert "<td>magic-v1</td>" in MarkdownIt("commonmark").enable("table").render(faked)
    except ImportError:
        pass
    with pytest.raises(LeaderboardError, match=r"^line \d+ ") as e:
        read_table(faked)
    n = int(str(e.value).split()[1])
    assert "magic-v1" in faked.splitlines()[n - 1] or how in ("indented table", "quoted table")


def test_every_row_markdown_shows_is_read(store):
    """On what offbench writes (tables, notes, a comparison), the rows read are the rows a
    Markdown renderer shows, cell for cell."""
    from offbench.leaderboard.render import read_document

    markdown_it = pytest.importorskip("markdown_it")
    md = _table(store, comparison=True)
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(md)
    shown, row = [], None
    for t in tokens:
        if t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append(t.content)
        elif t.type == "tr_close":
            shown.append(row)
            row = None
    doc = read_document(md)
    read = [r for _, h, rows in doc.tables for r in [h] + rows]
    read += [list(COMPARISON_HEADER)] + doc.comparisons
    assert sorted(map(tuple, shown)) == sorted(map(tuple, read))


def test_latex_and_csv_lines_that_hide_rows_are_refused(store):
    tex = _table(store, "latex")
    row = next(line for line in tex.splitlines() if line.startswith("fx-zero-v1 &"))
    for faked in (tex.replace(row, row[:-2] + "\\\\ magic-v1" + row[len("fx-zero-v1"):]),
                  tex.replace(row, row[:20] + "\n" + row[20:]),
                  tex.replace(row, row[:-2] + "% \\\\")):
        with pytest.raises(LeaderboardError, match=r"^line \d+ "):
            read_table(faked)
    board, _ = _board(store)
    csv = render(board, "csv")
    first = csv.splitlines()[1]
    # pandas.read_csv reads a '#' line as a row (no comment character by default): so does
    # verify (it was skipped), and a row of another table fails as one the re-run has not
    tables = read_table(csv.replace(first, first + "\n# " + first), board.provenance)[2]
    assert [t[0] for t in tables][-1] == "# tiny / static"
    with pytest.raises(LeaderboardError, match="line 3: a row of 2 cells"):
        read_table(csv.replace(first, first + "\n# a, b"), board.provenance)


# ------------------------------------------------------------------------------ item 3
def test_a_tampered_paired_comparison_fails(store, tmp_path):
    """The paired comparison (what to cite for 'A beats B') was dropped when read: a changed
    count and p-value verified."""
    md = _table(store, comparison=True)
    line = md.splitlines()[-1]
    cells = line.split("|")
    assert cells[2].strip() == A
    cells[5], cells[9] = " 99 ", " 0.0001 "
    report = _verify(md.replace(line, "|".join(cells)), tmp_path, "md")
    assert not report.ok
    text = "\n".join(report.differences)
    assert f"paired comparison {A} vs fx-zero-v1" in text
    assert "A better: table says '99'" in text and "Wilcoxon p: table says '0.0001'" in text


# ------------------------------------------------------------------------------ item 4
def test_provenance_that_the_re_run_contradicts_fails_naming_the_field(store, tmp_path):
    """Seeds, references, statistics, rows and solver parameters in the provenance (header
    and JSON agreeing) that the re-run does not give were not compared."""

    def forge(p):
        p["seeds"] = [7]
        p["references"] = {"milp": sum(p["references"].values())}
        p["statistics"]["confidence"] = 0.99
        p["statistics"]["bootstrap_seed"] = 5
        p["rows"] = 9999
        p["sources"][0]["size"] = 40
        p["offbench_commits"] = ["deadbeef" * 5]

    report = _verify(_table(store, edit=forge), tmp_path, "md")
    assert not report.ok
    text = "\n".join(report.differences)
    for field in ("provenance seeds: table says [7]", "provenance references: table says "
                  '{"milp":', "provenance statistics.confidence: table says 0.99, re-run gives "
                  "0.95", "provenance statistics.bootstrap_seed", "provenance rows: table says "
                  "9999", "provenance sources[tiny].size: table says 40"):
        assert field in text, text
    assert "offbench_commits" not in text and any("offbench_commits" in n for n in report.notes)


def test_a_header_or_sidecar_that_is_not_the_provenance_line_is_a_problem(store):
    from offbench.leaderboard.render import header_lines, read_document

    md = _table(store)
    prov = json.loads(md.split("offbench-provenance: ", 1)[1].split(" -->")[0])
    assert read_document(md, prov).problems == []
    seeds = "- " + next(line for line in header_lines(prov) if line.startswith("seeds:"))
    problems = read_document(md.replace(seeds, "- seeds: 7")).problems
    assert len(problems) == 1 and "the provenance header says 'seeds: 7'" in problems[0]
    other = copy.deepcopy(prov)
    other["statistics"]["confidence"] = 0.99
    problems = read_document(md, other).problems
    assert problems == ["the provenance sidecar disagrees with the table's provenance line: "
                        "statistics.confidence differ"]


@pytest.mark.parametrize("field,value,said", [
    ("selection.sources", [["tiny"]], "selection.sources is not a list of [name, digest] pairs"),
    ("selection.solvers", "fx-zero-v1", "selection.solvers is not a list of [solver ID"),
    ("selection.tracks", 5, "selection.tracks is not a list of track names"),
    ("sources", 5, "sources is not a list of objects with name and digest"),
    ("solvers", [1, 2], "solvers is not a list of objects with id and param_hash"),
])
def test_a_provenance_of_another_shape_is_refused_naming_the_field(store, tmp_path, field,
                                                                   value, said):
    """A hand-edited sidecar of a CSV table (which has no provenance line to check it against)
    whose selection or solvers were not of the form offbench writes ended verify in a
    traceback (ValueError, TypeError) after the re-run, naming no field."""
    board, _ = _board(store)
    prov = copy.deepcopy(board.provenance)
    *parents, last = field.split(".")
    d = prov
    for k in parents:
        d = d[k]
    d[last] = value
    with pytest.raises(LeaderboardError, match=re.escape(said)):
        _verify(render(board, "csv"), tmp_path, "csv", provenance=prov)


def test_a_field_the_provenance_lacks_is_named(store, tmp_path):
    """A provenance without a field (seeds dropped from a CSV table's sidecar) failed with one
    line comparing the whole provenance, 'provenance provenance: table says {"executors": ...',
    cut off before any difference; a field of the machine that an older table lacks made the
    whole provenance a failure, not a note."""
    from offbench.leaderboard.render import read_document

    board, _ = _board(store)
    prov = copy.deepcopy(board.provenance)
    del prov["seeds"]
    del prov["machines"][0]["cpu"]
    report = _verify(render(board, "csv"), tmp_path, "csv", provenance=prov)
    assert report.differences == ["provenance seeds: table says (no such field), re-run gives "
                                  f"{json.dumps(board.provenance['seeds'])}"]
    assert any(n.startswith("machines[0].cpu: the table's (no such field)") for n in report.notes)
    problems = read_document(render(board, "md"), prov).problems
    assert problems == ["the provenance sidecar disagrees with the table's provenance line: "
                        "machines[0].cpu, seeds differ"]


def test_a_long_provenance_field_is_shown_where_it_differs(store, tmp_path):
    """A long field that differs late (the last parameter hash of selection.solvers) was cut
    to its first 117 characters on both sides: 'table says [["fx-random-best-v1", "…"], …,
    re-run gives [["fx-random-best-v1", "…"], …', two identical texts."""
    board, _ = _board(store)
    prov = copy.deepcopy(board.provenance)
    prov["selection"]["solvers"][-1][1] = "f" * 64
    report = _verify(render(board, "csv"), tmp_path, "csv", provenance=prov)
    line = next(d for d in report.differences if d.startswith("provenance selection.solvers"))
    said, given = line.split(": table says ", 1)[1].split(", re-run gives ")
    assert said != given and "ffffffffffff" in said and "ffffffffffff" not in given, line


def test_digests_that_differ_in_their_tail_are_shown_apart(store, tmp_path):
    """An instance digest changed in its last character was reported as 'the table's
    instances have digest 38748eda8be6, the re-run's 38748eda8be6': both cut to 12 characters."""
    board, _ = _board(store)
    digest = board.provenance["sources"][0]["digest"]
    forged = digest[:-1] + ("0" if digest[-1] != "0" else "1")

    def edit(p):
        p["sources"][0]["digest"] = forged
        p["selection"]["sources"][0][1] = forged

    report = _verify(_table(store, edit=edit), tmp_path, "md")
    assert (f"source tiny: the table's instances have digest {forged}, the re-run's {digest} "
            "(the generator, the family or the instance files changed)") in report.differences


def test_changed_parameters_names_an_edited_hash():
    """A table whose parameter hash was edited (its values those of the re-run, which hash to
    the re-run's hash) was said to have parameters 'changed since the table was made ...: the
    same values, validated differently', blaming offbench; the same values with a hash of other
    values (8 vs 8.0) are still a change of validation."""
    from offbench.leaderboard.verify import _changed_parameters
    from offbench.run.spec import param_hash

    h = param_hash({"restarts": 8})
    table = [{"id": "ls-v1", "param_hash": "1" * 64, "params": {"restarts": 8}}]
    rows = [{"solver_id": "ls-v1", "param_hash": h, "params": {"restarts": 8}}]
    assert [line for _, line in _changed_parameters(table, rows)] == [
        "solver ls-v1: the table's parameter hash 111111111111 is not the hash of the parameters "
        f"it lists (restarts=8 hash to {h[:12]}, as in the re-run): the table's hash or "
        "parameters were edited"]
    h2 = param_hash({"restarts": 8.0})
    table = [{"id": "ls-v1", "param_hash": h, "params": {"restarts": 8}}]
    rows = [{"solver_id": "ls-v1", "param_hash": h2, "params": {"restarts": 8.0}}]
    assert [line for _, line in _changed_parameters(table, rows)] == [
        f"solver ls-v1: its parameters changed since the table was made (hash {h[:12]} -> "
        f"{h2[:12]}): the same values, validated differently"]


def test_verify_on_the_command_line_reads_the_sidecar_and_names_lines(store, tmp_path, capsys):
    out = tmp_path / "t.md"
    assert main(["leaderboard", "--store", str(store), "-o", str(out)]) == 0
    side = Path(str(out) + ".provenance.json")
    d = json.loads(side.read_text())
    d["offbench-provenance"]["seeds"] = [0, 1, 2]
    side.write_text(json.dumps(d))
    args = ["leaderboard", "verify", str(out), "-j", "0", "--quiet", "--solvers-dir", FIXTURES]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "sidecar disagrees" in err and "seeds differ" in err
    side.unlink()
    text = out.read_text()
    out.write_text(text.replace(_row(text, "fx-zero-v1"), " " + _row(text, "fx-zero-v1")))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.search(r"line \d+ ' \| fx-zero-v1", err), err



@pytest.mark.parametrize("fmt", ["md", "csv"])
def test_a_table_saved_with_a_byte_order_mark_and_crlf_verifies(store, tmp_path, capsys, fmt):
    """A table and sidecar saved by a Windows editor (a UTF-8 byte order mark, CRLF line ends)
    were refused: "line 1 '\\ufeff# offbench leaderboard': an offbench Markdown table starts
    with '# offbench leaderboard'", "line 1: the CSV header is not that of an offbench
    leaderboard", and for the sidecar "Unexpected UTF-8 BOM"; pandas reads such a CSV as it is."""
    out = tmp_path / f"t.{fmt}"
    assert main(["leaderboard", "--store", str(store), "--format", fmt, "-o", str(out)]) == 0
    for f in (out, Path(str(out) + ".provenance.json")):
        f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b"\r\n"))
    args = ["leaderboard", "verify", str(out), "-j", "0", "--quiet", "--solvers-dir", FIXTURES]
    assert main(args) == 0, capsys.readouterr().err
    assert "OK" in capsys.readouterr().out


def test_a_csv_header_of_another_form_is_refused_saying_how(store):
    """A CSV table whose columns were reordered (pandas, a spreadsheet) or whose last header cell
    gained a blank was refused with 'the CSV header is not that of an offbench leaderboard' and
    nothing on what differs."""
    import csv
    import io

    from offbench.leaderboard.render import read_document

    board, _ = _board(store)
    prov, rows = board.provenance, list(csv.reader(io.StringIO(render(board, "csv"))))
    swapped = [r[:6] + [r[9], r[7], r[8], r[6]] + r[10:] for r in rows]
    for table, said in (
            (swapped, "the same columns in another order"),
            ([rows[0][:-1] + ["wins "]] + rows[1:], "column 21 is 'wins ', where offbench "
             "leaderboard writes 'wins'"),
            ([rows[0][:-1]] + [r[:-1] for r in rows[1:]], "20 columns where offbench "
             "leaderboard writes 21")):
        text = "".join(",".join(r) + "\n" for r in table)
        with pytest.raises(LeaderboardError, match=re.escape(f"line 1: the CSV header is not that "
                                                             f"of an offbench leaderboard: {said}")):
            read_document(text, prov)


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_verify_of_a_rows_export_says_it_is_not_a_table(store, tmp_path, capsys, suffix):
    """rows.csv has the tables' provenance in its sidecar, and verify of it said "the CSV header
    is not that of an offbench leaderboard"; of rows.jsonl the same about a column '{"source":
    ...'; of rows.parquet "not a text file"."""
    out = tmp_path / f"rows.{suffix}"
    assert main(["leaderboard", "--store", str(store), "--rows", str(out)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "verify", str(out), "-j", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "a per-job export (--rows or --frames), not a leaderboard table" in err, err

# ------------------------------------------------------------------------------ plots
def test_plots_announce_only_what_was_written(store, tmp_path, capsys):
    """No solver here records trajectories: no anytime figure is drawn, and none is said."""
    d = tmp_path / "plots"
    assert main(["leaderboard", "--store", str(store), "--plots", str(d)]) == 0
    err = capsys.readouterr().err
    files = sorted(p.name for p in d.iterdir())
    assert not any("anytime" in f for f in files) and "anytime" not in err, err
    said = re.search(r"offbench leaderboard: (.*) written to .* \((\d+) files\)", err)
    assert said and int(said.group(2)) == len(files), err
    assert said.group(1) == ("1 profile figure, 1 ecdf figure, the aggregate performance "
                             "profile"), err
