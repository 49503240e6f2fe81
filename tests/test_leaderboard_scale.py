"""Leaderboards from big stores (issue 14): the aggregation of offbench/leaderboard/aggregate.py
gives the numbers of the row-by-row definitions, bit for bit, on stores made to hit every rule
(refusals, referee flags, reference violations, overruns, missing references and instances, a
reference cost of 0, several seeds per instance, ratios below 1, rows of other versions, one
solver under several track configurations: another time limit, references off).

The time and memory of a leaderboard over two million rows are measured by
``benchmarks/scripts/bench_scale.py``, never here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from offbench import __version__, metrics
from offbench.generators import random_instance
from offbench.leaderboard import aggregate, build, render
from offbench.leaderboard.build import (_infeasible, _scored_cost, flagged, instance_ratios,
                                        refused, solved)
from offbench.store import KEY_COLUMNS, Store


# ------------------------------------------------------------------------------ a varied store
def _make_store(path, seed: int = 0, n_inst: int = 14, solvers: int = 4) -> Store:
    rng = np.random.default_rng(seed)
    st = Store.open(path)
    run = st.begin_run(spec={"name": "t"}, spec_hash="h", offbench_version=__version__,
                       offbench_commit=None, machine={}, libraries={}, executor="test", command=None)
    insts = [random_instance(100 * seed + i, n_jobs=2) for i in range(n_inst)]
    digests = [x.digest for x in insts]
    stored = insts[:-2]  # the last two have rows but no stored instance
    st.add_instances([(x, 0.0 if i == 0 else float(rng.uniform(1, 3))) for i, x in enumerate(stored)])
    # a: references of cost 0 among them; b: an instance listed twice; c: no reference, no
    # stored instance
    st.add_source(name="a", digest="a" * 64, kind="family", spec={},
                  members=digests[:3] + digests[4:10])
    st.add_source(name="b", digest="b" * 64, kind="family", spec={},
                  members=digests[6:12] + digests[6:8])
    st.add_source(name="c", digest="c" * 64, kind="family", spec={},
                  members=[digests[3], digests[-2], digests[-1], digests[1]])
    refs = {}
    for i, d in enumerate(digests):
        if i == 3:
            continue  # no reference
        cost = 0.0 if i in (0, 5) else float(rng.uniform(0.5, 2))
        refs[d] = cost
        st.add_reference(d, {"cost": cost, "provenance": ["dp", "milp", "heuristic"][i % 3]},
                         origin="computed", settings={}, offbench_version=__version__)
    for i, d in enumerate(digests):
        for k in range(solvers):
            n_seeds = 1 + (i * 7 + k) % 9 if k % 2 else 1
            for s in range(n_seeds):
                u = rng.random()
                status = ["optimal", "feasible", "timeout", "error"][int(rng.integers(0, 4))]
                info: dict = {"x": 1}
                if status == "timeout" and rng.random() < 0.5:
                    info["overrun_wall_time"] = None if rng.random() < 0.5 else 1.5
                if u < 0.15:
                    info["reference_violation"] = [True, False, 0, "", "why", [], {"a": 1}][int(rng.integers(0, 7))]
                err = None
                if status == "error":
                    err = "unsupported: too big" if rng.random() < 0.4 else "Boom: unsupported: no"
                ref = refs.get(d)
                config = {"time_limit": 1.0 + (i == 1 and k == 0)}
                if k == 2 and i % 4 == 1:  # a run with references off: rows without ref_cost
                    config, ref = {**config, "reference": "none"}, None
                cost = None if status == "error" and rng.random() < 0.5 else float(rng.uniform(0.4, 3))
                ratio = None if ref is None or cost is None or ref == 0 else cost / ref
                row = {"instance_digest": d, "solver_id": f"s{k}-v1", "param_hash": f"h{k}",
                       "seed": s, "track": "static",
                       "track_config": config,
                       "offbench_version": __version__ if rng.random() > 0.03 else "0.0.1",
                       "params": {"k": k}, "status": status, "cost": cost,
                       "feasible": [None, False, True, True][int(rng.integers(0, 4))],
                       "ref_cost": ref, "ratio": ratio,
                       "counted_infeasible": [None, False, True, False][int(rng.integers(0, 4))],
                       "wall_time": float(rng.lognormal(-5, 1)),
                       "evaluations": int(rng.integers(0, 50)),
                       "decision": None if rng.random() < 0.1 else "012",
                       "error": err, "info": info, "run_id": run, "worker": "w",
                       "flags": ["bound_above_optimum"] if rng.random() < 0.08 else [],
                       "refereed": [None, True, True, False][int(rng.integers(0, 4))]}
                st.add_result(row)
    st.end_run(run, "complete")
    return st


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    st = _make_store(tmp_path_factory.mktemp("scale") / "r.sqlite")
    yield st
    st.close()


# ------------------------------------------------------------------------------ the reference
def _reference_static(rows: list[dict], info: dict) -> dict:
    """The static table's values as the row-by-row code computes them (offbench 0.1.0 before
    the aggregation; the rules themselves are build.py's)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(_entry(r), []).append(r)
    members = list(dict.fromkeys(r["instance_digest"] for r in rows))
    order = list(groups)
    mat = np.full((len(members), len(order)), np.nan)
    pos = {d: i for i, d in enumerate(members)}
    for j, k in enumerate(order):
        per: dict = {}
        for r in groups[k]:
            r["_infeasible"], r["_solved"], r["_refused"] = _infeasible(r), solved(r), refused(r)
            if r["_refused"]:
                continue
            r["_scored"] = _scored_cost(r, info)
            per.setdefault(r["instance_digest"], []).append(r["_scored"] if r["_solved"] else math.nan)
        for d, v in per.items():
            mat[pos[d], j] = float(np.mean(v))
    wins = metrics.best_mask(mat).sum(axis=0)
    out = {}
    for j, k in enumerate(order):
        g = groups[k]
        scored = [r for r in g if not r["_refused"]]
        per_inst = instance_ratios(scored, info)
        from offbench.leaderboard.build import fallback_ratio

        has_ref = bool(scored) and all(fallback_ratio(r, info) is not None for r in scored)
        if has_ref:
            vals = list(per_inst.values())
            gm, lo, hi = metrics.geometric_mean_ci(vals)
            sr = [r["ratio"] for r in scored if r["_solved"] and r["ratio"] is not None]
            stats = {"ratio": gm, "ci_low": lo, "ci_high": hi, "median": float(np.median(vals)),
                     "gmean_solved": metrics.geometric_mean(sr) if sr else math.nan}
        else:
            stats = dict.fromkeys(("ratio", "ci_low", "ci_high", "median", "gmean_solved"), math.nan)
        wt = [r["wall_time"] for r in g]
        out[k] = {"n": len(g), **stats,
                  "solved": sum(r["_solved"] for r in scored) / len(scored) if scored else math.nan,
                  "refused": sum(r["_refused"] for r in g),
                  "infeasible": float(np.mean([r["_infeasible"] for r in scored])) if scored else math.nan,
                  "failed": sum(1 for r in scored if r["status"] in ("error", "timeout")),
                  "p50": metrics.quantile(wt, 0.5), "p95": metrics.quantile(wt, 0.95),
                  "evals": float(np.mean([r["evaluations"] for r in g])),
                  "sgm": metrics.shifted_geometric_mean(wt), "wins": int(wins[j]),
                  "frames_to_threshold": None}
    return out


