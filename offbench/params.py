"""One parameter language: declared parameters, one refusal template, written values.

Solver parameters (:class:`offbench.solver.Param`), family generator parameters
(:class:`offbench.families.FParam`) and the keys of a family definition, the keys of a run spec
(:mod:`offbench.run.spec`) and its track settings (:class:`offbench.tracks.Setting`), stream
settings (:data:`offbench.streams.SETTINGS`) and values given on the command line
(``--param k=v``, ``--solver NAME:k=v``, family IDs) are all declared with :class:`Param` and
refused with one message::

    The 'restarts' parameter of solver local-search-v1 must be an int in [1, inf). Got 0.

A declaration names its kind and what is allowed:

==============================  ==============================================================
``Param("k", int, 8, low=1)``   an int in ``[1, inf)`` (a whole float such as ``4.0`` is taken)
``float`` with ``low_open``     ``(0, 1]``: open or closed ends; never NaN or infinite
``bool``                        ``true``/``false`` (on the command line also yes/no, on/off, 1/0)
``str`` with ``choices``        one of a closed set
``"path"``                      a file system path (``exists="file"|"dir"`` to require one)
``list`` with ``item=int``      one value made of items: ``hidden = [120, 80]``; ``length=(1, 4)``
                                bounds its length; ``low``/``high``/``choices`` apply to items
``"range"``, ``"int_range"``    a pair ``[low, high]`` of floats (ints) with ``low <= high``
``"list"``                      a non-empty list of str (each in ``choices``)
``allow_none=True``             also ``None`` (written ``none`` or ``null``)
==============================  ==============================================================

Validated values are canonical: ints are ``int``, floats ``float``, lists ``tuple``. Written
values (:meth:`Param.parse`) read as people write them: ``hidden=120,80`` or ``[120,80]``,
``flag=yes``, ``distance_m=2.5:5.2``, ``models=alexnet+vgg16``; :meth:`Param.format` writes a
value back so that it parses to itself. :func:`parse_assignments` reads ``NAME=VALUE`` pairs
(refusing unknown names with "did you mean" and a name given twice); :func:`expand_grid` expands
a run spec's parameter grid (``grid = { restarts = [1, 4, 16] }``) into one entry per point.

The kinds of error differ by owner (:class:`offbench.solver.SolverError`,
:class:`offbench.families.FamilyError`, :class:`offbench.run.spec.SpecError`): an owner declares
a subclass of :class:`Param` that sets :attr:`Param.owner_kind` and :attr:`Param.error`.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from .errors import UserError

__all__ = ["Param", "ParamError", "NO_DEFAULT", "parse_bool", "refusal", "unknown_name",
           "check_known", "parse_assignments", "split_top_level", "expand_grid", "format_number"]

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
NONE_WORDS = ("none", "null")


class ParamError(UserError, ValueError):
    """A value that a declared parameter refuses (owners raise their own subclass of UserError)."""


class _NoDefault:
    """The type of :data:`NO_DEFAULT`: one object, kept by copies and pickles."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"

    def __reduce__(self) -> str:
        return "NO_DEFAULT"  # the module global: unpickled as the same object

    def __copy__(self) -> "_NoDefault":
        return self

    def __deepcopy__(self, memo) -> "_NoDefault":
        return self


#: The default of a parameter that has none (family parameters: the definition gives them).
NO_DEFAULT: Any = _NoDefault()


def parse_bool(text: str) -> bool:
    """``true/yes/on/1`` or ``false/no/off/0`` (any case); ValueError for anything else."""
    low = text.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def refusal(name: str, owner: str, allowed: str, got: str, what: str = "parameter") -> str:
    """The one refusal template: ``The 'k' parameter of OWNER must be ALLOWED. Got GOT.``"""
    return f"The {name!r} {what} of {owner} must be {allowed}. Got {got}."


def unknown_name(name: str, known: Iterable[str], owner: str, what: str = "parameter",
                 where: str = "") -> str:
    """``OWNER has no parameter 'x' (WHERE). Did you mean 'y'?`` (or the known names)."""
    known = list(known)
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = (f" Did you mean {close[0]!r}?" if close else
            f" Its {what}s: {', '.join(known) if known else 'none'}.")
    head = owner[:1].upper() + owner[1:]
    return f"{head} has no {what} {name!r}{f' ({where})' if where else ''}.{hint}"


