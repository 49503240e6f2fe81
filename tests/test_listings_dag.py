"""What the listings say about DAG jobs (version 2, SPEC.md section 7) and previews:
``offbench solvers`` (a DAG column; whole summaries), ``offbench instances list`` (chains or
DAGs and previews per family version, each version described by its own doc),
``offbench validate`` (a DAG file says so), and the README's own-family recipe and generator
list."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from offbench.cli import main
from offbench.dag import random_dag_instance
from offbench.families import PATH_ENV
from offbench.generators import random_instance
from offbench.instance import Instance

ROOT = Path(__file__).resolve().parents[1]


def _table(out: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header's column names and each row's cells (columns aligned under the header)."""
    lines = out.splitlines()
    head = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", head)]
    names = head.split()
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows[cells[0]] = cells
    return names, rows


# ------------------------------------------------------------------------------ offbench solvers
def test_solvers_table_says_which_solvers_take_dag_jobs(capsys):
    from offbench.discovery import discover

    assert main(["solvers"]) == 0
    names, rows = _table(capsys.readouterr().out)
    assert names[:4] == ["ID", "GUARANTEE", "DAG", "TRACKS"]
    col = names.index("DAG")
    assert rows["dp-v1"][col] == "no" and rows["mincut-v1"][col] == "yes"
    for e in discover([]).values():  # every row as its class declares it
        assert rows[e.id][col] == ("yes" if e.cls.handles_dag else "no"), e.id


PLUGIN = textwrap.dedent('''
    import numpy as np
    from offbench.solver import Proposal, Solver

    class Wordy(Solver):
        """A plug-in whose summary is one sentence wrapped over two lines of its docstring,
        ending here.

        More that is not the summary."""
        name = "wordy"
        version = 1
        guarantee = "heuristic"
        handles_dag = True

        def _solve(self, inst, ctx):
            return Proposal(np.zeros(inst.n_layers, dtype=np.int8), status="feasible")

    class Long(Solver):
        """First sentence of a long summary. ''' + "Then many words " * 20 + '''and the end.
        """
        name = "long"
        version = 1
        guarantee = "heuristic"

        def _solve(self, inst, ctx):
            return Proposal(np.zeros(inst.n_layers, dtype=np.int8), status="feasible")
''')


def test_solver_summaries_are_never_cut_mid_sentence(tmp_path, capsys):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "wordy.py").write_text(PLUGIN)
    assert main(["solvers", "--solvers-dir", str(d)]) == 0
    names, rows = _table(capsys.readouterr().out)
    col = names.index("SUMMARY")
    for sid, cells in rows.items():
        text = cells[col].split("  (")[0].split("  [")[0]  # parameters and notes follow
        assert text.endswith((".", ")", "...")), f"{sid}: {text!r}"
    assert rows["milp-v1"][col].startswith(
        "Exact MILP (HiGHS via highspy; HiGHS/SCIP/CBC/CP-SAT via OR-Tools) over Lagrangian-reduced "
        "path or transition formulations, with a certified bound.")
    assert rows["wordy-v1"][col] == ("A plug-in whose summary is one sentence wrapped over two "
                                     "lines of its docstring, ending here.")
    assert rows["long-v1"][col] == "First sentence of a long summary."
    assert rows["wordy-v1"][names.index("DAG")] == "yes" and rows["long-v1"][names.index("DAG")] == "no"
    assert main(["solvers", "--json", "--solvers-dir", str(d)]) == 0
    out = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert out["milp-v1"]["summary"].endswith("with a certified bound.")
    assert out["wordy-v1"]["handles_dag"] is True and out["long-v1"]["handles_dag"] is False
    from offbench.solver import SUMMARY_MAX

    assert all(len(r.get("summary", "")) <= SUMMARY_MAX + 4 for r in out.values())


