"""Every user mistake is one line and status 2 (issue 10 items 6, 8, 9), and a solver's own
failures are its error row in ``offbench solve``."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offbench.cli import main

from ._helpers import HOSTILE, SPEC_EXAMPLE, refused, write_json


@pytest.fixture
def inst_path(tmp_path):
    return write_json(tmp_path / "x.json", SPEC_EXAMPLE)


def test_unreadable_paths_are_one_line(tmp_path, capsys, inst_path):
    loop = tmp_path / "loop1"
    os.symlink(tmp_path / "loop2", loop)
    os.symlink(loop, tmp_path / "loop2")
    long_name = tmp_path / ("x" * 5000 + ".json")
    for path, words in ((loop, "symbolic links"), (inst_path / "y.json", "is a file, not a folder"),
                        (long_name, "name too long")):
        for argv in (["validate", path], ["evaluate", path, "--decision", "0"],
                     ["solve", path, "--solver", "greedy"]):
            line = refused(capsys, argv)
            assert words.lower() in line.lower(), line
            assert len(line) < 600


def test_validate_names_the_bad_file_among_several(tmp_path, capsys, inst_path):
    bad = dict(SPEC_EXAMPLE, version=3)
    bad_path = write_json(tmp_path / "bad.json", bad)
    rc = main(["validate", str(inst_path), str(bad_path)])
    out, err = capsys.readouterr()
    assert rc == 2 and "x.json: ok" in out
    # each bad file is named on its own line, then one error line with the count (status 2)
    first, last = err.strip().splitlines()
    assert first.startswith(f"offbench validate: {bad_path}: version:"), err
    assert last == "offbench: error: 1 of 2 files are not valid instances (each named above)"


def test_a_5000_digit_integer_on_the_command_line(tmp_path, capsys, inst_path):
    big = "9" * 5000
    refused(capsys, ["solve", inst_path, "--solver", "greedy", "--seed", big])
    refused(capsys, ["instances", "generate", "dmro", "--seed", "0", "--count", big,
                     "--out", tmp_path / "o"])
    refused(capsys, ["instances", "generate", "dmro", "--param", f"n_devices={big}", "--seed", "0",
                     "--count", "1", "--out", tmp_path / "o"])
    assert not (tmp_path / "o").exists()


def test_a_parameter_given_twice_is_refused(tmp_path, capsys, inst_path):
    refused(capsys, ["solve", inst_path, "--solver", "local-search", "--param", "restarts=2",
                     "--param", "restarts=3"], "twice")
    refused(capsys, ["instances", "generate", "dmro", "--param", "n_devices=2", "--param",
                     "n_devices=3", "--seed", "0", "--count", "1", "--out", tmp_path / "o"], "twice")


def test_force_removes_only_what_offbench_wrote(tmp_path, capsys):
    out = tmp_path / "set"
    gen = ["instances", "generate", "capacitated-v1:small", "--seed", "0", "--count", "2", "--out", out]
    assert main([str(a) for a in gen]) == 0
    capsys.readouterr()
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    line = refused(capsys, gen + ["--force"], "notes.txt", "sub", "did not write")
    assert (out / "notes.txt").read_text() == "mine" and (out / "sub").is_dir()
    assert "--force removes only" in line
    (out / "notes.txt").unlink()
    (out / "sub").rmdir()
    assert main([str(a) for a in gen + ["--count", "3", "--force"]]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000.json", "001.json", "002.json", "manifest.json"]
    capsys.readouterr()
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("x")
    refused(capsys, ["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", plain,
                     "--force"], "not an instance set written by offbench")
    assert (plain / "a.txt").read_text() == "x"


def test_a_full_disk_is_one_line_and_leaves_the_set_intact(tmp_path, capsys, monkeypatch):
    out = tmp_path / "set"
    gen = ["instances", "generate", "capacitated-v1:small", "--seed", "0", "--count", "2", "--out", out]
    assert main([str(a) for a in gen]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import offbench.instance_sets as sets

    calls = []

    def full(inst, path):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return sets.__dict__["_real_save"](inst, path)

    monkeypatch.setitem(sets.__dict__, "_real_save", sets.save_instance)
    monkeypatch.setattr(sets, "save_instance", full)
    refused(capsys, gen + ["--seed", "1", "--force"], "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no temporary folder left


def test_an_oserror_anywhere_is_one_line(capsys, monkeypatch, inst_path):
    import offbench.commands.validate as v

    def boom(args):
        raise OSError(errno.EROFS, "Read-only file system", "/somewhere/results.sqlite")

    monkeypatch.setattr(v, "run", boom)
    parser_args = ["validate", str(inst_path)]
    import offbench.cli as cli

    real = cli.build_parser

    def build():
        p = real()
        p._subparsers._group_actions[0].choices["validate"].set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli, "build_parser", build)
    refused(capsys, parser_args, "Read-only file system", "/somewhere/results.sqlite")


@pytest.mark.parametrize("name, words", [
    ("hx-bare-array", "not a Proposal"),
    ("hx-none", "returned None"),
    ("hx-string-objective", "objective is a str"),
    ("hx-string-bound", "bound is a str"),
    ("hx-nan-objective", "not a finite number"),
    ("hx-list-info", "info is a list"),
    ("hx-exit", "called sys.exit"),
    ("hx-interrupt", "raised KeyboardInterrupt"),
])
def test_a_hostile_solver_gets_its_error_row(capsys, inst_path, name, words):
    rc = main(["solve", str(inst_path), "--solver", name, "--solvers-dir", HOSTILE])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Traceback" not in err
    row = json.loads(out)
    assert row["status"] == "error" and words in row["error"], row
    assert row["solver"] == f"{name}-v1"


def test_solve_keeps_stdout_to_its_json(tmp_path, inst_path):
    p = subprocess.run([sys.executable, "-m", "offbench", "solve", str(inst_path), "--solver",
                        "hx-prints", "--solvers-dir", HOSTILE], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "feasible"
    assert "python-level chatter" in p.stderr and "c-level chatter" in p.stderr


def test_an_unwritable_numba_cache_falls_back_with_a_warning(tmp_path, inst_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(inst_path / "cache"))  # a folder under a file
    p = subprocess.run([sys.executable, "-m", "offbench", "solve", str(inst_path), "--solver",
                        "greedy"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] in ("feasible", "optimal")
    warning = [line for line in p.stderr.splitlines() if "Numba cache" in line]
    assert len(warning) == 1 and warning[0].startswith("offbench: warning: cannot write"), p.stderr


def test_an_unloadable_solver_file_is_named_with_its_error(tmp_path, capsys, inst_path):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "broken.py").write_text("import sys\nsys.exit(3)\n")
    (d / "typo.py").write_text("raise RuntimeError('cannot cache function: no locator')\n")
    line = refused(capsys, ["solve", inst_path, "--solver", "nonesuch", "--solvers-dir", d],
                   "broken.py", "SystemExit", "typo.py", "no locator")
    assert "unknown solver 'nonesuch'" in line


@pytest.mark.parametrize("jobs", ["0", "1"])
def test_run_jsonl_keeps_stdout_to_json_and_records_hostile_solvers(tmp_path, jobs):
    spec = tmp_path / "hx.toml"
    spec.write_text(f'name = "hx"\nsolvers = ["hx-prints", "hx-exit", "hx-interrupt", "greedy"]\n'
                    f'solvers_dirs = [{json.dumps(HOSTILE)}]\n[reference]\nmode = "none"\n'
                    '[[sources]]\nkind = "random"\nname = "r"\ncount = 1\n')
    p = subprocess.run([sys.executable, "-m", "offbench", "run", str(spec), "-j", jobs, "--jsonl",
                        "--store", str(tmp_path / "store")], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]  # every line is JSON
    rows = {e["solver"]: e for e in events if e.get("event") == "job"}
    assert rows["hx-exit-v1"]["status"] == "error" and "sys.exit" in rows["hx-exit-v1"]["error"]
    assert rows["hx-interrupt-v1"]["status"] == "error"
    assert rows["hx-prints-v1"]["status"] == "feasible" and rows["greedy-v1"]["status"] != "error"
    # a solver's native output goes to the run's log file beside the store, not the terminal
    log = "".join(f.read_text() for f in (tmp_path / "logs").glob("run-*.log"))
    assert "c-level chatter" in log and "c-level chatter" not in p.stderr + p.stdout


@pytest.mark.parametrize("seed, words", [("1.0e+23", "seeds"), ("1e23", "seeds"),
                                         ("9" * 5000, "not valid YAML")])
def test_a_yaml_seed_that_is_no_64_bit_integer(tmp_path, capsys, seed, words):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: y\nseeds: [{seed}]\nsolvers: [greedy]\n"
                    "sources:\n - {kind: random, name: r, count: 1}\n")
    refused(capsys, ["run", spec, "--dry-run", "--store", tmp_path / "store"], words)
    assert not (tmp_path / "store").exists()


def test_a_real_ctrl_c_during_a_solve_still_stops(tmp_path, inst_path):
    """A KeyboardInterrupt that a solver raises is its error row; the user's Ctrl-C is not."""
    import signal

    # As in a terminal: SIGINT not ignored. (A shell that starts pytest in the background
    # without job control ignores SIGINT in it, and an ignored signal stays ignored across exec.)
    p = subprocess.Popen([sys.executable, "-m", "offbench", "solve", str(inst_path), "--solver",
                          "hx-sleeps", "--solvers-dir", HOSTILE],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in p.stderr:  # wait until the solver is running
            if "hx-sleeps: started" in line:
                break
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, (out, err)
    assert out == "" and "interrupted" in err


BAD_DECLARATIONS = '''
import numpy as np
from offbench.solver import Proposal, Solver

class NoneParams(Solver):
    name = "bad-params"
    params = None

class BadTracks(Solver):
    name = "bad-tracks"
    tracks = ("nope",)

class BadVersion(Solver):
    name = "bad-version"
    version = "x"

class BadName(Solver):
    name = "Bad Name!"
'''


def test_careless_solver_declarations_are_listed_not_crashed(tmp_path, capsys, inst_path):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "careless.py").write_text(BAD_DECLARATIONS)
    for argv in (["solvers", "--solvers-dir", d], ["solvers", "--json", "--solvers-dir", d]):
        assert main([str(a) for a in argv]) == 0
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        for words in ("params must be a tuple", "tracks must be", "version 'x'", "'Bad Name!'"):
            assert words in out, (words, out)
    refused(capsys, ["solve", inst_path, "--solver", "bad-params", "--solvers-dir", d],
            "solver 'bad-params' cannot be loaded: params must be a tuple")


