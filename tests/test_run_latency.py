"""Decision latency (SPEC.md section 6) as the runner measures it: the wall time of a solve in a
sandbox is the time between the kernel's stamps of the sandbox's ``started`` message and of its
outcome (:func:`offbench.run.sandbox.results_channel`), so that what the runner does meanwhile
(judging the job before, holding the GIL, waiting for a core on a loaded machine) never enters
it; and the instance's cost tables are built before the timed work on every executor.

These checks hold under any load: the solver's own span lies inside the stamped interval by
construction, so the measured time is never below it; the upper bounds are loose (a quarter of
a second) and guard against measuring when the runner reads rather than when the sandbox sent.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from offbench.generators import random_instance
from offbench.run import InProcessExecutor, PoolExecutor, parse_spec, run
from offbench.run.plan import Job
from offbench.run.sandbox import CHUNK, Sandbox, read_message, results_channel, send_message
from offbench.run.spec import param_hash
from offbench.store import Store
from tests.test_runner import FIXTURES


def test_messages_keep_their_bounds_and_carry_the_time_they_were_sent():
    parent, child = results_channel()
    try:
        big = bytes(range(256)) * (3 * CHUNK // 256 + 7)  # several records
        t0 = time.time()
        send_message(child, b"S")
        time.sleep(0.05)
        send_message(child, big)
        send_message(child, b"")
        time.sleep(0.2)  # read late: the stamps are the sending times, not the reading times
        chunks: list = []
        got = []
        while len(got) < 3:
            m = read_message(parent, chunks)
            if m is not None:
                got.append(m)
        assert [d for d, _ in got] == [b"S", big, b""]
        s_stamp, big_stamp, _ = (st for _, st in got)
        if sys.platform.startswith("linux"):
            assert 0.04 <= big_stamp - s_stamp <= 0.15
            assert s_stamp - t0 < 0.05
        child.sendall(b"X not a record of send_message")
        data, _ = read_message(parent, chunks)
        assert data.startswith(b"?")  # malformed: the job's error (outcome_from_wire)
        child.close()
        with pytest.raises(EOFError):
            read_message(parent, chunks)
    finally:
        parent.close()


def _span_job(i: int, seconds: float) -> Job:
    params = {"seconds": seconds}
    inst = random_instance(i, n_devices=1, n_jobs=2, layers=(2, 4))
    return Job(kind="solve", index=i, source="s", digest=inst.digest, solver_id="fx-span-v1",
               params=params, param_hash=param_hash(params), seed=0, time_limit=10.0,
               kill_after=60.0, solver_dirs=(FIXTURES,), instance=inst)


def test_the_measured_time_holds_the_solvers_span_while_the_runner_holds_the_gil():
    """Three 30 ms solves sent in one message while this process spins for 0.6 s without
    letting go of the GIL, then read at once: each measured time still contains its solve's
    span and exceeds it by little (stamped when the sandbox sent, not when we read)."""
    box = Sandbox()
    try:
        list(box.run_many([_span_job(0, 0.03)]))  # the child is up and the solver warmed up
        jobs = [_span_job(i, 0.03) for i in (1, 2, 3)]
        box.send_many(jobs)
        old = sys.getswitchinterval()
        sys.setswitchinterval(5.0)  # no other thread of ours could take the GIL meanwhile
        try:
            end = time.perf_counter() + 0.6
            while time.perf_counter() < end:
                pass
        finally:
            sys.setswitchinterval(old)
        outs = []
        while box.queue:
            assert box.poll(60.0)
            msg = box.recv()
            if msg[0] == "done":
                outs.append(msg[1])
        assert len(outs) == 3
        for out in outs:
            t0, t1 = out.info["span"]
            assert out.status == "feasible"
            assert out.supervised_time >= (t1 - t0) - 1e-6
            assert out.supervised_time <= (t1 - t0) + 0.25
            assert out.supervised_time >= out.wall_time - 1e-6  # the solver's own clock
    finally:
        box.close()


SPEC = {"name": "latency", "solvers_dirs": [FIXTURES], "seeds": [0],
        "reference": {"mode": "none"},
        "sources": [{"kind": "family", "family": "dmro-v1[n_devices=2]", "name": "fam", "seed": 2,
                     "count": 8},
                    {"kind": "random", "name": "rnd", "count": 4, "n_devices": 2, "n_jobs": 3,
                     "layers": [2, 5], "seed": 1}],
        "solvers": ["fx-span",
                    # three more solvers on "rnd": more sandboxes than a builder keeps, so that
                    # source runs job by job on the pool's own sandboxes (the other path)
                    {"id": "fx-zero", "sources": ["rnd"]}, {"id": "fx-all-edge", "sources": ["rnd"]},
                    {"id": "fx-random-best", "sources": ["rnd"], "params": {"samples": 2}}]}


@pytest.mark.parametrize("executor", ["pool", "in-process"])
def test_every_rows_wall_time_contains_the_solvers_own_time_and_no_table_building(tmp_path, executor):
    """On the pool's builder path, its job-by-job path and in-process: the stored wall time is
    never below the solver's own span (nor its self-reported time), and the solver found the
    instance's cost tables built (building them is not timed: the warm-up left them for the
    first job, an in-process copy has them, and now every job does)."""
    spec = parse_spec(SPEC)
    store = tmp_path / "s.sqlite"
    if executor == "pool":
        with PoolExecutor(2) as ex:
            summary = run(spec, store, executor=ex)
            assert ex._builders is not None and ex._builders.builders  # the builder path ran
            assert ex.sandboxes_started  # and the job-by-job one
    else:
        summary = run(spec, store, executor=InProcessExecutor())
    assert summary.ok and summary.done == 8 + 4 * 4
    with Store.open_readonly(store) as st:
        rows = [r for r in st.results() if r["solver_id"] == "fx-span-v1"]
    assert len(rows) == 12
    for r in rows:
        info = r["info"] if isinstance(r["info"], dict) else json.loads(r["info"])
        t0, t1 = info["span"]
        assert info["tables_ready"] is True
        assert r["wall_time"] >= (t1 - t0) - 1e-6
        assert r["wall_time"] >= info["self_reported_wall_time"] - 1e-6
