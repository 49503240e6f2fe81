"""A learner's inputs: weights files (their content in the job key, damaged tensors refused),
parameters refused up front by ``offbench solve`` and ``offbench run`` (exit 2, no traceback),
``offbench train``'s output folder checked before training, and DMRO's meta-training streams
drawn from a seed space of their own (never a run spec's stream)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from offbench.cli import main
from offbench.discovery import make_solver, resolve
from offbench.errors import UserError
from offbench.families import get_family

torch = pytest.importorskip("torch", reason="torch is the optional offbench[torch] extra")
pytest.importorskip("safetensors", reason="safetensors is in the optional offbench[rl] extra")

from offbench.learn.base import WeightsError  # noqa: E402

SMALL = {"hidden": [8], "memory": 16, "batch": 4, "train_every": 1}


@pytest.fixture(scope="module")
def frames():
    return list(get_family("dmro-v1").stream(11, 4))


def _weights(path: Path, frames, seed: int = 0) -> Path:
    s = make_solver("droo", SMALL)
    s.start(frames[0], seed)
    s.save(path)
    return path


def _spec(weights, solver: str = "droo", params=None, **extra) -> dict:
    return {"name": "inputs", "tracks": ["online"], "seeds": [0], "reference": {"mode": "none"},
            "online": {"window": 2},
            "sources": [{"kind": "stream", "name": "s", "family": "dmro-v1", "seed": 11, "frames": 4}],
            "solvers": [{"id": solver, "params": {**SMALL, **(params or {}),
                                                   **({"weights": str(weights)} if weights else {})}}],
            **extra}


# ------------------------------------------------------------------------------ A: job key
def test_a_changed_weights_file_gives_a_new_job_key(tmp_path, frames):
    from offbench.run.spec import param_hash, parse_spec

    w = _weights(tmp_path / "w.safetensors", frames, seed=0)
    first = parse_spec(_spec(w)).solvers[0]
    assert parse_spec(_spec(w)).solvers[0].param_hash == first.param_hash  # same file, same key
    _weights(w, frames, seed=5)  # the same path, other weights
    second = parse_spec(_spec(w)).solvers[0]
    assert second.params == first.params and second.param_hash != first.param_hash
    # a solver without a weights file keeps the hash it always had
    plain = parse_spec(_spec(None)).solvers[0]
    assert plain.param_hash == param_hash(plain.params)


def test_a_missing_weights_file_is_refused_at_spec_check(tmp_path):
    from offbench.run.spec import SpecError, parse_spec

    with pytest.raises(SpecError, match="weights"):
        parse_spec(_spec(tmp_path / "nowhere.safetensors"))


# ------------------------------------------------------------------------------ B: NaN weights
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_b_weights_with_non_finite_values_are_refused(tmp_path, frames, bad):
    from safetensors import safe_open
    from safetensors.torch import save_file

    good = _weights(tmp_path / "good.safetensors", frames)
    with safe_open(str(good), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    name = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = bad
    damaged = tmp_path / "damaged.safetensors"
    save_file(tensors, str(damaged), metadata=meta)
    s = make_solver("droo", {**SMALL, "weights": str(damaged)})
    with pytest.raises(WeightsError, match=rf"damaged\.safetensors.*{name}"):
        s.start(frames[0], 0)
    with pytest.raises(WeightsError, match=name):  # the up-front check says the same
        s.check_inputs(frames[0])


# ------------------------------------------------------------------------------ C: exit 2
def _instance(tmp_path, frames) -> str:
    p = tmp_path / "inst.json"
    p.write_text(frames[0].to_json())
    return str(p)


def test_c_solve_exits_2_on_a_weights_file_it_cannot_use(tmp_path, frames, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    code = main(["solve", _instance(tmp_path, frames), "--solver", "droo", "--param", f"weights={bad}"])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    assert "bad.safetensors" in out.err and "not a safetensors file" in out.err
    assert "Traceback" not in out.err


def test_c_a_solver_error_raised_while_solving_is_the_callers_mistake(tmp_path, frames, capsys):
    """What the up-front check cannot see (tensor shapes: the network must be built) is raised
    by the solve, not recorded as a crash of the solver with a traceback."""
    w = _weights(tmp_path / "w.safetensors", frames)
    code = main(["solve", _instance(tmp_path, frames), "--solver", "droo",
                 "--param", f"weights={w}", "--param", "hidden=[9]"])
    out = capsys.readouterr()
    assert code == 2 and "has shape (1, 1, 8)" in out.err and "Traceback" not in out.err


def test_c_solve_exits_2_on_an_n_steps_that_does_not_fit(tmp_path, frames, capsys):
    pytest.importorskip("stable_baselines3")
    code = main(["solve", _instance(tmp_path, frames), "--solver", "sb3-ppo",
                 "--param", "frames=2", "--param", "n_steps=7"])
    out = capsys.readouterr()
    assert code == 2 and "n_steps = 7" in out.err and "Traceback" not in out.err


def _write_spec(tmp_path, spec) -> str:
    pytest.importorskip("yaml")
    p = tmp_path / "spec.yaml"
    p.write_text(json.dumps(spec))  # JSON is YAML
    return str(p)


def test_c_run_refuses_an_unusable_weights_file_before_any_job(tmp_path, frames, capsys):
    other = get_family("capacitated-v1:small").stream(1, 1)
    s = make_solver("droo", SMALL)
    s.start(next(iter(other)), 0)
    s.save(tmp_path / "other.safetensors")  # another structure than the source's frames
    store = tmp_path / "r.sqlite"
    code = main(["run", _write_spec(tmp_path, _spec(tmp_path / "other.safetensors")),
                 "--store", str(store), "-j", "0", "--quiet", "--no-leaderboard"])
    out = capsys.readouterr()
    assert code == 2 and "another structure" in out.err and "source 's'" in out.err
    assert not store.exists()  # refused before the run began


def test_c_run_refuses_an_n_steps_that_does_not_fit_before_any_job(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    spec = _spec(None)
    spec["solvers"] = [{"id": "sb3-ppo", "params": {"n_steps": 7}}]
    code = main(["run", _write_spec(tmp_path, spec), "--store", str(tmp_path / "r.sqlite"),
                 "--dry-run"])
    out = capsys.readouterr()
    assert code == 2 and "n_steps = 7" in out.err and "Traceback" not in out.err


def test_c_a_solver_error_in_one_job_leaves_the_other_jobs_alone(tmp_path, frames):
    """A weights file whose tensors do not fit the network (seen only once it is built) fails
    its own jobs; the run and the other solver's jobs go on."""
    from offbench.run.api import run_benchmark

    w = _weights(tmp_path / "w.safetensors", frames)
    spec = _spec(None)
    spec["solvers"] = [{"id": "droo", "params": {**SMALL, "hidden": [9], "weights": str(w)}},
                       {"id": "droo", "params": SMALL}]
    store = tmp_path / "r.sqlite"
    run_benchmark(spec, store, jobs=0)
    rows = {json.loads(p)["hidden"][0]: (st, err) for p, st, err in sqlite3.connect(store).execute(
        "select params, status, error from results")}
    assert rows[9][0] == "error" and "has shape (1, 1, 8)" in rows[9][1]
    assert rows[8][0] != "error"


