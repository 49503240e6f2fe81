"""Tests of offbench.families and ``offbench instances``: determinism (pinned digests), IDs and
lookups, parameter validation, documentation, and what each family promises to model."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offbench.cli import main
from offbench.cost import evaluate, tables
from offbench.families import FamilyError, get_family, list_families, parse_family_id
from offbench.families._common import DEVICE_CLASSES, NETWORKS, n_units
from offbench.instance import Instance

#: Instance (seed 7, index 3) of each family. A change here means the generator changed: that
#: needs a new family version (and a history line), never an edit of these values.
GOLDEN = {
    "dmro-v1": "34e5ddff9585aa042e60477ea9904b500d877190d3e54e371e145438f40aa01b",
    "capacitated-v1:small": "59e5413dcf33aeca817a259b7b886344d0242c163d415ed41d9406f6c355065c",
    "capacitated-v1:medium": "07f7478ed79fc5b227c25f6109c82e404a1f866ce027b6275829ace1d6fcd513",
    "deadline-v1:small": "04eb393548a0e10c083a1df9a39f1e67ebe86a5749e32bfde1807d9ea984c9ca",
    "zoo-v1:fleet": "a9ad6e29266d66ed00a1f0457235afe8ab93c386d6c391c9771f5f41d52233d6",
    "zoo-v1:single": "4fd4374dade1af2f080e789aca7f553cd9b27c607d39e7caf47313adaac0868f",
    "scale-v1:n10": "4f5ab1d0c5c1acfd584039b6643bb3d44e5befd5c6ddb4f2bc4cddc98dd27849",
    "scale-v1:n1": "0be40de6a682a4efa8918cf8d3300eb39457420310f424f21b20f4dd0f62f6e3",
}

FAMILIES = ["dmro", "capacitated", "deadline", "zoo", "scale"]
SMALL_IDS = ["dmro-v1", "capacitated-v1:small", "capacitated-v1:medium", "deadline-v1:small",
             "deadline-v1:medium", "zoo-v1:fleet", "zoo-v1:single", "zoo-v1:fine", "scale-v1:n1",
             "scale-v1:n10", "scale-v1:n100"]


def uncapacitated_optimum(inst: Instance) -> np.ndarray:
    """Per-job shortest path over the cost model's coefficient tables (no capacities, no
    deadlines): a test helper that builds on offbench.cost.tables, as the rules ask."""
    t = tables(inst)
    x = np.zeros(inst.n_layers, dtype=np.int8)
    for i in range(inst.n_jobs):
        a, b = int(inst.layer_offsets[i]), int(inst.layer_offsets[i + 1])
        best = np.array([t.comp_c[a, k] + t.tr_c[a + i, k] for k in range(3)])
        back = []
        for layer in range(a + 1, b):
            bd = layer + i
            cand = best[:, None] + t.tr_c[bd].reshape(3, 3)     # [prev, next]
            arg = np.argmin(cand, axis=0)
            back.append(arg)
            best = cand[arg, np.arange(3)] + t.comp_c[layer]
        k = int(np.argmin(best + t.tr_c[b + i].reshape(3, 3)[:, 0]))
        x[b - 1] = k
        for layer in range(b - 1, a, -1):
            k = int(back[layer - a - 1][k])
            x[layer - 1] = k
    return x


# ------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("fid", sorted(GOLDEN))
def test_pinned_digests(fid):
    assert get_family(fid).generate(7, 3).digest == GOLDEN[fid]


@pytest.mark.parametrize("fid", SMALL_IDS)
def test_same_seed_same_digest_and_independent_indices(fid):
    a = get_family(fid).instances(11, 3)
    b = get_family(fid).instances(11, 3)
    assert [x.digest for x in a] == [x.digest for x in b]
    assert get_family(fid).generate(11, 2).digest == a[2].digest
    assert len({x.digest for x in a}) == 3, "indices must give different instances"
    c = get_family(fid).instances(12, 3)
    assert not ({x.digest for x in a} & {x.digest for x in c}), "seeds must give different instances"


@pytest.mark.parametrize("fid", SMALL_IDS)
def test_generated_instances_validate_and_round_trip(fid):
    fam = get_family(fid)
    for i, inst in enumerate(fam.instances(5, 2)):
        assert inst.name == f"{fam.id}/s5/{i}"
        again = Instance.from_json(inst.to_json())
        assert again.digest == inst.digest and again.name == inst.name
        assert Instance.from_npz_bytes(inst.to_npz_bytes()).digest == inst.digest
        assert np.all(inst.job_weight > 0), "static instances have every device on"
        ev = evaluate(inst, np.zeros(inst.n_layers, dtype=np.int8))
        assert ev.feasible and ev.cost > 0


@pytest.mark.parametrize("fid", ["dmro-v1", "capacitated-v1:small", "zoo-v1:fleet"])
def test_every_float_is_rounded_to_six_significant_digits(fid):
    d = get_family(fid).generate(3, 0).to_dict()
    values = []

    def walk(o):
        if isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, float) and math.isfinite(o) and o != 0:
            values.append(o)

    walk(d)
    assert values and all(float(f"{v:.6g}") == v for v in values)


@settings(max_examples=12, deadline=None)
@given(fid=st.sampled_from(["dmro", "capacitated", "deadline", "zoo", "zoo:fine", "scale:n10"]),
       seed=st.integers(0, 2**63 - 1), index=st.integers(0, 10**6))
def test_any_seed_and_index_gives_a_valid_reproducible_instance(fid, seed, index):
    fam = get_family(fid)
    a = fam.generate(seed, index)
    assert a.digest == get_family(fid).generate(seed, index).digest
    assert Instance.from_json(a.to_json()).digest == a.digest
    assert np.all(np.isfinite(a.ops)) and np.all(a.dev_rate_up > 0)


def test_seed_and_index_are_checked():
    fam = get_family("dmro")
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(FamilyError, match="must be an int in"):
            fam.generate(bad, 0)
        with pytest.raises(FamilyError, match="must be an int in"):
            fam.generate(0, bad)


# ------------------------------------------------------------------------------ IDs, lookup
def test_bare_name_is_latest_version_and_ids_round_trip():
    fam = get_family("dmro")
    assert (fam.id, fam.name, fam.version) == ("dmro-v1", "dmro", 1)
    assert get_family("DMRO-v1").id == "dmro-v1"
    cap = get_family("capacitated")
    assert cap.id == "capacitated-v1:small" and cap.preset == "small"
    assert get_family("capacitated-v1:medium").params["n_jobs"] == 20
    odd = get_family("scale-v1:n1000[capacities=false]")
    assert odd.id == "scale-v1:n1000[capacities=false]"
    assert odd.params["capacities"] is False
    assert get_family(odd.id).generate(0, 0).digest == odd.generate(0, 0).digest
    assert get_family("dmro", n_devices=3).id == "dmro-v1[n_devices=3]"
    assert get_family("dmro", n_devices=10).id == "dmro-v1"          # the default: no change
    assert get_family("scale:n1000", n_jobs=1000).id == "scale-v1:n1000"
    assert get_family("dmro").with_params(distance_m=(1, 2)).id == "dmro-v1[distance_m=1:2]"


def test_parameter_changes_and_presets_change_the_instances():
    base = get_family("dmro").generate(0, 0)
    small = get_family("dmro", n_devices=3).generate(0, 0)
    assert small.n_devices == 3 and small.digest != base.digest
    a = get_family("capacitated-v1:small").generate(0, 0)
    b = get_family("capacitated-v1:medium").generate(0, 0)
    assert a.n_layers == 12 and b.n_layers == 200


def test_unknown_names_suggest_the_closest():
    with pytest.raises(FamilyError, match="Did you mean dmro"):
        get_family("dmor")
    with pytest.raises(FamilyError, match="Did you mean capacitated"):
        get_family("capacitatd-v1")
    with pytest.raises(FamilyError, match="no version 9"):
        get_family("dmro-v9")
    with pytest.raises(FamilyError, match="no preset 'huge'.*Presets: small, medium, large"):
        get_family("capacitated:huge")
    with pytest.raises(FamilyError, match="Did you mean 'n_devices'"):
        get_family("dmro[n_devcies=3]")
    with pytest.raises(FamilyError, match="not a family ID"):
        get_family("no spaces here")
    with pytest.raises(FamilyError, match="no environment 'vgg16-lo'.*Did you mean"):
        get_family("dmro").environment("vgg16-lo")


def test_parse_family_id():
    assert parse_family_id("capacitated-v2:large[a=1,b=x]") == ("capacitated", 2, "large", {"a": "1", "b": "x"})
    assert parse_family_id("zoo") == ("zoo", None, None, {})


@pytest.mark.parametrize("kwargs,message", [
    ({"n_devices": 0}, "The 'n_devices' parameter of family dmro must be an int in [1, inf). Got 0."),
    ({"n_devices": 2.5}, "The 'n_devices' parameter of family dmro must be an int in [1, inf). Got 2.5."),
    ({"model": "lenet"}, "The 'model' parameter of family dmro must be one of {'alexnet', 'vgg16', "
                         "'resnet18', 'mobilenet_v2'}. Got 'lenet'."),
    ({"distance_m": (5, 2)}, "The 'distance_m' parameter of family dmro must be a pair [low, high] of "
                             "floats with low <= high in [0.1, inf). Got (5, 2)."),
    ({"job_weights": "random"}, "The 'job_weights' parameter of family dmro must be one of {'droo', "
                                "'droo-swapped', 'equal'}. Got 'random'."),
    ({"w_energy": float("nan")}, "The 'w_energy' parameter of family dmro must be a float in [0, inf). "
                                 "Got nan."),
])
def test_parameter_validation_uses_the_style_template(kwargs, message):
    with pytest.raises(FamilyError) as e:
        get_family("dmro", **kwargs)
    assert str(e.value) == message


def test_bool_parameters_are_checked():
    with pytest.raises(FamilyError) as e:
        get_family("capacitated", capacities="yes")
    assert str(e.value) == "The 'capacities' parameter of family capacitated must be a bool. Got 'yes'."


def test_cross_parameter_checks():
    with pytest.raises(FamilyError, match="more than the 11 units of alexnet"):
        get_family("dmro", n_layers=12)
    with pytest.raises(FamilyError, match="layers = \\[30, 40\\] starts above"):
        get_family("capacitated", layers=(30, 40))
    with pytest.raises(FamilyError, match="'models' parameter of family zoo must be a non-empty list"):
        get_family("zoo", models=())


# ------------------------------------------------------------------------------ documentation
@pytest.mark.parametrize("fam", list_families(), ids=lambda f: f.id)
def test_every_family_is_documented(fam):
    assert re.fullmatch(r"[a-z_]+-v[0-9]+(:[a-z0-9_]+)?", fam.id)
    assert "\n" not in fam.description and len(fam.description) > 40
    doc = fam.doc
    for section in ("What it models", "Sizes", "Where the numbers come from", "Version history",
                    "Parameters (in force)", "Environments"):
        assert section in doc, f"{fam.id}: doc lacks {section!r}"
    assert "offbench's choice" in doc.lower() or "offbench's choices" in doc.lower()
    assert "version" in doc.lower() and fam.sources
    assert all(v == 1 or d for v, d, _ in fam.history)
    for name, p in zip(fam.params, fam.module.PARAMS):
        assert p.doc, f"{fam.id}: parameter {name} has no doc"
    summary = json.loads(json.dumps(fam.summary()))
    assert summary["id"] == fam.id and summary["params"]


def test_an_override_applies_unless_an_environment_sets_the_parameter():
    base, equal = get_family("dmro"), get_family("dmro[job_weights=equal]")
    assert np.all(equal.generate(0, 0).job_weight == 1.0)          # environment 0 keeps it
    assert not np.all(base.generate(0, 0).job_weight == 1.0)
    assert list(equal.generate(0, 11).job_weight[:2]) == [1.5, 1.0]  # resnet18-mid-swapped sets it
    with pytest.raises(FamilyError, match="'bandwidth_hz' parameter of family dmro is set by every"):
        get_family("dmro", bandwidth_hz=1e6)
    wifi = get_family("zoo[networks=wifi]")                        # the default environment keeps it
    assert np.all(wifi.scenario(0, 0).base.dev_rate_up == 18.88e6)


def test_dmro_doc_separates_droo_from_offbench_choices():
    """DROO has no data downlink: its 3 W is wireless power transfer. The downlink, and the one
    fading factor both links share, are offbench's choices and must be listed as such."""
    doc = get_family("dmro").doc
    literature, ours = doc.split("Offbench's choices (not from a paper):", 1)
    assert "downlink" not in literature.split("From the literature:", 1)[1]
    assert "DROO has no downlink" in ours and "uplink's mean snr" in ours


