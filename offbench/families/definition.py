"""Family definitions: the TOML files of the ``instances`` folder, read and checked.

Every ``*.toml`` of the folder (the package ``offbench_instances``, or ``$OFFBENCH_INSTANCES_DIR``)
is a family: a one-line description, a longer ``doc``, the generator module, a version history,
and per version (``[v1]``...) the generator parameters, size presets, named environments, stream
settings and frozen sets. Reading a definition never runs code; the generator module is imported
only when the family is used (:class:`offbench.families.Family`). A version may name a generator
of its own (``[v2] generator = "..."``: a new version whose parameters differ, as ``zoo-v2``'s
DAG jobs), and may be a *preview* (``preview = true``): used when named (``zoo-v2``), never
chosen by the bare name, which means the newest version that is not a preview (until a preview
has frozen sets with proven references, say).

**User families** come from more folders of definitions in the same format, added to the
built-in ones (:func:`add_families_dirs`; ``--families-dir DIR`` on the command line; the
folders are kept in ``$OFFBENCH_FAMILIES_PATH``, separated by ``os.pathsep``, so that the
worker processes of a run see them too). A user definition is data: its ``generator`` must be
one of the built-in generator modules (``offbench.families.dmro``, ...) or the name of an
entry point of the group ``offbench.generators`` of an installed package (Python code that the
user chose to install); a family name that is built in, or defined twice, is refused by name,
and user families declare no frozen sets. ``$OFFBENCH_INSTANCES_DIR`` is another matter: it
*replaces* the built-in folder (definitions and frozen sets), for work on a copy of
``instances/`` (the test suite damages such copies).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..params import Param, check_known
from .param import FamilyError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DIR_ENV", "PATH_ENV", "GENERATOR_GROUP", "Environment", "SetSpec", "add_families_dirs",
           "definitions_dir", "families_dirs", "family_names"]

#: Environment variable that points to another folder of family definitions (replacing the
#: built-in folder, frozen sets included).
DIR_ENV = "OFFBENCH_INSTANCES_DIR"

#: Environment variable of the folders of user family definitions (``os.pathsep``-separated),
#: added to the built-in ones; ``--families-dir`` appends to it.
PATH_ENV = "OFFBENCH_FAMILIES_PATH"

#: Entry-point group of installed generator modules that user definitions may name.
GENERATOR_GROUP = "offbench.generators"


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
        """The version a bare name means: the newest that is not a preview."""
        stable = [v for v, spec in self.versions.items() if not spec.get("preview")]
        return max(stable or self.versions)

    def generator_for(self, version: int) -> str:
        """The generator module of a version: its own ``generator``, or the family's."""
        return self.versions[version].get("generator") or self.generator


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


class _Key(Param):
    """A key of a family definition, refused with the one template: "The 'count' key of family
    definition dmro.toml [v1].sets[0] must be an int in [1, inf). Got 0." """

    what = "key"
    error = FamilyError


_HISTORY = (_Key("version", int, low=1), _Key("date", str, ""), _Key("change", str, length=(1, None)))
_ENVIRONMENT = (_Key("split", str, "any", choices=("train", "heldout", "any")),
                _Key("description", str, ""))
_SET = (_Key("split", str, length=(1, None)), _Key("seed", int, low=0), _Key("count", int, low=1),
        _Key("preset", str, None, allow_none=True), _Key("time_limit", float, 60.0, low=0.0,
                                                           low_open=True),
        _Key("format", str, "json", choices=("json", "npz")), _Key("doc", str, ""))
_VERSION = (_Key("default_preset", str, None, allow_none=True, length=(1, None)),
            _Key("default_environment", str, None, allow_none=True, length=(1, None)),
            _Key("static_environments", str, "default", choices=("default", "all")),
            _Key("generator", str, None, allow_none=True, length=(1, None)),
            _Key("preview", bool, False))


