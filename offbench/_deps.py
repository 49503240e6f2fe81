"""What to install for a missing module: the install hint every "needs X" message gives.

The hint is read from offbench's own package metadata (``pyproject.toml`` as installed), so it
names the right extra for each module: ``torch`` is the ``offbench[torch]`` extra, OR-Tools and
cvxpy are dependencies of offbench itself (a broken install: reinstall them), and a module
offbench does not list is installed by its own name.
"""

from __future__ import annotations

import re
from typing import Iterable

#: Import names whose distribution (pip) name differs.
_DISTRIBUTION = {"yaml": "pyyaml", "sklearn": "scikit-learn", "distributed": "dask",
                 "PIL": "pillow"}


def _requirements() -> list[str]:
    from importlib import metadata

    try:
        return list(metadata.requires("offbench") or [])
    except metadata.PackageNotFoundError:
        return []


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def install_hint(modules: Iterable[str]) -> str:
    """A pip command that installs the given importable modules, e.g.
    ``pip install 'offbench[torch]'`` or ``pip install 'ortools>=9.10'``."""
    reqs = _requirements()
    extras: list[str] = []
    plain: list[str] = []
    for mod in modules:
        dist = _norm(_DISTRIBUTION.get(mod, mod))
        found = None
        for r in reqs:
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?([^;]*)(;.*)?$", r)
            if m and _norm(m.group(1)) == dist:
                found = m
                break
        if found is None:
            plain.append(dist)
            continue
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", found.group(4) or "")
        if extra:
            if extra.group(1) not in extras:
                extras.append(extra.group(1))
        else:
            plain.append(found.group(1) + (found.group(2) or "") + found.group(3).strip())
    parts = []
    if extras:
        parts.append(f"'offbench[{','.join(extras)}]'")
    parts += [f"'{p}'" if any(c in p for c in "<>=[") else p for p in plain]
    return "pip install " + " ".join(parts) if parts else "pip install offbench"
