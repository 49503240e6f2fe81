"""Small helpers shared by the subcommands."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys

from .._json import clean
from ..errors import UserError


def print_json(obj) -> None:
    """Print one JSON object for programs: no NaN or Infinity (they become null)."""
    sys.stdout.write(json.dumps(clean(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise UserError(f"expected a number of seconds > 0, got {text!r}") from None
    if not (v > 0) or not math.isfinite(v):
        raise UserError(f"expected a number of seconds > 0, got {text!r}")
    return v


def seed_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise UserError(f"expected a seed: an integer >= 0, got {text!r}") from None
    if v < 0:
        raise UserError(f"expected a seed: an integer >= 0, got {text!r}")
    return v


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to standard output, by Python or by native libraries (a MILP
    back end's log), to standard error until the block ends: the commands that print JSON for
    programs keep their standard output to that JSON alone."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured in a test)
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    saved = os.dup(fd)
    try:
        os.dup2(sys.stderr.fileno(), fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
