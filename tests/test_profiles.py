"""Tests of offbench.profiles and ``offbench profile``: published totals, the shipped table,
granularities, output sizes, user-given chains, and the command's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from offbench import profiles
from offbench.errors import UserError
from offbench.profiles import (
    CONVENTION, GRANULARITIES, UnknownModelError, builtin_models, get_profile,
    load_builtin_profile,
)

ROOT = Path(__file__).resolve().parents[1]

#: Published multiply-accumulates (GMAC) at 3x224x224: torchvision's model tables ("GFLOPS"
#: there counts multiply-adds), which agree with the papers (MobileNetV2: 300M multiply-adds;
#: ResNet-18: 1.8 G; VGG-16: 15.5 G).
PUBLISHED_GMACS = {"alexnet": 0.71, "vgg16": 15.47, "resnet18": 1.81, "mobilenet_v2": 0.30}

ALL = [(model, granularity) for model in sorted(PUBLISHED_GMACS) for granularity in GRANULARITIES]


def test_builtin_models_are_the_published_ones():
    assert builtin_models() == tuple(sorted(PUBLISHED_GMACS))


@pytest.mark.parametrize("model,granularity", ALL)
def test_totals_match_published_figures(model, granularity):
    total = get_profile(model, granularity).total_macs
    assert total == pytest.approx(PUBLISHED_GMACS[model] * 1e9, rel=0.02)


@pytest.mark.parametrize("model", sorted(PUBLISHED_GMACS))
def test_block_and_layer_granularity_have_the_same_total_input_and_output(model):
    block, layer = get_profile(model, "block"), get_profile(model, "layer")
    assert block.total_macs == layer.total_macs
    assert block.input_bits == layer.input_bits
    assert block.layers[-1].output_bits == layer.layers[-1].output_bits
    assert len(layer.layers) >= len(block.layers)


def test_unit_counts():
    counts = {(m, g): len(get_profile(m, g).layers) for m, g in ALL}
    assert counts == {
        ("alexnet", "block"): 11, ("alexnet", "layer"): 11,
        ("mobilenet_v2", "block"): 21, ("mobilenet_v2", "layer"): 54,
        ("resnet18", "block"): 12, ("resnet18", "layer"): 20,
        ("vgg16", "block"): 21, ("vgg16", "layer"): 21,
    }


def test_output_bits_of_known_shapes():
    alexnet = get_profile("alexnet")
    assert alexnet.input_bits == 3 * 224 * 224 * 32
    by_name = {unit.name: unit for unit in alexnet.layers}
    assert by_name["conv1"].output_bits == 64 * 55 * 55 * 32
    assert by_name["pool5"].output_bits == 256 * 6 * 6 * 32
    assert by_name["fc8"].output_bits == 32000
    assert by_name["fc8"].macs == 4096 * 1000
    assert by_name["conv1"].macs == 64 * 55 * 55 * 3 * 11 * 11

    resnet = {unit.name: unit for unit in get_profile("resnet18").layers}
    assert resnet["avgpool"].output_bits == 512 * 32
    assert resnet["layer4_1"].output_bits == 512 * 7 * 7 * 32


def test_cuts_inside_a_residual_block_carry_its_input():
    layers = {unit.name: unit for unit in get_profile("resnet18", "layer").layers}
    # Inside layer2_0 (64x56x56 in, 128x28x28 out, projected shortcut): the cut after conv1
    # sends conv1's output and the block's input; the shortcut's 1x1 conv counts in conv2.
    assert layers["layer2_0.conv1"].output_elements == 128 * 28 * 28 + 64 * 56 * 56
    assert layers["layer2_0.conv1"].macs == 128 * 28 * 28 * 64 * 9
    assert layers["layer2_0.conv2"].macs == 128 * 28 * 28 * (128 * 9 + 64)
    assert layers["layer2_0.conv2"].output_elements == 128 * 28 * 28
    # A MobileNetV2 block without a skip connection carries nothing extra.
    mobilenet = {unit.name: unit for unit in get_profile("mobilenet_v2", "layer").layers}
    assert mobilenet["block2.expand"].output_elements == 96 * 112 * 112
    assert mobilenet["block3.expand"].output_elements == 144 * 56 * 56 + 24 * 56 * 56


def test_bits_per_element_scales_sizes_only():
    fp32 = get_profile("mobilenet_v2", "layer")
    int8 = get_profile("mobilenet_v2", "layer", bits_per_element=8)
    assert int8.macs == fp32.macs
    assert [4 * b for b in int8.bits] == list(fp32.bits)
    assert int8.bits_per_element == 8


def test_profile_feeds_a_job():
    profile = get_profile("resnet18", "layer")
    assert len(profile.bits) == len(profile.ops) + 1
    assert profile.ops == tuple(2 * m for m in profile.macs) == profile.flops
    assert profile.bits[0] == profile.input_bits
    assert profile.total_flops == sum(profile.ops)


def test_load_builtin_profile_is_get_profile_from_the_table():
    assert load_builtin_profile("resnet18", "layer") == get_profile("resnet18", "layer")


@pytest.mark.parametrize("spelling", ["ResNet-18", "resnet_18", "RESNET18", "resnet18"])
def test_names_forgive_case_and_separators(spelling):
    assert get_profile(spelling).model == "resnet18"


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownModelError, match=r"Did you mean 'resnet18'\?"):
        get_profile("resnet19")
    with pytest.raises(UnknownModelError, match="Did you mean 'mobilenet_v2'") as info:
        get_profile("mobilenet")
    assert isinstance(info.value, UserError) and isinstance(info.value, LookupError)
    with pytest.raises(UnknownModelError, match="Built-in models: alexnet, mobilenet_v2"):
        get_profile("transformer")


@pytest.mark.parametrize("kwargs", [{"granularity": "blocks"}, {"bits_per_element": 0},
                                    {"bits_per_element": 8.0}, {"bits_per_element": True}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match="parameter"):
        get_profile("vgg16", **kwargs)


def test_reading_the_table_does_not_import_torch():
    code = ("import sys, offbench.profiles as p; p.get_profile('vgg16', 'layer'); "
            "p.load_builtin_profile('resnet18'); assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --------------------------------------------------------------------------------------------
# Live profiling (torch)


def test_live_profiling_reproduces_the_shipped_table_exactly():
    pytest.importorskip("torch")
    shipped = (ROOT / "offbench" / "data" / "profiles.json").read_text(encoding="utf-8")
    assert profiles.table_text(profiles.build_table()) == shipped, \
        "the shipped table is stale: regenerate it with `python -m offbench.profiles`"


@pytest.mark.parametrize("model,granularity", ALL)
def test_live_profile_equals_table(model, granularity):
    pytest.importorskip("torch")
    assert get_profile(model, granularity, live=True) == get_profile(model, granularity)


@pytest.mark.parametrize("model", sorted(PUBLISHED_GMACS))
def test_totals_agree_with_torch_flop_counter(model):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from offbench import _zoo_models

    with torch.device("meta"):
        net = getattr(_zoo_models, model)().eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 224, 224, device="meta"))
    assert counter.get_total_flops() == get_profile(model).total_flops


def test_user_chain_with_hand_computed_macs():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),                       # 3x10x10 -> 8x8x8
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise, 8x8x8
        nn.Conv2d(8, 16, 1, groups=4),            # grouped 1x1, 16x8x8
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 10, bias=True),
    )
    profile = profiles.profile_model(model, (3, 10, 10), name="tiny")
    assert profile.model == "tiny"
    assert [unit.name for unit in profile.layers] == ["0", "1", "2", "3", "4", "5"]
    assert profile.macs == (512 * 3 * 9, 0, 512 * 1 * 9, 1024 * 2, 0, 1024 * 10)
    assert profile.bits == tuple(32 * n for n in (300, 512, 512, 512, 1024, 1024, 10))


def test_user_chain_as_list_and_nested_granularity():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    stage = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
    chain = [stage, nn.Sequential(nn.Linear(6, 2))]
    block = profiles.profile_model(chain, (4,), "block", bits_per_element=16)
    layer = profiles.profile_model(chain, (4,), "layer", bits_per_element=16)
    assert [u.name for u in block.layers] == ["0", "1"]
    assert [u.name for u in layer.layers] == ["0.0", "0.1", "1.0"]
    assert block.macs == (24, 12) and layer.macs == (24, 0, 12)
    assert block.bits == (64, 96, 32) and layer.bits == (64, 96, 96, 32)


def test_user_model_is_left_as_it_was():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model.train()
    stats = model[1].running_mean.clone()
    profiles.profile_model(model, (1, 5, 5))
    assert all(m.training for m in model.modules())
    assert torch.equal(model[1].running_mean, stats)
    assert not model[0]._forward_hooks


def test_uncounted_modules_with_parameters_warn():
    torch = pytest.importorskip("torch")

    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(4))

        def forward(self, x):
            return x * self.weight

    with pytest.warns(UserWarning, match="Scale has parameters"):
        profile = profiles.profile_model([Scale(), torch.nn.Linear(4, 2)], (4,))
    assert profile.macs == (0, 8)


def test_a_model_that_is_not_a_chain_is_refused():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="must be a chain"):
        profiles.profile_model(torch.nn.Linear(2, 2), (2,))
    with pytest.raises(ValueError, match="without the batch"):
        profiles.profile_model([torch.nn.Linear(2, 2)], (0, 2))


# --------------------------------------------------------------------------------------------
# The command


def _offbench(*argv):
    return subprocess.run([sys.executable, "-m", "offbench", *argv], cwd=ROOT,
                          capture_output=True, text=True)


def test_cli_json_shape():
    done = _offbench("profile", "resnet18", "--granularity", "layer", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"model", "convention", "total_macs", "input_bits", "layers"}
    assert out["model"] == "resnet18" and out["convention"] == CONVENTION
    assert all(set(unit) == {"name", "macs", "output_bits"} for unit in out["layers"])
    assert len(out["layers"]) == 20
    assert out["total_macs"] == sum(unit["macs"] for unit in out["layers"])
    assert out["layers"][-1]["output_bits"] == 32000


def test_cli_table_for_people_and_bits_per_element():
    done = _offbench("profile", "AlexNet", "--bits-per-element", "8")
    assert done.returncode == 0, done.stderr
    assert "alexnet: 11 units at block granularity, input 3x224x224, 8 bits per element" \
        in done.stdout
    assert "714,188,480" in done.stdout
    assert any(line.split()[1:] == ["fc8", "4,096,000", "0.6%", "8,000"]
               for line in done.stdout.splitlines() if line.strip())


@pytest.mark.parametrize("argv,message", [
    (["resnet19"], "Did you mean 'resnet18'"),
    (["vgg16", "--bits-per-element", "0"], "--bits-per-element"),
    (["vgg16", "--granularity", "stage"], "invalid choice"),
])
def test_cli_mistakes_exit_2_with_a_message(argv, message):
    done = _offbench("profile", *argv)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_cli_from_torch_matches_the_table(capsys):
    pytest.importorskip("torch")
    from offbench.cli import main

    assert main(["profile", "mobilenet_v2", "--json", "--from-torch"]) == 0
    live = json.loads(capsys.readouterr().out)
    assert main(["profile", "mobilenet_v2", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert live == table
    assert table["total_macs"] == 300_774_272