def _table(value: Any, where: str, declared: tuple = (), tables: tuple = (),
           others: tuple = ()) -> dict:
    """A definition's table checked against its declared keys (scalars in ``declared``, nested
    tables named in ``tables``, keys checked by the caller in ``others``); unknown keys get
    "did you mean". With nothing declared, any key is allowed."""
    if not isinstance(value, dict):
        raise FamilyError(f"{where} must be a table (TOML [section] or {{...}}), got {value!r}")
    if declared or tables or others:
        check_known(value, [p.name for p in declared] + list(tables) + list(others), where,
                    what="key", error=FamilyError)
    out = dict(value)
    for p in declared:
        if p.name in value:
            out[p.name] = p.validate(where, value[p.name])
    for t in tables:
        if t in value:
            _table(value[t], f"{where}.{t}")
    return out


def _check_version(key: str, value: Any, where: str) -> dict:
    """A version table ([v1]) of a definition, with its presets, environments and sets."""
    w = f"{where} [{key}]"
    v = _table(value, w, _VERSION, ("params", "presets", "environments", "stream"), ("sets",))
    for name, preset in (v.get("presets") or {}).items():
        _table(preset, f"{w}.presets.{name}")
    for name, env in (v.get("environments") or {}).items():
        v["environments"][name] = _table(env, f"{w}.environments.{name}", _ENVIRONMENT,
                                         ("params", "stream"))
    sets = v.get("sets", [])
    if not isinstance(sets, list):
        raise FamilyError(f"{w}.sets must be a list of tables ([[{key}.sets]]), got {sets!r}")
    v["sets"] = []
    for i, st in enumerate(sets):
        st = _table(st, f"{w}.sets[{i}]", _SET)
        for p in _SET[:3]:
            if p.name not in st:
                raise FamilyError(f"{w}.sets[{i}] lacks the key {p.name!r}")
        v["sets"].append(st)
    return v


def _load_definition(path: Path) -> _Definition:
    where = f"family definition {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise FamilyError(f"{where}: not valid TOML ({e})") from None
    except RecursionError:
        raise FamilyError(f"{where}: not valid TOML (arrays or tables nested too deeply)") from None
    except UnicodeDecodeError as e:
        raise FamilyError(f"{where}: not UTF-8 text (byte {e.start}: {e.object[e.start]:#04x}); "
                          "save it as UTF-8") from None
    except OSError as e:
        raise FamilyError(f"{where}: cannot be read ({e.strerror or e})") from None
    versions = {}
    for key, value in data.items():
        m = re.fullmatch(r"v([1-9][0-9]*)", key)
        if m:
            if not isinstance(value, dict):
                raise FamilyError(f"{where}: [{key}] must be a table")
            versions[int(m.group(1))] = _check_version(key, value, where)
        elif key not in _KNOWN_TOP:
            raise FamilyError(f"{where}: unknown key {key!r}")
    for k in ("name", "description", "doc", "generator"):
        if k not in data:
            raise FamilyError(f"{where} lacks the key {k!r}")
        _Key(k, str, length=(1, None)).validate(where, data[k])
    if data["name"] != path.stem:
        raise FamilyError(f"{where}: name {data['name']!r} must equal the file name {path.stem!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", data["name"]):
        raise FamilyError(f"{where}: name {data['name']!r} must be lowercase letters, digits, _")
    if not versions:
        raise FamilyError(f"{where}: no version table ([v1])")
    history = []
    entries = data.get("history", [])
    if not isinstance(entries, list):
        raise FamilyError(f"{where}: history must be a list of tables ([[history]]), got {entries!r}")
    for i, h in enumerate(entries):
        h = _table(h, f"{where} history[{i}]", _HISTORY)
        if "version" not in h or "change" not in h:
            raise FamilyError(f"{where} history[{i}] needs 'version' and 'change'")
        history.append((h["version"], h.get("date", ""), h["change"]))
    sources = _Key("sources", list, (), item=str).validate(where, data.get("sources", []))
    missing = sorted(set(versions) - {v for v, _, _ in history})
    if missing:
        raise FamilyError(f"{where}: versions {missing} have no [[history]] entry")
    return _Definition(
        name=data["name"], path=path, description=" ".join(data["description"].split()),
        doc=data["doc"].strip(), generator=data["generator"], history=tuple(sorted(history)),
        versions=versions, sources=sources,
    )


