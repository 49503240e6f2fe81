"""Family.generate_many (offbench/families/batch.py) gives generate's instances bit for bit, and
its fallbacks (a DAG family, values out of range, a generator's error) give generate's
instances or generate's error; build_members says which member failed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from offbench.families import batch, get_family, list_families
from offbench.run import sources as sources_mod


def _same(a, b) -> bool:
    return (a.name == b.name and a.digest == b.digest and list(a.__dict__) == list(b.__dict__)
            and pickle.dumps(a.__getstate__()) == pickle.dumps(b.__getstate__())
            and all((not isinstance(v, np.ndarray)) or (not v.flags.writeable and v.flags.c_contiguous)
                    for v in b.__dict__.values()))


@pytest.mark.parametrize("fid", [f.id for f in list_families()])
def test_generate_many_is_generate_bitwise(fid):
    fam = get_family(fid)
    idx = list(range(7)) + [31, 2]
    many = fam.generate_many(5, idx)
    assert len(many) == len(idx)
    assert all(_same(fam.generate(5, i), x) for i, x in zip(idx, many))


def test_the_batched_way_is_taken(monkeypatch):
    taken = []
    real = batch._group
    monkeypatch.setattr(batch, "_group", lambda *a: taken.append(r := real(*a)) or r)
    get_family("dmro-v1[n_devices=3]").generate_many(0, range(30))
    assert taken and all(r is not None for r in taken)


def test_values_out_of_range_fall_back_to_generate(monkeypatch):
    fam = get_family("capacitated-v1:small")
    monkeypatch.setattr(batch, "values_admissible", lambda s, a: False)
    assert all(_same(fam.generate(1, i), x) for i, x in zip(range(6), fam.generate_many(1, range(6))))


def test_a_generators_error_is_generates_for_the_first_failing_member(monkeypatch):
    from offbench.families.family import _NS_INSTANCE, _PART_STRUCTURE

    fam = get_family("dmro-v1[n_devices=2]")
    real = fam.module.build
    bad = {fam._seq(_NS_INSTANCE, 0, i, _PART_STRUCTURE).bit_generator.state["state"]["state"]: i
           for i in (3, 5)}

    def build(p, rs, re):  # members 3 and 5 of seed 0 fail, whatever the order they come in
        i = bad.get(rs.bit_generator.state["state"]["state"])
        if i is not None:
            raise RuntimeError(f"member {i}")
        return real(p, rs, re)

    def build_many(p, rngs):
        for rs, re in rngs:
            if rs.bit_generator.state["state"]["state"] in bad:
                raise RuntimeError("a batch with a failing member")
        return real_many(p, rngs)

    real_many = fam.module.build_many
    monkeypatch.setattr(fam.module, "build", build)
    monkeypatch.setattr(fam.module, "build_many", build_many)
    with pytest.raises(RuntimeError, match="member 3"):
        fam.generate_many(0, range(7))
    assert all(_same(fam.generate(0, i), x) for i, x in zip(range(3), fam.generate_many(0, range(3))))
    got = sources_mod.build_members([("family", fam.id, 0, i) for i in range(7)])
    assert [str(g) if isinstance(g, Exception) else None for g in got] == \
        [None, None, None, "member 3", None, "member 5", None]


def test_build_members_says_which_member_failed():
    good = ("family", "dmro-v1[n_devices=2]", 0)
    descs = [(*good, 0), (*good, 1), ("file", "/nonexistent/x.json", "0" * 64), (*good, 2),
             ("random", {"n_devices": 1, "n_jobs": 1, "layers": [1, 3]}, 4, "r-4")]
    got = sources_mod.build_members(descs)
    assert [type(g).__name__ for g in got][:2] == ["Instance", "Instance"]
    assert isinstance(got[2], Exception) and not isinstance(got[3], Exception)
    for d, g in zip(descs, got):
        if not isinstance(g, Exception):
            one = sources_mod.build_member(d)
            assert g.digest == one.digest and g.name == one.name
