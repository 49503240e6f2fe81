"""Stable-Baselines3 algorithms as offbench learning solvers: ``sb3-dqn``, ``sb3-ppo``, ``sb3-a2c``.

The DMRO paper (Qu et al., IEEE TNSM 2021) compares DMRO with "traditional DRL", Deep
Q-Learning: ``sb3-dqn`` on the sequential environment is that baseline, from a well-kept library
rather than by hand; ``sb3-ppo`` on the bandit environment is the second one; ``sb3-a2c`` is
there for completeness (and as the example of adding one).

**How a track drives an SB3 algorithm.** The environments of :mod:`offbench.env` wrap the same
cost model. ``start`` builds the algorithm on an environment that is *fed* frames (sized by the
stream's first frame, seeded); the policy decides each frame deterministically (``decide``: a
greedy roll-out on a private copy of the environment, timed by the track as the decision
latency, no cost-model evaluation); ``learn`` feeds the frame to the training environment and
lets the algorithm play ``episodes_per_frame`` episodes on it, with its own exploration, and
update itself (SB3's own ``learn``, continued from frame to frame). Every finished training
episode is one cost-model evaluation, charged to the frame. A decision is computed from numpy
views of the policy's weights when its network is a plain MLP (the same actions as SB3's
deterministic ``predict``, which the tests check), so that its latency measures the policy
rather than torch's per-call overhead. Torch distributions' argument validation is switched off
inside SB3's calls (restored after): on the bandit environment's 50 categoricals it cost PPO a
third of its time.

**The budget is told up front.** SB3's schedules (DQN's epsilon, learning-rate schedules) run on
the fraction of the budget spent. The track tells a learning solver how many frames it will
learn from (the ``budget`` attribute it sets before ``start``: ``{"frames": n, "learn_frames":
k}``); the budget is ``k * episodes_per_frame * steps per episode`` environment steps (a
sequential episode is one step per layer, a bandit episode one step), given to SB3 as its
``total_timesteps``. Outside a track (``solve``, or a caller that does not say), the ``frames``
parameter gives it; with neither, ``start`` refuses.

**Settings.** SB3's documented defaults, except where a frame-by-frame budget needs otherwise
(offbench's choices, per algorithm):

* every algorithm: ``gamma = 1`` (an episode is one frame's placement, whose undiscounted return
  is exactly the saving of cost; discounting would weigh early layers more), rewards normalized
  by the frame's all-device cost (``normalize``), ``net_arch = [64, 64]`` (SB3's MLP default),
  CPU.
* ``sb3-dqn`` (SB3 defaults: lr 1e-4, batch 32, tau 1, learning_starts 100, epsilon 1 -> 0.05
  over the first 10% of the budget, max_grad_norm 10): training happens at the end of each
  episode (``train_freq = (1, "episode")``, so learning stays between frames) with
  ``gradient_steps = ceil(steps per episode / 4)``, SB3's ratio of one gradient step per four
  environment steps; ``buffer_size`` = min(10^6, the budget); ``target_update_interval`` =
  min(10^4, max(1, budget / 10)) so that a small budget still updates its target ten times.
* ``sb3-ppo`` (SB3 defaults: lr 3e-4, 10 epochs, clip 0.2, GAE lambda 0.95, max_grad_norm 0.5):
  one rollout per frame, ``n_steps`` = the frame's steps (SB3's 2048 would span frames, and the
  adapter learns frame by frame), ``batch_size`` = min(64, n_steps); on the bandit environment
  ``episodes_per_frame = 16`` decisions sampled per frame (the advantage is then normalized
  among one frame's samples, a per-frame baseline).
* ``sb3-a2c`` (SB3 defaults: lr 7e-4, RMSprop, GAE lambda 1, vf 0.5, max_grad_norm 0.5):
  ``n_steps`` = SB3's 5 when it divides the frame's steps, else the frame's steps.

**DAG jobs** (SPEC.md section 7): the environments walk a DAG job's nodes in a topological order
(:mod:`offbench.env`), and the decision is written back in file order; a stream keeps one DAG
structure, and a frame with another is refused (:meth:`TorchLearningSolver.check_frame`).

**A static solve** (``offbench solve --solver sb3-dqn --param frames=200``) learns on the one
instance for ``frames`` rounds and answers with the best decision it priced.

**Weights.** The policy's state dict is saved with safetensors (``save``/``load``, the
``weights`` parameter to start from a file), never with SB3's pickle-based ``save``; the
optimizer and the replay buffer are not saved (a loaded policy fine-tunes from its weights).

**Your own algorithm.** Subclass :class:`SB3Solver`, name it, and either set ``algorithm`` to an
SB3 class name (``"SAC"`` needs a continuous action space, so not here) or override
:meth:`SB3Solver.make_model` to build any algorithm object with SB3's interface (sb3-contrib's
``QRDQN``, say) on the environment and budget it is given.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from offbench.errors import UserError
from offbench.learn.base import WEIGHTS_PARAM, TorchLearningSolver
from offbench.solver import Param, Proposal, SolverError

_COMMON = (
    Param("episodes_per_frame", int, None, low=1, allow_none=True,
          doc="training episodes played on each frame (None: 1 sequential, 16 bandit)"),
    Param("normalize", bool, True, doc="divide rewards by the frame's all-device cost"),
    Param("infeasible_penalty", float, 0.1, low=0,
          doc="an infeasible decision's return, as a fraction of the all-device cost below the fallback"),
    Param("net_arch", list, (64, 64), item=int, low=1, length=(1, 8), doc="hidden layer sizes"),
    Param("gamma", float, 1.0, low=0, high=1, doc="discount factor"),
    Param("frames", int, None, low=1, allow_none=True,
          doc="frames the budget is planned for when the track does not say"),
    Param("device", str, "cpu", choices=("cpu", "cuda", "auto"), doc="torch device"),
    WEIGHTS_PARAM,
)


class _BudgetCallback:
    """Sets SB3's ``_total_timesteps`` to the whole budget at the start of each ``learn`` call,
    so its schedules see the fraction of the whole budget spent, not of one frame's steps."""

    def __new__(cls, total: int):
        from stable_baselines3.common.callbacks import BaseCallback

        class Budget(BaseCallback):
            def __init__(self, total):
                super().__init__()
                self.total = int(total)

            def _on_training_start(self) -> None:
                self.model._total_timesteps = self.total

            def _on_step(self) -> bool:
                return True

        return Budget(total)


