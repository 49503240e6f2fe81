"""Tests of frame streams (offbench.streams and Family.stream): fixed structure, determinism,
drift, and the statistics of fading, on/off switching, loads and weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from offbench.families import FamilyError, get_family
from offbench.generators import random_instance
from offbench.streams import FrameProcess, Scenario, Variation, quantize


def _scenario(variation: Variation, n_devices: int = 4, snr_db: float = 20.0, seed: int = 0) -> Scenario:
    base = random_instance(seed, n_devices=n_devices, n_jobs=n_devices, layers=(2, 3), zero_fraction=0.0)
    base = base.replace(job_device=np.arange(n_devices), job_weight=np.ones(n_devices))
    return Scenario(base=base, snr=np.full(n_devices, 10 ** (snr_db / 10)), variation=variation)


def _frames(variation: Variation, n: int, **kw):
    proc = FrameProcess(_scenario(variation, **kw), np.random.default_rng(1))
    return proc, [proc.next() for _ in range(n)]


# ------------------------------------------------------------------------------ Family.stream
@pytest.mark.parametrize("fid", ["dmro", "capacitated", "deadline", "zoo", "scale:n10"])
def test_frames_keep_one_structure_and_vary(fid):
    fam = get_family(fid)
    frames = list(fam.stream(3, 6))
    first = frames[0]
    for t, f in enumerate(frames):
        assert f.name == f"{fam.id}/s3/stream/{t}"
        assert f.n_devices == first.n_devices
        assert np.array_equal(f.job_device, first.job_device)
        assert np.array_equal(f.layer_offsets, first.layer_offsets)
    assert len({f.digest for f in frames}) == len(frames), "frames must differ"
    assert len({tuple(f.dev_rate_up) for f in frames}) == len(frames), "links must fade"


def test_streams_are_deterministic_and_prefix_stable():
    fam = get_family("dmro")
    a = [f.digest for f in fam.stream(5, 8)]
    b = [f.digest for f in get_family("dmro-v1").stream(5, 3)]
    assert a[:3] == b
    assert [f.digest for f in fam.stream(5, 8)] == a
    assert a != [f.digest for f in fam.stream(6, 8)]
    assert fam.stream_scenario(5).base.digest == fam.stream_scenario(5).base.digest


def test_drift_switches_environment_and_keeps_the_prefix():
    fam = get_family("dmro")
    plain = list(fam.stream(2, 6, environment="resnet18-mid"))
    drift = list(fam.stream(2, 6, environment="resnet18-mid", switch_at=3, switch_to="vgg16-mid"))
    assert [f.digest for f in plain[:3]] == [f.digest for f in drift[:3]]
    assert all(p.digest != d.digest for p, d in zip(plain[3:], drift[3:]))
    assert all(np.array_equal(d.layer_offsets, plain[0].layer_offsets) for d in drift)
    # VGG-16 does ~8.5x the FLOPs of ResNet-18: the total work jumps at the switch.
    before = np.mean([f.ops.sum() for f in drift[:3]])
    after = np.mean([f.ops.sum() for f in drift[3:]])
    assert after / before > 4
    # Same devices (the structure rng is shared): speeds nominally equal.
    s1 = fam.stream_scenario(2, "resnet18-mid").base
    s2 = fam.stream_scenario(2, "vgg16-mid").base
    np.testing.assert_array_equal(s1.dev_speed, s2.dev_speed)


def test_zoo_handover_changes_only_the_links():
    fam = get_family("zoo")
    a = fam.stream_scenario(4, "wifi").base
    b = fam.stream_scenario(4, "3g").base
    np.testing.assert_array_equal(a.dev_speed, b.dev_speed)
    np.testing.assert_array_equal(a.ops, b.ops)
    assert np.all(a.dev_rate_up > b.dev_rate_up)
    frames = list(fam.stream(4, 4, environment="wifi", switch_at=2, switch_to="3g"))
    assert frames[1].dev_rate_up.min() > 3e6 and frames[2].dev_rate_up.max() < 3e6  # Wi-Fi, then 3G


def test_stream_arguments_are_checked():
    fam = get_family("dmro")
    with pytest.raises(FamilyError, match="switch_at and switch_to go together"):
        fam.stream(0, 3, switch_at=1)
    with pytest.raises(FamilyError, match="no environment 'vgg-mid'.*Did you mean"):
        fam.stream(0, 3, switch_at=1, switch_to="vgg-mid")
    with pytest.raises(FamilyError, match="'n_frames' argument of family dmro-v1 must be an int"):
        fam.stream(0, -1)
    assert list(fam.stream(0, 0)) == []
    # A switch that would never happen (or happen before the first frame) is a mistake, not a
    # stream without drift.
    for bad in (0, 3, 10):
        with pytest.raises(FamilyError, match=r"The 'switch_at' argument of family dmro-v1 must be an int in \[1, 2\]\. Got"):
            fam.stream(0, 3, switch_at=bad, switch_to="vgg16-mid")
    assert len(list(fam.stream(0, 3, switch_at=2, switch_to="vgg16-mid"))) == 3


def test_dmro_has_train_and_heldout_streams_of_one_structure():
    fam = get_family("dmro")
    shapes = set()
    for env in fam.environments:
        f = next(iter(fam.stream(0, 1, environment=env)))
        shapes.add((f.n_devices, tuple(f.layer_offsets)))
    assert len(shapes) == 1


# ------------------------------------------------------------------------------ the process
def test_rayleigh_gains_are_exponential_with_mean_one():
    v = Variation(fading="rayleigh", min_gain=1e-9)
    proc = FrameProcess(_scenario(v, n_devices=50), np.random.default_rng(0))
    g = []
    for _ in range(60):
        proc.next()
        g.append(proc.gains)
    g = np.concatenate(g)
    assert g.mean() == pytest.approx(1.0, abs=0.06)
    assert np.mean(g > 1.0) == pytest.approx(math.exp(-1.0), abs=0.03)     # P(g > 1) = e^-1
    assert np.mean(g > 3.0) == pytest.approx(math.exp(-3.0), abs=0.015)


def test_rate_follows_shannon_around_the_nominal():
    v = Variation(fading="rayleigh")
    proc, frames = _frames(v, 1, n_devices=6, snr_db=20)
    sc = proc.scenario
    g = np.maximum(proc.gains, v.min_gain)
    expect = sc.base.dev_rate_up * np.log2(1 + sc.snr * g) / np.log2(1 + sc.snr)
    np.testing.assert_allclose(frames[0].dev_rate_up, expect, rtol=1e-5)
    np.testing.assert_allclose(frames[0].dev_rate_down / frames[0].dev_rate_up,
                               sc.base.dev_rate_down / sc.base.dev_rate_up, rtol=2e-5)


def test_fading_correlation():
    def lag1(rho):
        proc = FrameProcess(_scenario(Variation(fading="rayleigh", fading_correlation=rho), n_devices=20),
                            np.random.default_rng(3))
        gs = []
        for _ in range(80):
            proc.next()
            gs.append(proc.gains)
        gs = np.array(gs)
        a, b = gs[:-1].ravel(), gs[1:].ravel()
        return np.corrcoef(a, b)[0, 1]

    assert abs(lag1(0.0)) < 0.1
    assert lag1(0.95) > 0.7            # corr of |h|^2 is rho^2 for a Gauss-Markov h


def test_lognormal_shadowing_has_mean_gain_one():
    v = Variation(fading="lognormal", shadowing_db=6.0, min_gain=1e-9)
    sc = _scenario(v, n_devices=40, snr_db=60)
    proc = FrameProcess(sc, np.random.default_rng(2))
    ratios = []
    for _ in range(50):
        f = proc.next()
        ratios.append(f.dev_rate_up / sc.base.dev_rate_up)
    # At 60 dB the rate factor is ~ 1 + log2(g) / log2(snr): E[log2 g] = -sigma^2 ln10/20 / ln2 ...
    s = 6.0 * math.log(10) / 10
    expect = 1 + (-0.5 * s * s) / math.log(2) / math.log2(1e6)
    assert np.mean(ratios) == pytest.approx(expect, abs=0.02)


def test_no_fading_keeps_rates():
    _, frames = _frames(Variation(fading="none"), 3)
    sc_rates = frames[0].dev_rate_up
    for f in frames:
        np.testing.assert_array_equal(f.dev_rate_up, sc_rates)


def test_devices_switch_off_and_on_with_the_stationary_share():
    v = Variation(fading="none", p_off=0.2, p_on=0.3)
    proc = FrameProcess(_scenario(v, n_devices=40), np.random.default_rng(5))
    on_share = []
    for _ in range(60):
        f = proc.next()
        present = f.job_weight > 0
        on_share.append(present.mean())
        off = ~present
        lpj = f.layers_per_job
        assert np.all(f.ops[np.repeat(off, lpj)] == 0)
        assert np.all(f.bits[np.repeat(off, lpj + 1)] == 0)
        assert present.any()
    assert np.mean(on_share) == pytest.approx(0.3 / 0.5, abs=0.05)


def test_a_frame_never_loses_every_job():
    v = Variation(fading="none", p_off=0.99, p_on=0.01)
    proc = FrameProcess(_scenario(v, n_devices=3), np.random.default_rng(0))
    for _ in range(30):
        assert (proc.next().job_weight > 0).sum() >= 1


def test_static_instances_have_every_device_on():
    v = Variation(fading="none", p_off=0.9, p_on=0.1)
    proc = FrameProcess(_scenario(v, n_devices=5), np.random.default_rng(0), switching=False)
    for _ in range(5):
        assert np.all(proc.next().job_weight > 0)


def test_loads_sizes_and_weights_vary_within_their_ranges():
    v = Variation(fading="none", work_scale=(0.5, 1.5), input_scale=(2.0, 3.0),
                  device_load=(0.1, 0.4), edge_load=(0.2, 0.6), weight_choices=(0.5, 2.0),
                  weight_redraw=1.0)
    proc, frames = _frames(v, 20, n_devices=5)
    b = proc.scenario.base
    first = b.layer_offsets[:-1] + np.arange(b.n_jobs)
    for f in frames:
        assert np.all(f.dev_speed <= b.dev_speed * 0.9 * (1 + 1e-6))
        assert np.all(f.dev_speed >= b.dev_speed * 0.6 * (1 - 1e-6))
        assert b.edge_speed * 0.4 * (1 - 1e-6) <= f.edge_speed <= b.edge_speed * 0.8 * (1 + 1e-6)
        r = f.bits[first] / b.bits[first]
        assert np.all((r >= 2.0 - 1e-5) & (r <= 3.0 + 1e-5))
        w = f.ops / b.ops
        assert np.all((w >= 0.5 - 1e-5) & (w <= 1.5 + 1e-5))
        assert set(f.job_weight.tolist()) <= {0.5, 2.0}
    assert len({tuple(f.job_weight) for f in frames}) > 1


def test_work_scale_is_one_factor_per_job():
    v = Variation(fading="none", work_scale=(0.5, 1.5))
    proc, frames = _frames(v, 1, n_devices=3)
    b = proc.scenario.base
    f = frames[0]
    for i in range(b.n_jobs):
        r = f.job_ops(i) / b.job_ops(i)
        np.testing.assert_allclose(r, r[0], rtol=1e-5)
        rb = f.job_bits(i)[1:] / b.job_bits(i)[1:]
        np.testing.assert_allclose(rb, r[0], rtol=1e-5)


def test_switch_requires_the_same_structure():
    proc = FrameProcess(_scenario(Variation(), n_devices=3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="same structure"):
        proc.switch(_scenario(Variation(), n_devices=4))


@pytest.mark.parametrize("kwargs,match", [
    ({"fading": "rician"}, "The 'fading' setting of stream variation must be one of "
                           "{'none', 'rayleigh', 'lognormal'}. Got 'rician'."),
    ({"fading_correlation": 1.0}, "The 'fading_correlation' setting of stream variation must be "
                                  "a float in [0, 1). Got 1.0."),
    ({"p_off": 1.5}, "The 'p_off' setting of stream variation must be a float in [0, 1]. Got 1.5."),
    ({"work_scale": (2.0, 1.0)}, "The 'work_scale' setting of stream variation must be a pair "
                                 "[low, high] of floats with low <= high in [0, inf). Got (2.0, 1.0)."),
    ({"device_load": (0.0, 1.0)}, "The 'device_load' setting of stream variation must be a pair "
                                  "[low, high] of floats with low <= high in [0, 0.999]. Got (0.0, 1.0)."),
    ({"weight_redraw": 0.5}, "Variation.weight_redraw > 0 needs weight_choices"),
    ({"min_gain": 0.0}, "The 'min_gain' setting of stream variation must be a float in (0, inf). Got 0.0."),
    ({"weight_choices": (1.0, -1.0)}, "The 'weight_choices' setting of stream variation must be a "
                                      "list of floats in [0, inf). Got (1.0, -1.0)."),
    ({"shadowing_db": float("inf")}, "The 'shadowing_db' setting of stream variation must be a "
                                     "float in [0, inf). Got inf."),
])
def test_variation_is_validated(kwargs, match):
    with pytest.raises(ValueError) as e:
        Variation(**kwargs)
    assert str(e.value) == match


def test_variation_from_dict_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"^Stream variation has no setting 'fadng'\. Did you mean 'fading'\?$"):
        Variation.from_dict({"fadng": "none"})
    v = Variation.from_dict({"work_scale": [0.9, 1.1]})
    assert Variation.from_dict(v.to_dict()) == v


def test_quantize_is_six_significant_digits():
    a = quantize([1.23456789e-7, 987654321.0, math.inf, 0.0])
    assert a.tolist() == [1.23457e-7, 987654000.0, math.inf, 0.0]
    from offbench.streams import quantize_parts

    parts = quantize_parts((np.array([1.23456789e-7, 2.0]), 987654321.0, np.array([math.inf])))
    assert [p.tolist() for p in parts] == [[1.23457e-7, 2.0], [987654000.0], [math.inf]]


# ------------------------------------------------------------------------------ DAG jobs' messages
def _dag_scenario(variation: Variation) -> Scenario:
    from offbench.dag import random_dag_instance

    base = random_dag_instance(4, n_devices=3, n_jobs=3, nodes=(4, 6), edge_prob=0.7,
                               message_prob=0.8, zero_fraction=0.0)
    base = base.replace(job_device=np.arange(3), job_weight=np.ones(3))
    assert base.is_dag and np.any(base.edge_bits > 0)
    return Scenario(base=base, snr=np.full(3, 100.0), variation=variation)


def test_dag_messages_scale_with_the_work_factor_only_when_asked():
    v = dict(fading="none", work_scale=(0.5, 1.5), p_off=0.3, p_on=0.5)
    plain = FrameProcess(_dag_scenario(Variation(**v)), np.random.default_rng(1))
    scaled = FrameProcess(_dag_scenario(Variation(**v, scale_messages=True)), np.random.default_rng(1))
    b = plain.scenario.base
    per_edge = np.diff(b.edge_offsets)
    seen_off = False
    for _ in range(12):
        f, g = plain.next(), scaled.next()
        # The default keeps the nominal messages (the frozen DAG family versions); every other
        # number of the frame is the same with and without the setting.
        np.testing.assert_array_equal(f.edge_bits, b.edge_bits)
        assert f.replace(edge_bits=g.edge_bits).digest == g.digest
        on = plain.devices_on[b.job_device]
        for i in range(b.n_jobs):
            e = slice(b.edge_offsets[i], b.edge_offsets[i + 1])
            if not on[i]:
                seen_off = True
                assert np.all(g.edge_bits[e] == 0) and np.all(g.job_ops(i) == 0)
                continue
            r = g.job_ops(i)[0] / b.job_ops(i)[0]
            m = b.edge_bits[e] > 0
            np.testing.assert_allclose(g.edge_bits[e][m] / b.edge_bits[e][m], r, rtol=1e-5)
        np.testing.assert_array_equal(g.edge_has_bits, b.edge_has_bits)
        assert per_edge.sum() == g.n_edges
    assert seen_off


def test_scale_messages_leaves_chain_frames_bitwise():
    a = [f.digest for f in _frames(Variation(work_scale=(0.5, 1.5)), 5)[1]]
    b = [f.digest for f in _frames(Variation(work_scale=(0.5, 1.5), scale_messages=True), 5)[1]]
    assert a == b
