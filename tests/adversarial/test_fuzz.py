"""Fuzz: mutated instance files, npz files and run specs thrown at ``validate``, ``evaluate`` and
``run --dry-run`` through the CLI's ``main()`` in-process. Each must succeed, or be refused
cleanly: status 2, one line on stderr, no traceback, and nothing written.

Forty examples of each run by default; ``-m slow`` runs 1000 (250 run specs).
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offbench import Instance
from offbench.cli import main

from ._helpers import SPEC_EXAMPLE

FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SLOW_SPECS = settings(SLOW, max_examples=250)  # a dry run plans the run: about 1 s each

# Values a mutation may put anywhere: wrong types, edge numbers, huge and tiny ones.
ODD = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.integers(-3, 3),
    st.sampled_from([0, -0.0, 1e-324, 5e-324, 1e-31, 1e-30, 1e30, 1e31, 1.7e308, -1.0, 2**63,
                     10**40, 0.5]),
    st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
RAW_LITERALS = ["1e400", "-1e400", "9" * 5000, "NaN", "Infinity", "1" * 45, "[]", "{}", '"x"']


def _paths(obj, prefix=()):
    """Every (path, value) in a JSON tree."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _set(tree, path, value):
    if not path:
        return value
    o = tree
    for k in path[:-1]:
        o = o[k]
    o[path[-1]] = value
    return tree


@st.composite
def mutated_instance_text(draw):
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["jobs"].append(copy.deepcopy(d["jobs"][0]))
    d["jobs"][1]["device"] = draw(st.integers(0, 1))
    d["devices"].append(copy.deepcopy(d["devices"][0]))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in _paths(d)]
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["set", "delete", "raw", "duplicate"]))
        if kind == "set":
            d = _set(d, path, draw(ODD))
        elif kind == "delete" and path:
            parent = d
            for k in path[:-1]:
                parent = parent[k]
            del parent[path[-1]]
        elif kind == "duplicate" and path and isinstance(path[-1], int):
            parent = d
            for k in path[:-1]:
                parent = parent[k]
            parent.append(copy.deepcopy(parent[path[-1]]))
        elif kind == "raw":
            d = _set(d, path, "@@RAW@@")
    text = json.dumps(d)
    return text.replace('"@@RAW@@"', draw(st.sampled_from(RAW_LITERALS)))


@st.composite
def mutated_npz(draw):
    inst = Instance.from_dict(SPEC_EXAMPLE)
    with np.load(io.BytesIO(inst.to_npz_bytes()), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for _ in range(draw(st.integers(1, 2))):
        key = draw(st.sampled_from(sorted(arrays)))
        arrays[key] = draw(st.sampled_from([
            np.array("x"), np.array(["1", "2"]), np.array([]), np.array(7), np.array([1.0, np.inf]),
            np.array([np.nan]), np.array([1e308, 1e308, 1e308]), np.array([-1, 0, 5]),
            np.ones((2, 2)), np.array([True]), np.array([0, 3], dtype=np.int8),
        ]))
        if draw(st.booleans()):
            arrays.pop(draw(st.sampled_from(sorted(arrays))))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    if draw(st.booleans()):  # flip or cut bytes
        pos = draw(st.integers(0, len(data) - 1))
        data = data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1:] if draw(st.booleans()) else data[:pos]
    return data


@st.composite
def mutated_spec(draw):
    spec = {"name": "fuzz", "solvers": ["greedy"], "seeds": [0],
            "sources": [{"kind": "random", "name": "r", "count": 1, "n_jobs": 2, "layers": [1, 3]}]}
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in _paths(spec) if p]
        path = draw(st.sampled_from(paths))
        spec = _set(spec, path, draw(st.one_of(ODD, st.sampled_from([1e23, 10**30, 10**8, -1, "1e400"]))))
    return spec


def _snapshot(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _clean(argv, folder: Path, capsys) -> None:
    before = _snapshot(folder)
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    if rc == 0:
        return
    assert rc == 2, (rc, err)
    lines = [line for line in err.splitlines() if not line.startswith("usage:")]
    assert len(lines) == 1 and lines[0].startswith("offbench: error: "), err
    assert out == "" or argv[0] == "run", out
    assert _snapshot(folder) == before, "a refusal wrote files"


def _check_instance_text(text: str, capsys) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.json"
        p.write_text(text)
        _clean(["validate", p], Path(tmp), capsys)
        _clean(["evaluate", p, "--decision", "0,1,2,0,1,2"], Path(tmp), capsys)


def _check_npz(data: bytes, capsys) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.npz"
        p.write_bytes(data)
        _clean(["validate", p], Path(tmp), capsys)
        _clean(["evaluate", p, "--decision", "0,1,2"], Path(tmp), capsys)


def _check_spec(spec: dict, capsys) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "spec.yaml"
        p.write_text(json.dumps(spec))  # JSON is YAML
        _clean(["run", p, "--dry-run", "--store", Path(tmp) / "store"], Path(tmp), capsys)


@FAST
@given(mutated_instance_text())
def test_fuzz_instance_json(capsys, text):
    _check_instance_text(text, capsys)


@FAST
@given(mutated_npz())
def test_fuzz_instance_npz(capsys, data):
    _check_npz(data, capsys)


@FAST
@given(mutated_spec())
def test_fuzz_run_spec_dry_run(capsys, spec):
    _check_spec(spec, capsys)


@pytest.mark.slow
@SLOW
@given(mutated_instance_text())
def test_fuzz_instance_json_thorough(capsys, text):
    _check_instance_text(text, capsys)


@pytest.mark.slow
@SLOW
@given(mutated_npz())
def test_fuzz_instance_npz_thorough(capsys, data):
    _check_npz(data, capsys)


@pytest.mark.slow
@SLOW_SPECS
@given(mutated_spec())
def test_fuzz_run_spec_dry_run_thorough(capsys, spec):
    _check_spec(spec, capsys)
