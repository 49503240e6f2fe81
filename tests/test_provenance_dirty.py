"""``offbench.run.provenance.git_commit``: when a run's recorded commit says ``+dirty``.

Every change to a tracked file counts (``instances/*.toml`` makes every digest), and so does an
untracked file the runner can load (``solvers/*.py`` is discovered, ``offbench/``,
``instances/``); untracked scratch elsewhere and ignored files do not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from offbench.run.provenance import git_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

_GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false",
        "-c", "init.defaultBranch=main"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(_GIT + ["-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path) -> Path:
    r = tmp_path / "checkout"
    for rel, text in {"offbench/__init__.py": "", "offbench/run/loop.py": "x = 1\n",
                      "results/dag/zoo-v2.toml": "seeds = [0]\n",
                      "results/dag/zoo-v2/leaderboard.md": "| a |\n",
                      "results/dag/zoo-v2/rows.csv": "a\n",
                      "results/default/figures/x-anytime.png": "png\n",
                      "solvers/greedy.py": "y = 2\n", "instances/capacitated.toml": "a = [0.1, 0.3]\n",
                      "README.md": "readme\n", "tests/test_x.py": "\n",
                      ".gitignore": "/offbench-results/\n*.sqlite\n__pycache__/\n"}.items():
        p = r / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    subprocess.run(_GIT + ["init", "-q", str(r)], check=True)
    _git(r, "add", "-A")
    _git(r, "commit", "-q", "-m", "first")
    return r


def test_a_clean_checkout_gives_the_head_commit(repo):
    assert git_commit(repo) == _git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("change", [
    "edit instances/capacitated.toml",   # the family parameters: every digest changes
    "untracked solvers/remote_first.py",  # discovered and run as a built-in solver
    "untracked offbench/extra/mod.py",   # a new folder of the package (listed as one entry)
    "untracked instances/sets/x.json",
    "edit README.md",                     # a tracked file outside the code counts too
    "staged offbench/run/loop.py",
    "delete solvers/greedy.py",
    "rename solvers/greedy.py",
    "edit results/dag/zoo-v2.toml",       # a run spec under results/ is an input
])
def test_every_change_that_a_run_can_see_makes_it_dirty(repo, change):
    kind, rel = change.split(" ", 1)
    p = repo / rel
    if kind == "edit":
        p.write_text(p.read_text().replace("0.1", "0.5") + "changed\n")
    elif kind == "untracked":
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("from offbench.solver import Solver\n")
    elif kind == "staged":
        p.write_text("x = 3\n")
        _git(repo, "add", rel)
    elif kind == "delete":
        p.unlink()
    else:
        _git(repo, "mv", rel, "solvers/greedy two.py")
    assert git_commit(repo) == _git(repo, "rev-parse", "HEAD") + "+dirty", change


def test_untracked_scratch_and_ignored_files_leave_it_clean(repo):
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "offbench-results").mkdir()
    (repo / "offbench-results" / "store.sqlite").write_text("x")   # ignored, the default store
    (repo / "results.sqlite").write_text("x")                      # ignored by pattern
    (repo / "table.md").write_text("| a |\n")                      # untracked, outside the code
    (repo / "scratch").mkdir()
    (repo / "scratch" / "notes.py").write_text("\n")
    (repo / "tests" / "test_new.py").write_text("\n")              # tests are not loaded by a run
    (repo / "solvers" / "__pycache__").mkdir()
    (repo / "solvers" / "__pycache__" / "greedy.pyc").write_text("x")  # ignored inside solvers/
    assert git_commit(repo) == head


def test_regenerated_tables_and_figures_under_results_leave_it_clean(repo):
    """A run's committed outputs are not its inputs: results/README.md regenerates several
    tables in one clean worktree, and every table after the first said ``+dirty``."""
    head = _git(repo, "rev-parse", "HEAD")
    for rel in ("results/dag/zoo-v2/leaderboard.md", "results/dag/zoo-v2/rows.csv",
                "results/default/figures/x-anytime.png"):
        (repo / rel).write_text("regenerated\n")
    (repo / "results" / "dag" / "zoo-v2" / "leaderboard.md.provenance.json").write_text("{}\n")
    assert git_commit(repo) == head
    _git(repo, "add", "results")
    assert git_commit(repo) == head  # (staged too)


def test_outside_a_checkout_or_without_git_there_is_no_commit(repo, tmp_path, monkeypatch):
    bare = tmp_path / "not-a-checkout"
    bare.mkdir()
    assert git_commit(bare) is None
    fresh = tmp_path / "no-commit-yet"
    subprocess.run(_GIT + ["init", "-q", str(fresh)], check=True)
    assert git_commit(fresh) is None
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))
    assert git_commit(repo) is None


def test_the_default_is_offbench_own_checkout():
    got = git_commit()
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        assert got is None
    else:
        assert got is not None and re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", got)
