"""Verifying a committed table: re-run what it claims and compare every quality number.

:func:`verify` reads the run specs from a rendered table's provenance, re-runs them into a fresh
store, rebuilds the table and compares every quality cell (all columns but latency and time),
the order of the rows, the notes, the paired comparison (``--compare``) and every provenance
field that the re-run recomputes; fields of the machine and the run (:data:`INFORMATIONAL`) are
said, not failed. The table is read whole, as :func:`~offbench.leaderboard.render.render`
writes it (:func:`~offbench.leaderboard.render.read_document`): a line it does not write is
refused, so no number that a reader sees goes unchecked.

A table is data: reading it never runs code it names. The re-run loads only the solvers of the
installed package (``offbench_solvers`` and installed entry points) and the folders the user
names (``--solvers-dir``); a spec whose ``solvers_dirs`` names any other folder is refused
before anything is imported (:func:`check_solvers_dirs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..store import Store
from .build import LeaderboardError, build
from .differences import MISSING, first_difference, provenance_differences
from .render import (Document, _prov_json, latex_escape, quality_columns, read_document,
                     read_provenance, render)


@dataclass
class VerifyReport:
    """What :func:`verify` compared and what differed."""

    format: str
    tables: int
    rows: int
    numbers: int
    differences: list[str]
    #: where the re-run legitimately differs from the table (commit, machine, libraries,
    #: executor): said, not failed
    notes: list[str] = field(default_factory=list)
    #: rows of the paired comparison compared (``--compare``)
    comparisons: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences


#: Provenance fields of the machine and the run, not of the numbers: a re-run may differ there.
INFORMATIONAL = ("offbench_commits", "runs", "machines", "libraries", "executors")

#: Provenance fields that say where the store was (the re-run's is a temporary folder).
IGNORED = ("store",)


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


def _pairs(v) -> bool:
    return isinstance(v, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in v)


def check_shape(prov: dict) -> None:
    """Refuse a provenance whose fields that verify reads are not of the form ``offbench
    leaderboard`` writes (a hand-edited or damaged sidecar), naming the field, before anything
    runs.

    Raises
    ------
    LeaderboardError
    """
    sel = prov.get("selection")
    if not isinstance(sel, dict) or not all(k in sel for k in ("sources", "solvers", "tracks")):
        raise LeaderboardError("the table's provenance has no selection (sources, solvers, "
                               "tracks) to rebuild it from")
    bad = []
    for k, what in (("sources", "[name, digest]"), ("solvers", "[solver ID, parameter hash]")):
        if not _pairs(sel[k]):
            bad.append(f"selection.{k} is not a list of {what} pairs")
    if not (isinstance(sel["tracks"], list) and all(isinstance(t, str) for t in sel["tracks"])):
        bad.append("selection.tracks is not a list of track names")
    for k, keys in (("sources", ("name", "digest")), ("solvers", ("id", "param_hash"))):
        v = prov.get(k, [])
        if not (isinstance(v, list) and all(
                isinstance(x, dict) and all(isinstance(x.get(n), str) for n in keys)
                and isinstance(x.get("params", {}), dict) for x in v)):
            bad.append(f"{k} is not a list of objects with {' and '.join(keys)}"
                       + (" and params (an object)" if k == "solvers" else ""))
    if bad:
        raise LeaderboardError("the table's provenance is not one offbench leaderboard writes: "
                               + "; ".join(bad))


def verify(text: str, *, executor=None, workdir=None, progress=None,
           solvers_dirs=(), provenance: dict | None = None) -> VerifyReport:
    """Re-run the specs named in a rendered table's provenance into a fresh store, rebuild the
    table, and compare every quality number (all columns but latency and time), the notes, the
    order of the rows, the paired comparison written with ``--compare``, and every provenance
    field that the re-run recomputes (:data:`INFORMATIONAL` fields are said in
    :attr:`VerifyReport.notes`, not failed).

    Parameters
    ----------
    text : str
        The table (Markdown, CSV or LaTeX, as written by :func:`render`).
    executor : offbench.run.Executor, optional
    workdir : path-like, optional
        Where the fresh store goes (default: a temporary folder, removed afterwards).
    provenance : dict, optional
        The table's sidecar provenance (:func:`~offbench.leaderboard.render.read_sidecar`): the
        provenance of a table without a provenance line of its own (CSV); beside one, it must
        be the same.
    solvers_dirs : sequence of path-like
        Folders of solvers the user allows (``--solvers-dir``); any other folder named by the
        table's specs is refused (:func:`check_solvers_dirs`).
    """
    import tempfile
    from pathlib import Path

    from .. import __version__
    from ..run import parse_spec, plan, run

    # what the table would run is checked before its lines are read: a table that names code
    # from elsewhere is refused as such, whatever else is wrong with it
    _, prov, _ = read_provenance(text, provenance)
    if prov.get("offbench_version") != __version__:
        raise LeaderboardError(f"the table was made by offbench {prov.get('offbench_version')}, "
                               f"this is offbench {__version__}; verify it with that version")
    specs = prov.get("specs") or []
    if not specs or not isinstance(specs, list):
        raise LeaderboardError("the table's provenance names no run specs to re-run")
    check_solvers_dirs(specs, solvers_dirs)
    check_shape(prov)
    sel = prov["selection"]
    doc = read_document(text, provenance)
    tmp = tempfile.TemporaryDirectory(prefix="offbench-verify-") if workdir is None else None
    root = Path(tmp.name if tmp else workdir)
    diffs = list(doc.problems)
    explained: set[str] = set()  # provenance fields a line below already explains
    fresh, fresh_prov, comps = None, None, None
    try:
        store_path = root / "verify.sqlite"
        for i, raw in enumerate(specs):
            spec = parse_spec(raw, where=f"provenance spec {i}")
            run(spec, store_path, executor=executor, progress=progress, plan_=plan(spec),
                command="offbench leaderboard verify")
        with Store.open_readonly(store_path) as store:
            rerun: dict[str, list[str]] = {}
            for s in store.sources():
                rerun.setdefault(s["name"], []).append(s["digest"])
            chosen = []
            for name, digest in sel["sources"]:
                if digest in rerun.get(name, ()):
                    chosen.append((name, digest))
                elif name in rerun:  # the same source now gives other instances
                    mine, theirs = _prefixes(digest, rerun[name][-1])
                    diffs.append(f"source {name}: the table's instances have digest {mine}, "
                                 f"the re-run's {theirs} (the generator, the family or the "
                                 "instance files changed)")
                    explained |= {f"sources[{name}].digest", "selection.sources"}
                    chosen.append((name, rerun[name][-1]))
                else:
                    diffs.append(f"source {name}: in the table but not in the re-run")
            changed = _changed_parameters(prov.get("solvers") or [],
                                          store.results(offbench_version=__version__))
            for sid, line in changed:
                diffs.append(line)
                explained |= {f"solvers[{sid}]", "selection.solvers"}
            for name, line in _changed_references(prov.get("sources") or [], store, chosen):
                diffs.append(line)
                explained.add(f"sources[{name}].references_digest")
            try:
                board = build(store, sources=chosen, solvers=[tuple(s) for s in sel["solvers"]],
                              tracks=sel["tracks"])
                fresh_prov = json.loads(_prov_json(board))  # as a table records it
                fresh = read_document(render(board, doc.format), fresh_prov)
                if doc.comparisons is not None:
                    comps = _recompute_comparisons(doc, board)
            except LeaderboardError as e:
                diffs.append(f"the re-run gives no table: {e}")
    finally:
        if tmp is not None:
            tmp.cleanup()
    notes: list[str] = []
    if fresh is not None:
        diffs += fresh.problems
        diffs += _compare_tables(doc, fresh, notes)
        d, n = _compare_provenance(prov, fresh_prov, explained)
        diffs += d
        notes += n
    if comps is not None:
        diffs += _compare_comparisons(doc, *comps)
    rows = sum(len(t[2]) for t in doc.tables)
    numbers = sum((len(quality_columns(header)) - 1) * len(rs) for _, header, rs in doc.tables)
    return VerifyReport(format=doc.format, tables=len(doc.tables), rows=rows, numbers=numbers,
                        differences=diffs, notes=notes,
                        comparisons=len(doc.comparisons or []))


def _compare_tables(doc: Document, fresh: Document, notes: list[str]) -> list[str]:
    """Differences between the table's leaderboard tables and the re-run's: tables and rows
    that one has and the other has not, rows given twice, columns, quality cells, the order of
    the rows, notes (one of an in-process run, ``UNREFEREED``, goes to ``notes``)."""
    diffs: list[str] = []
    first: dict[str, int] = {}
    for i, (title, _, _) in enumerate(doc.tables):
        if title in first:
            diffs.append(f"{title}: the table is given twice (a leaderboard has one table per "
                         "source and track)")
        else:
            first[title] = i
    again = {t[0]: i for i, t in enumerate(fresh.tables)}
    for title, i in first.items():
        _, header, rows = doc.tables[i]
        if title not in again:
            diffs.append(f"{title}: the table is not in the re-run")
            continue
        j = again[title]
        _, fheader, frows = fresh.tables[j]
        if header != fheader:
            diffs.append(f"{title}: the table's columns are {', '.join(header)}; the re-run's "
                         f"{', '.join(fheader)}")
            continue
        si = header.index("solver")
        mine: dict[str, list[str]] = {}
        at: dict[str, int] = {}
        for r, line in zip(rows, doc.lines[i]):
            if r[si] in mine:
                diffs.append(f"{title}: solver row {r[si]!r} is given twice (lines {at[r[si]]} "
                             f"and {line}; a table has one row per solver)")
            else:
                mine[r[si]], at[r[si]] = r, line
        theirs = {r[si]: r for r in frows}
        cols = [(k, h) for k, h in enumerate(header) if h in quality_columns(header)]
        before = len(diffs)
        for label, r in mine.items():
            if label not in theirs:
                diffs.append(f"{title}: row {label!r} is in the table but not in the re-run")
                continue
            for k, h in cols:
                if r[k] != theirs[label][k]:
                    diffs.append(f"{title}: {label}: {h}: table says {r[k]!r}, re-run gives "
                                 f"{theirs[label][k]!r}")
        for label in theirs:
            if label not in mine:
                diffs.append(f"{title}: row {label!r} is in the re-run but not in the table")
        order, forder = [r[si] for r in rows], [r[si] for r in frows]
        if len(diffs) == before and len(order) == len(forder) and order != forder:
            # the same rows and numbers (the order follows from the numbers where they differ)
            diffs.append(f"{title}: the rows are in another order than the re-run's (table: "
                         f"{', '.join(order)}; re-run: {', '.join(forder)})")
        have, want = doc.notes[i], fresh.notes[j]
        # a run in this process (-j 0) has no referee, and its table says so: a re-run in
        # another executor has no such note, which is said, not failed
        said = {any(n.startswith("UNREFEREED") for n in ns) for ns in (have, want)} == {True, False}
        for n in have:
            if n not in want:
                (notes if said and n.startswith("UNREFEREED") else diffs).append(
                    f"{title}: the table's note {n!r} is not the re-run's")
        for n in want:
            if n not in have:
                (notes if said and n.startswith("UNREFEREED") else diffs).append(
                    f"{title}: the re-run's note {n!r} is not in the table")
    for title in again:
        if title not in first:
            diffs.append(f"{title}: this table is in the re-run but not in the table")
    return diffs


def _compare_provenance(prov: dict, fresh: dict, explained: set[str]
                        ) -> tuple[list[str], list[str]]:
    """``(differences, notes)``: every provenance field where the table and the re-run differ;
    the :data:`INFORMATIONAL` ones as notes, :data:`IGNORED` ones and those that a line of
    ``explained`` already explains left out."""
    diffs, notes = [], []
    for path, a, b in provenance_differences({k: v for k, v in prov.items() if k not in IGNORED},
                                             {k: v for k, v in fresh.items() if k not in IGNORED}):
        if any(path == e or path.startswith(e + ".") or path.startswith(e + "[")
               for e in explained):
            continue
        sa, sb = _said(a, b)
        if path.split(".")[0].split("[")[0] in INFORMATIONAL:
            notes.append(f"{path}: the table's {sa}, the re-run's {sb}")
        else:
            diffs.append(f"provenance {path}: table says {sa}, re-run gives {sb}")
    return diffs, notes


def _said(a, b, width: int = 120) -> tuple[str, str]:
    """Two values as JSON, a long one cut to ``width`` characters from a little before where
    the two first differ (cut from their start, two long lists that differ late read the same)."""
    sa, sb = ("(no such field)" if v is MISSING else json.dumps(v, sort_keys=True)
              for v in (a, b))
    if len(sa) <= width and len(sb) <= width:
        return sa, sb
    lo = max(0, first_difference(sa, sb) - 40)

    def cut(s: str) -> str:
        if len(s) <= width:
            return s
        return ("..." if lo else "") + s[lo:lo + width] + ("..." if lo + width < len(s) else "")

    return cut(sa), cut(sb)


def _recompute_comparisons(doc: Document, board) -> tuple[dict, list[str]]:
    """The re-run's paired comparisons of the pairs the table compares (each pair of its rows'
    labels, as ``--compare`` finds them): ``({(table, A, B): cells}, problems)``, cells as
    the table's format shows them."""
    from .compare import compare, comparison_rows

    esc = latex_escape if doc.format == "latex" else (lambda s: s)
    shown: dict[str, str] = {}
    for t in board.tables:
        for e in t.entries:
            shown.setdefault(esc(e.label), e.label)
    problems, pairs = [], []
    for r in doc.comparisons:
        missing = [c for c in r[1:3] if c not in shown]
        if missing:
            problems.append(f"paired comparison on {r[0]}: no entry {missing[0]!r} in the re-run")
        else:
            pairs.append((shown[r[1]], shown[r[2]]))
    comps = []
    for a, b in dict.fromkeys(pairs):
        try:
            comps += compare(board, a, b)
        except LeaderboardError as e:
            problems.append(f"paired comparison of {a} and {b}: the re-run cannot make it ({e})")
    _, rows = comparison_rows(comps)
    return {tuple(esc(c) for c in r[:3]): [esc(c) for c in r] for r in rows}, problems


