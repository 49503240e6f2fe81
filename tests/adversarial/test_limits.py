"""Size limits (issue 10 item 4): checked before anything large is allocated, each refusal naming
the limit and the environment variable that raises it."""

from __future__ import annotations

import copy
import io
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from offbench import Instance, InstanceError, load_instance
from offbench.instance import LIMITS, check_size, limit

from ._helpers import SPEC_EXAMPLE, refused, write_json


def test_check_size_names_the_limit_and_its_variable(monkeypatch):
    check_size(n_jobs=10, n_layers=100, layers_per_job=np.array([3, 4]))
    for name, (var, default, _) in LIMITS.items():
        assert limit(name) == default
        kw = {"n_bytes" if name == "bytes" else "layers_per_job" if name == "layers_per_job"
              else f"n_{name}": default + 1}
        with pytest.raises(InstanceError, match=f"over the limit of {default:,}.*{var}"):
            check_size(**kw)
        monkeypatch.setenv(var, str(default + 1))
        check_size(**kw)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1e9", "9" * 5000, ""])
def test_a_bad_limit_variable_is_one_line(tmp_path, capsys, monkeypatch, value):
    path = write_json(tmp_path / "x.json", SPEC_EXAMPLE)
    monkeypatch.setenv("OFFBENCH_MAX_INSTANCE_BYTES", value)
    monkeypatch.setenv("OFFBENCH_MAX_LAYERS", value)
    if value == "":  # unset in effect: the default
        assert load_instance(path).n_layers == 3
        return
    refused(capsys, ["validate", path], "OFFBENCH_MAX_", "expected a whole number >= 1")


@pytest.mark.parametrize("var, words", [
    ("OFFBENCH_MAX_JOBS", "jobs in an instance"),
    ("OFFBENCH_MAX_LAYERS_PER_JOB", "layers in one job"),
    ("OFFBENCH_MAX_LAYERS", "layers in an instance"),
    ("OFFBENCH_MAX_DEVICES", "devices in an instance"),
])
def test_json_over_a_limit_is_refused(tmp_path, capsys, monkeypatch, var, words):
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["devices"] = d["devices"] * 3
    d["jobs"] = [copy.deepcopy(d["jobs"][0]) for _ in range(3)]
    path = write_json(tmp_path / "x.json", d)
    assert load_instance(path).n_jobs == 3
    monkeypatch.setenv(var, "2")
    refused(capsys, ["validate", path], words, var)
    # the same through the npz form, refused from the array headers
    npz = tmp_path / "x.npz"
    monkeypatch.delenv(var)
    npz.write_bytes(load_instance(path).to_npz_bytes())
    monkeypatch.setenv(var, "2")
    refused(capsys, ["validate", npz], var)


def _npz_declaring(n_layers: int) -> bytes:
    """A small npz whose ops and bits headers declare n_layers values (data: zeros, compressed)."""
    inst = Instance.from_dict(SPEC_EXAMPLE)
    with np.load(io.BytesIO(inst.to_npz_bytes()), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["ops"] = np.zeros(n_layers)
    arrays["bits"] = np.zeros(n_layers + 1)
    arrays["layer_offsets"] = np.array([0, n_layers])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            with zf.open(k + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(v), allow_pickle=False)
    return buf.getvalue()


def test_a_small_npz_declaring_2e7_layers_is_refused_without_allocating(tmp_path, capsys):
    path = tmp_path / "bomb.npz"
    path.write_bytes(_npz_declaring(20_000_000))
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(InstanceError, match="20,000,000 layers in an instance is over the "
                                                "limit.*OFFBENCH_MAX_LAYERS"):
            load_instance(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * path.stat().st_size + 2**20, peak
    refused(capsys, ["validate", path], "OFFBENCH_MAX_LAYERS")


def test_family_parameter_n_jobs_1e9_is_refused_fast(tmp_path, capsys):
    t = time.perf_counter()
    refused(capsys, ["instances", "generate", "capacitated-v1:small", "--param", "n_jobs=1e9",
                     "--seed", "0", "--count", "1", "--out", tmp_path / "out"],
            "1,000,000,000 jobs", "OFFBENCH_MAX_JOBS")
    assert time.perf_counter() - t < 10
    assert not (tmp_path / "out").exists()
    refused(capsys, ["instances", "generate", "dmro", "--param", "n_devices=100000000",
                     "--seed", "0", "--count", "1", "--out", tmp_path / "out"], "OFFBENCH_MAX_")


def test_random_source_with_1e8_jobs_is_refused_in_a_dry_run(tmp_path, capsys):
    spec = tmp_path / "big.toml"
    spec.write_text('name = "big"\nsolvers = ["greedy"]\n[[sources]]\nkind = "random"\n'
                    'name = "r"\ncount = 1\nn_jobs = 100000000\n')
    t = time.perf_counter()
    refused(capsys, ["run", spec, "--dry-run", "--store", tmp_path / "store"],
            "100,000,000 jobs", "OFFBENCH_MAX_JOBS")
    assert time.perf_counter() - t < 10


def test_json_memory_per_byte_is_small(tmp_path):
    """The many-numbers-per-byte file (one-digit values, minified) loads in under 10x its size."""
    rng = np.random.default_rng(0)
    d = copy.deepcopy(SPEC_EXAMPLE)
    d["jobs"] = [{"device": 0, "ops": rng.integers(1, 10, 5).tolist(),
                  "bits": rng.integers(1, 10, 6).tolist()} for _ in range(20_000)]
    path = tmp_path / "x.json"
    path.write_text(json.dumps(d, separators=(",", ":")))
    tracemalloc.start()
    try:
        inst = load_instance(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert inst.n_layers == 100_000
    assert peak < 10 * path.stat().st_size, peak / path.stat().st_size
