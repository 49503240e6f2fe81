"""A learner whose stream stops (``learn`` raises after frame 0) had its summary taken over the
one frame it decided: a plug-in that solved frame 0 exactly (dp inside ``decide``) and then
crashed ranked first, "solved 100%". The frames it never reached are now failed frames scored at
the all-device fallback, in its row and in the leaderboard."""

from __future__ import annotations

import textwrap

import pytest

from offbench.cli import main
from offbench.run import InProcessExecutor, parse_spec, run
from offbench.run.loop import _REF_FIELDS
from offbench.store import Store
from offbench.tracks.scoring import score
from tests.test_runner import FIXTURES

QUITTER = '''
from offbench.solver import LearningSolver, Proposal


class Quitter(LearningSolver):
    """Decides frame 0 exactly (dp inside decide), then stops: learn raises."""

    name = "quitter"
    tracks = ("online",)

    def start(self, structure, seed):
        pass

    def decide(self, frame, ctx):
        import offbench

        return Proposal(offbench.solve(frame, "dp").decision)

    def learn(self, frame, decision, ctx):
        raise RuntimeError("stop here")
'''


def test_a_stream_that_stops_scores_its_unreached_frames_as_failed(tmp_path, capsys):
    plug = tmp_path / "plug"
    plug.mkdir()
    (plug / "quitter.py").write_text(textwrap.dedent(QUITTER))
    spec = parse_spec({
        "name": "stops", "solvers_dirs": [FIXTURES, str(plug)], "time_limit": 5.0,
        "tracks": ["online"], "seeds": [0], "reference": {"mode": "auto"}, "online": {"window": 4},
        "sources": [{"kind": "stream", "frames": 10,
                     "random": {"n_devices": 2, "n_jobs": 2, "layers": [3, 3]}}],
        "solvers": ["fx-learner", "quitter"],
    })
    store = tmp_path / "r.sqlite"
    run(spec, store, executor=InProcessExecutor())
    with Store.open_readonly(store) as s:
        rows = {r["solver_id"]: r for r in s.results()}
        frames = s.frames()
    q = rows["quitter-v1"]
    fr = frames[q["row_id"]]
    assert q["status"] == "error" and q["error"].startswith("learn failed at frame 0")
    assert len(fr) == 1 and fr[0]["ratio"] == pytest.approx(1.0)
    assert q["info"]["unreached_frames"] == 9 and q["info"]["error_frames"] == 9
    assert q["info"]["frames_to_threshold"] is None
    # the final window (frames 6-9), each at its all-device fallback ratio
    with Store.open_readonly(store) as s:
        src = next(x for x in s.sources() if x["kind"] == "stream")
        refs = s.references(src["members"])
        window = [score(s.instance(d), {k: refs[d][k] for k in _REF_FIELDS}, None, None)[0]
                  for d in src["members"][6:]]
    assert q["ratio"] == pytest.approx(sum(window) / 4) and q["ratio"] > 1.0
    capsys.readouterr()
    assert main(["leaderboard", "--store", str(store), "--format", "csv"]) == 0
    got = capsys.readouterr()
    assert "not finished" not in got.err  # a stream's rows carry its own digest: not unfinished
    table = [line.split(",") for line in got.out.splitlines() if not line.startswith("#")]
    head = table[0]
    body = {r[head.index("solver_id")]: r for r in table[1:]}
    quit_row = body["quitter-v1"]
    assert float(quit_row[head.index("solved_rate")]) == pytest.approx(0.1)  # 1 of 10 frames
    assert float(quit_row[head.index("infeasible_rate")]) == pytest.approx(0.9)
    assert int(quit_row[head.index("failed")]) >= 1
    assert int(quit_row[head.index("wins")]) == 0  # a stream that stops never wins
    # ranked by its ratio with the unreached frames at the fallback, as SPEC.md section 6 ranks
    assert float(quit_row[head.index("ratio_gmean")]) == pytest.approx(q["ratio"])
