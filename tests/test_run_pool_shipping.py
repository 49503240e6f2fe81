"""A job's instance as it travels to a sandbox (:mod:`offbench.run.shipping`): its fields and
its cost tables in one block of bytes, made views again in the sandbox, equal to the sender's
bit for bit, read-only there, and never memory the sender reads; and the sandbox's gathering
of messages (:attr:`offbench.run.sandbox.Sandbox.GATHER`), which must not enter its timings."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from offbench import cost
from offbench.families import get_family
from offbench.generators import random_instance
from offbench.instance import Instance
from offbench.run import shipping
from offbench.run.execute import execute, sandbox_job
from offbench.run.plan import Job
from offbench.run.sandbox import Sandbox
from offbench.tracks.outcome import decision_text
from tests.test_runner import FIXTURES


def _instances() -> dict:
    fam = get_family("dmro-v1")
    single = fam.generate(0, 7)
    return {"batch": fam.generate_many(0, range(30))[3],  # views of a batch's arrays
            "single": single,
            "loaded": Instance.from_json(single.to_json()),
            "dag": get_family("workflow").generate(3, 0),  # DAG jobs: the DAG tables not empty
            "random": random_instance(5, capacities=True, deadlines=True)}


def _odd_orders(inst):
    """A copy of ``inst`` whose ``ops`` is not contiguous and whose tables hold a Fortran-ordered
    array (orders a pickle keeps: the copy must keep them too)."""
    twin = object.__new__(type(inst))
    twin.__dict__.update(inst.__getstate__())
    ops = np.repeat(np.asarray(inst.ops), 2)[::2]
    ops.setflags(write=False)
    twin.__dict__["ops"] = ops
    t = cost.build_tables(twin)
    comp_t = np.asfortranarray(t.comp_t)
    comp_t.setflags(write=False)
    twin.__dict__["_offbench_tables"] = t._replace(comp_t=comp_t)
    return twin


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bits, dtype, shape and order (the order a pickle of ``b`` would give)."""
    b = pickle.loads(pickle.dumps(b, protocol=5))
    return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
            and a.tobytes("A") == b.tobytes("A") and a.flags.c_contiguous == b.flags.c_contiguous
            and a.flags.f_contiguous == b.flags.f_contiguous)


@pytest.mark.parametrize("kind", ["batch", "single", "loaded", "dag", "random", "odd"])
def test_a_shipped_instance_is_the_senders_bit_for_bit_and_read_only(kind):
    inst = _odd_orders(_instances()["single"]) if kind == "odd" else _instances()[kind]
    job = Job(kind="solve", index=0, source="s", digest=inst.digest, instance=inst,
              reference={"cost": 1.0})
    # two jobs of one instance in one message share one copy, as pickle shares an instance
    sent = shipping.ship_jobs([job, job])
    assert sent[0].reference is None and job.reference == {"cost": 1.0}
    assert type(sent[0].instance) is shipping.Shipped and sent[0].instance is sent[1].instance
    got = shipping.loads(shipping.dumps(sent))
    for j in got:
        shipping.unship(j)
    copy = got[0].instance
    assert got[1].instance is copy and type(copy) is type(inst)
    assert copy.__getstate__().keys() == inst.__getstate__().keys()
    for k, v in inst.__getstate__().items():
        w = copy.__dict__[k]
        if isinstance(v, np.ndarray):
            assert _same(w, v), k
            assert not w.flags.writeable and w.flags.aligned, k
            with pytest.raises(ValueError):
                w.setflags(write=True)
        else:
            assert w == v or (w is None and v is None), k
    # the tables travelled (the sandbox builds nothing) and equal the sender's
    mine, theirs = copy.__dict__["_offbench_tables"], cost.tables(inst)
    assert cost.tables(copy) is mine
    for a, b in zip(mine, theirs, strict=True):
        assert _same(a, b) and (a.flags.f_contiguous or not b.flags.f_contiguous)
        assert not a.flags.writeable and not np.shares_memory(a, b)
    # and equal what the copy's own fields give
    for a, b in zip(mine, cost.build_tables(copy), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    x = np.zeros(inst.n_layers, dtype=np.int8)
    assert cost.cost_feasible(copy, x) == cost.cost_feasible(inst, x)


def test_a_plain_pickle_still_reads_and_an_odd_instance_travels_as_itself():
    inst = random_instance(1)
    job = Job(kind="solve", index=0, source="s", digest=inst.digest, instance=inst)
    plain = shipping.loads(pickle.dumps([sandbox_job(job)], protocol=5))
    assert plain[0].instance.digest == inst.digest
    # a Shipped pickled elsewhere (in band) reads too
    s = shipping.ship(inst)
    back = pickle.loads(pickle.dumps(s, protocol=4)).unpack()
    assert back.digest == inst.digest and cost.tables(back) is back.__dict__["_offbench_tables"]

    class Sub(np.ndarray):
        pass

    odd = object.__new__(Instance)
    odd.__dict__.update(inst.__getstate__())
    odd.__dict__["ops"] = np.asarray(inst.ops).view(Sub)
    assert shipping.ship(odd) is odd  # pickled as before; the sandbox builds its tables


@pytest.mark.parametrize("kind", ["dag", "random", "batch"])
def test_a_sandbox_solves_a_shipped_instance_as_in_process(kind):
    """The outcome of a job on a shipped instance (tables sent, not built) equals the
    in-process one: the same decision, cost and feasibility."""
    inst = _instances()[kind]
    job = Job(kind="solve", index=0, source="s", digest=inst.digest, solver_id="all-device-v1",
              seed=0, time_limit=5.0, kill_after=60.0, instance=inst)
    here = execute(sandbox_job(job, copy=True))
    box = Sandbox()
    try:
        (_, there), = list(box.run_many([job]))
    finally:
        box.close()
    assert there.status == here.status == "feasible" and there.error is None
    assert decision_text(there.decision) == decision_text(here.decision) is not None
    assert there.cost == here.cost and there.feasible == here.feasible


def _sleeper(i: int) -> Job:
    from offbench.run.spec import param_hash

    inst = random_instance(i, n_devices=1, n_jobs=1, layers=(2, 2))
    params = {"seconds": 0.0}
    return Job(kind="solve", index=i, source="s", digest=inst.digest, solver_id="fx-sleep-v1",
               params=params, param_hash=param_hash(params), seed=0, time_limit=1.0,
               kill_after=60.0, solver_dirs=(FIXTURES,), instance=inst)


def test_gathering_messages_changes_no_wall_time(monkeypatch):
    """While several jobs are queued, run_many reads a sandbox's messages late (GATHER), but each
    job's wall time is the kernel's stamps of its own messages: a job of no work takes far less
    than the gathering wait."""
    monkeypatch.setattr(Sandbox, "GATHER", 0.25)
    box = Sandbox()
    try:
        got = list(box.run_many([_sleeper(i) for i in range(4)]))
    finally:
        box.close()
    assert [j.index for j, _ in got] == [0, 1, 2, 3]
    assert all(o.status == "feasible" for _, o in got)
    assert max(o.supervised_time for _, o in got) < 0.1