def test_zoo_doc_states_the_energy_per_bit_of_each_network():
    from offbench.families._common import NETWORKS

    doc = " ".join(get_family("zoo").doc.split())
    for name, label in (("wifi", "Wi-Fi"), ("4g", "4G"), ("3g", "3G"), ("cat1", "CAT1")):
        n = NETWORKS[name]
        per_bit = f"{n.power_tx / n.rate_up * 1e6:.2g}"
        assert f"{label} {per_bit}" in doc or f"{label} {per_bit} uJ/bit" in doc, (name, per_bit)


def test_list_families_has_the_five():
    names = {f.name for f in list_families()}
    assert names >= set(FAMILIES)
    assert [f.name for f in list_families(all_versions=False)] == sorted(names)


# ------------------------------------------------------------------------------ what each models
def test_dmro_environments_and_structure():
    fam = get_family("dmro")
    splits = {e.split for e in fam.environments.values()}
    assert splits == {"train", "heldout", "any"}
    train = [e.name for e in fam.environments.values() if e.split == "train"]
    held = [e.name for e in fam.environments.values() if e.split == "heldout"]
    assert len(train) >= 6 and len(held) >= 3
    insts = fam.instances(0, len(fam.environments))
    assert {x.n_layers for x in insts} == {50}
    assert all(np.array_equal(x.layer_offsets, insts[0].layer_offsets) for x in insts)
    # Each instance i is drawn in environment i mod 11: the DNN's total FLOPs say which.
    envs = list(fam.environments)
    for i, x in enumerate(insts):
        model = fam.environments[envs[i]].params["model"]
        sc = fam.scenario(0, i)
        assert sc.environment == envs[i]
        total = sc.base.job_ops(0).sum()
        from offbench.families._common import model_units

        assert total == pytest.approx(model_units(model)[0].sum(), rel=1e-5)
    # DROO's weights alternate 1 and 1.5 (swapped in its drift experiment); no capacities, no
    # deadlines.
    assert insts[0].job_weight.tolist()[:4] == [1.0, 1.5, 1.0, 1.5]
    swapped = envs.index("resnet18-mid-swapped")
    assert insts[swapped].job_weight.tolist()[:4] == [1.5, 1.0, 1.5, 1.0]
    assert not insts[0].has_capacities and not insts[0].has_deadlines