# ------------------------------------------------------------------------------ D: train --out
def _no_training(monkeypatch):
    calls = []
    cls = resolve("dmro")
    monkeypatch.setattr(cls, "meta_train", lambda self, *a, **k: calls.append(a) or {})
    return calls


def test_d_train_checks_its_output_folder_before_training(tmp_path, monkeypatch):
    from offbench.commands.train import train

    calls = _no_training(monkeypatch)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="afile/sub"):
        train("dmro", "dmro-v1", tmp_path / "afile" / "sub", iterations=1)
    assert calls == []  # refused before training


def test_d_a_failed_training_leaves_nothing_behind(tmp_path, monkeypatch):
    from offbench.commands.train import train

    def boom(self, *a, **k):
        assert (tmp_path / "new" / "sub").is_dir()  # created (and checked) before training
        raise RuntimeError("training failed")

    monkeypatch.setattr(resolve("dmro"), "meta_train", boom)
    with pytest.raises(RuntimeError):
        train("dmro", "dmro-v1", tmp_path / "new" / "sub", iterations=1)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ F: seed space
def test_f_meta_training_never_draws_a_run_specs_stream(monkeypatch):
    """DMRO's meta-training streams are not streams a run spec can name: with the old
    ``seed * 1000 + j``, training environment ``j`` of seed 0 was the stream of seed ``j``, so
    a stream source ``{family = dmro-v1, seed = 4}`` scored DMRO on its own training frames."""
    fam = get_family("dmro-v1")
    cls = resolve("dmro")
    seen = set()
    orig = cls._meta_iteration

    def record(self, batch, mems, context, what):
        seen.update((env, f.digest) for env, fs in batch for f in fs)
        return orig(self, batch, mems, context, what)

    monkeypatch.setattr(cls, "_meta_iteration", record)
    s = make_solver("dmro", {"meta_iterations": 1, "meta_frames": 2, "meta_tasks": 8})
    first = next(iter(fam.stream(0, 1)))
    s.budget = {"frames": 2, "learn_frames": 2}
    for seed in (0, 1):
        s.start(first, seed)
    envs = sorted({env for env, _ in seen})
    assert len(envs) == 8
    run_streams = {(env, f.digest) for env in envs for src_seed in [*range(12), *range(1000, 1012)]
                   for f in fam.stream(src_seed, 2, environment=env)}
    assert not seen & run_streams


def test_f_the_legacy_seed_space_is_the_old_derivation():
    dmro = __import__(resolve("dmro").__module__, fromlist=["meta_stream_seed"])
    assert [dmro.meta_stream_seed(3, j, "legacy") for j in range(3)] == [3000, 3001, 3002]
    tagged = {dmro.meta_stream_seed(s, j) for s in range(50) for j in range(8)}
    assert len(tagged) == 400 and min(tagged) >= 2 ** 63
    with pytest.raises(UserError, match="seed space"):
        dmro.meta_stream_seed(0, 0, "other")