def _source_rows(store: Store, source: str, keys=None) -> list[dict]:
    members = next(s["members"] for s in store.sources() if s["name"] == source)
    rows = [r for r in store.results(offbench_version=__version__)
            if r["instance_digest"] in set(members)]
    if keys is not None:
        rows = [r for r in rows if _key(r) in keys]
    return rows


def _key(r):
    from offbench.leaderboard.build import _key

    return _key(r)


def _entry(r):
    """A row's entry: its solver, parameters and track configuration (never pooled)."""
    from offbench.store import canonical_json

    return (r["solver_id"], r["param_hash"], canonical_json(r["track_config"]))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b) or (a == b and {type(a), type(b)} <= {int, float})


# ------------------------------------------------------------------------------ the tests
def test_the_sql_classification_is_the_row_by_row_one(store):
    c = aggregate.classification(aggregate.result_columns(store.conn))
    q = (f"SELECT r.row_id, {c['refused']}, {c['flagged']}, {c['has_flags']}, {c['solved_rest']}, "
         f"{c['infeasible']}, {c['unrefereed']} FROM results r")
    sql = {row[0]: row[1:] for row in store.conn.execute(q)}
    rows = store.results()
    assert len(rows) > 150
    seen = set()
    for r in rows:
        rf, fl, hf, rest, inf, unref = sql[r["row_id"]]
        assert bool(rf) == refused(r)
        assert bool(fl) == flagged(r)
        assert bool(hf) == bool(r["flags"])
        assert (not rf and not fl and bool(rest)) == solved(r)
        assert bool(inf) == _infeasible(r)
        assert bool(unref) == (r["refereed"] is False)
        seen.add((refused(r), flagged(r), solved(r)))
    assert len(seen) >= 4  # the store hits every class


