"""Tests of offbench.dag_profiles and ``offbench profile --dag``: published totals, the shipped
table against live tracing, the structure of each built-in DAG, what becomes a node in a user's
module, and the command's output."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from offbench import dag_profiles
from offbench.dag_profiles import (DAG_CONVENTION, PUBLISHED_GMACS, dag_models, get_dag_profile,
                                   load_dag_profile, profile_dag)
from offbench.errors import UserError
from offbench.profiles import UnknownModelError, get_profile

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(PUBLISHED_GMACS)


def test_dag_models_are_the_published_ones():
    assert dag_models() == tuple(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_totals_match_published_figures(model):
    # 2% for torchvision's figures; DeiT-Ti's 1.3 is given to one decimal.
    rel = 0.04 if model == "vit_ti_16" else 0.02
    published = PUBLISHED_GMACS[model] * 1e9
    assert load_dag_profile(model).total_macs == pytest.approx(published, rel=rel)


@pytest.mark.parametrize("model", ["resnet18", "mobilenet_v2"])
def test_dag_and_chain_profiles_agree_on_totals_input_and_result(model):
    dag, chain = load_dag_profile(model), get_profile(model, "layer")
    assert dag.total_macs == chain.total_macs
    assert dag.input_bits == chain.input_bits
    assert [dag.out_bits[v] for v in dag.exits] == [chain.bits[-1]]


@pytest.mark.parametrize("model", MODELS)
def test_every_dag_is_numbered_in_a_topological_order_with_one_entry_and_one_exit(model):
    p = load_dag_profile(model)
    assert all(u < v for u, v in p.edges)
    assert list(p.edges) == sorted(set(p.edges))
    assert p.entries == (0,) and p.exits == (p.n_nodes - 1,)
    assert p.out_bits[-1] == 1000 * 32
    assert len({n.name for n in p.nodes}) == p.n_nodes
    ops = [op for n in p.nodes for op in n.ops]
    assert len(ops) == len(set(ops))


def test_resnet18_structure():
    p = load_dag_profile("resnet18")
    names = [n.name for n in p.nodes]
    assert (p.n_nodes, len(p.edges)) == (29, 36)
    adds = [v for v, n in enumerate(names) if n.endswith(".add")]
    assert len(adds) == 8 and all(p.macs[v] == 0 and len(p.predecessors(v)) == 2 for v in adds)
    # The first block's skip comes from the stem (max pooling fused into conv1: 64x56x56).
    first = names.index("layer1.0.add")
    assert p.predecessors(first) == (0, names.index("layer1.0.conv2.0"))
    assert p.nodes[0].ops == ("conv1.0", "conv1.1", "conv1.2", "maxpool")
    assert p.nodes[0].output_bits == 64 * 56 * 56 * 32
    # A projected shortcut is a node of its own beside the block's main path.
    down = names.index("layer2.0.downsample.0")
    assert p.predecessors(names.index("layer2.0.add")) == (down, names.index("layer2.0.conv2.0"))
    assert p.predecessors(down) == p.predecessors(names.index("layer2.0.conv1.0"))
    # The last join carries the pooled features to the classifier.
    assert p.nodes[-2].ops[-2:] == ("avgpool", "flatten") and p.nodes[-2].output_elements == 512


def test_mobilenet_v2_has_ten_inverted_residual_joins():
    p = load_dag_profile("mobilenet_v2")
    joins = [v for v in range(p.n_nodes) if len(p.predecessors(v)) > 1]
    assert len(joins) == 10 and all(p.macs[v] == 0 for v in joins)
    assert (p.n_nodes, len(p.edges)) == (63, 72)


def test_googlenet_inception_modules_branch_and_concatenate():
    p = load_dag_profile("googlenet")
    names = [n.name for n in p.nodes]
    cats = [v for v, n in enumerate(names) if n.endswith(".cat")]
    assert len(cats) == 9 and all(len(p.predecessors(v)) == 4 for v in cats)
    v = names.index("inception3a.cat")
    assert p.nodes[v].output_elements == 256 * 28 * 28
    # The fourth branch's max pooling is fused into its 1x1 convolution, which reads the input.
    pool = names.index("inception3a.branch4.1.0")
    assert p.nodes[pool].ops[0] == "inception3a.branch4.0"
    assert p.predecessors(pool) == (names.index("conv3.0"),)
    # The 3x3 max pooling after inception3b is fused into its concatenation.
    assert p.nodes[names.index("inception3b.cat")].ops == ("inception3b.cat", "maxpool3")
    assert p.nodes[names.index("inception3b.cat")].output_elements == 480 * 14 * 14


@pytest.mark.parametrize("model,dim,heads", [("vit_b_16", 768, 12), ("vit_ti_16", 192, 3)])
def test_vit_attention_is_written_out(model, dim, heads):
    p = load_dag_profile(model)
    names = [n.name for n in p.nodes]
    at = "layers.0.self_attention."
    q, k, v = (names.index(at + x) for x in "qkv")
    scores, mixed = names.index(at + "matmul"), names.index(at + "matmul_1")
    tokens = 197
    assert p.predecessors(scores) == (q, k) and p.predecessors(mixed) == (v, scores)
    assert p.macs[scores] == p.macs[mixed] == tokens * tokens * dim
    assert p.nodes[scores].output_elements == heads * tokens * tokens  # softmax fused in
    ln = names.index("layers.0.ln_1")
    assert p.macs[ln] == 0 and {w for u, w in p.edges if u == ln} == {q, k, v}
    # Class token and position embedding are weights, not data: fused into the projection.
    assert p.nodes[0].ops == ("conv_proj", "flatten", "transpose", "cat", "add")
    assert p.nodes[0].output_elements == tokens * dim
    assert (p.n_nodes, len(p.edges)) == (134, 181)


def test_bits_per_element_scales_sizes_only():
    p32, p8 = load_dag_profile("googlenet"), load_dag_profile("googlenet", bits_per_element=8)
    assert p8.macs == p32.macs and p8.edges == p32.edges
    assert p8.out_bits == tuple(b // 4 for b in p32.out_bits)
    assert p8.input_bits * 4 == p32.input_bits


def test_to_job_is_a_version_2_job():
    p = load_dag_profile("resnet18")
    job = p.to_job(device=2, input_bits=192_000, weight=1.5, deadline=0.25)
    assert job["ops"] == [2.0 * m for m in p.macs]
    assert job["edges"][0] == [1, 2] and len(job["edges"]) == 36
    assert job["in_bits"] == 192_000 and job["out_bits"] == list(map(float, p.out_bits))
    assert (job["device"], job["weight"], job["deadline"]) == (2, 1.5, 0.25)
    assert "deadline" not in p.to_job()


@pytest.mark.parametrize("spelling", ["ResNet-18", "VIT_B_16", "vit-ti-16", "GoogLeNet"])
def test_names_forgive_case_and_separators(spelling):
    assert load_dag_profile(spelling).model in dag_models()


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownModelError, match="Did you mean 'resnet18'"):
        load_dag_profile("resnet19")
    with pytest.raises(ValueError, match="bits_per_element"):
        load_dag_profile("resnet18", bits_per_element=0)


def test_reading_the_table_does_not_import_torch():
    code = ("import sys, offbench.dag_profiles as d; d.load_dag_profile('vit_b_16'); "
            "assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --------------------------------------------------------------------------------------------
# Tracing (torch)


def test_live_tracing_reproduces_the_shipped_table_exactly():
    pytest.importorskip("torch")
    shipped = (ROOT / "offbench" / "data" / "dag_profiles.json").read_text(encoding="utf-8")
    assert dag_profiles.dag_table_text(dag_profiles.build_dag_table()) == shipped, \
        "the shipped table is stale: regenerate it with `python -m offbench.dag_profiles`"
    assert get_dag_profile("vit_ti_16", live=True) == load_dag_profile("vit_ti_16")


@pytest.mark.parametrize("model", MODELS)
def test_totals_agree_with_torch_flop_counter(model):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from offbench import _dag_models

    with torch.device("meta"):
        net = _dag_models.BUILDERS[model]().eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 224, 224, device="meta"))
    assert counter.get_total_flops() == load_dag_profile(model).total_flops


def _module(forward, **children):
    """A module whose forward(x) is ``forward(self, x)``, with the given children."""
    torch = pytest.importorskip("torch")

    class User(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for name, child in children.items():
                setattr(self, name, child)

        def forward(self, x):
            return forward(self, x)

    return User()


def test_user_module_branches_join_in_a_node_of_zero_macs():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = _module(lambda s, x: s.a(x) + s.b(x), a=nn.Conv2d(3, 8, 1), b=nn.Conv2d(3, 8, 1))
    p = profile_dag(model, torch.zeros(1, 3, 4, 4), name="pair")
    assert [n.name for n in p.nodes] == ["a", "b", "add"]
    assert p.edges == ((0, 2), (1, 2)) and p.macs == (384, 384, 0)
    assert p.input_bits == 48 * 32 and p.out_bits == (4096, 4096, 4096)
    assert p.model == "pair" and p.input_shape == (1, 3, 4, 4)


def test_user_module_matrix_products_and_attention_are_counted():
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional
    model = _module(lambda s, x: F.scaled_dot_product_attention(x, x, s.p(x)) @ s.w,
                    p=nn.Linear(8, 6))
    model.w = nn.Parameter(torch.zeros(6, 3))
    p = profile_dag(model, torch.zeros(1, 5, 8))
    # The attention reads the input and the linear layer's output: the input is a node.
    # linear 5*8*6; attention: q k^T 5*5*8 and attn v 5*5*6; the product 5*6*3.
    assert [n.name for n in p.nodes] == ["input", "p", "scaled_dot_product_attention", "matmul"]
    assert p.macs == (0, 240, 5 * 5 * 8 + 5 * 5 * 6, 90)
    assert p.edges == ((0, 1), (0, 2), (1, 2), (2, 3))
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    p = profile_dag(_module(lambda s, x: s.m(x, x, x)[0], m=mha), torch.zeros(1, 5, 8))
    assert p.macs == (4 * 5 * 8 * 8 + 2 * 5 * 5 * 8,)


def test_arguments_by_name_and_clashing_names():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    model = _module(lambda s, x: s.m(query=x, key=x, value=x)[0], m=mha)
    assert profile_dag(model, torch.zeros(1, 5, 8)).macs == (4 * 5 * 8 * 8 + 2 * 5 * 5 * 8,)
    # A module called "add" and an addition: every node keeps a name of its own.
    p = profile_dag(_module(lambda s, x: s.add(x) + x, add=nn.Linear(4, 4)), torch.zeros(1, 4))
    assert [n.name for n in p.nodes] == ["input", "add", "add_1"]


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kdim", [None, 6])
def test_multihead_attention_agrees_with_torch_flop_counter(batch_first, kdim):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    nn = torch.nn

    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = nn.MultiheadAttention(8, 2, batch_first=batch_first, kdim=kdim, vdim=kdim)

        def forward(self, x, y):
            return self.m(x, y, y)[0]

    batch, queries, keys = 3, 5, 7
    q, k = torch.zeros(batch, queries, 8), torch.zeros(batch, keys, kdim or 8)
    if not batch_first:
        q, k = q.transpose(0, 1), k.transpose(0, 1)
    model = Cross()
    with FlopCounterMode(display=False) as counter:
        model(q, k)
    assert 2 * profile_dag(model, (q, k)).total_macs == counter.get_total_flops()


def test_input_read_inside_the_graph_gets_a_node_and_shared_results_an_exit():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x, y):
            h = self.a(x)
            return h, torch.relu(h) + x + y

    p = profile_dag(TwoInputs(), (torch.zeros(1, 4), torch.zeros(1, 4)))
    assert [n.name for n in p.nodes] == ["input", "a", "add", "add_1", "a.result"]
    assert p.nodes[2].ops == ("relu", "add")  # the ReLU reads a shared output: fused forward
    assert p.entries == (0,) and p.exits == (3, 4)
    assert p.edges == ((0, 1), (0, 2), (0, 3), (1, 2), (1, 4), (2, 3))
    assert p.input_bits == 8 * 32 and p.nodes[0].output_bits == 8 * 32


def test_user_module_is_left_as_it_was_and_uncounted_parameters_warn():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = _module(lambda s, x: s.lstm(s.bn(s.conv(x)).flatten(1).unsqueeze(0))[0],
                    conv=nn.Conv2d(1, 2, 3), bn=nn.BatchNorm2d(2), lstm=nn.LSTM(18, 4))
    model.train()
    stats = model.bn.running_mean.clone()
    with pytest.warns(UserWarning, match="LSTM"):
        p = profile_dag(model, torch.zeros(1, 1, 5, 5))
    assert all(m.training for m in model.modules())
    assert torch.equal(model.bn.running_mean, stats)
    assert p.macs == (18 * 9, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        profile_dag(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), torch.zeros(1, 1, 5, 5))


def test_bad_arguments_are_refused():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        profile_dag([nn.Linear(2, 2)], torch.zeros(1, 2))
    with pytest.raises(TypeError, match="example_input"):
        profile_dag(nn.Linear(2, 2), (1, 2))
    with pytest.raises(ValueError, match="bits_per_element"):
        profile_dag(nn.Linear(2, 2), torch.zeros(1, 2), bits_per_element=0)

    def branchy(s, x):
        return s.a(x) if x.sum() > 0 else x

    with pytest.raises(TypeError, match="cannot trace"):
        profile_dag(_module(branchy, a=nn.Linear(2, 2)), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="does not depend on its input"):
        profile_dag(_const_module(), torch.zeros(1, 2))
    with pytest.raises(TypeError, match="could not run"):
        profile_dag(nn.Linear(3, 2), torch.zeros(1, 2))


def _const_module():
    torch = pytest.importorskip("torch")

    class Const(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(2))

        def forward(self, x):
            return self.w * 2

    return Const()


# --------------------------------------------------------------------------------------------
# The command


def _offbench(*argv):
    return subprocess.run([sys.executable, "-m", "offbench", *argv], cwd=ROOT,
                          capture_output=True, text=True)


def test_cli_dag_json_shape(capsys):
    from offbench.cli import main

    assert main(["profile", "GoogLeNet", "--dag", "--json", "--bits-per-element", "16"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"model", "convention", "total_macs", "input_shape", "bits_per_element",
                        "input_bits", "nodes", "edges"}
    assert out["model"] == "googlenet" and out["convention"] == DAG_CONVENTION
    assert [n["id"] for n in out["nodes"]] == list(range(1, 68)) and len(out["edges"]) == 93
    assert all(set(n) == {"id", "name", "macs", "output_bits", "ops"} for n in out["nodes"])
    assert out["total_macs"] == sum(n["macs"] for n in out["nodes"])
    assert out["input_bits"] == 3 * 224 * 224 * 16 and out["nodes"][-1]["output_bits"] == 16000


def test_cli_dag_table_for_people(capsys):
    from offbench.cli import main

    assert main(["profile", "resnet18", "--dag"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("resnet18: a DAG of 29 nodes and 36 edges, input 3x224x224")
    rows = {line.split()[1]: line.split() for line in text.splitlines()
            if line.strip() and line.split()[0].isdigit()}
    assert rows["conv1.0"][-1] == "input" and rows["layer1.0.add"][-1] == "1,3"
    assert rows["fc"][2:] == ["512,000", "0.0%", "32,000", "28"]


@pytest.mark.parametrize("argv,message", [
    (["googlenet"], "profiled as a DAG only: offbench profile googlenet --dag"),
    (["vit", "--dag"], "unknown DAG model 'vit'"),
    (["VGG-16", "--dag"], "vgg16 has no branches and is profiled as a chain only"),
    (["resnet18", "--dag", "--granularity", "layer"], "--granularity applies to chains"),
])
def test_cli_dag_mistakes_exit_2_with_a_message(argv, message, capsys):
    from offbench.cli import main

    assert main(["profile", *argv]) == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""


def test_cli_dag_mistake_exit_status_of_the_process():
    done = _offbench("profile", "googlenet")
    assert done.returncode == 2 and "--dag" in done.stderr and done.stdout == ""


def test_cli_dag_from_torch_matches_the_table(capsys):
    pytest.importorskip("torch")
    from offbench.cli import main

    assert main(["profile", "mobilenet_v2", "--dag", "--json", "--from-torch"]) == 0
    live = json.loads(capsys.readouterr().out)
    assert main(["profile", "mobilenet_v2", "--dag", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == live


def test_user_error_is_the_cli_error():
    assert issubclass(UnknownModelError, UserError)
