"""The track registry: each track is one object; a new one flows through spec, plan, run,
leaderboard and plots without editing them; outcomes become rows in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from offbench import tracks
from offbench.leaderboard import build, render
from offbench.run import InProcessExecutor, SpecError, parse_spec, plan, run
from offbench.store import FRAME_COLUMNS, KEY_COLUMNS, RESULT_COLUMNS, Store
from offbench.tracks import Outcome, Setting, Track, TrackError, learn_metrics, score_outcome

FIXTURES = str(Path(__file__).parent / "fixtures_solvers")


class ToyTrack(Track):
    """A toy track: a static solve scored as usual, with a setting that goes into the job key."""

    name = "toy"
    doc = "a static solve, for the registry test"
    settings = (Setting("repeat", 1, 1, "how many times the toy track would repeat"),)
    ratio_column = "toy ratio"
    figures = ("ecdf",)

    def can_run(self, solver_tracks, learns):
        return ("static" in solver_tracks, "static solvers only")

    def job_config(self, source_spec, n, settings):
        return dict(settings)

    def run(self, job, solver_cls, started=None):
        res = solver_cls(**job.params).solve(job.instance, time_limit=job.time_limit, seed=job.seed)
        out = Outcome.from_result(res)
        if job.reference is not None:
            score_outcome(job.instance, job.reference, out)
        return out

    def notes(self, track_config):
        return [f"toy: repeat = {track_config['repeat']}"]


@pytest.fixture
def toy():
    track = tracks.register(ToyTrack())
    try:
        yield track
    finally:
        tracks.unregister("toy")
    assert "toy" not in tracks.names()


def test_built_in_tracks_are_registered_in_order():
    assert tracks.names()[:4] == ("static", "online", "generalization", "adaptation")
    assert tracks.get("online").threshold == 1.01 and tracks.get("adaptation").threshold == 1.02
    assert tracks.get("online").columns[4] == "frames to 1.01"
    assert "frames to" not in " ".join(tracks.get("generalization").columns)
    assert [t for t in tracks.names() if tracks.get(t).stream] == ["online", "generalization", "adaptation"]
    with pytest.raises(TrackError, match="unknown track 'onlin'; did you mean 'online'"):
        tracks.get("onlin")
    with pytest.raises(ValueError, match="already registered"):
        tracks.register(type(tracks.get("static"))())


def test_track_settings_are_validated_by_the_track():
    online = tracks.get("online")
    assert online.parse_settings(None, "run spec: online") == {"window": 50}
    assert online.parse_settings({"window": 7}, "run spec: online") == {"window": 7}
    with pytest.raises(TrackError, match="unknown key 'windw'. Did you mean 'window'"):
        online.parse_settings({"windw": 3}, "run spec: online")
    with pytest.raises(TrackError, match="window"):
        online.parse_settings({"window": 0}, "run spec: online")
    with pytest.raises(TrackError, match="expected a table"):
        online.parse_settings(3, "run spec: online")


def test_a_registered_track_flows_through_spec_run_leaderboard_and_plots(toy, tmp_path):
    raw = {"name": "toy-run", "solvers_dirs": [FIXTURES], "tracks": ["toy"], "seeds": [0],
           "toy": {"repeat": 3},
           "sources": [{"kind": "random", "count": 2, "n_devices": 2, "n_jobs": 2, "layers": [3, 3]}],
           "solvers": ["fx-zero", "fx-learner"]}
    spec = parse_spec(raw)
    assert spec.track_settings["toy"] == {"repeat": 3} and spec.to_dict()["toy"] == {"repeat": 3}
    with pytest.raises(SpecError, match="unknown key 'repeats'. Did you mean 'repeat'"):
        parse_spec({**raw, "toy": {"repeats": 3}})
    pl = plan(spec)
    # the learner declares only learning tracks: the toy track leaves it out, and says why
    assert {j.solver_id for j in pl.jobs} == {"fx-zero-v1"} and len(pl.jobs) == 2
    assert any("fx-learner-v1 on toy track" in s for s in pl.skipped)
    assert all(j.track == "toy" and j.track_config["repeat"] == 3 for j in pl.jobs)
    summary = run(spec, tmp_path / "r.sqlite", executor=InProcessExecutor(), plan_=pl)
    assert summary.ok and summary.done == 2
    with Store.open_readonly(tmp_path / "r.sqlite") as s:
        board = build(s)
    text = render(board, "md")
    assert "## random / toy (2 instances)" in text
    assert "| solver | n | toy ratio | 95% CI | median | solved | refused | gmean solved | failed |" in text
    assert "_toy: repeat = 3_" in text
    from offbench.plots import write_plots

    files = write_plots(board, tmp_path / "plots", formats=("png",))
    assert [f.name for f in files] == ["random-toy-ecdf.png"]


def test_an_outcome_becomes_a_row_in_one_place():
    out = Outcome.failed("timeout", "stopped", wall_time=2.0, info={"stopped_by": "SIGKILL"})
    assert out.missing and out.decision is None and out.frames == []
    key = {c: f"k-{c}" for c in KEY_COLUMNS}
    row = out.to_row(key, params={"a": 1}, track_config={"time_limit": 1.0},
                     offbench_version="9", run_id=4)
    assert set(row) <= set(RESULT_COLUMNS)
    assert row["status"] == "timeout" and row["info"] == {"stopped_by": "SIGKILL"}
    assert row["run_id"] == 4 and row["offbench_version"] == "9" and row["params"] == {"a": 1}
    fr = Outcome(status="feasible", cost=1.0, decision="01").frame_row(3, "d", {"loss": 0.5})
    assert set(fr) == set(FRAME_COLUMNS)
    assert fr["frame"] == 3 and fr["info"] == {"loss": 0.5}


def test_learn_metrics_are_numbers_only():
    import numpy as np

    assert learn_metrics(None) == {}
    assert learn_metrics({"loss": np.float32(0.5), "K": np.int64(3), "nan": float("nan")}) == {
        "loss": 0.5, "K": 3, "nan": None}
    for bad in ([1.0], {"loss": "low"}, {"flag": True}, {1: 2.0}):
        with pytest.raises(TypeError, match="learn"):
            learn_metrics(bad)


def test_a_learner_that_returns_a_non_dict_stops_its_stream_with_an_error(tmp_path):
    import numpy as np

    from offbench.run import Job
    from offbench.generators import random_instance
    from offbench.solver import LearningSolver, Proposal

    class Chatty(LearningSolver):
        name = "test-chatty"

        def start(self, structure, seed):
            pass

        def decide(self, frame, ctx):
            return Proposal(np.zeros(frame.n_layers, dtype=np.int8))

        def learn(self, frame, decision, ctx):
            return "learned a lot"

    frames = tuple(random_instance(k, n_devices=1, n_jobs=1, layers=(2, 2)) for k in range(3))
    job = Job(kind="solve", index=0, source="s", digest="d", track="online", frames=frames,
              track_config={"frames": 3, "window": 2, "time_limit": None, "reference": "none"},
              score=False)
    out = tracks.run_job(job, Chatty)
    assert out.status == "error" and "learn failed at frame 0" in out.error
    assert "dict of numbers" in out.error and len(out.frames) == 1


# ------------------------------------------------------------------ convergence counts solved frames
def test_frames_until_stays_below_needs_every_frame_of_the_window_solved():
    from offbench.metrics import frames_until_stays_below

    r = [1.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert frames_until_stays_below(r, 2, 1.01) == 3
    assert frames_until_stays_below(r, 2, 1.01, [True] * 6) == 3
    # frame 3 unsolved (scored at a fallback ratio of 1.0): windows ending at 3 and 4 hold it
    assert frames_until_stays_below(r, 2, 1.01, [True, True, True, False, True, True]) == 6
    # the last window holds an unsolved frame: not converged, whatever its mean
    assert frames_until_stays_below(r, 2, 1.01, [True] * 5 + [False]) is None
    assert frames_until_stays_below([1.0] * 4, 10, 1.01, [False, True, True, True]) is None
    with pytest.raises(ValueError, match="solved has 2 values for 6 ratios"):
        frames_until_stays_below(r, 2, 1.01, [True, True])


def _all_device_optimal_frames(n):
    """Frames whose edge and cloud have no capacity: all-device is the only feasible decision
    (so it is the optimum, and the all-device fallback of an infeasible decision has ratio 1)."""
    from offbench.generators import random_instance
    from offbench.reference import compute_reference

    frames = tuple(random_instance(k, n_devices=2, n_jobs=2, layers=(2, 2), zero_fraction=0.0,
                                   edge_capacity=0.0, cloud_capacity=0.0) for k in range(n))
    return frames, tuple(compute_reference(f).to_dict() for f in frames)


def test_a_stream_whose_window_holds_an_infeasible_frame_has_not_converged():
    import numpy as np

    from offbench.run import Job
    from offbench.solver import LearningSolver, Proposal

    class OneSlip(LearningSolver):
        """All on the devices (optimal), except frame ``slip`` where every layer goes to the edge."""
        name = "test-one-slip"
        slip = 5

        def start(self, structure, seed):
            self.k = 0

        def decide(self, frame, ctx):
            x = np.full(frame.n_layers, 1 if self.k == self.slip else 0, dtype=np.int8)
            return Proposal(x)

        def learn(self, frame, decision, ctx):
            self.k += 1

    frames, refs = _all_device_optimal_frames(6)
    cfg = {"frames": 6, "window": 3, "time_limit": None, "reference": "auto"}
    job = Job(kind="solve", index=0, source="s", digest="d", track="online", frames=frames,
              frame_refs=refs, track_config=cfg)
    out = tracks.run_job(job, OneSlip)
    ratios = [r["ratio"] for r in out.frames]
    assert ratios == [1.0] * 6                      # the slip is scored at the all-device fallback
    assert out.frames[5]["counted_infeasible"] and out.info["infeasible_frames"] == 1
    assert out.info["mean_ratio"] == 1.0
    assert out.info["frames_to_threshold"] is None  # its last window holds the unsolved frame
    OneSlip.slip = 2                                 # windows ending at frames 2..4 hold it
    out = tracks.run_job(job, OneSlip)
    assert out.info["frames_to_threshold"] == 6
    OneSlip.slip = 99                                # never slips
    assert tracks.run_job(job, OneSlip).info["frames_to_threshold"] == 1


def test_meta_frames_need_training_environments_the_stream_does_not_visit():
    from offbench.tracks.adaptation import meta_environments

    ada = tracks.get("adaptation")
    src = {"kind": "stream", "family": "capacitated-v1:small", "seed": 0, "switch_at": 2,
           "switch_to": "congested"}
    assert "no training environment" in ada.skip_reason(src, 4, {"window": 2, "meta_frames": 8})
    assert ada.skip_reason(src, 4, {"window": 2, "meta_frames": 0}) is None
    rnd = {"kind": "stream", "random": {}, "switch_at": 2}
    assert "needs a family's stream" in ada.skip_reason(rnd, 4, {"window": 2, "meta_frames": 8})
    # without the phase the job's settings (its store key) are what they always were
    dmro = {"kind": "stream", "family": "dmro", "seed": 3, "switch_at": 2, "switch_to": "vgg16-high"}
    assert ada.job_config(dmro, 4, {"window": 2, "meta_frames": 0}) == {
        "frames": 4, "switch_at": 2, "window": 2}
    cfg = ada.job_config(dmro, 4, {"window": 2, "meta_frames": 8})
    from offbench.families import get_family

    envs = meta_environments(get_family("dmro"), dmro)
    assert cfg["meta_environments"] == envs and "resnet18-mid" not in envs  # the default start
    assert cfg["meta_family"] == "dmro-v1" and cfg["meta_seed"] == 3 and cfg["meta_frames"] == 8
    with pytest.raises(TrackError, match="'meta_frames' setting .* must be an int in \\[0, inf\\)"):
        ada.parse_settings({"meta_frames": -1}, "run spec: adaptation")