def test_dmro_rates_follow_the_bandwidth():
    fam = get_family("dmro")
    low = fam.stream_scenario(0, "resnet18-low").base.dev_rate_up
    mid = fam.stream_scenario(0, "resnet18-mid").base.dev_rate_up
    high = fam.stream_scenario(0, "resnet18-high").base.dev_rate_up
    np.testing.assert_allclose(mid / low, 10.0, rtol=1e-4)
    np.testing.assert_allclose(high / mid, 5.0, rtol=1e-4)
    assert 5e6 < np.median(mid) < 5e7        # DROO's 2 MHz at a few metres: tens of Mbit/s


def test_dmro_channel_is_droos_path_loss_and_shannon_rate():
    """DROO (Huang et al., TMC 2020, Sec. VI): h = A_d (3e8 / (4 pi f_c d))^d_e with A_d = 4.11,
    f_c = 915 MHz, d_e = 2.8; d in [2.5, 5.2] m; N0 = 1e-10 W; rate B / v_u log2(1 + p h / N0)
    with v_u = 1.1. Computed here by hand, apart from the generator."""
    from offbench.families._common import droo_mean_gain

    def h(d):
        return 4.11 * (3e8 / (4 * math.pi * 915e6 * d)) ** 2.8

    assert droo_mean_gain(np.array([1.0, 2.5, 5.2])).tolist() == pytest.approx([h(1.0), h(2.5), h(5.2)], rel=1e-12)
    assert h(1.0) == pytest.approx(1.513e-4, rel=1e-3)
    fam = get_family("dmro")
    sc = fam.stream_scenario(0, "resnet18-mid")
    p = fam.params_for("resnet18-mid")
    snr_far, snr_near = (p["tx_power"] * h(d) / 1e-10 for d in (5.2, 2.5))
    assert np.all((sc.snr >= snr_far * (1 - 1e-9)) & (sc.snr <= snr_near * (1 + 1e-9)))
    np.testing.assert_allclose(sc.base.dev_rate_up, 2e6 / 1.1 * np.log2(1 + sc.snr), rtol=1e-5)
    snr_down = sc.snr * p["ap_power"] / p["tx_power"]
    np.testing.assert_allclose(sc.base.dev_rate_down, 2e6 / 1.1 * np.log2(1 + snr_down), rtol=1e-5)