class _no_distribution_checks:
    """Torch distributions without argument validation, inside SB3's calls only: on the bandit
    environment's 50 categoricals it costs PPO a third of its time, and the arguments are the
    policy's own. The previous default is restored on exit."""

    def __enter__(self):
        from torch.distributions import Distribution

        self.prev = Distribution._validate_args
        Distribution.set_default_validate_args(False)

    def __exit__(self, *exc):
        from torch.distributions import Distribution

        Distribution.set_default_validate_args(self.prev)
        return False


def _numpy_mlp(features_extractor, modules):
    """Numpy views of an MLP's weights, for deciding without torch's per-call overhead:
    ``[(W, b, activation), ...]`` with activation ``"relu"``, ``"tanh"`` or None, when the
    features are only flattened and ``modules`` are Linear, ReLU and Tanh layers on a CPU; else
    None. The views share memory with the parameters, which the optimizer and
    ``load_state_dict`` update in place, so they stay current."""
    import torch as th
    import torch.nn as nn
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if type(features_extractor) is not FlattenExtractor:
        return None
    layers = []
    for m in modules:
        if isinstance(m, nn.Linear) and m.bias is not None:
            if m.weight.device.type != "cpu" or m.weight.dtype != th.float32:
                return None
            layers.append([m.weight.detach().numpy(), m.bias.detach().numpy(), None])
        elif isinstance(m, (nn.ReLU, nn.Tanh)) and layers and layers[-1][2] is None:
            layers[-1][2] = "relu" if isinstance(m, nn.ReLU) else "tanh"
        else:
            return None
    return [tuple(l) for l in layers] or None