# ------------------------------------------------------------------------------ instances list
def _version_1(text: str, name: str) -> str:
    """A built-in definition as a user family: renamed, version 1 only (no frozen sets, no
    later versions or their history), a doc of its own."""
    text = text.replace(text[:text.index("\n")], f'name = "{name}"', 1)
    text = text[:text.index("\n[v2]")] + "\n"                        # every table from [v2] on
    text = re.sub(r"\[\[v1\.sets\]\]\n(?:[^\[\n].*\n|\n)*", "", text)  # [[v1.sets]]
    text = re.sub(r"\[\[history\]\]\nversion = [23]\n(?:[^\[\n].*\n|\n)*", "", text)
    return re.sub(r'doc = """.*?"""', 'doc = """\nWhat it models\n  A campus cell.\n"""', text,
                  flags=re.S)


def test_instances_list_marks_dag_families_and_previews(tmp_path, capsys, monkeypatch):
    from offbench.families import get_family

    monkeypatch.setenv(PATH_ENV, "")
    d = tmp_path / "fams"                          # user families: no frozen sets, so drawn
    d.mkdir()
    for builtin, name in (("dmro", "campus"), ("workflow", "flows")):
        text = (ROOT / "instances" / f"{builtin}.toml").read_text(encoding="utf-8")
        (d / f"{name}.toml").write_text(_version_1(text, name), encoding="utf-8")
    assert main(["instances", "list", "--json", "--families-dir", str(d)]) == 0
    fams = {f["id"]: f for f in json.loads(capsys.readouterr().out)["families"]}
    assert fams["campus-v1"]["jobs"] == "chains" and fams["flows-v1:single"]["jobs"] == "dags"
    for fid, f in fams.items():                   # what each version's instances are
        assert f["jobs"] == ("dags" if get_family(fid).generate(0, 0).is_dag else "chains"), fid
    assert fams["dmro-v1"]["jobs"] == "chains" and fams["dmro-v1"]["preview"] is False
    assert fams["dmro-v2"]["jobs"] == "dags" and fams["dmro-v2"]["preview"] is True
    assert fams["dmro-v3"]["jobs"] == "dags" and fams["dmro-v3"]["preview"] is True
    assert fams["workflow-v1:single"]["jobs"] == "dags" and not fams["workflow-v1:single"]["preview"]
    assert fams["zoo-v1:fleet"]["jobs"] == "chains" and fams["zoo-v2:fleet"]["jobs"] == "dags"
    assert fams["capacitated-v1:small"]["jobs"] == "chains"
    lines = [fams[f"dmro-v{v}"]["version_description"] for v in (1, 2, 3)]
    assert len(set(lines)) == 3, lines
    assert lines[1].startswith("Version 2: workflow DAGs") and lines[2].startswith("Version 3:")
    assert lines[0] == fams["dmro-v1"]["description"]

    assert main(["instances", "list"]) == 0
    names, rows = _table(capsys.readouterr().out)
    assert names[:3] == ["ID", "JOBS", "PREVIEW"]
    j, p, d = names.index("JOBS"), names.index("PREVIEW"), names.index("DESCRIPTION")
    assert rows["dmro-v1"][j:p + 1] == ["chains", "no"]
    assert rows["dmro-v2"][j:p + 1] == ["DAGs", "yes"]
    assert rows["zoo-v2:fleet"][j:p + 1] == ["DAGs", "yes"]
    assert len({rows[f"dmro-v{v}"][d] for v in (1, 2, 3)}) == 3


