"""Streaming runs (issue 14): the plan holds no instance, members are built block by block
where they run, rows are committed in batches, and a run gives the rows a run that held every
instance gave (the digests below were taken from the store of that run, at e44467f)."""

from __future__ import annotations

import hashlib
import weakref
import zlib

import pytest

from offbench.run import InProcessExecutor, PoolExecutor, parse_spec, plan, run
from offbench.run import loop as loop_mod
from offbench.run import sources as sources_mod
from offbench.store import Store
from tests.cpu_pins import CPU
from tests.test_runner import FIXTURES

SPEC = {
    "name": "streaming-test",
    "solvers_dirs": [FIXTURES],
    "seeds": [0, 1],
    "reference": {"mode": "auto", "time_limit": 20.0},
    "sources": [{"kind": "family", "family": "dmro-v1[n_devices=2]", "name": "fam", "seed": 3,
                 "count": 5},
                {"kind": "random", "name": "rnd", "seed": 5, "count": 6, "n_devices": 2,
                 "n_jobs": 2, "layers": [1, 3], "capacities": True}],
    "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 5}}],
}


def _fingerprint(path) -> dict:
    """sha256 of the quality snapshot, the references (times left out), the sources with
    their members, and the instances (their content decompressed)."""
    with Store.open_readonly(path) as s:
        refs = sorted((d, r["cost"], r["bound"], r["provenance"], r["gap"], r["solver"],
                       r["decision"], r["origin"]) for d, r in s.references().items())
        srcs = [(x["name"], x["digest"], x["kind"], x["size"], x["members"]) for x in s.sources()]
        insts = s.conn.execute("SELECT * FROM instances ORDER BY digest").fetchall()
        parts = {"quality": s.quality_snapshot(), "refs": refs, "sources": srcs,
                 "instances": [tuple(zlib.decompress(v) if isinstance(v, (bytes, memoryview))
                                     else v for v in r) for r in insts]}
    return {k: hashlib.sha256(repr(v).encode()).hexdigest()[:16] for k, v in parts.items()}


#: The fingerprint of SPEC's store as written by the runner that held every instance. Re-pinned
#: when random_instance stopped depending on the CPU (numpy's AVX-512 exp; offbench.generators):
#: the runner that held every instance (e44467f) and this one both give it on a CPU without
#: AVX-512, where numpy's exp is the C library's.
#: Per CPU model: the references and ratios are Numba's arithmetic (tests/cpu_pins.py).
BEFORE = {"znver3": {"quality": "169e7496428f1ec7", "refs": "22ecc3e9f911f118",
                     "sources": "352909ea3377e7d6", "instances": "4e7f1b96984560e3"}}


def _count_builds(monkeypatch) -> list:
    """The members built from here on (by build_member or build_members), each counted once."""
    built = []
    real, real_many = sources_mod.build_member, sources_mod.build_members
    inside = [False]  # build_members builds some members by build_member: counted once

    def many(descs):
        built.extend(descs)
        inside[0] = True
        try:
            return real_many(descs)
        finally:
            inside[0] = False

    def one(desc):
        if not inside[0]:
            built.append(desc)
        return real(desc)

    monkeypatch.setattr(sources_mod, "build_member", one)
    monkeypatch.setattr(sources_mod, "build_members", many)
    return built


def test_plan_of_a_million_instances_holds_none(monkeypatch):
    built = _count_builds(monkeypatch)
    spec = parse_spec({"sources": [{"kind": "family", "family": "dmro-v1", "count": 1_000_000}],
                       "solvers": ["all-device"], "reference": {"mode": "none"}})
    pl = plan(spec)
    assert pl.n_jobs == 1_000_000
    assert len(built) == 1  # member 0, to refuse bad arguments before the run
    blocks = pl.blocks(4096)
    first = next(blocks)
    assert (first.start, first.stop) == (0, 4096) and len(built) == 1
    assert sum(1 for _ in blocks) == 1_000_000 // 4096  # the rest, still nothing built
    assert len(built) == 1