def check_known(given: Iterable[str], known: Iterable[str], owner: str, *,
                error: Callable[[str], Exception] = ParamError, what: str = "parameter",
                where: str = "") -> None:
    """Raise ``error`` for the first name of ``given`` that is not in ``known``."""
    known = list(known)
    for k in given:
        if k not in known:
            raise error(unknown_name(k, known, owner, what, where))


def format_number(v: float) -> str:
    """The shortest ``%g`` form that reads back as the same float (``5e+11``, ``0.02``, ``3``)."""
    v = float(v)
    for digits in range(1, 18):
        text = f"{v:.{digits}g}"
        if float(text) == v:
            return text
    return repr(v)


def _fmt_bound(v) -> str:
    return format_number(v) if isinstance(v, float) else str(v)


def _parse_int(text: str) -> int | float:
    """An int written as ``12`` or ``1e3`` (a float when it is not whole: validation refuses it)."""
    return float(text) if re.fullmatch(r"[+-]?\d+(\.0*)?[eE][+-]?\d+", text) else int(text)


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and double quotes (``a=1,b=[1,2]`` -> 2 parts)."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


_SCALAR_NAMES = {int: "an int", float: "a float", bool: "a bool", str: "a str", "path": "a path"}
_ITEM_NAMES = {int: "ints", float: "floats", bool: "bools", str: "str", "path": "paths"}
_PLAIN_STR = re.compile(r"[^\s\"',\[\]][^\"',\[\]]*")


class _Bad(Exception):
    """A value that does not fit (turned into the owner's refusal)."""


