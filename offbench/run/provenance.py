"""Provenance of a run: the offbench commit, the machine, the library versions.

The run loop records these with every run (the store's ``runs`` table); every leaderboard
repeats them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def git_commit() -> str | None:
    """The commit of the offbench source tree (``+dirty`` with uncommitted changes), or None."""
    root = Path(__file__).resolve().parent.parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no", "--", "offbench", "solvers"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


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