# ------------------------------------------------------------------------------ validate
def test_validate_says_a_file_has_dag_jobs_and_leaves_chains_as_they_were(tmp_path, capsys):
    d = random_dag_instance(0, n_jobs=3, nodes=(3, 5)).to_dict()
    chain = random_instance(0, n_jobs=1, layers=(4, 4)).to_dict()["jobs"][0]
    d["jobs"][2] = {**chain, "device": 0}                 # a version-2 file may mix both forms
    dag_path = tmp_path / "dag.json"
    dag_path.write_text(json.dumps(d))
    dags = [j for j in d["jobs"] if "edges" in j]
    nodes, edges = sum(len(j["ops"]) for j in dags), sum(len(j["edges"]) for j in dags)
    assert len(dags) == 2 and edges > 0
    inst = Instance.from_json(dag_path.read_text())
    assert main(["validate", str(dag_path)]) == 0
    assert capsys.readouterr().out == (
        f"{dag_path}: ok: version 2, DAG jobs: 2 of 3 ({nodes} nodes, {edges} edges); "
        f"{inst.n_devices} devices, 3 jobs, {inst.n_layers} layers; digest {inst.digest}\n")

    c = random_instance(1, n_jobs=2, capacities=True)
    chain_path = tmp_path / "chain.json"
    chain_path.write_text(c.to_json())
    assert main(["validate", str(chain_path)]) == 0
    assert capsys.readouterr().out == (
        f"{chain_path}: ok: {c.n_devices} devices, {c.n_jobs} jobs, {c.n_layers} layers, "
        f"capacities; digest {c.digest}\n")


# ------------------------------------------------------------------------------ README
def _recipe(text: str, name: str) -> str:
    """instances/dmro.toml edited as the README's own-family recipe says."""
    return _version_1(text, name).replace("n_devices = 10", "n_devices = 3", 1)


def test_readme_own_family_recipe_and_generator_list(tmp_path, capsys, monkeypatch):
    from offbench.families.definition import _definitions, _generators, definitions_dir

    monkeypatch.setenv(PATH_ENV, "")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    para = readme[readme.index("**Your own families.**"):]
    para = para[:para.index("$OFFBENCH_INSTANCES_DIR")]
    assert "delete its `[[v1.sets]]` table, every table from `[v2]` on" in para
    listed = re.search(r"\(`offbench\.families\.dmro`([^)]*)\)", para)
    assert listed, para
    names = {"offbench.families.dmro"} | {"offbench.families" + m for m in
                                          re.findall(r"`(\.[a-z_]+)`", listed.group(1))}
    allowed, _ = _generators(_definitions(str(definitions_dir())))
    assert names == allowed

    d = tmp_path / "fams"
    d.mkdir()
    (d / "campus.toml").write_text(_recipe((ROOT / "instances" / "dmro.toml").read_text(
        encoding="utf-8"), "campus"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["instances", "generate", "campus", "--seed", "0", "--count", "2", "--out",
                 str(out), "--families-dir", str(d)]) == 0
    assert "wrote 2 instances of campus-v1" in capsys.readouterr().out
    assert main(["instances", "show", "campus", "--families-dir", str(d)]) == 0
    assert "Later versions" not in capsys.readouterr().out


def test_readme_default_run_names_the_solvers_it_runs():
    from offbench.discovery import discover
    from offbench.run.spec import load_spec_file

    spec = load_spec_file(ROOT / "offbench" / "data" / "default_run.toml")
    ids = {s["id"] if isinstance(s, dict) else s for s in spec["solvers"]}
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    para = readme[readme.index("`offbench run` runs the built-in benchmark"):]
    para = para[:para.index("Results go to")]
    assert "every built-in solver" not in para
    static = {e.cls.name for e in discover([]).values() if e.cls and list(e.cls.tracks) == ["static"]}
    assert ids < static
    for name in ids:
        assert re.search(rf"(?<![-\w]){re.escape(name)}(?![-\w])", para), name
    left_out = para[para.index(", not "):]
    for name in static - ids:                   # named as left out
        assert re.search(rf"(?<![-\w]){re.escape(name)}(?![-\w])", left_out), name


@pytest.mark.parametrize("option", [
    "--instance-seed", "--instances", "--track", "--quiet", "--jsonl", "--progress",
    "--no-leaderboard", "--verbose", "--dry-run", "--offbench-version", "--no-figures",
    "instances freeze", "--bits-per-element", "--from-torch", "--iterations", "--force"])
def test_readme_command_line_names_the_options(option):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("## The command line"):readme.index("## The Python API")]
    assert option in block