def test_streamed_run_equals_the_run_that_held_every_instance(tmp_path, monkeypatch):
    whole = tmp_path / "whole.sqlite"
    run(parse_spec(SPEC), whole, executor=InProcessExecutor())
    # Small blocks and batches: each source in several blocks, rows in several transactions.
    monkeypatch.setattr(loop_mod, "BLOCK", 2)
    monkeypatch.setattr(loop_mod, "BATCH_ROWS", 3)
    alive = weakref.WeakSet()
    most = [0]
    real = sources_mod.Source.build_many  # what the run loop builds a block's members with

    def build_many(self, members):
        got = real(self, members)
        for inst in got.values():
            alive.add(inst)
        most[0] = max(most[0], len(alive))
        return got

    monkeypatch.setattr(sources_mod.Source, "build_many", build_many)
    blocks = tmp_path / "blocks.sqlite"
    summary = run(parse_spec(SPEC), blocks, executor=InProcessExecutor())
    assert summary.done == summary.planned == 2 * 2 * (5 + 6)
    assert 0 < most[0] <= 2 * 2  # never more than a block or two of instances alive
    assert _fingerprint(blocks) == _fingerprint(whole)
    if CPU in BEFORE:  # elsewhere the streamed run is still checked against the whole one
        assert _fingerprint(whole) == BEFORE[CPU]
    with Store.open_readonly(blocks) as s:
        fam = next(x for x in s.sources() if x["name"] == "fam")
    from offbench.families import get_family

    assert fam["members"] == [get_family("dmro-v1[n_devices=2]").generate(3, i).digest
                              for i in range(5)]


def test_interrupted_then_resumed_run_skips_by_key_and_loses_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(loop_mod, "BLOCK", 3)
    spec = {**SPEC, "reference": {"mode": "none"}}
    clean = tmp_path / "clean.sqlite"
    run(parse_spec(spec), clean, executor=InProcessExecutor())

    class Stop(InProcessExecutor):
        seen = 0

        def run(self, jobs, on_start):
            for job, out in super().run(jobs, on_start):
                Stop.seen += 1
                if Stop.seen == 9:
                    raise KeyboardInterrupt
                yield job, out

    store = tmp_path / "r.sqlite"
    with pytest.raises(KeyboardInterrupt):
        run(parse_spec(spec), store, executor=Stop())
    with Store.open_readonly(store) as s:
        assert s.count_results() == 8  # the batch waiting was committed on the interrupt
        assert s.sources() == [] or all(x["name"] != "rnd" for x in s.sources())
    built = _count_builds(monkeypatch)
    summary = run(parse_spec(spec), store, executor=InProcessExecutor())
    assert summary.already == 8 and summary.done == summary.planned - 8
    # Members whose jobs were all in the store were not built again.
    assert len(built) == 2 + (5 + 6 - 1)  # member 0 of each source when planning, then 10
    with Store.open_readonly(store) as a, Store.open_readonly(clean) as b:
        assert a.count_results() == summary.planned
        assert a.quality_snapshot() == b.quality_snapshot()
        assert [(x["name"], x["digest"], x["members"]) for x in a.sources()] == \
            [(x["name"], x["digest"], x["members"]) for x in b.sources()]


def test_write_batch_skips_a_key_already_present(tmp_path):
    from tests.test_store import _row

    with Store.open(tmp_path / "s.sqlite") as s:
        rid = s.begin_run(spec={}, spec_hash="h", offbench_version="0", offbench_commit=None,
                          machine={}, libraries={}, executor="x", command=None)
        rows = [(_row("a" * 64, seed=k, run_id=rid), ()) for k in range(3)]
        assert s.write_batch(results=rows) == 3
        assert s.write_batch(results=rows[1:] + [(_row("a" * 64, seed=7, run_id=rid), ())]) == 1
        assert s.count_results() == 4


@pytest.mark.slow  # test_runner compares the pool with in-process on block-streamed sources too
def test_pool_streams_blocks_like_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(loop_mod, "BLOCK", 4)
    spec = {**SPEC, "sources": SPEC["sources"][1:], "reference": {"mode": "none"}}
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    run(parse_spec(spec), a, executor=InProcessExecutor())
    with PoolExecutor(2) as ex:
        summary = run(parse_spec(spec), b, executor=ex)
    assert summary.done == 2 * 2 * 6
    with Store.open_readonly(a) as x, Store.open_readonly(b) as y:
        assert x.quality_snapshot() == y.quality_snapshot()