def test_capacitated_capacity_binds_and_sizes():
    fam = get_family("capacitated")
    binding = 0
    for inst in fam.instances(0, 10):
        assert inst.n_layers <= 14 and inst.has_capacities
        binding += not evaluate(inst, uncapacitated_optimum(inst)).feasible
        total = inst.ops.sum()
        assert 0.1 * total * 0.999 <= inst.edge_capacity <= 0.3 * total * 1.001
    assert binding >= 8, "capacities must bind: the uncoupled optimum overflows them"
    assert get_family("capacitated:medium").generate(0, 0).n_layers == 200
    assert get_family("capacitated:large").params["n_jobs"] == 1000


def test_deadlines_are_soft_and_some_bind():
    fam = get_family("deadline")
    tardy = 0
    for inst in fam.instances(0, 6):
        assert inst.w_tardiness == 10.0 and inst.has_deadlines
        x = uncapacitated_optimum(inst)     # the deadline-blind optimum
        tardy += sum(j.tardiness > 0 for j in evaluate(inst, x).jobs)
    assert tardy > 0, "some deadlines must be missed by a deadline-blind solution"


def test_zoo_uses_whole_models_device_classes_and_networks():
    fam = get_family("zoo")
    sc = fam.scenario(0, 0)
    lens = set(sc.base.layers_per_job.tolist())
    assert lens <= {n_units(m) for m in ("alexnet", "vgg16", "resnet18", "mobilenet_v2")}
    speeds = [c.speed for c in DEVICE_CLASSES.values()]
    for s in sc.base.dev_speed:
        assert any(0.8 * c * 0.9999 <= s <= 1.2 * c * 1.0001 for c in speeds)
    for env, mbps in (("cat1", 0.13), ("3g", 1.1), ("4g", 5.85), ("wifi", 18.88)):
        base = fam.scenario(0, 0, environment=env).base
        np.testing.assert_allclose(base.dev_rate_up, mbps * 1e6)
    assert NETWORKS["4g"].power_tx == pytest.approx((438.39 * 5.85 + 1288.04) / 1000)
    jpeg = fam.scenario(0, 0, environment="jpeg").base
    fp32 = fam.scenario(0, 0, environment="fp32").base
    first = jpeg.layer_offsets[:-1] + np.arange(jpeg.n_jobs)
    np.testing.assert_allclose(jpeg.bits[first], 24_000 * 8)
    np.testing.assert_allclose(fp32.bits[first], 3 * 224 * 224 * 32, rtol=1e-6)  # 6 digits
    fine = get_family("zoo:fine").generate(0, 0)
    assert fine.n_layers > sc.base.n_layers


