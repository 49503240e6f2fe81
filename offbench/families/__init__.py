"""Instance families: versioned, seeded generators of the settings the literature studies.

A *family* is data plus a generator. Its definition lives in a TOML file of the ``instances``
folder (installed as the package ``offbench_instances``): a one-line description, a longer
``doc`` (what it models, its sizes, where its numbers come from), a version history, and per
version the generator parameters, size presets, named environments, stream settings and frozen
sets. Its generator is a module of this package named in the file (``offbench.families.dmro``),
imported only when the family is used. Nothing is registered by hand: every ``*.toml`` of the
folder is a family. Users add families of their own from folders of definitions in the same
format (``--families-dir DIR``, :func:`add_families_dirs`), over the built-in generators or an
installed package's (:mod:`offbench.families.definition` says what is allowed).

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

The package's modules: :mod:`~offbench.families.param` (``FParam``, ``FamilyError``),
:mod:`~offbench.families.definition` (the TOML loader, ``Environment``, ``SetSpec``),
:mod:`~offbench.families.ids` (ID parsing and the salt), :mod:`~offbench.families.family` (the
:class:`Family` type, generation and streams), the generators (``dmro``, ``capacitated``,
``deadline``, ``zoo``, ``scale``, with ``_fleet`` and ``_common``; with DAG jobs ``zoo_dag``
(zoo-v2's), ``dmro_dag`` (dmro-v2's), ``workflow``, ``workflow_mrlco`` (workflow-v2's) and
``dmro_mrlco`` (dmro-v3's), with ``_dag``), and here the lookup.

**A change to a generator that changes any instance needs a version bump** (a new ``[vN]``
table in the TOML and a history line), so that old leaderboard rows stay comparable; the test
suite pins digests of every family to catch an unintended change.
"""

from __future__ import annotations

import difflib
from typing import Any

from .definition import (DIR_ENV, PATH_ENV, Environment, SetSpec, _defs, add_families_dirs,
                         definitions_dir, families_dirs, family_names)
from .family import Family
from .ids import parse_family_id
from .param import FamilyError, FParam

__all__ = [
    "FamilyError", "FParam", "Environment", "SetSpec", "Family", "get_family", "list_families",
    "family_names", "definitions_dir", "parse_family_id", "DIR_ENV", "PATH_ENV",
    "add_families_dirs", "families_dirs",
]


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
        raise FamilyError(f"unknown family {id!r}.{hint} Families: {', '.join(sorted(defs))} "
                          "(a family of your own: name its folder with --families-dir).")
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