def _compare_comparisons(doc: Document, fresh: dict, problems: list[str]) -> list[str]:
    """Differences between the table's paired comparison and the re-run's."""
    from .compare import COMPARISON_HEADER

    diffs = list(problems)
    seen: set[tuple] = set()
    for r, line in zip(doc.comparisons, doc.comparison_lines):
        k = tuple(r[:3])
        what = f"paired comparison {k[1]} vs {k[2]} on {k[0]}"
        if k in seen:
            diffs.append(f"{what}: given twice (line {line} is the second)")
            continue
        seen.add(k)
        if k not in fresh:
            diffs.append(f"{what}: in the table but not in the re-run")
            continue
        for h, x, y in zip(COMPARISON_HEADER[3:], r[3:], fresh[k][3:]):
            if x != y:
                diffs.append(f"{what}: {h}: table says {x!r}, re-run gives {y!r}")
    for k in fresh:
        if k not in seen:
            diffs.append(f"paired comparison {k[1]} vs {k[2]} on {k[0]}: in the re-run but not "
                         "in the table")
    return diffs


def _changed_references(table_sources: list[dict], store: Store, chosen) -> list[tuple[str, str]]:
    """For each frozen set of the table whose references the re-run used differently (the set's
    references were recomputed and replaced since the table was made: a new
    ``references_version`` in its manifest), its name and one line naming the set, the versions
    and why. A table made before tables recorded their references (no ``references_digest``)
    gets the line only where the set's references have been replaced at all."""
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
        out.append((src["name"], f"{lead} (references version {version}"
                    f"{': ' + why if why else ''}); its ratios on those members are expected "
                    "to differ"))
    return out