@pytest.mark.parametrize("source", ["a", "b", "c"])
def test_static_tables_are_the_row_by_row_tables(store, source):
    board = build(store)
    info = store.instance_info()
    (t,) = [t for t in board.tables if t.source == source]
    want = _reference_static(_source_rows(store, source), info)
    assert len(t.entries) == len(want)
    if source == "b":  # every statistic is there to compare
        assert all(not math.isnan(e.values["ci_high"]) for e in t.entries
                   if e.track_config.get("reference") != "none")
    for e in t.entries:
        w = want[e.key]
        for k, v in w.items():
            assert _same(e.values[k], v), (e.solver_id, k, e.values[k], v)
        assert e.params == {"k": int(e.solver_id[1])}
    assert t.size == len(set(next(s["members"] for s in store.sources() if s["name"] == source)))


def test_rows_and_paired_are_loaded_on_demand_after_the_store_is_closed(tmp_path):
    st = _make_store(tmp_path / "x.sqlite", seed=1, n_inst=12, solvers=2)
    board = build(st)
    info = st.instance_info()
    rows = _source_rows(st, "a")
    st.close()
    t = board.tables[0]
    want = {}
    for r in rows:
        want.setdefault(_entry(r), []).append(r)
    _reference_static(rows, info)  # annotates rows as the tables do
    assert list(t.rows) == list(want)
    for k, g in want.items():
        got = t.rows[k]
        assert [r["row_id"] for r in got] == [r["row_id"] for r in g]
        for a, b in zip(got, g):
            assert {x: a[x] for x in ("_solved", "_refused", "_infeasible")} == \
                   {x: b[x] for x in ("_solved", "_refused", "_infeasible")}
        assert t.paired[k] == instance_ratios([r for r in g if not r["_refused"]], info)


def test_rows_of_other_track_configurations_are_other_entries(store):
    """A solver run under two track configurations (another time limit; references off) has
    one entry per configuration, labelled by the settings that differ on every table of the
    track; the rows without a reference leave the ratios of the others' entries alone."""
    board = build(store)
    a = next(t for t in board.tables if t.source == "a")
    assert sorted(e.label for e in a.entries) == [
        "s0-v1 (time_limit=1.0)", "s0-v1 (time_limit=2.0)", "s1-v1",
        "s2-v1 (reference=None)", "s2-v1 (reference=none)", "s3-v1"]
    s2 = {e.track_config.get("reference"): e for e in a.entries if e.solver_id == "s2-v1"}
    assert math.isnan(s2["none"].values["ratio"]) and not math.isnan(s2[None].values["median"])
    assert s2["none"].values["n"] + s2[None].values["n"] == sum(
        1 for r in _source_rows(store, "a") if r["solver_id"] == "s2-v1")
    # rows and paired ratios by entry; a (solver, parameters) pair where it names one entry
    for e in a.entries:
        assert {_entry(r) for r in a.rows[e.key]} == {e.key}
    s1 = next(e.key for e in a.entries if e.solver_id == "s1-v1")
    assert a.rows[("s1-v1", "h1")] is a.rows[s1]
    with pytest.raises(KeyError, match="2 entries"):
        a.paired[("s0-v1", "h0")]
    b = next(t for t in board.tables if t.source == "b")  # s0 at 2.0 s is not on b: same label
    assert [e.label for e in b.entries if e.solver_id == "s0-v1"] == ["s0-v1 (time_limit=1.0)"]


