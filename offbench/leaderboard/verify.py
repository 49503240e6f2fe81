"""Verifying a committed table: re-run what it claims and compare every quality number.

:func:`verify` reads the run specs from a rendered table's provenance, re-runs them into a fresh
store, rebuilds the table and compares every quality cell (all columns but latency and time).

A table is data: reading it never runs code it names. The re-run loads only the solvers of the
installed package (``offbench_solvers`` and installed entry points) and the folders the user
names (``--solvers-dir``); a spec whose ``solvers_dirs`` names any other folder is refused
before anything is imported (:func:`check_solvers_dirs`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Store
from .build import LeaderboardError, build
from .render import _quality_view, read_table, render


@dataclass
class VerifyReport:
    """What :func:`verify` compared and what differed."""

    format: str
    tables: int
    rows: int
    numbers: int
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def check_solvers_dirs(specs: list, allowed=()) -> None:
    """Refuse run specs that load solvers from folders the user did not name.

    Raises
    ------
    LeaderboardError
        Naming the folders and how to allow them (``--solvers-dir``).
    """
    import os
    from pathlib import Path

    ok = {os.path.realpath(str(Path(d).expanduser())) for d in allowed}
    bad: list[str] = []
    for raw in specs:
        dirs = raw.get("solvers_dirs") if isinstance(raw, dict) else None
        if dirs is None:
            continue
        if not isinstance(dirs, list):
            dirs = [dirs]
        for d in dirs:
            text = str(d)
            if os.path.realpath(text) not in ok and text not in bad:
                bad.append(text)
    if bad:
        shown = ", ".join(repr(b[:200]) for b in bad[:5])
        raise LeaderboardError(
            f"the table's run specs load solvers from {shown}, which verify does not run: a "
            "table is data, and its code is not trusted. After reading that code, allow it with "
            + " ".join(f"--solvers-dir {b[:200]}" for b in bad[:5]))


def verify(text: str, *, executor=None, workdir=None, progress=None,
           solvers_dirs=(), provenance: dict | None = None) -> VerifyReport:
    """Re-run the specs named in a rendered table's provenance into a fresh store, rebuild the
    table, and compare every quality number (all columns but latency and time).

    Parameters
    ----------
    text : str
        The table (Markdown, CSV or LaTeX, as written by :func:`render`).
    executor : offbench.run.Executor, optional
    workdir : path-like, optional
        Where the fresh store goes (default: a temporary folder, removed afterwards).
    provenance : dict, optional
        The table's sidecar provenance (:func:`~offbench.leaderboard.render.read_sidecar`), for a
        table without a provenance line of its own (CSV).
    solvers_dirs : sequence of path-like
        Folders of solvers the user allows (``--solvers-dir``); any other folder named by the
        table's specs is refused (:func:`check_solvers_dirs`).
    """
    import tempfile
    from pathlib import Path

    from .. import __version__
    from ..run import parse_spec, plan, run

    fmt, prov, claimed = read_table(text, provenance)
    if prov.get("offbench_version") != __version__:
        raise LeaderboardError(f"the table was made by offbench {prov.get('offbench_version')}, "
                               f"this is offbench {__version__}; verify it with that version")
    specs = prov.get("specs") or []
    if not specs:
        raise LeaderboardError("the table's provenance names no run specs to re-run")
    check_solvers_dirs(specs, solvers_dirs)
    tmp = tempfile.TemporaryDirectory(prefix="offbench-verify-") if workdir is None else None
    root = Path(tmp.name if tmp else workdir)
    try:
        store_path = root / "verify.sqlite"
        for i, raw in enumerate(specs):
            spec = parse_spec(raw, where=f"provenance spec {i}")
            run(spec, store_path, executor=executor, progress=progress, plan_=plan(spec),
                command="offbench leaderboard verify")
        diffs = []
        with Store.open_readonly(store_path) as store:
            sel = prov["selection"]
            rerun: dict[str, list[str]] = {}
            for s in store.sources():
                rerun.setdefault(s["name"], []).append(s["digest"])
            chosen = []
            for name, digest in sel["sources"]:
                if digest in rerun.get(name, ()):
                    chosen.append((name, digest))
                elif name in rerun:  # the same source now gives other instances
                    diffs.append(f"source {name}: the table's instances have digest {digest[:12]}, "
                                 f"the re-run's {rerun[name][-1][:12]} (the generator, the family "
                                 "or the instance files changed)")
                    chosen.append((name, rerun[name][-1]))
                else:
                    diffs.append(f"source {name}: in the table but not in the re-run")
            diffs += _changed_parameters(prov.get("solvers") or [], store.results(offbench_version=__version__))
            diffs += _changed_references(prov.get("sources") or [], store, chosen)
            try:
                board = build(store, sources=chosen, solvers=[tuple(s) for s in sel["solvers"]],
                              tracks=sel["tracks"])
                # The fresh store's path differs; tables are compared on their cells.
                board.provenance["store"] = prov.get("store")
                _, _, fresh = read_table(render(board, fmt), board.provenance)
            except LeaderboardError as e:
                diffs.append(f"the re-run gives no table: {e}")
                fresh = []
    finally:
        if tmp is not None:
            tmp.cleanup()
    a, b = _quality_view(claimed), _quality_view(fresh)
    for k in sorted(set(a) | set(b)):
        if k not in b:
            diffs.append(f"{k[0]}: row {k[1]!r} is in the table but not in the re-run")
            continue
        if k not in a:
            diffs.append(f"{k[0]}: row {k[1]!r} is in the re-run but not in the table")
            continue
        for col in a[k]:
            if a[k][col] != b[k].get(col):
                diffs.append(f"{k[0]}: {k[1]}: {col}: table says {a[k][col]!r}, re-run gives {b[k].get(col)!r}")
    numbers = sum(len(v) - 1 for v in a.values())
    return VerifyReport(format=fmt, tables=len(claimed), rows=len(a), numbers=numbers, differences=diffs)


def _changed_references(table_sources: list[dict], store: Store, chosen) -> list[str]:
    """For each frozen set of the table whose references the re-run used differently (the set's
    references were recomputed and replaced since the table was made: a new
    ``references_version`` in its manifest), one line naming the set, the versions and why. A
    table made before tables recorded their references (no ``references_digest``) gets the line
    only where the set's references have been replaced at all."""
    from ..instance_sets import SetError, load_set
    from .build import set_references_digest

    ids = {(s["name"], s["digest"]): s["source_id"] for s in store.sources()}
    rerun_ids = {name: ids.get((name, digest)) for name, digest in chosen}
    out = []
    for src in table_sources:
        if src.get("kind") != "set" or rerun_ids.get(src.get("name")) is None:
            continue
        now = set_references_digest(store, rerun_ids[src["name"]])
        then = src.get("references_digest")
        if then == now:
            continue
        set_id = (src.get("spec") or {}).get("set") or src["name"]
        try:
            s = load_set(set_id)
            version, history = s.references_version, s.references_history
        except (SetError, OSError):
            version, history = None, []
        if then is None and not history:
            continue  # not recorded, and never replaced: nothing to say
        why = "; ".join(f"version {h.get('version')} replaced in version "
                        f"{h.get('replaced_in_version')}: {h.get('why', 'no reason given')} "
                        f"({len(h.get('old') or {})} member(s))" for h in history)
        lead = (f"source {src['name']}: the table's ratios used other references than the set "
                f"has now" if then is not None else
                f"source {src['name']}: the table does not record which references it used, and "
                "the set's references have been replaced since version 1")
        out.append(f"{lead} (references version {version}{': ' + why if why else ''}); its "
                   "ratios on those members are expected to differ")
    return out


def _changed_parameters(table_solvers: list[dict], rows: list[dict]) -> list[str]:
    """For each solver of the table whose parameters the re-run validated differently (a
    parameter added with its default, a default changed), one line naming what changed."""
    rerun: dict[str, dict[str, dict]] = {}
    for r in rows:
        rerun.setdefault(r["solver_id"], {})[r["param_hash"]] = r["params"]
    out = []
    for s in table_solvers:
        now = rerun.get(s["id"], {})
        if not now or s["param_hash"] in now:
            continue
        for h, params in now.items():
            old = s.get("params") or {}
            keys = sorted(set(old) | set(params))
            what = [f"{k}: {old[k]!r} -> {params[k]!r}" if k in old and k in params else
                    f"{k} = {params[k]!r} (new)" if k in params else f"{k} = {old[k]!r} (gone)"
                    for k in keys if old.get(k, _MISSING) != params.get(k, _MISSING)]
            out.append(f"solver {s['id']}: its parameters changed since the table was made "
                       f"(hash {s['param_hash'][:12]} -> {h[:12]}): " + (", ".join(what) or
                       "the same values, validated differently"))
    return out


_MISSING = object()