@dataclass(frozen=True)
class Param:
    """A declared parameter: its kind, default, what is allowed, and what it means.

    Parameters
    ----------
    name : str
    type : {int, float, bool, str, "path", list, "range", "int_range", "list"}
        The kind (see the module docstring). ``list`` takes its items' kind from ``item``.
    default : Any
        Used when the parameter is not given (:data:`NO_DEFAULT`: none).
    low, high : float, optional
        Bounds of numbers (of a list's items, of both ends of a range); closed unless
        ``low_open`` / ``high_open``.
    choices : tuple, optional
        The allowed values (of the items, for a list).
    doc : str
        What it means, with its unit.
    allow_none : bool
        Whether ``None`` is a valid value.
    low_open, high_open : bool
        Open ends: ``low_open=True, low=0`` allows every number > 0.
    item : type, optional
        The items' kind for ``list`` (``int``, ``float``, ``bool``, ``str``, ``"path"``).
    length : (int, int or None), optional
        The lengths a list may have (default: any, ``(1, None)`` for ``"list"``); for a ``str``,
        the length without surrounding spaces (``(1, None)``: a non-empty str).
    unique : bool
        A list's items may not repeat.
    exists : {"file", "dir", "any"}, optional
        A path must name an existing file, folder, or either.
    """

    name: str
    type: Any
    default: Any = NO_DEFAULT
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    doc: str = ""
    allow_none: bool = False
    low_open: bool = False
    high_open: bool = False
    item: Any = None
    length: tuple | None = None
    unique: bool = False
    exists: str | None = None

    #: What the owner is called in refusals ("solver", "family"; "" for a free-form owner).
    owner_kind: ClassVar[str] = ""
    #: What a declared name is ("parameter"; a run spec's are "key").
    what: ClassVar[str] = "parameter"
    #: The exception raised for a refused value.
    error: ClassVar[type] = ParamError

    def __post_init__(self):
        t = self.type
        if t in (int, float, bool, str, "path"):
            if self.length is not None and t is not str:
                raise TypeError(f"Param {self.name}: length= applies to lists and str")
            kind, item, length, ordered = "scalar", t, self.length, False
        elif t in (list, tuple):
            if self.item not in _ITEM_NAMES:
                raise TypeError(f"Param {self.name}: a list needs item= one of int, float, bool, "
                                f"str, 'path'; got {self.item!r}")
            kind, item, length, ordered = "list", self.item, self.length or (0, None), False
        elif t in ("range", "int_range"):
            kind, item, length, ordered = "list", float if t == "range" else int, (2, 2), True
        elif t == "list":
            kind, item, length, ordered = "list", str, self.length or (1, None), False
        else:
            raise TypeError(f"Param {self.name}: unknown type {t!r}")
        lo_len, hi_len = length if length is not None else (0, None)
        if length is not None and (lo_len < 0 or (hi_len is not None and hi_len < lo_len)):
            raise TypeError(f"Param {self.name}: bad length {length!r}")
        if self.exists not in (None, "file", "dir", "any"):
            raise TypeError(f"Param {self.name}: exists must be 'file', 'dir' or 'any'")
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_item", item)
        object.__setattr__(self, "_length", length)
        object.__setattr__(self, "_ordered", ordered)
        if self.default is not NO_DEFAULT and self.exists is None:
            try:
                self._canonical(self.default)
            except _Bad:
                raise TypeError(f"Param {self.name}: the default {self.default!r} is not "
                                f"{self.describe()}") from None

    # ------------------------------------------------------------------ description
    @property
    def type_name(self) -> str:
        """The kind as a word (``int``, ``list[int]``, ``range``...)."""
        if self.type in ("range", "int_range", "list", "path"):
            return self.type
        if self._kind == "list":
            return f"list[{getattr(self._item, '__name__', self._item)}]"
        return self.type.__name__

    def _bounds_text(self) -> str:
        if self._item not in (int, float) or (self.low is None and self.high is None):
            return ""
        lo = "-inf" if self.low is None else _fmt_bound(self.low)
        hi = "inf" if self.high is None else _fmt_bound(self.high)
        lb = "(" if self.low is None or self.low_open else "["
        rb = ")" if self.high is None or self.high_open else "]"
        return f" in {lb}{lo}, {hi}{rb}"

    def _choices_text(self) -> str:
        return f"{{{', '.join(map(repr, self.choices))}}}"

    def describe(self) -> str:
        """What is allowed, as the refusal says it (``an int in [1, inf)``)."""
        if self._kind == "scalar":
            if self.choices is not None:
                text = f"one of {self._choices_text()}"
            elif self._item is str and self._length is not None:
                text = _length_text(self._length)
            else:
                text = _SCALAR_NAMES[self._item] + self._bounds_text()
                if self._item == "path" and self.exists is not None:
                    text += {"file": " to an existing file", "dir": " to an existing folder",
                             "any": " that exists"}[self.exists]
        else:
            items = _ITEM_NAMES[self._item]
            lo, hi = self._length
            if self._ordered:
                text = f"a pair [low, high] of {items} with low <= high"
            else:
                text = _length_text(self._length, items)
            text += self._bounds_text()
            if self.choices is not None:
                text += f" from {self._choices_text()}"
            if self.unique:
                text += " without repeats"
        if self.allow_none:
            text += " or None"
        return text

    def owner_text(self, owner: str) -> str:
        return f"{self.owner_kind} {owner}" if self.owner_kind else owner

    def refuse(self, owner: str, got: str) -> Exception:
        """The owner's error with the one template (``got`` as it should be shown)."""
        return self.error(refusal(self.name, self.owner_text(owner), self.describe(), got, self.what))

    # ------------------------------------------------------------------ validation
    def validate(self, owner: str, value: Any) -> Any:
        """The value in canonical form, or the owner's error with the one template
        ("The 'passes' parameter of solver greedy-v1 must be an int in [1, inf). Got 0.")."""
        try:
            return self._canonical(value)
        except _Bad:
            raise self.refuse(owner, _shown(value)) from None

    def _canonical(self, value: Any) -> Any:
        if value is None or (self.allow_none and self._item is not str and isinstance(value, str)
                             and value.strip().lower() in NONE_WORDS):
            if self.allow_none:
                return None
            raise _Bad
        if self._kind == "scalar":
            return self._scalar(value)
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, np.ndarray)):
            raise _Bad
        items = tuple(self._scalar(v) for v in value)
        lo, hi = self._length
        if len(items) < lo or (hi is not None and len(items) > hi):
            raise _Bad
        if self._ordered and any(a > b for a, b in zip(items, items[1:])):
            raise _Bad
        if self.unique and len(set(items)) != len(items):
            raise _Bad
        return items

    def _scalar(self, v: Any) -> Any:
        t = self._item
        if t is bool:
            if not isinstance(v, (bool, np.bool_)):
                raise _Bad
            v = bool(v)
        elif t is int:
            if isinstance(v, (bool, np.bool_)):
                raise _Bad
            if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
                v = int(v)
            if not isinstance(v, (int, np.integer)):
                raise _Bad
            v = int(v)
        elif t is float:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise _Bad
            v = float(v)
            if not math.isfinite(v):
                raise _Bad
        elif t is str:
            if not isinstance(v, str):
                raise _Bad
            if self._kind == "scalar" and self._length is not None:
                n = len(v.strip())
                if n < self._length[0] or (self._length[1] is not None and n > self._length[1]):
                    raise _Bad
        else:  # path
            if not isinstance(v, (str, os.PathLike)):
                raise _Bad
            v = os.fspath(v)
            if not isinstance(v, str) or not v.strip() or "\0" in v:
                raise _Bad
            if self.exists is not None:
                p = Path(v).expanduser()
                ok = {"file": p.is_file, "dir": p.is_dir, "any": p.exists}[self.exists]()
                if not ok:
                    raise _Bad
        if t in (int, float):
            if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
                raise _Bad
            if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
                raise _Bad
        if self.choices is not None and v not in self.choices:
            raise _Bad
        return v

    # ------------------------------------------------------------------ written values
    def parse(self, owner: str, text: str) -> Any:
        """A value as written on the command line or in an ID, validated.

        ``none``/``null`` for None (when allowed); bools as ``true/yes/on/1``; lists as
        ``120,80`` or ``[120,80]`` (a range also as ``2.5:5.2``, a list of str also as
        ``alexnet+vgg16``); a str in double quotes is read as JSON (``"none"``, ``"a,b"``).
        A refusal shows the text as written.
        """
        if not isinstance(text, str):
            raise TypeError(f"Param.parse takes the text as written, not {type(text).__name__}")
        t = text.strip()
        got = t if t else repr(text)
        if self.allow_none and t.lower() in NONE_WORDS:
            return None
        try:
            if self._kind == "scalar":
                value = self._read(t, self._item)
            else:
                value = [self._read(p.strip(), self._item) for p in self._list_parts(t)]
            return self._canonical(value)
        except (_Bad, ValueError):
            raise self.refuse(owner, got) from None

    def _list_parts(self, t: str) -> list[str]:
        if t.startswith("[") and t.endswith("]"):
            inner = t[1:-1].strip()
        else:
            inner = t
            if self._ordered and ":" in t and "," not in t:
                return t.split(":")
            if self.type == "list" and "+" in t and "," not in t:
                return [p for p in t.split("+") if p]
        if not inner:
            return []
        return split_top_level(inner)

    @staticmethod
    def _read(t: str, kind) -> Any:
        if kind is bool:
            return parse_bool(t)
        if kind is int:
            return _parse_int(t)
        if kind is float:
            return float(t)
        if len(t) >= 2 and t[0] == '"' and t[-1] == '"':
            try:
                v = json.loads(t)
            except json.JSONDecodeError:
                raise ValueError(t) from None
            if not isinstance(v, str):
                raise ValueError(t)
            return v
        return t

    def format(self, value: Any) -> str:
        """A validated value written so that :meth:`parse` reads it back as the same value
        (``true``, ``0.02``, ``[120,80]``; a range ``2.5:5.2``, a list of str ``a+b``)."""
        if value is None:
            return "none"
        if self._kind == "scalar":
            return self._write(value, in_list=False)
        if self._ordered:
            return ":".join(self._write(v, in_list=True) for v in value)
        if self.type == "list" and value and all(
                isinstance(v, str) and _PLAIN_STR.fullmatch(v) and "+" not in v
                and ":" not in v and v == v.strip() for v in value):
            return "+".join(value)
        return "[" + ",".join(self._write(v, in_list=True) for v in value) + "]"

    def _write(self, v: Any, in_list: bool) -> str:
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (float, np.floating)):
            return format_number(v)
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        plain = (v == v.strip() and v != "" and v[0] != '"'
                 and not (self.allow_none and v.lower() in NONE_WORDS))
        if in_list:
            plain = plain and _PLAIN_STR.fullmatch(v) is not None
        return v if plain else json.dumps(v)


