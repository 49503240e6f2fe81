"""``Instance.compact_json_and_digest`` writes an instance of chains directly
(:meth:`offbench.instance.Instance._chain_texts`): its text and its digest must be byte for byte
those of :meth:`~offbench.instance.Instance.to_dict` through :mod:`json` (the stored record and
the content digest that frozen sets pin), on every family and on random instances with every
optional part (capacities or not, deadlines or not, names with quotes and non-ASCII letters,
weights 0, large and tiny magnitudes)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from offbench.families import list_families
from offbench.generators import random_instance
from offbench.instance import Instance


def _generic(inst: Instance) -> tuple[str, str]:
    d = inst.to_dict()
    text = json.dumps(d, indent=None, allow_nan=False) + "\n"
    d.pop("name")
    canonical = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text, hashlib.sha256(canonical.encode()).hexdigest()


def _check(inst: Instance) -> None:
    text, digest = _generic(inst)
    fresh = Instance.from_json(inst.to_json())  # no digest cached yet
    assert fresh.compact_json_and_digest() == text
    assert fresh.digest == digest == inst.digest


def test_random_instances_byte_for_byte():
    for seed in range(80):
        inst = random_instance(seed, n_devices=1 + seed % 4, n_jobs=1 + seed % 7, layers=(1, 9),
                               capacities=bool(seed % 2), deadlines=bool(seed % 3))
        _check(inst)


def test_every_optional_part_and_odd_names():
    base = random_instance(5, n_devices=3, n_jobs=4, layers=(1, 6), capacities=True,
                           deadlines=True)
    dl = base.deadline.copy()
    dl[1] = np.inf  # one job without a deadline
    for changes in (dict(name='quote " and back\\slash, ünïcödé, tab\t'),
                    dict(deadline=dl),
                    dict(edge_capacity=np.inf, cloud_capacity=0.0),
                    dict(job_weight=np.zeros(base.n_jobs), w_tardiness=0.0),
                    dict(ops=np.full(base.n_layers, 1.2345678901234e29),
                         bits=np.full(base.bits.size, 1e-29))):
        _check(base.replace(**changes))


@pytest.mark.parametrize("family", [f.id for f in list_families(all_versions=True)])
def test_every_family_byte_for_byte(family):
    """DAG families go through to_dict (the chain path is for chains only): checked all the same."""
    from offbench.families import get_family

    fam = get_family(family)
    for k in range(3):
        _check(fam.generate(0, k))