def _changed_parameters(table_solvers: list[dict], rows: list[dict]) -> list[tuple[str, str]]:
    """For each solver of the table whose parameters the re-run validated differently (a
    parameter added with its default, a default changed), its ID and one line naming what
    changed.

    A solver that the table holds with several parameter sets (``dmro[q=cost]`` and
    ``dmro[q=learned]``) is paired with the re-run's sets of that ID that the table does not
    have, each with the one (or the ones, on a tie) that differs from it in the fewest
    parameters: its own set as validated now, not every other set of the ID. A set whose values
    are the re-run's and hash to the re-run's hash is said to have an edited hash, not changed
    parameters."""
    from ..run.spec import param_hash

    rerun: dict[str, dict[str, dict]] = {}
    for r in rows:
        rerun.setdefault(r["solver_id"], {})[r["param_hash"]] = r["params"]
    table_hashes = {(s["id"], s["param_hash"]) for s in table_solvers}
    out = []
    for s in table_solvers:
        now = rerun.get(s["id"], {})
        if not now or s["param_hash"] in now:
            continue
        old = s.get("params") or {}
        found = []
        for h, params in now.items():
            if (s["id"], h) in table_hashes:
                continue  # another of the table's own sets, re-run unchanged
            keys = sorted(set(old) | set(params))
            what = [f"{k}: {old[k]!r} -> {params[k]!r}" if k in old and k in params else
                    f"{k} = {params[k]!r} (new)" if k in params else f"{k} = {old[k]!r} (gone)"
                    for k in keys if old.get(k, _MISSING) != params.get(k, _MISSING)]
            found.append((len(what), h, what))
        fewest = min((n for n, _, _ in found), default=None)
        for n, h, what in found:
            if n != fewest:
                continue
            was, now = _prefixes(s["param_hash"], h)
            if not what and h == param_hash(old):
                # the re-run's hash is that of the very values the table lists: the table's
                # hash is not (edited by hand), nothing in the solver changed
                shown = ", ".join(f"{k}={v}" for k, v in old.items()) or "no parameters"
                out.append((s["id"], f"solver {s['id']}: the table's parameter hash {was} is not "
                            f"the hash of the parameters it lists ({shown} hash to {now}, as in "
                            "the re-run): the table's hash or parameters were edited"))
                continue
            out.append((s["id"], f"solver {s['id']}: its parameters changed since the table was "
                        f"made (hash {was} -> {now}): " + (", ".join(what) or
                        "the same values, validated differently")))
    return out


_MISSING = object()


def _prefixes(a: str, b: str, n: int = 12) -> tuple[str, str]:
    """Two digests cut to ``n`` characters, or to where they first differ when that is later
    (two digests that differ in their tail never read the same)."""
    p = first_difference(a, b)
    return a[:max(n, p + 1)], b[:max(n, p + 1)]
