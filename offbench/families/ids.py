"""Family IDs: ``name[-vN][:preset][[param=value,...]]`` split into their parts, and the salt.

The salt of an ID (an integer from its sha256, never Python's ``hash()``) seeds every random
number of the family's instances, so the ID is part of the instances' identity.
"""

from __future__ import annotations

import hashlib
import re

from .param import FamilyError

__all__ = ["parse_family_id", "salt"]

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


def salt(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
