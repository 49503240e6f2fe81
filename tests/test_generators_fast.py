"""Tests of the fast generation path (issue 14): drafts, one validation per instance, and the
same instances as the validated path, bit for bit.

The speed itself is measured by ``benchmarks/asv_generators.py`` and
``benchmarks/scripts/bench_scale.py``, never here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from offbench.errors import InstanceError
from offbench.families import get_family
from offbench.families._common import draft_instance, draft_replace
from offbench.generators import random_instance
from offbench.instance import Instance
from offbench.streams import FrameProcess, quantize, quantize_parts

IDS = ["dmro-v1", "capacitated-v1:small", "deadline-v1:small", "zoo-v1:fleet", "scale-v1:n10"]


def _fields(inst: Instance) -> dict:
    return {f.name: getattr(inst, f.name) for f in dataclasses.fields(inst)}


def _same(a: Instance, b: Instance) -> None:
    for f in dataclasses.fields(Instance):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
            assert not x.flags.writeable, f.name
        else:
            assert x == y or (x is None and y is None), f.name
    assert a.digest == b.digest


def test_draft_holds_what_the_constructor_holds():
    inst = random_instance(3, n_jobs=5, capacities=True, deadlines=True)
    fields = _fields(inst)
    # lists and writable arrays in, read-only typed arrays out, as the constructor makes them
    raw = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
    _same(draft_instance(**raw), Instance(**raw))
    d = draft_replace(inst, edge_speed=2.5e11, name="x")
    assert d.edge_speed == 2.5e11 and d.name == "x"
    assert d.digest == inst.replace(edge_speed=2.5e11).digest


def test_draft_refuses_a_missing_field():
    fields = _fields(random_instance(0))
    del fields["ops"]
    with pytest.raises(TypeError, match="'ops'"):
        draft_instance(**fields)


def test_draft_is_not_validated_but_a_family_validates_what_it_hands_out(monkeypatch):
    """A generator that builds a bad nominal instance cannot get it past the family: the frame
    of a static instance is validated, and so is a scenario's nominal instance."""
    fam = get_family("dmro-v1")
    build = fam.module.build

    def bad_build(p, rs, re):
        inst, snr = build(p, rs, re)
        ops = np.array(inst.ops)
        ops[3] = -1.0
        return draft_replace(inst, ops=ops), snr

    assert draft_replace(fam.generate(0, 0), ops=-np.ones(fam.generate(0, 0).n_layers)).ops[0] == -1.0
    monkeypatch.setattr(fam.module, "build", bad_build)
    with pytest.raises(InstanceError, match=r"jobs\[0\]\.ops\[3\]"):
        fam.generate(0, 0)
    with pytest.raises(InstanceError, match=r"jobs\[0\]\.ops\[3\]"):
        fam.scenario(0, 0)
    with pytest.raises(InstanceError, match=r"jobs\[0\]\.ops\[3\]"):
        next(iter(fam.stream(0, 2)))


@pytest.mark.parametrize("fid", IDS)
def test_generate_is_the_validated_path_bit_for_bit(fid):
    """``generate`` (draft nominal instance, one validation) equals the path that validates every
    step: the public scenario (validated) and a frame drawn from it, renamed by the constructor."""
    fam = get_family(fid)
    for seed, index in ((0, 0), (5, 3)):
        got = fam.generate(seed, index)
        sc = fam.scenario(seed, index)
        assert isinstance(sc.base, Instance)
        Instance(**_fields(sc.base))  # the public scenario's nominal instance is valid
        proc = FrameProcess(sc, fam._seq(1, seed, index, 3), name=f"{fam.id}/s{seed}",
                            switching=False)
        want = proc.next().replace(name=f"{fam.id}/s{seed}/{index}")
        _same(got, want)
        assert got.name == f"{fam.id}/s{seed}/{index}"
        _same(Instance(**_fields(got)), got)  # and it passes the full checks


def test_a_renamed_instance_keeps_its_cached_digest_and_nothing_else():
    from offbench.cost import tables
    from offbench.families.family import _renamed

    a = get_family("dmro-v1").generate(1, 2)
    d = a.digest
    tables(a)  # a cache on the instance that must not travel
    b = _renamed(a, "other")
    assert b.name == "other" and a.name == "dmro-v1/s1/2"
    assert set(b.__dict__) == {f.name for f in dataclasses.fields(Instance)} | {"digest"}
    assert b.__dict__["digest"] == d == Instance(**_fields(b)).digest
    assert len(a.__dict__) > len(b.__dict__)


def test_cached_settings_are_not_shared_with_callers():
    fam = get_family("dmro-v1")
    p = fam.params_for()
    p["n_devices"] = 99
    assert fam.params_for()["n_devices"] != 99
    assert fam.variation() is fam.variation()  # frozen: shared safely


def test_quantize_parts_is_quantize_part_by_part():
    rng = np.random.default_rng(0)
    parts = [rng.lognormal(0, 20, 7), 3.25e-7, rng.lognormal(0, 5, 1), np.array([np.inf, 0.0])]
    got = quantize_parts(parts)
    assert [g.size for g in got] == [7, 1, 1, 2]
    for g, p in zip(got, parts):
        np.testing.assert_array_equal(g, quantize(np.atleast_1d(p)))