@pytest.mark.parametrize("escaped", ["\\uD800\\uDC00", "\\uDFFF", "\\U00010000"])
def test_a_lone_surrogate_in_a_yaml_spec_is_one_line(tmp_path, capsys, escaped):
    """PyYAML reads "\\uD800\\uDC00" (a character beyond U+FFFF written as an escaped surrogate
    pair) as two lone surrogates, which cannot be printed: --dry-run ended in a
    UnicodeEncodeError traceback (found by the slow run-spec fuzz test). Refused, naming the key;
    the character itself ("\\U00010000") is fine."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: fuzz\nsolvers: [greedy]\nseeds: [0]\nsources:\n  - kind: random\n"
                    f'    name: "{escaped}"\n    count: 1\n    n_jobs: 2\n    layers: [1, 3]\n')
    argv = ["run", spec, "--dry-run", "--store", tmp_path / "store"]
    if escaped == "\\U00010000":
        assert main([str(a) for a in argv]) == 0
        assert "\U00010000" in capsys.readouterr().out
    else:
        refused(capsys, argv, "sources[0].name", "lone surrogate")
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("key, shown", [("on", "True"), ("1", "1"), ("~", "None")])
def test_a_yaml_key_that_is_not_a_string_is_one_line(tmp_path, capsys, key, shown):
    """YAML reads an unquoted on, yes, 1 or ~ as a bool, an int or None: such a key, unknown,
    ended in a TypeError traceback from difflib (its "did you mean" takes strings only)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"solvers: [greedy]\nsources:\n  - kind: random\n    {key}: 3\n")
    refused(capsys, ["run", spec, "--dry-run"], f"sources[0]: unknown key {shown}. Allowed: kind")


def test_a_yaml_spec_of_nested_aliases_is_refused_at_once(tmp_path, capsys):
    """Nine lists of nine aliases of the list below (a few hundred bytes; 9**9 strings as
    Python objects) as a spec's name: the check for lone surrogates walked every one, and the
    message would have written them all; neither ended (timeout after 120 s)."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    spec = tmp_path / "spec.yaml"
    spec.write_text("name:\n" + "".join(f"  {line}\n" for line in lines)
                    + "solvers: [greedy]\nsources:\n  - kind: random\n")
    line = refused(capsys, ["run", spec, "--dry-run"], "The 'name' key of", "must be a non-empty str")
    assert len(line) < 2000
