"""Instance families: versioned, seeded generators of the settings the literature studies.

A *family* is data plus a generator. Its definition lives in a TOML file of the ``instances``
folder (installed as the package ``offbench_instances``): a one-line description, a longer
``doc`` (what it models, its sizes, where its numbers come from), a version history, and per
version the generator parameters, size presets, named environments, stream settings and frozen
sets. Its generator is a module of this package named in the file (``offbench.families.dmro``),
imported only when the family is used. Nothing is registered by hand: every ``*.toml`` of the
folder is a family.

IDs follow Gymnasium's habit::

    dmro-v1                       name and version
    dmro                          the latest version
    capacitated-v1:medium         a size preset (families that have presets; the default one
                                  is used when none is named, and the ID then names it)
    scale-v1:n1000[capacities=false]   parameters changed from the definition's

Every instance is a function of ``(family ID, seed, index)`` only: the generator's random numbers
come from ``numpy.random.SeedSequence([salt, namespace, seed, index, part, environment])``, where
``salt`` is an integer taken from the sha256 of the ID (never Python's ``hash()``), the namespace
tells static instances from streams, and the part tells the structure, the environment and the
frames apart; every generated float is rounded to 6 significant digits
(:func:`offbench.streams.quantize`), which absorbs last-ulp differences of ``exp``/``log`` between
CPUs and numpy builds, so the same ID, seed and index give the same digest on every machine.
Index ``i`` does not depend on the other indices. (NumPy keeps the streams of ``Generator`` stable
in practice but does not promise it across versions; the pinned digests of the test suite and
``offbench instances verify-sets`` in CI are what would catch a change.)

**A change to a generator that changes any instance needs a version bump** (a new ``[vN]``
table in the TOML and a history line), so that old leaderboard rows stay comparable; the test
suite pins digests of every family to catch an unintended change.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .._text import parse_bool
from ..errors import UserError
from ..instance import Instance
from ..streams import FrameProcess, Scenario, Variation, quantize_parts

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "FamilyError", "FParam", "Environment", "SetSpec", "Family", "get_family", "list_families",
    "family_names", "definitions_dir", "parse_family_id",
]

#: Environment variable that points to another folder of family definitions.
DIR_ENV = "OFFBENCH_INSTANCES_DIR"

#: SeedSequence name spaces.
_NS_INSTANCE, _NS_STREAM = 1, 2
_PART_STRUCTURE, _PART_ENV, _PART_FRAMES = 1, 2, 3


class FamilyError(UserError, ValueError):
    """A bad family ID, parameter or definition (a user's mistake)."""


# ------------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class FParam:
    """A declared generator parameter, validated with one message template.

    Parameters
    ----------
    name : str
    type : {int, float, bool, str, "range", "int_range", "list"}
        ``"range"`` is a pair ``[low, high]`` of floats with ``low <= high`` (``"int_range"``: of
        ints); ``"list"`` a
        non-empty list of strings (each in ``choices`` when given).
    low, high : float, optional
        Closed bounds for numbers (and both ends of a range).
    choices : tuple, optional
        Allowed values (of the items, for a list).
    doc : str
        What it means, with its unit.
    """

    name: str
    type: Any
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    doc: str = ""

    def describe(self) -> str:
        if self.type == "list":
            base = "a non-empty list of str"
            if self.choices is not None:
                base += f" from {{{', '.join(map(repr, self.choices))}}}"
            return base
        if self.choices is not None:
            return f"one of {{{', '.join(map(repr, self.choices))}}}"
        t = {int: "an int", float: "a float", bool: "a bool", str: "a str",
             "range": "a pair [low, high] of floats with low <= high",
             "int_range": "a pair [low, high] of ints with low <= high"}[self.type]
        if self.type in (int, float, "range", "int_range") and (self.low is not None or self.high is not None):
            lo = "-inf" if self.low is None else _fmt_bound(self.low)
            hi = "inf" if self.high is None else _fmt_bound(self.high)
            t += f" in {'(' if self.low is None else '['}{lo}, {hi}{')' if self.high is None else ']'}"
        return t

    def validate(self, family: str, value: Any) -> Any:
        """The value in canonical form, or :class:`FamilyError` with the STYLE.md template
        ("The 'n_devices' parameter of family dmro must be an int in [1, inf). Got 0.")."""
        err = FamilyError(f"The {self.name!r} parameter of family {family} must be "
                          f"{self.describe()}. Got {value!r}.")
        t = self.type
        if t is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise err
            return bool(value)
        if t is int:
            if isinstance(value, (bool, np.bool_)):
                raise err
            if isinstance(value, (float, np.floating)) and float(value).is_integer():
                value = int(value)
            if not isinstance(value, (int, np.integer)):
                raise err
            value = int(value)
            self._bounds(value, err)
            return value
        if t is float:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise err
            value = float(value)
            if not math.isfinite(value):
                raise err
            self._bounds(value, err)
            return value
        if t is str:
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise err
            return value
        if t in ("range", "int_range"):
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise err
            lo_hi = []
            for v in value:
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                    raise err
                if t == "int_range":
                    if not float(v).is_integer():
                        raise err
                    v = int(v)
                else:
                    v = float(v)
                    if not math.isfinite(v):
                        raise err
                self._bounds(v, err)
                lo_hi.append(v)
            if lo_hi[0] > lo_hi[1]:
                raise err
            return tuple(lo_hi)
        if t == "list":
            if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
                raise err
            if any(not isinstance(v, str) for v in value):
                raise err
            if self.choices is not None and any(v not in self.choices for v in value):
                raise err
            return tuple(value)
        raise TypeError(f"FParam {self.name}: unknown type {t!r}")  # a bug in a family module

    def _bounds(self, v, err) -> None:
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise err

    def parse(self, family: str, text: str) -> Any:
        """Parse a value written on the command line or in an ID (``n_devices=10``,
        ``capacities=false``, ``distance_m=2.5:5.2``, ``models=alexnet+vgg16``)."""
        t = text.strip()
        err = FamilyError(f"The {self.name!r} parameter of family {family} must be "
                          f"{self.describe()}. Got {text.strip() or repr(text)}.")
        try:
            if self.type is bool:
                return parse_bool(t)
            if self.type is int:
                return self.validate(family, _parse_int(t))
            if self.type is float:
                return self.validate(family, float(t))
            if self.type in ("range", "int_range"):
                parts = t.split(":")
                if len(parts) != 2:
                    raise ValueError
                read = _parse_int if self.type == "int_range" else float
                return self.validate(family, [read(p.strip()) for p in parts])
            if self.type == "list":
                return self.validate(family, [p for p in t.split("+") if p])
            return self.validate(family, t)
        except (FamilyError, ValueError):
            raise err from None  # the value as written, not as half-parsed

    def format(self, value: Any) -> str:
        """The value as :meth:`parse` reads it (used in IDs)."""
        if self.type is bool:
            return "true" if value else "false"
        if self.type in ("range", "int_range"):
            return f"{_fmt_num(value[0])}:{_fmt_num(value[1])}"
        if self.type == "list":
            return "+".join(value)
        if self.type is float:
            return _fmt_num(value)
        return str(value)


def _parse_int(text: str) -> int | float:
    """An int written as ``12`` or ``1e3`` (a float when it is not whole: validation refuses it)."""
    return float(text) if re.fullmatch(r"[+-]?\d+(\.0*)?[eE][+-]?\d+", text) else int(text)


def _fmt_num(v: float) -> str:
    """The shortest %g form that reads back as the same float (``5e+11``, ``0.02``, ``3``)."""
    v = float(v)
    for digits in range(1, 18):
        text = f"{v:.{digits}g}"
        if float(text) == v:
            return text
    return repr(v)


def _fmt_bound(v: float) -> str:
    return _fmt_num(v) if isinstance(v, float) else str(v)


# ------------------------------------------------------------------------------ definitions
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


# ------------------------------------------------------------------------------ IDs
_ID_RE = re.compile(
    r"^(?P<name>[a-z][a-z0-9_]*?)(?:-v(?P<version>[0-9]+))?(?::(?P<preset>[a-z0-9_]+))?"
    r"(?:\[(?P<params>[^\]]*)\])?$"
)


def parse_family_id(text: str) -> tuple[str, int | None, str | None, dict[str, str]]:
    """Split an ID into name, version (None: latest), preset (None: default) and raw overrides.

    Raises
    ------
    FamilyError
        When the text is not of the form ``name[-vN][:preset][[k=v,...]]``.
    """
    if not isinstance(text, str):
        raise FamilyError(f"a family ID must be a string, got {type(text).__name__}")
    head, bracket, rest = text.strip().partition("[")
    m = _ID_RE.match(head.strip().lower() + bracket + rest)
    if m is None:
        raise FamilyError(f"{text!r} is not a family ID: expected name[-vN][:preset][[param=value,...]] "
                          "(e.g. dmro-v1, capacitated-v1:medium)")
    overrides: dict[str, str] = {}
    if m.group("params"):
        for part in m.group("params").split(","):
            if "=" not in part:
                raise FamilyError(f"{text!r}: expected param=value inside [...], got {part!r}")
            k, v = (x.strip() for x in part.split("=", 1))
            if k in overrides:
                raise FamilyError(f"{text!r}: parameter {k!r} is given twice")
            overrides[k] = v
    version = int(m.group("version")) if m.group("version") is not None else None
    return m.group("name"), version, m.group("preset"), overrides


def _salt(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:  # a broken installation, not a user's mistake
        raise ImportError(f"the generator module {name!r} of a family cannot be imported: {e}") from e


# ------------------------------------------------------------------------------ Family
class Family:
    """One version (and preset) of an instance family.

    Get one with :func:`get_family`. Attributes: ``id`` (``"dmro-v1"``), ``name``, ``version``,
    ``description`` (one line), ``doc`` (what it models, sizes, sources, version history),
    ``params`` (the generator parameters in force), ``presets``, ``preset``, ``environments``,
    ``default_environment``, ``sets`` (declared frozen sets).
    """

    def __init__(self, definition: _Definition, version: int, preset: str | None = None,
                 overrides: Mapping[str, Any] | None = None):
        self._def = definition
        self.name = definition.name
        self.version = int(version)
        spec = definition.versions[self.version]
        self._spec = spec
        self._module = None
        self.description = definition.description
        presets = spec.get("presets", {}) or {}
        self.presets: dict[str, dict] = {k: dict(v) for k, v in presets.items()}
        if self.presets:
            default = spec.get("default_preset", next(iter(self.presets)))
            preset = preset or default
            if preset not in self.presets:
                close = difflib.get_close_matches(preset, list(self.presets), n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise FamilyError(f"family {self.name}-v{self.version} has no preset {preset!r}.{hint} "
                                  f"Presets: {', '.join(self.presets)}.")
        elif preset is not None:
            raise FamilyError(f"family {self.name}-v{self.version} has no presets; got {preset!r}")
        self.preset = preset
        base = dict(spec.get("params", {}))
        if preset is not None:
            base.update(self.presets[preset])
        declared = self._declared()
        self._check_known(base, f"definition of {self.name}-v{self.version}")
        self.overrides: dict[str, Any] = {}
        for k, v in (overrides or {}).items():
            self._check_known({k: v}, "the parameters given")
            v = declared[k].validate(self.name, v)
            if k in base and declared[k].validate(self.name, base[k]) == v:
                continue  # not a change: the ID (and so the instances) stay the family's own
            self.overrides[k] = v
        base.update(self.overrides)
        missing = [p.name for p in declared.values() if p.name not in base]
        if missing:
            raise FamilyError(f"definition of {self.name}-v{self.version} lacks parameters {missing}")
        self.params: dict[str, Any] = {k: declared[k].validate(self.name, base[k]) for k in declared}
        self._check_params(self.params)
        self.environments: dict[str, Environment] = {}
        for ename, e in (spec.get("environments", {}) or {}).items():
            env = Environment(name=ename, split=e.get("split", "any"),
                              description=" ".join(str(e.get("description", "")).split()),
                              params=dict(e.get("params", {})), stream=dict(e.get("stream", {})))
            if env.split not in ("train", "heldout", "any"):
                raise FamilyError(f"environment {ename} of {self.name}: split must be train, heldout or any")
            bad = set(env.params) & set(self._structural())
            if bad:
                raise FamilyError(f"environment {ename} of {self.name} changes structural parameters "
                                  f"{sorted(bad)}: a stream cannot switch to it")
            self._check_known(env.params, f"environment {ename} of {self.name}")
            self.environments[ename] = env
        if not self.environments:
            self.environments["default"] = Environment("default", "any", "the family's parameters")
        for k in self.overrides:  # an environment's value wins: a change that every one undoes
            if all(k in e.params for e in self.environments.values()):
                said = ", ".join(f"{e.name}: {declared[k].format(declared[k].validate(self.name, e.params[k]))}"
                                 for e in list(self.environments.values())[:4])
                more = ", ..." if len(self.environments) > 4 else ""
                raise FamilyError(
                    f"The {k!r} parameter of family {self.name} is set by every one of its "
                    f"environments ({said}{more}), so changing it would change nothing: choose an "
                    f"environment instead (Family.stream(environment=...), "
                    f"offbench instances stream --environment).")
        self.default_environment = spec.get("default_environment", next(iter(self.environments)))
        if self.default_environment not in self.environments:
            raise FamilyError(f"{self.name}: default_environment {self.default_environment!r} is not defined")
        self.static_environments = spec.get("static_environments", "default")
        if self.static_environments not in ("default", "all"):
            raise FamilyError(f"{self.name}: static_environments must be 'default' or 'all'")
        self._stream = dict(spec.get("stream", {}))
        self.sets: tuple[SetSpec, ...] = tuple(
            SetSpec(split=s["split"], seed=int(s["seed"]), count=int(s["count"]),
                    preset=s.get("preset"), time_limit=float(s.get("time_limit", 60.0)),
                    format=s.get("format", "json"), doc=" ".join(str(s.get("doc", "")).split()))
            for s in spec.get("sets", [])
        )
        self.id = self._make_id()
        self._salt = _salt(self.id)
        for env in self.environments.values():  # every environment must be valid here and now
            self.params_for(env)
            self.variation(env)

    # -------------------------------------------------------------- identity
    def _make_id(self) -> str:
        text = f"{self.name}-v{self.version}"
        if self.preset is not None:
            text += f":{self.preset}"
        if self.overrides:
            declared = self._declared()
            text += "[" + ",".join(f"{k}={declared[k].format(v)}" for k, v in sorted(self.overrides.items())) + "]"
        return text

    def __repr__(self) -> str:
        return f"Family({self.id!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Family) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def module(self):
        """The generator module (imported on first use)."""
        if self._module is None:
            self._module = _module(self._def.generator)
        return self._module

    def _declared(self) -> dict[str, FParam]:
        return {p.name: p for p in self.module.PARAMS}

    def _structural(self) -> frozenset[str]:
        return frozenset(getattr(self.module, "STRUCTURAL", ()))

    def _check_known(self, d: Mapping[str, Any], where: str) -> None:
        declared = self._declared()
        for k in d:
            if k not in declared:
                close = difflib.get_close_matches(k, list(declared), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else f" Its parameters: {', '.join(declared)}."
                raise FamilyError(f"family {self.name} has no parameter {k!r} ({where}).{hint}")

    def _check_params(self, p: Mapping[str, Any]) -> None:
        check = getattr(self.module, "check", None)
        if check is not None:
            msg = check(p)
            if msg:
                raise FamilyError(f"family {self.name}: {msg}")

    def with_params(self, **overrides: Any) -> "Family":
        """The same family with some generator parameters changed (its ID says which).

        Raises
        ------
        FamilyError
            For an unknown parameter or a bad value.
        """
        merged = {**self.overrides, **overrides}
        return Family(self._def, self.version, self.preset, merged)

    def with_text_params(self, raw: Mapping[str, str], where: str) -> "Family":
        """:meth:`with_params` from values as written (in an ID or on the command line:
        ``n_devices=10``, ``distance_m=2.5:5.2``, ``models=alexnet+vgg16``)."""
        self._check_known(raw, where)
        declared = self._declared()
        return self.with_params(**{k: declared[k].parse(self.name, v) for k, v in raw.items()})

    def with_preset(self, preset: str) -> "Family":
        """The same family and version with another size preset (overrides are kept)."""
        return Family(self._def, self.version, preset, self.overrides)

    @property
    def history(self) -> tuple[tuple[int, str, str], ...]:
        """``(version, date, change)`` of every version, oldest first."""
        return self._def.history

    @property
    def sources(self) -> tuple[str, ...]:
        return self._def.sources

    @property
    def definition_path(self) -> Path:
        return self._def.path

    @property
    def latest_version(self) -> int:
        return self._def.latest

    @property
    def doc(self) -> str:
        """What the family models, sizes, sources, parameters and version history."""
        declared = self._declared()
        lines = [f"{self.id}: {self.description}", "", self._def.doc, ""]
        lines.append("Parameters (in force):")
        for k, v in self.params.items():
            p = declared[k]
            val = p.format(v)
            lines.append(f"  {k} = {val}    {p.doc}")
        if self.presets:
            lines += ["", "Size presets:"]
            for name, vals in self.presets.items():
                mark = " (this one)" if name == self.preset else ""
                lines.append(f"  {name}{mark}: " + ", ".join(f"{k}={declared[k].format(declared[k].validate(self.name, v))}"
                                                              for k, v in vals.items()))
        lines += ["", f"Environments (streams; default {self.default_environment}):"]
        for e in self.environments.values():
            detail = ", ".join(f"{k}={v}" for k, v in {**e.params, **e.stream}.items())
            lines.append(f"  {e.name} [{e.split}] {e.description}" + (f" ({detail})" if detail else ""))
        v = self.variation()
        lines += ["", "Frame variation in streams: " + ", ".join(f"{k}={val}" for k, val in v.to_dict().items())]
        if self.sets:
            lines += ["", "Frozen sets:"]
            for s in self.sets:
                sid = self.set_id(s)
                lines.append(f"  {sid}: seed {s.seed}, {s.count} instances. {s.doc}".rstrip())
        if self.sources:
            lines += ["", "Sources:"] + [f"  - {s}" for s in self.sources]
        lines += ["", "Version history:"] + [f"  v{ver} ({date}): {change}" for ver, date, change in self.history]
        return "\n".join(lines)

    def set_id(self, spec: SetSpec) -> str:
        """The ID of a declared frozen set (``dmro-v1/test``, ``capacitated-v1:small/test``)."""
        fid = f"{self.name}-v{self.version}" + (f":{spec.preset}" if spec.preset else "")
        if spec.preset is None and self.presets:
            fid += f":{self._spec.get('default_preset', next(iter(self.presets)))}"
        return f"{fid}/{spec.split}"

    # -------------------------------------------------------------- generation
    def _seq(self, ns: int, seed: int, index: int, part: int, extra: int = 0) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self._salt, ns, seed, index, part, extra]))

    @staticmethod
    def _check_seed(what: str, v: Any, low: int = 0) -> int:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
            raise FamilyError(f"The {what!r} argument must be an int in [{low}, inf). Got {v!r}.")
        return int(v)

    def environment(self, name: str | None = None) -> Environment:
        """An environment by name (None: the default one); unknown names get "did you mean"."""
        if name is None:
            name = self.default_environment
        if isinstance(name, Environment):
            name = name.name
        if name not in self.environments:
            close = difflib.get_close_matches(str(name), list(self.environments), n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise FamilyError(f"family {self.id} has no environment {name!r}.{hint} "
                              f"Environments: {', '.join(self.environments)}.")
        return self.environments[name]

    def params_for(self, environment: str | Environment | None = None) -> dict[str, Any]:
        """The generator parameters in an environment (validated)."""
        env = self.environment(environment)
        declared = self._declared()
        p = dict(self.params)
        for k, v in env.params.items():
            p[k] = declared[k].validate(self.name, v)
        self._check_params(p)
        return p

    def variation(self, environment: str | Environment | None = None) -> Variation:
        """The stream settings (:class:`offbench.streams.Variation`) in an environment."""
        env = self.environment(environment)
        try:
            return Variation.from_dict({**self._stream, **env.stream})
        except (TypeError, ValueError) as e:
            raise FamilyError(f"stream settings of {self.id}, environment {env.name}: {e}") from None

    def _scenario(self, env: Environment, rng_structure, rng_env) -> Scenario:
        p = self.params_for(env)
        base, snr = self.module.build(p, rng_structure, rng_env)
        return Scenario(base=_quantize_instance(base), snr=np.asarray(snr, dtype=np.float64),
                        variation=self.variation(env), environment=env.name)

    def _env_code(self, env: Environment) -> int:
        return _salt(env.name) & 0x7FFFFFFF

    def static_environment(self, index: int) -> Environment:
        """The environment that instance ``index`` of :meth:`generate` is drawn in."""
        if self.static_environments == "all":
            envs = list(self.environments.values())
            return envs[index % len(envs)]
        return self.environment(None)

    def scenario(self, seed: int, index: int = 0, environment: str | None = None) -> Scenario:
        """The scenario (nominal instance and variation) behind instance ``(seed, index)``."""
        seed = self._check_seed("seed", seed)
        index = self._check_seed("index", index)
        env = self.environment(environment) if environment is not None else self.static_environment(index)
        return self._scenario(env, self._seq(_NS_INSTANCE, seed, index, _PART_STRUCTURE),
                              self._seq(_NS_INSTANCE, seed, index, _PART_ENV, self._env_code(env)))

    def generate(self, seed: int, index: int) -> Instance:
        """Instance ``index`` of seed ``seed``: one frame of a freshly drawn scenario, with every
        device on (streams switch devices off and on; static instances do not).

        Deterministic per (family ID, seed, index) and independent of other indices; named
        ``f"{id}/s{seed}/{index}"``.
        """
        sc = self.scenario(seed, index)
        proc = FrameProcess(sc, self._seq(_NS_INSTANCE, seed, index, _PART_FRAMES),
                            name=f"{self.id}/s{seed}", switching=False)
        return proc.next().replace(name=f"{self.id}/s{seed}/{index}")

    def instances(self, seed: int, count: int, start: int = 0) -> list[Instance]:
        """Instances ``start .. start + count - 1`` of a seed."""
        count = self._check_seed("count", count)
        start = self._check_seed("start", start)
        return [self.generate(seed, i) for i in range(start, start + count)]

    def stream(self, seed: int, n_frames: int, *, environment: str | None = None,
               switch_at: int | None = None, switch_to: str | None = None) -> Iterator[Instance]:
        """Frames of one fixed structure whose parameters vary (see :mod:`offbench.streams`).

        Parameters
        ----------
        seed : int
        n_frames : int
            How many frames.
        environment : str, optional
            Where the stream starts (default :attr:`default_environment`).
        switch_at : int, optional
            The first frame drawn in ``switch_to`` (the drift scenario), in ``[1, n_frames - 1]``;
            frames before it are the same as a stream that does not switch.
        switch_to : str, optional
            The environment after the switch; same structure, so the decision length is kept.

        Yields
        ------
        Instance
            Frame ``t`` named ``f"{id}/s{seed}/stream/{t}"``.
        """
        seed = self._check_seed("seed", seed)
        n_frames = self._check_seed("n_frames", n_frames)
        env = self.environment(environment)
        if (switch_at is None) != (switch_to is None):
            raise FamilyError("switch_at and switch_to go together: give both or neither")
        env2 = None
        if switch_at is not None:
            switch_at = self._check_seed("switch_at", switch_at)
            if not 1 <= switch_at < n_frames:
                raise FamilyError(f"The 'switch_at' argument must be a frame of the stream, an int "
                                  f"in [1, {n_frames - 1}] for {n_frames} frames. Got {switch_at}.")
            env2 = self.environment(switch_to)
        return self._stream_iter(seed, n_frames, env, switch_at, env2)

    def _stream_iter(self, seed, n_frames, env, switch_at, env2) -> Iterator[Instance]:
        rs = lambda e: self._seq(_NS_STREAM, seed, 0, _PART_STRUCTURE)  # noqa: E731
        re_ = lambda e: self._seq(_NS_STREAM, seed, 0, _PART_ENV, self._env_code(e))  # noqa: E731
        sc = self._scenario(env, rs(env), re_(env))
        proc = FrameProcess(sc, self._seq(_NS_STREAM, seed, 0, _PART_FRAMES), name=f"{self.id}/s{seed}/stream")
        for t in range(n_frames):
            if env2 is not None and t == switch_at:
                sc2 = self._scenario(env2, rs(env2), re_(env2))
                if not sc.same_structure(sc2):  # a bug in a generator module: structure leaked
                    raise RuntimeError(f"{self.id}: environments {env.name} and {env2.name} "
                                       "produced different structures for one seed")
                proc.switch(sc2)
            yield proc.next()

    def stream_scenario(self, seed: int, environment: str | None = None) -> Scenario:
        """The scenario that :meth:`stream` draws around in an environment."""
        seed = self._check_seed("seed", seed)
        env = self.environment(environment)
        return self._scenario(env, self._seq(_NS_STREAM, seed, 0, _PART_STRUCTURE),
                              self._seq(_NS_STREAM, seed, 0, _PART_ENV, self._env_code(env)))

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (what ``offbench instances show --json`` prints)."""
        declared = self._declared()
        return {
            "id": self.id, "name": self.name, "version": self.version,
            "latest_version": self.latest_version, "preset": self.preset,
            "description": self.description,
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params.items()},
            "param_docs": {k: p.doc for k, p in declared.items()},
            "presets": self.presets,
            "environments": {e.name: {"split": e.split, "description": e.description,
                                      "params": dict(e.params), "stream": dict(e.stream)}
                             for e in self.environments.values()},
            "default_environment": self.default_environment,
            "stream": self.variation().to_dict(),
            "sets": [self.set_id(s) for s in self.sets],
            "sources": list(self.sources),
            "history": [{"version": v, "date": d, "change": c} for v, d, c in self.history],
            "definition": str(self.definition_path),
        }


def _quantize_instance(inst: Instance) -> Instance:
    """Round every float of an instance to 6 significant digits (see :mod:`offbench.streams`)."""
    names = [f.name for f in dataclasses.fields(inst)
             if f.name not in ("name", "job_device", "layer_offsets")]
    q = quantize_parts(getattr(inst, name) for name in names)
    changes = {}
    for name, v in zip(names, q):
        changes[name] = v if isinstance(getattr(inst, name), np.ndarray) else float(v[0])
    return inst.replace(**changes)


# ------------------------------------------------------------------------------ lookup
def get_family(id: str, **overrides: Any) -> Family:
    """The family for an ID (``dmro-v1``), a bare name (``dmro``: the latest version), a preset
    (``capacitated-v1:medium``) and parameter changes (``[n_devices=20]`` or keyword arguments).

    Raises
    ------
    FamilyError
        For an unknown name or version (with the closest names: "did you mean ..."), preset or
        parameter.
    """
    name, version, preset, raw = parse_family_id(id)
    defs = _defs()
    if name not in defs:
        close = difflib.get_close_matches(name, list(defs), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise FamilyError(f"unknown family {id!r}.{hint} Families: {', '.join(sorted(defs))}.")
    d = defs[name]
    if version is None:
        version = d.latest
    if version not in d.versions:
        raise FamilyError(f"family {name} has no version {version}; versions: "
                          f"{', '.join(f'{name}-v{v}' for v in sorted(d.versions))}")
    fam = Family(d, version, preset)
    if raw:
        fam = fam.with_text_params(raw, f"ID {id!r}")
    if overrides:
        fam = fam.with_params(**overrides)
    return fam


def list_families(all_versions: bool = True) -> list[Family]:
    """Every defined family (each version, default preset), sorted by name and version.

    Parameters
    ----------
    all_versions : bool
        With False, only the latest version of each.
    """
    out = []
    for name, d in sorted(_defs().items()):
        versions = sorted(d.versions) if all_versions else [d.latest]
        out.extend(Family(d, v) for v in versions)
    return out