@functools.lru_cache(maxsize=None)
def _definitions(root: str) -> dict[str, _Definition]:
    folder = Path(root)
    if not folder.is_dir():
        raise FamilyError(f"the folder of family definitions {folder} does not exist "
                          f"(set {DIR_ENV} to another one)")
    return {p.stem: _load_definition(p) for p in sorted(folder.glob("*.toml"))}


def families_dirs() -> tuple[Path, ...]:
    """The folders of user family definitions in force (``$OFFBENCH_FAMILIES_PATH``)."""
    return tuple(Path(p) for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p)


def add_families_dirs(dirs) -> tuple[Path, ...]:
    """Add folders of user family definitions (``--families-dir``) for this process and the
    processes it starts, and load every definition now, so that a mistake is reported at once.

    Raises
    ------
    FamilyError
        A folder that does not exist, a bad definition (its file named, and the line of a TOML
        syntax error), a family name that is built in or defined twice, a generator that is not
        allowed (see the module docstring).
    """
    have = list(families_dirs())
    for d in dirs:
        p = Path(d).expanduser().resolve()
        if not p.is_dir():
            raise FamilyError(f"--families-dir {d}: no such folder")
        if p not in have:
            have.append(p)
    old = os.environ.get(PATH_ENV)
    os.environ[PATH_ENV] = os.pathsep.join(str(p) for p in have)
    try:
        _defs()
    except Exception:
        if old is None:
            os.environ.pop(PATH_ENV, None)
        else:
            os.environ[PATH_ENV] = old
        raise
    return tuple(have)


def _generators(builtin: dict[str, _Definition]) -> tuple[set[str], dict[str, str]]:
    """The generator modules a user definition may name: the built-in ones, and the entry
    points of :data:`GENERATOR_GROUP` (name -> module)."""
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value.split(":")[0] for ep in entry_points(group=GENERATOR_GROUP)}
    return {d.generator_for(v) for d in builtin.values() for v in d.versions}, eps


@functools.lru_cache(maxsize=None)
def _user_definitions(root: str, builtin_root: str) -> dict[str, _Definition]:
    import dataclasses

    builtin = _definitions(builtin_root)
    folder = Path(root)
    if not folder.is_dir():
        raise FamilyError(f"the folder of family definitions {folder} (in ${PATH_ENV}) does not exist")
    allowed, eps = _generators(builtin)
    out = {}
    for p in sorted(folder.glob("*.toml")):
        d = _load_definition(p)
        where = f"family definition {p}"
        if d.name in builtin:
            raise FamilyError(f"{where}: the family name {d.name!r} is built in "
                              f"({builtin[d.name].path}); a user family needs a name of its own")
        for v, spec in d.versions.items():
            if spec.get("sets"):
                raise FamilyError(f"{where}: [v{v}].sets: frozen sets are for built-in families only "
                                  "(write instances with offbench instances generate)")
            if spec.get("generator"):
                raise FamilyError(f"{where}: [v{v}].generator: a generator per version is for "
                                  "built-in families only (name the family's generator at the top)")
        if d.generator in eps:
            d = dataclasses.replace(d, generator=eps[d.generator])
        elif d.generator not in allowed:
            raise FamilyError(
                f"{where}: generator {d.generator!r} is neither a built-in generator "
                f"({', '.join(sorted(allowed))}) nor an entry point of the group "
                f"{GENERATOR_GROUP!r} of an installed package"
                + (f" ({', '.join(sorted(eps))})" if eps else ""))
        out[d.name] = d
    return out


def _defs() -> dict[str, _Definition]:
    root = str(definitions_dir())
    defs = dict(_definitions(root))
    for folder in families_dirs():
        for name, d in _user_definitions(str(folder), root).items():
            if name in defs:
                raise FamilyError(f"family definition {d.path}: the family {name!r} is also defined "
                                  f"in {defs[name].path}")
            defs[name] = d
    return defs


def family_names() -> list[str]:
    """Names of every defined family (built-in and user ones), sorted."""
    return sorted(_defs())