def _length_text(length: tuple, items: str = "") -> str:
    """``a non-empty list of ints``, ``a list of 2 to 4 ints``, ``a str of at most 8 characters``
    (a list when ``items`` names its items, else a str)."""
    lo, hi = length
    if (lo, hi) in ((0, None), (1, None)):
        head = "a non-empty " if lo else "a "
        return head + (f"list of {items}" if items else "str")
    count = (f"{lo}" if lo == hi else f"at least {lo}" if hi is None else
             f"at most {hi}" if lo == 0 else f"{lo} to {hi}")
    return f"a list of {count} {items}" if items else f"a str of {count} characters"


def _shown(value: Any) -> str:
    """A refused value as the message shows it (``0``, ``'lenet'``, ``nan``, ``(5, 2)``); a
    table or list of over 1,000 values in all, abridged (``[[[...], ...], ...]``): YAML's
    aliases make a few lines a structure too large to write (nine nested lists of nine aliases
    of the one below: 9**9 strings, and a message that never came)."""
    if isinstance(value, np.generic):
        value = value.item()
    todo, n = [value], 0
    while todo and n <= 1000:
        x = todo.pop()
        n += 1
        if isinstance(x, dict):
            todo += [*x.keys(), *x.values()]
        elif isinstance(x, (list, tuple, set, frozenset)):
            todo += x
    if n <= 1000:
        return repr(value)
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother = 3, 60, 60
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = 8
    return r.repr(value)


