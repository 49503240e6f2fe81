"""Small helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys

from .._json import clean
from ..errors import UserError


def print_json(obj) -> None:
    """Print one JSON object for programs: no NaN or Infinity (they become null)."""
    sys.stdout.write(json.dumps(clean(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


def positive_float(text: str) -> float:
    """An option's number of seconds > 0 (argparse names the option in the message)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not (v > 0) or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return v


def seed_int(text: str) -> int:
    """An option's integer >= 0: a seed, an index (argparse names the option in the message)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


INT64_MAX = 2**63 - 1


def int_option(option: str, low: int, what: str,
               why_max: str | None = "the store keeps 64-bit integers"):
    """An argparse type for an integer option ``>= low`` (and at most :data:`INT64_MAX`); a
    bad value names the option."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < low:
            raise UserError(f"{option}: expected {what} >= {low}, got {text!r}")
        if v > INT64_MAX:
            why = f" ({why_max})" if why_max else ""
            raise UserError(f"{option}: expected {what} of at most 2**63 - 1{why}, got {text}")
        return v
    return parse


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to standard output, by Python or by native libraries (a MILP
    back end's log), to standard error until the block ends: the commands that print JSON for
    programs keep their standard output to that JSON alone. The descriptor-level part is the
    one process-wide guard that every solve uses (:func:`offbench._stdio.stdout_to_stderr`);
    Python's ``sys.stdout`` is redirected too, for a captured or replaced stream."""
    from .._stdio import stdout_to_stderr as fd_guard

    with fd_guard(), contextlib.redirect_stdout(sys.stderr):
        yield


def families_dir_option(p) -> None:
    """The ``--families-dir DIR`` option (repeatable) of the commands that use families."""
    p.add_argument("--families-dir", action="append", default=[], metavar="DIR",
                   help="a folder of user family definitions (TOML files in the format of "
                        "instances/*.toml), added to the built-in families (repeatable)")


def use_families_dirs(args) -> None:
    """Add the folders of ``--families-dir`` (checked and loaded now: a bad definition is
    reported before any work)."""
    dirs = getattr(args, "families_dir", None)
    if dirs:
        from ..families import add_families_dirs

        add_families_dirs(dirs)
