"""ForeachAdam (offbench/learn/adam.py) against torch's own Adam on the foreach path: bitwise the
same parameters and moments, step after step, with gradients of every size class (vectorized
bodies and scalar tails), parameters that miss gradients at some steps, several rates, and betas on
both sides of ATen's lerp branch (|1 - beta1| < 0.5 or not); bad hyper-parameters refused."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is the optional offbench[torch] extra")

from offbench.learn.adam import ForeachAdam  # noqa: E402


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 76, 120), (4, 1, 120), (4, 120, 80), (4, 1, 80), (4, 80, 15), (4, 1, 15), (7,), (3, 5),
              *((n,) for n in range(1, 40)), (1001,)]
    return [torch.nn.Parameter(torch.randn(*s, generator=g) * 0.1) for s in shapes]


def _compare(mine, ref, opt, topt, step):
    for i, (p, q) in enumerate(zip(mine, ref)):
        assert p.detach().numpy().tobytes() == q.detach().numpy().tobytes(), (step, i)
        st = topt.state.get(q)
        if st:
            assert opt.steps[i] == int(st["step"].item()), (step, i)
            assert opt.exp_avgs[i].numpy().tobytes() == st["exp_avg"].numpy().tobytes(), (step, i)
            assert opt.exp_avg_sqs[i].numpy().tobytes() == st["exp_avg_sq"].numpy().tobytes(), (step, i)
        else:
            assert opt.exp_avgs[i] is None and opt.steps[i] == 0


@pytest.mark.parametrize("lr", [0.005, 1e-3])
@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_foreach_adam_is_torchs_foreach_adam_bitwise(lr, missing, fused):
    """Without missing gradients the one-pass kernel takes over from the second step (when
    ``fused``); with some missing now and then (``missing``) the step counts part and the
    foreach calls do every step."""
    mine, ref = _params(1), _params(1)
    opt = ForeachAdam(mine, lr=lr, fused=fused)
    topt = torch.optim.Adam(ref, lr=lr, foreach=True)
    g = torch.Generator().manual_seed(2)
    rng = np.random.default_rng(3)
    for step in range(40):
        opt.zero_grad()
        topt.zero_grad(set_to_none=True)
        # with `missing`: none at the first two steps, then each with probability 0.8
        has = rng.random(len(mine)) < (1.0 if not missing else 0.0 if step < 2 else 0.8)
        for p, q, h in zip(mine, ref, has):
            if h:
                gr = torch.randn(p.shape, generator=g) * float(rng.choice([1e-6, 1e-2, 1.0, 50.0]))
                gr[gr.abs() < 1e-3] = 0.0  # exact zeros, as dead units give
                p.grad, q.grad = gr.clone(), gr.clone()
        opt.step()
        topt.step()
        _compare(mine, ref, opt, topt, step)
    assert (opt._flat is not None) == (fused and not missing)


def test_the_passes_follow_parted_step_counts():
    """The two passes run while every parameter is at one step count; a step where one misses
    its gradient parts the counts and the foreach calls take over, with each count its own."""
    mine, ref = _params(4), _params(4)
    opt = ForeachAdam(mine, lr=0.01)
    topt = torch.optim.Adam(ref, lr=0.01, foreach=True)
    g = torch.Generator().manual_seed(5)
    for step in range(8):
        opt.zero_grad()
        topt.zero_grad(set_to_none=True)
        for i, (p, q) in enumerate(zip(mine, ref)):
            if step == 4 and i == 0:
                continue
            gr = torch.randn(p.shape, generator=g)
            p.grad, q.grad = gr.clone(), gr.clone()
        passes = opt._flat is not None
        opt.step()
        topt.step()
        _compare(mine, ref, opt, topt, step)
        assert passes == (1 <= step <= 4), step


def test_the_passes_match_torch_here():
    """Where this fails, ForeachAdam still gives torch's numbers (the foreach calls), slower."""
    from offbench.learn.adam import passes_match_torch

    assert passes_match_torch()


def test_foreach_adam_refuses_what_it_does_not_cover():
    with pytest.raises(ValueError, match="at least one parameter"):
        ForeachAdam([], lr=0.01)
    with pytest.raises(ValueError, match="lr must be"):
        ForeachAdam(_params(0), lr=-1.0)
    with pytest.raises(ValueError, match="real floating-point CPU"):
        ForeachAdam([torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))], lr=0.01)


@pytest.mark.parametrize("betas", [(0.5, 0.999), (0.3, 0.999), (0.1, 0.999), (0.0, 0.999), (0.49999, 0.999),
                                   (0.5000001, 0.999), (0.99, 0.5), (0.9, 0.0), (0.3, 0.3)])
@pytest.mark.parametrize("fused", [True, False])
def test_foreach_adam_follows_torchs_lerp_branches(betas, fused):
    """ATen's ``lerp`` takes ``m + w (g - m)`` for a weight ``w = 1 - beta1`` under 0.5 in
    magnitude and ``g - (g - m)(1 - w)`` otherwise (both one fused multiply-add here, in vector
    bodies and scalar tails): beta1 <= 0.5 takes the second. Every beta1, beta2 bitwise against
    torch's optimizer, through the passes (``fused``) and the foreach calls."""
    g = torch.Generator().manual_seed(7)
    shapes = [(1,), (7,), (1001,), (3, 5), (4, 1, 15)]
    mine = [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in shapes]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in mine]
    opt = ForeachAdam(mine, lr=0.01, betas=betas, fused=fused)
    topt = torch.optim.Adam(ref, lr=0.01, betas=betas, foreach=True)
    for step in range(8):
        for p, q in zip(mine, ref):
            gr = torch.randn(p.shape, generator=g) * 10.0 ** (step % 3 - 1)
            p.grad, q.grad = gr.clone(), gr
        opt.step()
        topt.step()
        _compare(mine, ref, opt, topt, step)
    assert (opt._flat is not None) == fused


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.999), (0.2, 0.9)])
def test_the_self_check_covers_the_hyper_parameters(betas):
    from offbench.learn.adam import passes_match_torch

    assert passes_match_torch(lr=0.02, betas=betas, eps=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": -1.0}, "lr must be"),
    ({"lr": float("nan")}, "lr must be"),
    ({"lr": "fast"}, "lr must be"),
    ({"lr": 0.01, "betas": (1.0, 0.999)}, r"betas\[0\] \(beta1\) must be"),
    ({"lr": 0.01, "betas": (-0.1, 0.999)}, r"betas\[0\] \(beta1\) must be"),
    ({"lr": 0.01, "betas": (0.9, 1.0)}, r"betas\[1\] \(beta2\) must be"),
    ({"lr": 0.01, "betas": (0.9, float("nan"))}, r"betas\[1\] \(beta2\) must be"),
    ({"lr": 0.01, "betas": (0.9, None)}, r"betas\[1\] \(beta2\) must be"),
    ({"lr": 0.01, "betas": (0.9,)}, "betas must be two numbers"),
    ({"lr": 0.01, "betas": 0.9}, "betas must be two numbers"),
    ({"lr": 0.01, "eps": -1e-8}, "eps must be"),
    ({"lr": 0.01, "eps": float("nan")}, "eps must be"),
])
def test_foreach_adam_rejects_bad_hyper_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ForeachAdam(_params(0), **kwargs)