# ------------------------------------------------------------------------------ assignments
def parse_assignments(pairs: Sequence[str], declared: Mapping[str, Param], owner: str, *,
                      error: Callable[[str], Exception] = ParamError,
                      option: str = "--param", where: str = "") -> dict[str, Any]:
    """Parse ``["name=value", ...]`` against declared parameters.

    Refuses a pair without ``=``, an unknown name (with "did you mean"), and a name given
    twice; each value is read by :meth:`Param.parse`. ``owner`` is the bare owner name
    (``local-search-v1``); the declarations add their kind (``solver``).
    """
    out: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise error(f"{option} {pair!r}: expected NAME=VALUE")
        k, v = pair.split("=", 1)
        k = k.strip()
        if k not in declared:
            kind = next(iter(declared.values())).owner_text(owner) if declared else owner
            raise error(unknown_name(k, declared, kind, where=where))
        if k in raw:
            raise error(f"{option} {k}: given twice ({raw[k].strip()} and {v.strip()})")
        raw[k] = v
        out[k] = declared[k].parse(owner, v)
    return out


# ------------------------------------------------------------------------------ grids
def expand_grid(entry: Mapping[str, Any], where: str, *,
                error: Callable[[str], Exception] = ParamError) -> list[dict]:
    """Expand a run spec entry's parameter grid into one entry per point.

    ``{"id": "local-search", "params": {"time_cap": 2}, "grid": {"restarts": [1, 4, 16]}}``
    becomes three entries with ``params = {"time_cap": 2, "restarts": r}``; several keys give
    their cartesian product (the last key varying fastest). A grid key that is also in
    ``params`` is an error naming both, and so is a key whose values are not a non-empty list.
    An entry without ``grid`` comes back alone; the values are validated by whoever
    instantiates the solver.
    """
    entry = dict(entry)
    grid = entry.pop("grid", None)
    if grid is None:
        return [entry]
    if not isinstance(grid, Mapping) or not grid:
        raise error(f"{where}.grid: expected a table of parameter names to lists of values "
                    f"(grid = {{ restarts = [1, 4, 16] }}), got {grid!r}")
    params = entry.get("params", {})
    if not isinstance(params, Mapping):
        raise error(f"{where}.params: expected a table of parameters, got {params!r}")
    for k, values in grid.items():
        if k in params:
            raise error(f"{where}: the parameter {k!r} is given both in params ({k} = "
                        f"{params[k]!r}) and in grid ({k} = {values!r}); give it in one of them")
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (list, tuple)) or not values:
            raise error(f"{where}.grid.{k}: expected a non-empty list of values to try, got {values!r}")
        repeated = [v for i, v in enumerate(values) if v in list(values)[:i]]
        if repeated:
            raise error(f"{where}.grid.{k}: the value {repeated[0]!r} is listed twice in {list(values)!r}")
    keys = list(grid)
    out = []
    for point in itertools.product(*(grid[k] for k in keys)):
        out.append({**entry, "params": {**params, **dict(zip(keys, point))}})
    return out
