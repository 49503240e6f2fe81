"""Family definitions: the TOML files of the ``instances`` folder, read and checked.

Every ``*.toml`` of the folder (the package ``offbench_instances``, or ``$OFFBENCH_INSTANCES_DIR``)
is a family: a one-line description, a longer ``doc``, the generator module, a version history,
and per version (``[v1]``...) the generator parameters, size presets, named environments, stream
settings and frozen sets. Reading a definition never runs code; the generator module is imported
only when the family is used (:class:`offbench.families.Family`).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .param import FamilyError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DIR_ENV", "Environment", "SetSpec", "definitions_dir", "family_names"]

#: Environment variable that points to another folder of family definitions.
DIR_ENV = "OFFBENCH_INSTANCES_DIR"


@dataclass(frozen=True)
class Environment:
    """A named setting of a family that a stream can run in (and switch to).

    Attributes
    ----------
    name : str
    split : {"train", "heldout", "any"}
        Meta-training environments, held-out ones for adaptation tests, or neither.
    description : str
    params : dict
        Parameters that differ from the family's (never structural ones: devices, jobs, layers).
    stream : dict
        Stream settings that differ from the family's (:class:`offbench.streams.Variation`).
    """

    name: str
    split: str = "any"
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    stream: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetSpec:
    """A frozen set declared by a family: ``instances/sets/<family ID>/<split>/``."""

    split: str
    seed: int
    count: int
    preset: str | None = None
    time_limit: float = 60.0
    format: str = "json"
    doc: str = ""


@dataclass(frozen=True)
class _Definition:
    name: str
    path: Path
    description: str
    doc: str
    generator: str
    history: tuple[tuple[int, str, str], ...]
    versions: Mapping[int, Mapping[str, Any]]
    sources: tuple[str, ...]

    @property
    def latest(self) -> int:
        return max(self.versions)


def definitions_dir() -> Path:
    """The folder of family definitions (``offbench_instances``, or ``$OFFBENCH_INSTANCES_DIR``)."""
    env = os.environ.get(DIR_ENV)
    if env:
        return Path(env)
    try:
        import importlib.resources as res

        p = Path(str(res.files("offbench_instances")))
        if p.is_dir():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "instances"


_KNOWN_TOP = {"name", "description", "doc", "generator", "history", "sources"}
_KNOWN_VERSION = {"params", "presets", "default_preset", "environments", "default_environment",
                  "static_environments", "stream", "sets"}


def _load_definition(path: Path) -> _Definition:
    where = f"family definition {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise FamilyError(f"{where}: not valid TOML ({e})") from None
    versions = {}
    for key, value in data.items():
        m = re.fullmatch(r"v([1-9][0-9]*)", key)
        if m:
            if not isinstance(value, dict):
                raise FamilyError(f"{where}: [{key}] must be a table")
            unknown = set(value) - _KNOWN_VERSION
            if unknown:
                raise FamilyError(f"{where}: unknown keys in [{key}]: {', '.join(sorted(unknown))}")
            versions[int(m.group(1))] = value
        elif key not in _KNOWN_TOP:
            raise FamilyError(f"{where}: unknown key {key!r}")
    for k in ("name", "description", "doc", "generator"):
        if not isinstance(data.get(k), str) or not data[k].strip():
            raise FamilyError(f"{where}: {k!r} must be a non-empty string")
    if data["name"] != path.stem:
        raise FamilyError(f"{where}: name {data['name']!r} must equal the file name {path.stem!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", data["name"]):
        raise FamilyError(f"{where}: name {data['name']!r} must be lowercase letters, digits, _")
    if not versions:
        raise FamilyError(f"{where}: no version table ([v1])")
    history = []
    for h in data.get("history", []):
        history.append((int(h["version"]), str(h.get("date", "")), str(h["change"])))
    missing = sorted(set(versions) - {v for v, _, _ in history})
    if missing:
        raise FamilyError(f"{where}: versions {missing} have no [[history]] entry")
    return _Definition(
        name=data["name"], path=path, description=" ".join(data["description"].split()),
        doc=data["doc"].strip(), generator=data["generator"], history=tuple(sorted(history)),
        versions=versions, sources=tuple(data.get("sources", ())),
    )


@functools.lru_cache(maxsize=None)
def _definitions(root: str) -> dict[str, _Definition]:
    folder = Path(root)
    if not folder.is_dir():
        raise FamilyError(f"the folder of family definitions {folder} does not exist "
                          f"(set {DIR_ENV} to another one)")
    return {p.stem: _load_definition(p) for p in sorted(folder.glob("*.toml"))}


def _defs() -> dict[str, _Definition]:
    return _definitions(str(definitions_dir()))


def family_names() -> list[str]:
    """Names of every defined family, sorted."""
    return sorted(_defs())