def test_the_tables_of_a_run_own_jobs(store):
    """``keys`` (what ``offbench run`` passes) selects rows in Python, as before."""
    rows = _source_rows(store, "a")
    keys = {_key(r) for r in rows[::3]}
    board = build(store, keys=keys)
    info = store.instance_info()
    t = next(t for t in board.tables if t.source == "a")
    want = _reference_static(_source_rows(store, "a", keys), info)
    for e in t.entries:
        for k, v in want[e.key].items():
            assert _same(e.values[k], v), (k, e.values[k], v)
    assert board.provenance["rows"] == sum(1 for t in board.tables for g in t.rows.values() for _ in g)


def test_the_bootstrap_in_chunks_is_the_bootstrap(monkeypatch):
    rng = np.random.default_rng(3)
    monkeypatch.setattr(aggregate, "BOOTSTRAP_CHUNK", 1000)
    for k in (2, 3, 9, 130, 1499, 4001):
        x = rng.lognormal(0, 0.3, k)
        x[0] = 1.0
        assert aggregate.geometric_mean_ci(x) == metrics.geometric_mean_ci(x), k


def test_the_normal_interval_of_big_entries_is_close_to_the_bootstrap(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.lognormal(0.05, 0.2, 6000)
    boot = metrics.geometric_mean_ci(x)
    monkeypatch.setattr(aggregate, "NORMAL_CI_ABOVE", 5000)
    normal = aggregate.geometric_mean_ci(x)
    assert normal[0] == boot[0]
    assert normal[1] == pytest.approx(boot[1], rel=2e-3) and normal[2] == pytest.approx(boot[2], rel=2e-3)
    x[5] = math.inf  # not finite: the bootstrap, as before
    np.testing.assert_array_equal(aggregate.geometric_mean_ci(x), metrics.geometric_mean_ci(x))


def test_a_table_says_where_its_interval_is_the_normal_one(store, monkeypatch):
    small = build(store)
    assert "normal_ci_above_instances" not in small.provenance["statistics"]
    assert all(aggregate.NORMAL_CI_NOTE not in t.notes for t in small.tables)
    monkeypatch.setattr(aggregate, "NORMAL_CI_ABOVE", 3)
    monkeypatch.setattr(aggregate, "BOOTSTRAP_CHUNK", 10)
    big = build(store)
    assert big.provenance["statistics"]["normal_ci_above_instances"] == 3
    assert any(aggregate.NORMAL_CI_NOTE in t.notes for t in big.tables)
    assert "normal interval" in render(big, "md")


def test_errors_are_as_before(store, tmp_path):
    from offbench.leaderboard import LeaderboardError

    with pytest.raises(LeaderboardError, match="no result rows for offbench 9.9"):
        build(store, offbench_version="9.9")
    with pytest.raises(LeaderboardError, match="no result rows"):
        build(store, solvers=[("nobody", "x")])
    with pytest.raises(LeaderboardError, match="no result rows"):
        build(store, keys=set())
    assert [t.source for t in build(store, solvers=[("s1-v1", "h1")]).tables] == ["a", "b", "c"]
    assert KEY_COLUMNS[0] == "instance_digest"  # the key order the aggregation reads in