def _numpy_forward(layers, x: np.ndarray) -> np.ndarray:
    for W, b, act in layers:
        x = W @ x + b
        if act == "relu":
            np.maximum(x, 0.0, out=x)
        elif act == "tanh":
            np.tanh(x, out=x)
    return x


class SB3Solver(TorchLearningSolver):
    """A Stable-Baselines3 algorithm scored as a learning solver (see the module docstring)."""

    abstract: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("torch", "safetensors", "gymnasium", "stable_baselines3")
    handles_dag: ClassVar[bool] = True
    #: The SB3 class (in ``stable_baselines3``) that :meth:`make_model` builds.
    algorithm: ClassVar[str] = ""
    #: Which environment (``"sequential"`` or ``"bandit"``) by default.
    default_env: ClassVar[str] = "sequential"

    # ---------------------------------------------------------------- the budget
    def _episodes(self) -> int:
        e = self.param_values["episodes_per_frame"]
        return e if e is not None else (1 if self.env_kind == "sequential" else 16)

    def _plan(self, structure) -> tuple[int, int, int]:
        """(frames learned from, env steps per frame, total env steps)."""
        budget = getattr(self, "budget", None) or {}
        frames = budget.get("learn_frames", budget.get("frames"))
        if frames is None:
            frames = self.param_values["frames"]
        if frames is None:
            raise UserError(f"solver {self.id}: the budget is unknown (the track did not say how "
                            "many frames it will learn from; give the 'frames' parameter)")
        per_episode = structure.n_layers if self.env_kind == "sequential" else 1
        steps = self._episodes() * per_episode
        return int(frames), steps, max(1, int(frames)) * steps

    # ---------------------------------------------------------------- building
    @property
    def env_kind(self) -> str:
        return self.param_values.get("env") or self.default_env

    def _make_env(self, structure):
        from offbench.env import PlacementBanditEnv, PlacementEnv

        cls = PlacementEnv if self.env_kind == "sequential" else PlacementBanditEnv
        return cls(instance=structure, normalize=self.param_values["normalize"],
                   infeasible_penalty=self.param_values["infeasible_penalty"])

    def algorithm_kwargs(self, steps_per_frame: int, total_steps: int) -> dict:
        """The algorithm's keyword arguments for this budget (subclasses)."""
        return {}

    def make_model(self, env, steps_per_frame: int, total_steps: int, seed: int):
        """Build the SB3 algorithm on ``env`` for a budget of ``total_steps`` environment steps."""
        import stable_baselines3 as sb3

        cls = getattr(sb3, self.algorithm)
        return cls("MlpPolicy", env, seed=seed, device=self.param_values["device"], verbose=0,
                   gamma=self.param_values["gamma"],
                   policy_kwargs={"net_arch": list(self.param_values["net_arch"])},
                   **self.algorithm_kwargs(steps_per_frame, total_steps))

    def build(self, structure) -> None:
        import torch as th
        from stable_baselines3.common.logger import Logger

        self._th = th
        self.learn_frames, self.steps_per_frame, self.total_steps = self._plan(structure)
        self.train_env = self._make_env(structure)
        self.decide_env = self._make_env(structure)
        seed = int(self.rng.integers(0, 2**31 - 1))
        self.model = self.make_model(self.train_env, self.steps_per_frame, self.total_steps, seed)
        self.model.set_logger(Logger(folder=None, output_formats=[]))
        self.callback = _BudgetCallback(self.total_steps)
        self.model.policy.set_training_mode(False)
        policy = self.model.policy
        self._device = policy.device
        from stable_baselines3.common.distributions import (CategoricalDistribution,
                                                            MultiCategoricalDistribution)
        from stable_baselines3.common.policies import ActorCriticPolicy
        from stable_baselines3.dqn.policies import DQNPolicy

        self._np_layers = None
        if isinstance(policy, DQNPolicy):
            self._greedy = "q"
            self._np_layers = _numpy_mlp(policy.q_net.features_extractor, list(policy.q_net.q_net))
        elif isinstance(policy, ActorCriticPolicy) and isinstance(
                policy.action_dist, (CategoricalDistribution, MultiCategoricalDistribution)):
            self._greedy = "logits" if isinstance(policy.action_dist, MultiCategoricalDistribution) else "logits1"
            self._np_layers = _numpy_mlp(policy.pi_features_extractor,
                                         [*policy.mlp_extractor.policy_net, policy.action_net])
        else:
            self._greedy = "predict"

    def modules(self) -> dict:
        return {"policy": self.model.policy}

    # ---------------------------------------------------------------- deciding
    def _act(self, obs: np.ndarray) -> np.ndarray:
        """The policy's deterministic action: the greedy Q-value (DQN) or the most likely tier
        of each categorical (actor-critic policies: the argmax of the action logits, which is
        the distribution's mode), computed in numpy from the weights when the network is a plain
        MLP, else SB3's own ``_predict``."""
        th = self._th
        policy = self.model.policy
        if self._np_layers is not None:  # the same weights, without torch's call overhead
            out = _numpy_forward(self._np_layers, obs)
            if self._greedy == "logits":
                return out.reshape(-1, 3).argmax(axis=1)
            return int(np.argmax(out))
        with th.no_grad():
            x = th.as_tensor(obs[None, :], device=self._device)
            if self._greedy == "q":
                return policy.q_net(x).argmax(dim=1).cpu().numpy()[0]
            if self._greedy in ("logits", "logits1"):
                latent = policy.mlp_extractor.forward_actor(
                    policy.extract_features(x, policy.pi_features_extractor))
                a = policy.action_net(latent).view(-1, 3).argmax(dim=1).cpu().numpy()
                return a if self._greedy == "logits" else a[0]
            with _no_distribution_checks():
                return policy._predict(x, deterministic=True).cpu().numpy()[0]

    def decide(self, frame, ctx) -> Proposal:
        """The policy's deterministic decision (no cost-model evaluation)."""
        self.check_frame(frame)
        env = self.decide_env
        env.feed(frame)
        obs, _ = env.reset()
        if self.env_kind == "bandit":
            return Proposal(np.asarray(self._act(obs), dtype=np.int8), status="feasible")
        x = np.zeros(frame.n_layers, dtype=np.int8)
        order = env.order  # the walk: file order for chains, topological for DAG jobs
        for l in range(frame.n_layers):
            a = int(self._act(obs))
            x[order[l]] = a
            if l + 1 < frame.n_layers:  # the last move's terminal pricing is not needed
                obs, _, _, _, _ = env.step(a)
        return Proposal(x, status="feasible")

    # ---------------------------------------------------------------- a static solve
    def _solve(self, inst, ctx) -> Proposal:
        """``offbench solve``: learn on the instance alone for ``frames`` rounds (decide, then
        learn) within the time limit; the answer is the best feasible decision it priced (each
        priced decision is one charged evaluation), or the all-device decision."""
        from offbench.learn import price
        from offbench.solver import Unsupported

        rounds = self.param_values["frames"]
        if rounds is None:
            raise Unsupported(f"{self.id} learns from frames; a static solve needs the 'frames' "
                              "parameter (how many rounds to learn on the instance)")
        self.budget = {"frames": rounds, "learn_frames": rounds}
        self.start(inst, ctx.seed)
        best = np.zeros(inst.n_layers, dtype=np.int8)
        best_cost = price(ctx, best[None, :]).best_cost
        status = "feasible"
        for _ in range(rounds):
            if ctx.out_of_time():
                status = "timeout"
                break
            x = np.asarray(self.decide(inst, ctx).decision, dtype=np.int8)
            p = price(ctx, x[None, :])
            if p.best_cost < best_cost:
                best, best_cost = x, p.best_cost
            self.learn(inst, x, ctx)
        return Proposal(best, status=status)

    # ---------------------------------------------------------------- learning
    def learn(self, frame, decision, ctx) -> dict:
        """Play ``episodes_per_frame`` training episodes on the frame and update (SB3's loop)."""
        self.check_frame(frame)
        model = self.model
        env = self.train_env
        env.feed(frame)
        before = env.evaluations
        model._last_obs = None  # the next episode starts on this frame
        with _no_distribution_checks():
            model.learn(total_timesteps=self.steps_per_frame, reset_num_timesteps=False,
                        callback=self.callback, progress_bar=False)
        model.policy.set_training_mode(False)
        ctx.charge(env.evaluations - before)
        out = {"budget_used": model.num_timesteps / self.total_steps}
        logged = model.logger.name_to_value
        for key in ("train/loss", "train/value_loss", "train/policy_gradient_loss",
                    "train/entropy_loss"):
            v = logged.get(key)
            if v is not None and math.isfinite(float(v)):
                out[key.split("/", 1)[1]] = float(v)
        eps = getattr(model, "exploration_rate", None)
        if eps is not None:
            out["epsilon"] = float(eps)
        return out


