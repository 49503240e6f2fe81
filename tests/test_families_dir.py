"""User instance families from a folder (``--families-dir``): TOML definitions in the format of
``instances/*.toml`` over the built-in generators, added to the built-in families; every
mistake refused with one message that names the file (and the line of a TOML error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offbench.cli import main
from offbench.families import PATH_ENV, FamilyError, add_families_dirs, get_family, list_families

BUILTIN = Path(__file__).resolve().parents[1] / "instances"


def _campus(name: str = "campus", generator: str = "offbench.families.dmro", extra: str = "") -> str:
    """A user family over the dmro generator: dmro-v1's parameters and stream, 4 devices x 4
    layers, its own environments."""
    text = (BUILTIN / "dmro.toml").read_text(encoding="utf-8")
    params = text[text.index("[v1.params]"):text.index("[v1.environments.")]
    params = params.replace("n_devices = 10", "n_devices = 4").replace("n_layers = 5", "n_layers = 4")
    return f'''name = "{name}"
generator = "{generator}"
description = "A campus cell: 4 devices, two training environments and a held-out one."
doc = "What it models: a test family."

[[history]]
version = 1
change = "First version."

[v1]
default_environment = "busy"

{params}
[v1.environments.busy]
split = "train"
params = {{ bandwidth_hz = 5.0e5 }}

[v1.environments.quiet]
split = "train"

[v1.environments.night]
split = "heldout"
params = {{ bandwidth_hz = 8.0e6 }}
{extra}'''


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A folder with one user family; the folders in force are restored after the test."""
    monkeypatch.setenv(PATH_ENV, "")
    d = tmp_path / "fams"
    d.mkdir()
    (d / "campus.toml").write_text(_campus(), encoding="utf-8")
    return d


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_a_user_family_is_listed_generated_and_streamed_beside_the_built_in_ones(user_dir, capsys):
    with pytest.raises(FamilyError, match="unknown family 'campus'"):
        get_family("campus")
    assert main(["instances", "list", "--json", "--families-dir", str(user_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    fams = {f["name"]: f for f in out["families"]}
    assert fams["campus"]["user"] is True and fams["dmro"]["user"] is False
    assert fams["campus"]["definition"] == str(user_dir / "campus.toml")
    assert {"dmro", "capacitated", "zoo"} <= set(fams)
    fam = get_family("campus")                   # in force for the rest of this process
    assert fam.id == "campus-v1" and "campus" in {f.name for f in list_families()}
    a = fam.instances(3, 2)
    assert a[0].n_jobs == 4 and [i.digest for i in a] == [i.digest for i in fam.instances(3, 2)]
    frames = list(fam.stream(0, 3, switch_at=2, switch_to="night"))
    assert len(frames) == 3 and frames[0].n_layers == 16
    assert main(["instances", "list", "--families-dir", str(user_dir)]) == 0
    assert f"[user family: {user_dir / 'campus.toml'}]" in capsys.readouterr().out


def test_offbench_run_uses_a_user_family(user_dir, tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "u"\nseeds = [0]\ntime_limit = 5.0\n[[sources]]\nkind = "family"\n'
                    'family = "campus"\ncount = 2\nseed = 0\n[[solvers]]\nid = "dp"\n'
                    '[[solvers]]\nid = "all-device"\n')
    store = tmp_path / "r.sqlite"
    argv = ["run", str(spec), "--store", str(store), "-j", "0", "--quiet", "--no-leaderboard"]
    err = _error(capsys, argv)                    # without the folder: the family is unknown
    assert "unknown family 'campus'" in err and "--families-dir" in err
    assert main([*argv, "--families-dir", str(user_dir)]) == 0
    from offbench.store import Store

    with Store.open_readonly(store) as s:
        rows = s.results()
    assert len(rows) == 4 and all(r["status"] in ("optimal", "feasible") for r in rows)


@pytest.mark.parametrize("case, message", [
    ("builtin", "{path}: the family name 'dmro' is built in ({builtin}); a user family needs a name of its own"),
    ("toml", "{path}: not valid TOML (Invalid value (at line 3, column 15))"),
    ("generator", "{path}: generator 'os' is neither a built-in generator (offbench.families.capacitated, "),
    ("sets", "{path}: [v1].sets: frozen sets are for built-in families only"),
    # these three were tracebacks (UnicodeDecodeError, RecursionError) or named no definition
    ("latin-1", "{path}: not UTF-8 text (byte 68: 0xe9); save it as UTF-8"),
    ("deep", "{path}: not valid TOML (arrays or tables nested too deeply)"),
    ("folder", "{path}: cannot be read (Is a directory)"),
])
def test_a_bad_user_definition_is_refused_with_its_file_named(tmp_path, monkeypatch, capsys, case, message):
    monkeypatch.setenv(PATH_ENV, "")
    d = tmp_path / case
    d.mkdir()
    name = "dmro" if case == "builtin" else "campus"
    text = _campus(name, generator="os" if case == "generator" else "offbench.families.dmro",
                   extra="[[v1.sets]]\nsplit = \"test\"\nseed = 0\ncount = 2\n" if case == "sets" else "")
    if case == "toml":
        text = text.replace('description = "A', 'description = = "A', 1)
    path = d / f"{name}.toml"
    if case == "folder":
        path.mkdir()
    else:
        path.write_bytes(text.replace("A campus", "\u00e9 campus").encode("latin-1") if case == "latin-1"
                         else ("x = " + "[" * 5000 + "]" * 5000).encode() if case == "deep"
                         else text.encode())
    err = _error(capsys, ["instances", "list", "--families-dir", str(d)])
    want = "offbench: error: family definition " + message.format(path=path, builtin=BUILTIN / "dmro.toml")
    assert err.startswith(want), err
    import os

    assert os.environ[PATH_ENV] == ""            # a refused folder is not left in force
    assert "campus" not in {f.name for f in list_families()}


def test_a_missing_folder_and_a_family_defined_twice_are_refused(user_dir, tmp_path, capsys):
    assert _error(capsys, ["instances", "show", "campus", "--families-dir", str(tmp_path / "nope")]) == \
        f"offbench: error: --families-dir {tmp_path / 'nope'}: no such folder\n"
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "campus.toml").write_text(_campus(), encoding="utf-8")
    with pytest.raises(FamilyError, match=f"{twin / 'campus.toml'}: the family 'campus' is also "
                                          f"defined in {user_dir / 'campus.toml'}"):
        add_families_dirs([user_dir, twin])


@pytest.mark.parametrize("old, new, table", [
    ("n_devices = 4", "n_devices = -1", "[v1.params]"),
    ("params = { bandwidth_hz = 8.0e6 }", "params = { bandwidth_hz = -3.0 }", "[v1.environments.night]"),
    ("[v1.environments.busy]", "[v1.presets.big]\nn_devices = 0\n\n[v1.environments.busy]",
     "[v1.presets.big]"),
])
def test_a_bad_value_in_a_definition_names_its_table_and_file(tmp_path, monkeypatch, capsys, old, new,
                                                              table):
    # "The 'bandwidth_hz' parameter of family campus must be a float in [1, inf). Got -3.0." said
    # neither which of the environments (or presets) nor which file gave it
    monkeypatch.setenv(PATH_ENV, "")
    (tmp_path / "campus.toml").write_text(_campus().replace(old, new, 1), encoding="utf-8")
    err = _error(capsys, ["instances", "list", "--families-dir", str(tmp_path)])
    assert f"parameter of family campus ({table} of {tmp_path / 'campus.toml'}) must be" in err, err
