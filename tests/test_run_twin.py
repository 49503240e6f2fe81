"""The in-process executor's twin of an instance (:func:`offbench.run.execute.sandbox_job`
with ``copy=True``): the solver's arrays equal the runner's, and none of them can be written
into the runner's (a view that can never be made writeable, or a copy of its own), for a
generated member (views: :mod:`offbench.families.batch` and the compiled cost tables), an
instance generated one at a time, and one read from JSON."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import offbench.run  # noqa: F401  (offbench.run.execute is shadowed by the function)
from offbench import cost
from offbench.families import get_family
from offbench.instance import Instance
from offbench.run.plan import Job
from offbench.run.referee import all_device_cost

execute_module = sys.modules["offbench.run.execute"]


def _instances():
    fam = get_family("dmro-v1")
    batch = fam.generate_many(0, range(30))[3]
    single = fam.generate(0, 7)
    loaded = Instance.from_json(single.to_json())
    return {"batch": batch, "single": single, "loaded": loaded}


def _cannot_reach(mine: np.ndarray, theirs: np.ndarray) -> bool:
    """Whether writing through ``mine`` can never change ``theirs``."""
    if mine.size == 0:
        return True
    if mine.flags.writeable:
        return False
    try:
        mine.setflags(write=True)
    except ValueError:
        return True  # a view of a read-only owner
    return not np.shares_memory(mine, theirs)  # a copy of its own


@pytest.mark.parametrize("kind", ["batch", "single", "loaded"])
@pytest.mark.parametrize("tables_first", [True, False])
def test_twin_equals_and_cannot_write_into_the_runners_instance(kind, tables_first):
    inst = _instances()[kind]
    if tables_first:
        all_device_cost(inst)  # the runner's record prices it: tables cached on it
    job = Job(kind="solve", index=0, source="s", digest=inst.digest, instance=inst,
              reference={"cost": 1.0})
    for _ in range(2):  # the second job of a member reuses the instance's plan
        had_tables = "_offbench_tables" in inst.__dict__  # priced below on the first pass
        sj = execute_module.sandbox_job(job, copy=True)
        assert sj.reference is None and job.reference == {"cost": 1.0}
        twin = sj.instance
        assert twin is not inst and type(twin) is type(inst)
        assert twin.__getstate__().keys() == inst.__getstate__().keys()
        for k, v in inst.__getstate__().items():
            w = twin.__dict__[k]
            if isinstance(v, np.ndarray):
                assert w is not v and w.dtype == v.dtype and np.array_equal(w, v), k
                assert _cannot_reach(w, v), k
            else:
                assert w == v, k
        if had_tables:
            mine, theirs = twin.__dict__["_offbench_tables"], inst.__dict__["_offbench_tables"]
            for a, b in zip(mine, theirs):
                assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
                assert a.size == 0 or a is not b
                assert _cannot_reach(a, b)
        else:
            assert "_offbench_tables" not in twin.__dict__
        x = np.zeros(inst.n_layers, dtype=np.int8)
        assert cost.cost_feasible(twin, x) == cost.cost_feasible(inst, x)
        assert twin.digest == inst.digest
    # a solver that replaces its twin's tables changes nothing of the runner's
    t = cost.tables(twin)
    twin.__dict__["_offbench_tables"] = t._replace(comp_c=np.zeros_like(t.comp_c))
    assert cost.tables(inst).comp_c.any()


def test_generated_members_and_compiled_tables_are_shared_as_views():
    """What makes the twin cheap: a generated member's arrays and its compiled cost tables
    are pieces of read-only buffers, so the twin takes views of them, not copies."""
    inst = _instances()["batch"]
    all_device_cost(inst)
    twin = execute_module.sandbox_job(
        Job(kind="solve", index=0, source="s", digest=inst.digest, instance=inst),
        copy=True).instance
    for k, v in inst.__getstate__().items():
        if isinstance(v, np.ndarray):
            assert np.shares_memory(twin.__dict__[k], v), k
    for a, b in zip(twin.__dict__["_offbench_tables"], inst.__dict__["_offbench_tables"]):
        if a.size:
            assert np.shares_memory(a, b)


def test_a_field_replaced_after_the_plan_is_copied_not_shared():
    """The plan of what to share is made once per instance; an array put in its place later
    (code that sets a field, or copies another instance's fields) is checked again: a
    writeable one is copied, never handed to the solver as a view of the runner's array."""
    inst = _instances()["batch"]
    job = Job(kind="solve", index=0, source="s", digest=inst.digest, instance=inst)
    first = execute_module.sandbox_job(job, copy=True).instance
    assert np.shares_memory(first.__dict__["dev_speed"], inst.__dict__["dev_speed"])
    fresh = inst.__dict__["dev_speed"].copy()  # writeable, owns its memory
    inst.__dict__["dev_speed"] = fresh
    twin = execute_module.sandbox_job(job, copy=True).instance
    mine = twin.__dict__["dev_speed"]
    assert np.array_equal(mine, fresh) and not np.shares_memory(mine, fresh)
    assert _cannot_reach(mine, fresh) or mine.flags.writeable  # its own copy either way
    mine[...] = 0
    assert fresh.any()


def test_empty_arrays_are_views_that_cannot_reshape_the_runners():
    empty_owner = np.zeros((0, 3))
    twin_empty = execute_module._sealed_copy(empty_owner, 3)
    assert twin_empty is not empty_owner
    twin_empty.shape = (3, 0)
    assert empty_owner.shape == (0, 3)
    assert execute_module._seal_plan([empty_owner, np.zeros(0, dtype=np.int8)]) == (3, 3)