class SB3DQN(SB3Solver):
    """Deep Q-learning (SB3's DQN) on the sequential environment: the DMRO paper's "traditional DRL" baseline."""

    name = "sb3-dqn"
    version = 1
    algorithm = "DQN"
    default_env = "sequential"
    params = (
        Param("env", str, "sequential", choices=("sequential",),
              doc="environment (DQN needs one discrete action per step)"),
        *_COMMON,
        Param("learning_rate", float, 1e-4, low=0, low_open=True, doc="Adam step size"),
        Param("batch_size", int, 32, low=1, doc="minibatch size"),
        Param("learning_starts", int, 100, low=0, doc="env steps before the first update"),
        Param("tau", float, 1.0, low=0, high=1, doc="target update coefficient"),
        Param("exploration_fraction", float, 0.1, low=0, high=1,
              doc="fraction of the budget over which epsilon falls"),
        Param("exploration_initial_eps", float, 1.0, low=0, high=1, doc="initial epsilon"),
        Param("exploration_final_eps", float, 0.05, low=0, high=1, doc="final epsilon"),
        Param("gradient_steps", int, None, low=1, allow_none=True,
              doc="gradient steps after each episode (None: steps per episode / 4)"),
        Param("target_update_interval", int, None, low=1, allow_none=True,
              doc="env steps between target updates (None: min(10^4, budget / 10))"),
        Param("max_grad_norm", float, 10.0, low=0, low_open=True, doc="gradient clipping"),
    )

    def algorithm_kwargs(self, steps_per_frame, total_steps):
        p = self.param_values
        per_episode = steps_per_frame // self._episodes()
        return dict(
            learning_rate=p["learning_rate"], batch_size=p["batch_size"],
            buffer_size=int(min(10**6, total_steps)), learning_starts=p["learning_starts"],
            tau=p["tau"], train_freq=(1, "episode"),
            gradient_steps=p["gradient_steps"] or max(1, math.ceil(per_episode / 4)),
            target_update_interval=p["target_update_interval"] or int(min(10**4, max(1, total_steps // 10))),
            exploration_fraction=p["exploration_fraction"],
            exploration_initial_eps=p["exploration_initial_eps"],
            exploration_final_eps=p["exploration_final_eps"], max_grad_norm=p["max_grad_norm"])


class _OnPolicy(SB3Solver):
    abstract: ClassVar[bool] = True

    def _n_steps(self, steps_per_frame: int, sb3_default: int | None) -> int:
        n = self.param_values["n_steps"]
        if n is None:
            n = sb3_default if (sb3_default and steps_per_frame % sb3_default == 0) else steps_per_frame
        if steps_per_frame % n:
            raise SolverError(f"solver {self.id}: n_steps = {n} must divide the steps played per "
                              f"frame ({steps_per_frame}: episodes_per_frame x steps per episode)")
        return n

    def check_inputs(self, structure=None) -> None:
        super().check_inputs(structure)
        if structure is not None:
            per_episode = structure.n_layers if self.env_kind == "sequential" else 1
            self._n_steps(self._episodes() * per_episode, None)


class SB3PPO(_OnPolicy):
    """Proximal policy optimization (SB3's PPO), by default on the bandit environment (one decision per frame)."""

    name = "sb3-ppo"
    version = 1
    algorithm = "PPO"
    default_env = "bandit"
    params = (
        Param("env", str, "bandit", choices=("bandit", "sequential"), doc="environment"),
        *_COMMON,
        Param("learning_rate", float, 3e-4, low=0, low_open=True, doc="Adam step size"),
        Param("n_steps", int, None, low=1, allow_none=True,
              doc="steps per rollout (None: one frame's steps); must divide them"),
        Param("batch_size", int, 64, low=2, doc="minibatch size (capped at n_steps)"),
        Param("n_epochs", int, 10, low=1, doc="epochs per rollout"),
        Param("gae_lambda", float, 0.95, low=0, high=1, doc="GAE lambda"),
        Param("clip_range", float, 0.2, low=0, low_open=True, doc="PPO clip range"),
        Param("ent_coef", float, 0.0, low=0, doc="entropy bonus"),
        Param("vf_coef", float, 0.5, low=0, doc="value loss weight"),
        Param("max_grad_norm", float, 0.5, low=0, low_open=True, doc="gradient clipping"),
    )

    def algorithm_kwargs(self, steps_per_frame, total_steps):
        p = self.param_values
        n = self._n_steps(steps_per_frame, None)
        return dict(learning_rate=p["learning_rate"], n_steps=n, batch_size=min(p["batch_size"], n),
                    n_epochs=p["n_epochs"], gae_lambda=p["gae_lambda"], clip_range=p["clip_range"],
                    ent_coef=p["ent_coef"], vf_coef=p["vf_coef"], max_grad_norm=p["max_grad_norm"])


class SB3A2C(_OnPolicy):
    """Advantage actor-critic (SB3's A2C), by default on the sequential environment."""

    name = "sb3-a2c"
    version = 1
    algorithm = "A2C"
    default_env = "sequential"
    params = (
        Param("env", str, "sequential", choices=("sequential", "bandit"), doc="environment"),
        *_COMMON,
        Param("learning_rate", float, 7e-4, low=0, low_open=True, doc="RMSprop step size"),
        Param("n_steps", int, None, low=1, allow_none=True,
              doc="steps per update (None: 5 if it divides a frame's steps, else a frame's steps)"),
        Param("gae_lambda", float, 1.0, low=0, high=1, doc="GAE lambda"),
        Param("ent_coef", float, 0.0, low=0, doc="entropy bonus"),
        Param("vf_coef", float, 0.5, low=0, doc="value loss weight"),
        Param("max_grad_norm", float, 0.5, low=0, low_open=True, doc="gradient clipping"),
    )

    def algorithm_kwargs(self, steps_per_frame, total_steps):
        p = self.param_values
        return dict(learning_rate=p["learning_rate"], n_steps=self._n_steps(steps_per_frame, 5),
                    gae_lambda=p["gae_lambda"], ent_coef=p["ent_coef"], vf_coef=p["vf_coef"],
                    max_grad_norm=p["max_grad_norm"])
