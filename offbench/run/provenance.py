"""Provenance of a run: the offbench commit, the machine, the library versions.

The run loop records these with every run (the store's ``runs`` table); every leaderboard
repeats them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

#: The folders whose untracked files a run can load, so that they make a commit ``+dirty``: the
#: package, the built-in solvers (every ``solvers/*.py`` is discovered) and the family
#: definitions with their frozen sets (``offbench_instances``). Untracked files elsewhere (a
#: results store in the working folder, a table written with ``-o``, notes) are scratch.
LOADED_FOLDERS = ("offbench/", "solvers/", "instances/")

#: Tracked files that are a run's outputs, not its inputs, so that changing them leaves a commit
#: clean: the committed tables, figures, row exports and provenance sidecars under ``results/``
#: (regenerating several tables in one clean worktree, as results/README.md does, would
#: otherwise mark every table after the first ``+dirty``). Specs (``*.toml``) and scripts
#: (``*.py``) under ``results/`` still count.
OUTPUT_FOLDER = "results/"
OUTPUT_SUFFIXES = (".md", ".csv", ".json", ".tex", ".png", ".pdf", ".svg", ".html")

#: Fields before the path in ``git status --porcelain=v2`` entries, by entry type.
_PATH_FIELD = {"1 ": 8, "2 ": 9, "u ": 10}


def _is_output(path: str) -> bool:
    return path.startswith(OUTPUT_FOLDER) and path.endswith(OUTPUT_SUFFIXES)


def git_commit(root: str | os.PathLike | None = None) -> str | None:
    """The commit of the offbench source tree, or None outside a checkout (or without git).

    ``+dirty`` is appended when the tree differs from the commit in a way that can change what a
    run computes or records: any change to a tracked file anywhere in the repository (the code,
    ``instances/*.toml``, whose parameters make every digest, the frozen sets, ...), staged or
    not, but for the committed outputs under ``results/`` (:data:`OUTPUT_SUFFIXES`), and any
    untracked file under :data:`LOADED_FOLDERS` (a new ``solvers/*.py`` is run as a built-in
    solver). Files that ``.gitignore`` names never count. One ``git status`` call (its
    ``branch.oid`` header is the commit), which takes no lock on the index, so it runs beside
    other git commands.

    ``root``: the repository (default: the checkout this module is in).
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parent.parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain=v2", "-z", "--branch",
             "--untracked-files=normal"],
            capture_output=True, timeout=10, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if out.returncode != 0:
        return None
    commit, dirty = None, False
    fields = out.stdout.decode("utf-8", "surrogateescape").split("\0")
    skip = False
    for f in fields:
        if skip:  # the original path of a rename or copy ("2 ..." entries)
            skip = False
            continue
        if f.startswith("# branch.oid "):
            commit = f[len("# branch.oid "):].strip()
        elif f[:2] in _PATH_FIELD:  # a changed, renamed or unmerged tracked file
            skip = f.startswith("2 ")
            parts = f.split(" ", _PATH_FIELD[f[:2]])
            # (a rename is dirty wherever it goes: its other path is the next field)
            if skip or not (len(parts) > _PATH_FIELD[f[:2]] and _is_output(parts[-1])):
                dirty = True
        elif f.startswith("? ") and f[2:].startswith(LOADED_FOLDERS):
            dirty = True
    if not commit or commit == "(initial)":  # no commit yet
        return None
    return commit + ("+dirty" if dirty else "")


def machine_info() -> dict:
    """What the provenance says about the machine."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "cpu": cpu, "cpus": os.cpu_count(), "memory_bytes": mem,
            "python": platform.python_version()}


LIBRARIES = ("numpy", "numba", "scipy", "pandas", "ortools", "cvxpy", "highspy", "torch",
             "dask", "distributed", "matplotlib")


def library_versions() -> dict:
    """Installed versions of the libraries results depend on (None where absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
