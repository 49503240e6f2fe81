"""Bounds on untrusted instances: size limits and admissible number ranges (SPEC.md section 3).

:data:`LIMITS` are the size limits of one instance (devices, jobs, layers per job and in all,
edges of DAG jobs, bytes of a file), each raised by an environment variable; :func:`check_size` refuses a size over
them before anything of that size is allocated (the readers of :mod:`offbench.instance` call it
job by job and from array headers, the families and generators before they draw). Every number
of an instance lies in the admissible ranges (:data:`MIN_MAGNITUDE`, :data:`MAX_MAGNITUDE`), so
that no cost of any decision can overflow or underflow.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any, NoReturn

import numpy as np

from .errors import InstanceError, UserError

#: Size limits of one instance, checked before anything large is allocated: name -> (the
#: environment variable that raises it, its default, what it counts). Read with :func:`limit`,
#: checked with :func:`check_size`. The number of instances in a set or a run is not limited.
LIMITS = {
    "bytes": ("OFFBENCH_MAX_INSTANCE_BYTES", 256 * 2**20, "bytes in an instance file"),
    "devices": ("OFFBENCH_MAX_DEVICES", 1_000_000, "devices in an instance"),
    "jobs": ("OFFBENCH_MAX_JOBS", 1_000_000, "jobs in an instance"),
    "layers_per_job": ("OFFBENCH_MAX_LAYERS_PER_JOB", 100_000, "layers in one job"),
    "layers": ("OFFBENCH_MAX_LAYERS", 10_000_000, "layers in an instance"),
    "edges": ("OFFBENCH_MAX_EDGES", 20_000_000, "edges of DAG jobs in an instance"),
}
#: Files larger than this are refused before they are read (override with the environment
#: variable ``OFFBENCH_MAX_INSTANCE_BYTES`` or the ``max_bytes`` argument).
MAX_INSTANCE_BYTES = LIMITS["bytes"][1]

#: Admissible magnitudes (SPEC.md section 3, "Admissible ranges"): every number of an instance is
#: 0 or in [MIN_MAGNITUDE, MAX_MAGNITUDE] (speeds and rates are never 0; capacities and deadlines,
#: which are only compared, may be any number in [0, MAX_MAGNITUDE]), so that no cost, time or
#: energy of any decision can overflow to infinity or underflow to a subnormal number.
MIN_MAGNITUDE = 1e-30
MAX_MAGNITUDE = 1e30
RANGE_TEXT = "[1e-30, 1e30]"


def limit(name: str) -> int:
    """The size limit ``name`` of :data:`LIMITS`: its environment variable if set, else its
    default. A variable that is not a whole number >= 1 is a :class:`UserError`."""
    var, default, _ = LIMITS[name]
    raw = os.environ.get(var)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().replace("_", "")
    if not (text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= 1):
        raise UserError(f"{var}={short_repr(raw)}: expected a whole number >= 1 "
                        f"(the default is {default:,})")
    return int(text)


def check_size(*, n_devices=None, n_jobs=None, n_layers=None, layers_per_job=None,
               n_bytes=None, n_edges=None, where: str = "") -> None:
    """Refuse an instance larger than the limits of :data:`LIMITS`, before it is built.

    Call it wherever a size is decided (a file's header, a family's ``n_jobs``, a random
    source's ``layers``). Each argument is a count (``layers_per_job`` may be the largest
    count, or an array of them); None is not checked.

    Raises
    ------
    InstanceError
        Naming the count, the limit and the environment variable that raises it.
    """
    for name, n in (("bytes", n_bytes), ("devices", n_devices), ("jobs", n_jobs),
                    ("layers_per_job", layers_per_job), ("layers", n_layers), ("edges", n_edges)):
        if n is None:
            continue
        if isinstance(n, np.ndarray):
            if n.size == 0:
                continue
            n = n.max()
        try:
            too_many = n > limit(name)
        except TypeError:
            raise InstanceError(where, f"expected a count of {LIMITS[name][2]}, "
                                       f"got {short_repr(n)}") from None
        if too_many:
            var, _, what = LIMITS[name]
            shown = f"{n:,}" if isinstance(n, (int, np.integer)) else f"{n:g}"
            raise InstanceError(where, f"{shown} {what} is over the limit of {limit(name):,} "
                                       f"(set the environment variable {var} to raise it)")


class TooLarge:
    """A JSON number literal that no float holds (``1e400``) or an integer of more than 40 digits
    (none is admissible; Python refuses to convert 4300 or more): kept apart so that the field
    it sits in is named, never read as infinity."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def describe(self) -> str:
        t = self.text.lstrip("-")
        if t.isdigit():
            return (f"an integer of {len(t)} digits, outside the admissible range of SPEC.md "
                    "section 3")
        return f"{short(self.text, 40)}, beyond a 64-bit float (it would read as infinity)"


def short(text: str, n: int = 120) -> str:
    text = str(text)
    return text if len(text) <= n else f"{text[:n // 2]}...{text[-n // 4:]} ({len(text):,} characters)"


def short_repr(v: Any) -> str:
    if isinstance(v, TooLarge):
        return v.describe()
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, np.generic):
        return repr(v.item())
    try:
        return short(repr(v), 120)
    except ValueError:  # an int too long to print
        return "an integer too long to print"


def admissible(v: float, positive: bool, floor: bool = True) -> bool:
    if v == 0:
        return not positive
    return (MIN_MAGNITUDE if floor else 0.0) <= v <= MAX_MAGNITUDE


def check_number(path: str, v: float, *, positive: bool, what: str | None = None,
                  floor: bool = True) -> None:
    v = float(v)
    if admissible(v, positive, floor):
        return
    if what is None:
        what = f"a number in {RANGE_TEXT}" if positive else f"0 or a number in {RANGE_TEXT}"
    if not math.isfinite(v):
        raise InstanceError(path, f"expected a finite number, got {v!r}")
    if v < 0 or (positive and v == 0):
        raise InstanceError(path, f"expected {'a number > 0' if positive else 'a number >= 0'}, "
                                  f"got {v!r}")
    raise InstanceError(path, f"expected {what}, got {v!r}: outside the admissible range of "
                              "SPEC.md section 3, where a cost could overflow or underflow")


def first_bad(a: np.ndarray, *, positive: bool, floor: bool = True) -> int | None:
    with np.errstate(invalid="ignore"):
        ok = (a >= (MIN_MAGNITUDE if floor else 0.0)) & (a <= MAX_MAGNITUDE)
        if not positive:
            ok |= a == 0
    return int(np.argmin(ok)) if not ok.all() else None


def odd_length_out(sizes: dict, what: str, offsets: str = "") -> NoReturn:
    """Raise an InstanceError naming the first array whose length is not the one most of
    ``sizes`` share (``offsets``: an array of one more value, given here less one), or listing
    them all on a tie: a short ``dev_speed`` is named, not the arrays measured against it."""
    (n, votes), *rest = Counter(sizes.values()).most_common()
    if rest and rest[0][1] == votes:
        raise InstanceError("", "arrays disagree in length (" + what + "): " +
                            ", ".join(f"{k} {v + 1 if k == offsets else v}" for k, v in sizes.items()))
    for k, v in sizes.items():
        if v != n:
            if k == offsets:
                raise InstanceError(k, f"expected {n + 1} offsets (as the other arrays have "
                                       f"{n} jobs), got {v + 1}")
            raise InstanceError(k, f"expected {n} values ({what}, as the other arrays have), "
                                   f"got {v}")
    raise AssertionError("called with arrays of one length")