def test_scale_presets_span_one_to_ten_thousand_jobs():
    fam = get_family("scale")
    sizes = {p: get_family(f"scale:{p}").params["n_jobs"] for p in fam.presets}
    assert sizes == {"n1": 1, "n10": 10, "n100": 100, "n1000": 1000, "n10000": 10000}
    inst = get_family("scale:n1").generate(0, 0)
    assert inst.n_jobs == 1 and 3 <= inst.n_layers <= 8


@pytest.mark.slow
def test_scale_largest_preset_generates():
    inst = get_family("scale:n10000").generate(0, 0)
    assert inst.n_jobs == 10000 and inst.n_devices == 2500


# ------------------------------------------------------------------------------ command line
def test_cli_list_and_show(capsys):
    assert main(["instances", "list"]) == 0
    out = capsys.readouterr().out
    for name in FAMILIES:
        assert name in out
    assert main(["instances", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {f["name"] for f in data["families"]} >= set(FAMILIES)
    assert main(["instances", "show", "dmro"]) == 0
    out = capsys.readouterr().out
    assert "dmro-v1" in out and "Version history" in out and "heldout" in out
    assert main(["instances", "show", "capacitated:medium", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "capacitated-v1:medium"


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["instances", "generate", "zoo:single", "--seed", "4", "--count", "3",
                 "--out", str(out), "--format", "npz"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["000.npz", "001.npz", "002.npz", "manifest.json"]
    from offbench.instance_sets import load_set

    s = load_set(out)
    fam = get_family("zoo:single")
    assert [x.digest for x in s.instances] == [x.digest for x in fam.instances(4, 3)]
    out2 = tmp_path / "p"
    assert main(["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", str(out2),
                 "--param", "n_devices=2"]) == 0
    assert load_set(out2).instances[0].name == "dmro-v1[n_devices=2]/s0/0"


@pytest.mark.parametrize("argv,message", [
    (["instances", "show", "dmor"], "Did you mean dmro"),
    (["instances", "generate", "dmro", "--seed", "-1", "--count", "1", "--out", "X"], "seed"),
    (["instances", "generate", "dmro", "--seed", "0", "--count", "0", "--out", "X"], "count"),
    (["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", "X",
      "--param", "n_devices=0"], "The 'n_devices' parameter of family dmro must be an int in [1, inf). Got 0."),
    (["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", "X",
      "--param", "n_devices"], "expected NAME=VALUE"),
    (["instances", "show", "scale:n10[layers=9:2]"],
     "The 'layers' parameter of family scale must be a pair [low, high] of ints with low <= high "
     "in [1, inf). Got 9:2."),                               # the value as written in the ID
    (["instances", "stream", "dmro", "--seed", "0", "--frames", "3", "--out", "X",
      "--switch-at", "3", "--switch-to", "vgg16-mid"], "The 'switch_at' argument of family dmro-v1 must be an int in [1, 2]. Got 3."),
    (["instances", "show", "dmro[n_devices=3,n_devices=4]"], "parameter 'n_devices' is given twice"),
    (["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", "X",
      "--param", "n_devices=2", "--param", "n_devices=3"], "--param n_devices: given twice"),
    # every dmro environment sets the DNN: an override of it would silently change nothing
    (["instances", "generate", "dmro[model=vgg16]", "--seed", "0", "--count", "1", "--out", "X"],
     "The 'model' parameter of family dmro is set by every one of its environments"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "X").exists()


def test_cli_generate_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", str(out)]) == 0
    before = (out / "000.json").read_bytes()
    assert main(["instances", "generate", "dmro", "--seed", "1", "--count", "1", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "000.json").read_bytes() == before
    assert main(["instances", "generate", "dmro", "--seed", "1", "--count", "1", "--out", str(out),
                 "--force"]) == 0
    assert (out / "000.json").read_bytes() != before


@pytest.mark.parametrize("where", ["a_file", "a_file/below", "/proc/offbench-test"])
def test_cli_unwritable_out_exits_2_with_a_message(tmp_path, monkeypatch, capsys, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("keep me")
    argv = ["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", where]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and ("folder" in err or "write" in err)
    assert (tmp_path / "a_file").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]   # no temporary left over


def test_cli_force_replaces_only_a_set(tmp_path, monkeypatch, capsys):
    """--force must never delete a folder that offbench did not write (``--out . --force``)."""
    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    monkeypatch.chdir(mine)
    for out in (".", str(mine)):
        assert main(["instances", "generate", "dmro", "--seed", "0", "--count", "1", "--out", out,
                     "--force"]) == 2
        err = capsys.readouterr().err
        assert "not an instance set written by offbench" in err and "Traceback" not in err
    assert (mine / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


@pytest.mark.parametrize("direction", [np.inf, -np.inf])
def test_digests_survive_last_ulp_differences_of_transcendental_functions(monkeypatch, direction):
    """exp/log of another CPU or numpy build may differ in the last ulp; the 6-digit rounding of
    every generated float must absorb that, so digests are the same on every machine."""
    fids = ("dmro", "zoo:fleet", "capacitated:small", "deadline:small")

    def digests():
        return {f: [get_family(f).generate(7, 3).digest]
                + [x.digest for x in get_family(f).stream(7, 3)] for f in fids}

    before = digests()
    for name in ("exp", "log", "log2"):
        real = getattr(np, name)
        monkeypatch.setattr(np, name, lambda *a, _f=real, **k: np.nextafter(_f(*a, **k), direction))
    assert digests() == before


# ------------------------------------------------------------------------------ definitions
@pytest.mark.parametrize("old,new,message", [
    ("count = 12", "count = 0",
     "The 'count' key of family definition {path} [v1].sets[0] must be an int in [1, inf). Got 0."),
    ("seed = 1000", 'seed = "x"',
     "The 'seed' key of family definition {path} [v1].sets[0] must be an int in [0, inf). Got 'x'."),
    ('split = "test"', 'split = "test"\ncolour = 1',
     "Family definition {path} [v1].sets[0] has no key 'colour'. Its keys: split, seed, count, "
     "preset, time_limit, format, doc."),
    ('split = "train"\ndescription = "AlexNet, 0.2 MHz links"', 'split = "trian"',
     "The 'split' key of family definition {path} [v1].environments.alexnet-low must be one of "
     "{'train', 'heldout', 'any'}. Got 'trian'."),
    ("[v1.params]", "[v1.parms]",
     "Family definition {path} [v1] has no key 'parms'. Did you mean 'params'?"),
    ('static_environments = "all"', 'static_environments = "some"',
     "The 'static_environments' key of family definition {path} [v1] must be one of "
     "{'default', 'all'}. Got 'some'."),
    ('change = "First version."', "",
     "family definition {path} history[0] needs 'version' and 'change'"),
    ("version = 1\n", "version = 0\n",
     "The 'version' key of family definition {path} history[0] must be an int in [1, inf). Got 0."),
])
def test_a_bad_definition_is_refused_with_one_message(tmp_path, monkeypatch, old, new, message):
    from offbench.families import definitions_dir

    text = (definitions_dir() / "dmro.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "dmro.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setenv("OFFBENCH_INSTANCES_DIR", str(tmp_path))
    with pytest.raises(FamilyError) as e:
        get_family("dmro")
    assert str(e.value) == message.replace("{path}", str(path))


def test_each_version_shows_its_own_doc(capsys):
    """dmro-v2 printed version 1's sizes ("50 decisions") and environments ("i mod 12") as if
    they were its own, before its own section."""
    from offbench.cli import main
    from offbench.families.family import version_doc

    v1, v2, v3 = (get_family(f"dmro-v{v}").doc for v in (1, 2, 3))
    assert "100 decisions" not in v1 and "Version 2:" not in v1 and "Version 3:" not in v1
    assert "offbench instances show dmro-v2" in v1 and "50 decisions" in v1
    for doc, own in ((v2, "Version 2:"), (v3, "Version 3:")):
        label = doc.index("Version 1, which version")
        assert doc.index(own) < doc.index("100 decisions") < label < doc.index("What it models")
        assert label < doc.index("50 decisions") and label < doc.index("i mod 12")
    assert v3.index("Version 3:") < v3.index("Version 2:") and "Version 3:" not in v2
    assert main(["instances", "show", "dmro-v2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("dmro-v2: ") and out[2].startswith("Version 2: workflow DAGs")
    # one family of many versions: sections at the left margin, "Version N" ones per version
    doc = "Sizes\n  five\n\nVersion 3: c\n  three\n\nVersion 2: b\n  two\n\nChanging\n  ask\n"
    assert version_doc(doc, 1) == "Sizes\n  five\n\nChanging\n  ask"
    assert version_doc(doc, 1, "fam").endswith("show fam-v2, offbench instances show fam-v3.")
    assert version_doc(doc, 2).startswith("Version 2: b\n  two\n\nVersion 1, which version 2")
    assert version_doc(doc, 2).endswith("Sizes\n  five\n\nChanging\n  ask")
    assert version_doc(doc, 3).startswith("Version 3: c\n  three\n\nVersion 2: b\n  two\n\n")
    assert version_doc(doc, 4) == version_doc(doc, 1)  # no section of its own
    assert version_doc("Sizes\n  one\n", 2) == "Sizes\n  one"
