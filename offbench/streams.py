"""Frame streams: one fixed structure whose parameters vary frame to frame.

A learning solver (DROO, DDLO, DMRO, DQN) meets a *stream* of frames of one structure: the same
devices, the same jobs on the same devices, the same number of layers per job; only the numbers
change. This module holds the frame process that every family in :mod:`offbench.families` uses.

A :class:`Scenario` is the fixed part: a *nominal* instance (mean channel, nominal task sizes,
nominal weights), a per-device mean signal-to-noise ratio, and a :class:`Variation` that says how
the frame parameters move (its settings are declared in :data:`SETTINGS` with the parameter
language of :mod:`offbench.params`, so a family's ``stream`` table is checked like any
parameter). :class:`FrameProcess` draws the frames. Per frame:

* **Channel fading** on each device's link. The channel power gain ``g`` (mean 1) is

  - ``"rayleigh"``: ``g = |h|^2`` with ``h`` circular complex Gaussian of unit power (so ``g`` is
    exponential with mean 1, as in DROO, Huang et al., IEEE TMC 2020, where the gain of every
    wireless device is drawn afresh each frame);
  - ``"lognormal"``: shadowing, ``10 log10 g ~ Normal(-sigma^2 ln(10) / 20, sigma)`` dB
    (mean gain 1), ``sigma = Variation.shadowing_db``;
  - ``"none"``: ``g = 1``.

  ``h`` (or the Gaussian behind the shadowing) follows a first-order Gauss-Markov process,
  ``h_t = rho h_{t-1} + sqrt(1 - rho^2) w_t``, so consecutive frames are correlated when
  ``Variation.fading_correlation = rho > 0`` (Jakes-like); ``rho = 0`` (the default) gives
  independent frames, as in DROO. The gain becomes a rate by Shannon's formula around the
  nominal rate: ``rate = nominal * log2(1 + snr * g) / log2(1 + snr)``, where ``snr`` is the
  device's mean SNR; the nominal rate is the rate at the mean gain. Uplink and downlink share the
  gain (a reciprocal, TDD channel) and the factor: one mean SNR per device (a family gives the
  uplink's where the links differ; the downlink's rate then moves by the uplink's factor). Gains are floored at ``Variation.min_gain`` (an outage
  floor, offbench's choice: -30 dB by default) so that every rate stays positive.
* **Task sizes**: each job's operations and intermediate outputs are scaled by a factor drawn
  uniformly from ``Variation.work_scale``, and its input by one from ``Variation.input_scale``.
  A DAG job's (SPEC.md section 7) shared outputs are its intermediate outputs; its per-edge
  messages are scaled by the same factor when ``Variation.scale_messages`` is set, and keep
  their nominal sizes otherwise (the default, which the first DAG family versions, workflow-v1,
  dmro-v2 and zoo-v2, were frozen with: a family version never changes what it generates, so
  the fix is a setting that a new version turns on). Frames of chains alone are untouched.
* **Background load**: each device runs other work that takes a fraction drawn from
  ``Variation.device_load`` of its processor; the edge server is shared with other tenants, a
  fraction from ``Variation.edge_load``.
* **Devices switching off and on**: a two-state Markov chain per device (``p_off``: on to off,
  ``p_on``: off to on), started from its stationary law. An off device's jobs are absent from the
  frame: weight 0, zero operations and zero bits (and, with ``scale_messages``, zero
  messages; they cost nothing wherever they are placed and
  use no capacity), so the structure stays fixed. A frame always keeps at least one job: when
  every device with a job would be off, the device of the first job stays on (a frame that costs
  0 whatever is decided has no cost ratio). Static instances (``Family.generate``) are drawn with
  every device on.
* **Weights**: each frame, each job's weight is redrawn from ``Variation.weight_choices`` with
  probability ``Variation.weight_redraw`` (otherwise it keeps its weight).

**Drift.** :meth:`FrameProcess.switch` changes the scenario (a new environment of the same
structure) from the next frame on. The fading state and the on/off state go on; job weights
restart from the new environment's nominal weights (so that an environment can change them, as
DROO's alternated-weights experiment does). The frames before the switch are the same numbers
as a stream that never switches.

**Determinism.** Every frame draws the same count of random numbers from one
:class:`numpy.random.Generator` whatever the options, and every float of a frame is rounded to
:data:`SIGNIFICANT_DIGITS` significant decimal digits (:func:`quantize`, with IEEE-exact
operations only), so that the last-ulp differences of ``exp``/``log`` between CPUs and numpy
builds cannot change a digest.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .instance import Instance
from .params import Param, ParamError, check_known

__all__ = ["SIGNIFICANT_DIGITS", "FADING_MODELS", "Variation", "Scenario", "FrameProcess",
           "quantize", "quantize_parts"]

#: Generated floats are rounded to this many significant decimal digits (see the module doc).
SIGNIFICANT_DIGITS = 6

FADING_MODELS = ("none", "rayleigh", "lognormal")

_QFMT = f".{SIGNIFICANT_DIGITS}g"


#: Exact powers of ten (parsed, so correctly rounded; exact up to 1e22).
_POW10 = np.array([float(f"1e{k}") for k in range(23)])


def quantize(values) -> np.ndarray:
    """Round to :data:`SIGNIFICANT_DIGITS` significant digits, the same on every machine.

    ``x`` becomes ``m / 10**j`` (or ``m * 10**-j``) with ``m = round(x * 10**j)`` an integer of
    six digits and ``10**j`` an exact power of ten: only IEEE-exact operations (a product or a
    quotient, correctly rounded), so two inputs that differ by an ulp give the same output
    except at a rounding boundary, and the result is the double nearest to its decimal form (so
    JSON shows ``1.23457e-07``). The exponent ``j`` comes from ``log10``; where ``log10`` could
    round differently (within an ulp of a power of ten) both exponents give the same result.

    Parameters
    ----------
    values : array_like of float
        Finite or infinite values (``inf`` stays ``inf``, 0 stays 0).

    Returns
    -------
    numpy.ndarray of float64
    """
    # The same operations as ever, with fewer calls (generation quantizes twice per instance):
    # no error state around log10 (it only sees finite non-zero values), an index clipped by
    # np.minimum (|j| >= 0) instead of np.clip, and no masking when every value is finite and
    # non-zero (the common case of a frame).
    a = np.asarray(values, dtype=np.float64)
    mask = np.isfinite(a) & (a != 0)
    every = mask.all()
    x = a if every else a[mask]
    if x.size == 0:
        return a.copy()
    j = (SIGNIFICANT_DIGITS - 1) - np.floor(np.log10(np.abs(x))).astype(np.int64)
    aj = np.abs(j)
    rest = aj > 22
    if not rest.any():
        # |j| <= 22: 1e-17 <= |x| < 1e28, so neither branch of the where (both are computed
        # for every value) can overflow or underflow: no error state to set (it costs as much
        # as the rounding here).
        p = _POW10[aj]
        return _place(a, mask, every, np.where(j >= 0, np.round(x * p) / p, np.round(x / p) * p))
    p = _POW10[np.minimum(aj, 22)]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        y = np.where(j >= 0, np.round(x * p) / p, np.round(x / p) * p)
    # beyond 1e22 either way: Python's correctly rounded formatting
    y[rest] = [float(format(v, _QFMT)) for v in x[rest].tolist()]
    return _place(a, mask, every, y)


def _place(a: np.ndarray, mask: np.ndarray, every: bool, y: np.ndarray) -> np.ndarray:
    """:func:`quantize`'s result: ``y`` where ``mask`` (every value: ``y`` itself), ``a``
    elsewhere."""
    if every:
        return y
    out = a.copy()
    out[mask] = y
    return out


def quantize_parts(parts) -> list[np.ndarray]:
    """:func:`quantize` several arrays (or scalars) in one call; returns 1-d arrays, in order."""
    parts = [np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in parts]
    q = quantize(np.concatenate(parts))
    out, at = [], 0
    for x in parts:  # views, as np.split gives (which costs more than the rounding here)
        out.append(q[at:at + x.size])
        at += x.size
    return out


def qfloat(value: float) -> float:
    """:func:`quantize` for one number."""
    return float(quantize(np.array([float(value)]))[0])


class _Setting(Param):
    """A stream setting (:class:`offbench.params.Param`): "The 'p_off' setting of stream
    variation must be a float in [0, 1]. Got 1.5." (a ``ValueError``)."""

    what = "setting"


#: The declared stream settings, in the order of :class:`Variation`'s fields.
SETTINGS = (
    _Setting("fading", str, "rayleigh", choices=FADING_MODELS, doc="fading model of every link"),
    _Setting("fading_correlation", float, 0.0, low=0.0, high=1.0, high_open=True,
             doc="Gauss-Markov coefficient between consecutive frames"),
    _Setting("shadowing_db", float, 8.0, low=0.0, doc="log-normal shadowing deviation, dB"),
    _Setting("min_gain", float, 1e-3, low=0.0, low_open=True, doc="floor of the channel gain"),
    _Setting("work_scale", "range", (1.0, 1.0), low=0.0, doc="factor on ops and outputs"),
    _Setting("input_scale", "range", (1.0, 1.0), low=0.0, doc="factor on the input size"),
    _Setting("device_load", "range", (0.0, 0.0), low=0.0, high=0.999,
             doc="busy fraction of a device's processor"),
    _Setting("edge_load", "range", (0.0, 0.0), low=0.0, high=0.999,
             doc="busy fraction of the edge server"),
    _Setting("p_off", float, 0.0, low=0.0, high=1.0, doc="probability that an on device goes off"),
    _Setting("p_on", float, 1.0, low=0.0, high=1.0, doc="probability that an off device comes on"),
    _Setting("weight_choices", list, (), item=float, low=0.0, doc="weights a job redraws from"),
    _Setting("weight_redraw", float, 0.0, low=0.0, high=1.0,
             doc="probability that a job's weight is redrawn"),
    _Setting("scale_messages", bool, False,
             doc="scale a DAG job's per-edge messages by its work factor (and zero them when its "
                 "device is off); false keeps them nominal"),
)


@dataclass(frozen=True)
class Variation:
    """How frame parameters vary around a scenario's nominal values (see the module docstring).

    Parameters
    ----------
    fading : {"none", "rayleigh", "lognormal"}
        Small-scale fading model of every device link.
    fading_correlation : float
        Gauss-Markov coefficient ``rho`` in [0, 1) between consecutive frames (0: independent).
    shadowing_db : float
        Standard deviation (dB) of the log-normal model.
    min_gain : float
        Floor of the channel power gain (relative to its mean).
    work_scale : (float, float)
        Range of the per-job, per-frame factor on operations and intermediate outputs.
    input_scale : (float, float)
        Range of the per-job, per-frame factor on the input size.
    device_load : (float, float)
        Range of the per-device, per-frame busy fraction of its processor, within [0, 1).
    edge_load : (float, float)
        Range of the per-frame busy fraction of the edge server, within [0, 1).
    p_off, p_on : float
        Per-frame probabilities that an on device switches off, and an off device on.
    weight_choices : tuple of float
        Values a job's weight is redrawn from; empty for fixed weights.
    weight_redraw : float
        Per-frame probability that a job's weight is redrawn.
    scale_messages : bool
        Whether a DAG job's per-edge messages move with its work factor (see the module
        docstring); False keeps them nominal.
    """

    fading: str = "rayleigh"
    fading_correlation: float = 0.0
    shadowing_db: float = 8.0
    min_gain: float = 1e-3
    work_scale: tuple[float, float] = (1.0, 1.0)
    input_scale: tuple[float, float] = (1.0, 1.0)
    device_load: tuple[float, float] = (0.0, 0.0)
    edge_load: tuple[float, float] = (0.0, 0.0)
    p_off: float = 0.0
    p_on: float = 1.0
    weight_choices: tuple[float, ...] = ()
    weight_redraw: float = 0.0
    scale_messages: bool = False

    def __post_init__(self) -> None:
        for p in SETTINGS:
            object.__setattr__(self, p.name, p.validate("stream variation", getattr(self, p.name)))
        if self.weight_redraw > 0 and not self.weight_choices:
            raise ParamError("Variation.weight_redraw > 0 needs weight_choices")

    @classmethod
    def from_dict(cls, d: dict) -> "Variation":
        """Build from a family definition's ``stream`` table (unknown keys are refused)."""
        check_known(d, [p.name for p in SETTINGS], "stream variation", what="setting")
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        return cls(**kw)

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


@dataclass(frozen=True, eq=False)
class Scenario:
    """The fixed part of a stream: nominal instance, per-device mean SNR, variation.

    Parameters
    ----------
    base : Instance
        Nominal parameters: rates at the mean channel gain, nominal task sizes and weights.
    snr : numpy.ndarray, shape (n_devices,)
        Mean signal-to-noise ratio (linear) of each device's link, for the gain-to-rate map.
    variation : Variation
    environment : str
        The name of the environment this scenario realizes.
    """

    base: Instance
    snr: np.ndarray
    variation: Variation = field(default_factory=Variation)
    environment: str = "default"

    def __post_init__(self) -> None:
        snr = np.asarray(self.snr, dtype=np.float64)
        if snr.shape != (self.base.n_devices,) or np.any(~np.isfinite(snr)) or np.any(snr <= 0):
            raise ValueError(f"Scenario.snr must be {self.base.n_devices} finite values > 0")
        object.__setattr__(self, "snr", snr)

    def same_structure(self, other: "Scenario") -> bool:
        """Whether frames of ``other`` have the shape of this one's (devices, jobs, layers)."""
        a, b = self.base, other.base
        return (a.n_devices == b.n_devices and np.array_equal(a.job_device, b.job_device)
                and np.array_equal(a.layer_offsets, b.layer_offsets))


class FrameProcess:
    """Draws the frames of a stream, one after another (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
        Where the stream starts.
    rng : numpy.random.Generator
        The only source of randomness; the process consumes a fixed count of draws per frame.
    name : str
        Frame ``t`` is named ``f"{name}/{t}"``.
    switching : bool
        With False, every device stays on (the on/off chain is still drawn, so the other numbers
        are the same); static instances are drawn this way.
    """

    def __init__(self, scenario: Scenario, rng: np.random.Generator, name: str = "frame", *,
                 switching: bool = True):
        self.switching = bool(switching)
        self.scenario = scenario
        self.rng = rng
        self.name = name
        self.t = 0
        nd = scenario.base.n_devices
        nj = scenario.base.n_jobs
        # Stationary start of every chain.
        self._h = (rng.standard_normal(nd) + 1j * rng.standard_normal(nd)) / math.sqrt(2.0)
        self._z = rng.standard_normal(nd)
        v = scenario.variation
        p_on_stat = 1.0 if v.p_off == 0 else v.p_on / (v.p_on + v.p_off)
        self._on = rng.random(nd) < p_on_stat
        self._keep_one_on()
        self._w = np.array(scenario.base.job_weight, dtype=np.float64)
        self._nj = nj

    def switch(self, scenario: Scenario) -> None:
        """From the next frame on, draw around ``scenario`` (same structure; chains go on)."""
        if not self.scenario.same_structure(scenario):
            raise ValueError("a stream can only switch to a scenario of the same structure "
                             "(devices, jobs on devices, layers per job)")
        self.scenario = scenario
        self._w = np.array(scenario.base.job_weight, dtype=np.float64)

    def _advance(self) -> None:
        rng = self.rng
        v = self.scenario.variation
        nd = self._h.size
        rho = v.fading_correlation
        w = (rng.standard_normal(nd) + 1j * rng.standard_normal(nd)) / math.sqrt(2.0)
        self._h = rho * self._h + math.sqrt(1.0 - rho * rho) * w
        self._z = rho * self._z + math.sqrt(1.0 - rho * rho) * rng.standard_normal(nd)
        u = rng.random(nd)
        self._on = np.where(self._on, u >= v.p_off, u < v.p_on)
        self._keep_one_on()

    def _keep_one_on(self) -> None:
        # A frame without a single present job would cost 0 whatever is decided (no cost ratio
        # exists): the device of the first job then stays on.
        if not self.switching:
            self._on[:] = True
        elif not np.any(self._on[self.scenario.base.job_device]):
            self._on[self.scenario.base.job_device[0]] = True

    def next(self) -> Instance:
        """The next frame."""
        if self.t > 0:
            self._advance()
        rng = self.rng
        sc = self.scenario
        v = sc.variation
        b = sc.base
        nd, nj = b.n_devices, b.n_jobs
        # Draws of this frame, always the same count.
        u_work = rng.random(nj)
        u_input = rng.random(nj)
        u_dev = rng.random(nd)
        u_edge = rng.random()
        u_redraw = rng.random(nj)
        i_choice = rng.integers(0, 1 << 30, nj)

        if v.fading == "rayleigh":
            g = np.abs(self._h) ** 2
        elif v.fading == "lognormal":
            s = v.shadowing_db * math.log(10.0) / 10.0
            g = np.exp(s * self._z - 0.5 * s * s)
        else:
            g = np.ones(nd)
        g = np.maximum(g, v.min_gain)
        factor = np.log2(1.0 + sc.snr * g) / np.log2(1.0 + sc.snr)
        rate_up = b.dev_rate_up * factor
        rate_down = b.dev_rate_down * factor

        work = v.work_scale[0] + (v.work_scale[1] - v.work_scale[0]) * u_work
        inp = v.input_scale[0] + (v.input_scale[1] - v.input_scale[0]) * u_input
        dev_speed = b.dev_speed * (1.0 - (v.device_load[0] + (v.device_load[1] - v.device_load[0]) * u_dev))
        edge_speed = b.edge_speed * (1.0 - (v.edge_load[0] + (v.edge_load[1] - v.edge_load[0]) * u_edge))

        if v.weight_choices:
            redraw = u_redraw < v.weight_redraw
            choice = np.asarray(v.weight_choices)[i_choice % len(v.weight_choices)]
            self._w = np.where(redraw, choice, self._w)
        weight = self._w.copy()

        lpj = b.layers_per_job
        ops = b.ops * np.repeat(work, lpj)
        bfac = np.repeat(work, lpj + 1)
        first = b.layer_offsets[:-1] + np.arange(nj)       # input boundary of each job
        bfac[first] = inp
        bits = b.bits * bfac
        off_jobs = ~self._on[b.job_device]
        if np.any(off_jobs):
            weight[off_jobs] = 0.0
            ops[np.repeat(off_jobs, lpj)] = 0.0
            bits[np.repeat(off_jobs, lpj + 1)] = 0.0

        parts = [rate_up, rate_down, dev_speed, edge_speed, ops, bits, weight]
        messages = v.scale_messages and b.n_edges > 0
        if messages:  # a DAG job's per-edge messages move with its work (module docstring)
            per_edge = np.diff(b.edge_offsets)
            msg = b.edge_bits * np.repeat(work, per_edge)
            msg[np.repeat(off_jobs, per_edge)] = 0.0
            parts.append(msg)
        q = quantize_parts(parts)
        extra = {"edge_bits": q[7]} if messages else {}
        frame = b.replace(
            dev_rate_up=q[0], dev_rate_down=q[1], dev_speed=q[2], edge_speed=float(q[3][0]),
            ops=q[4], bits=q[5], job_weight=q[6], name=f"{self.name}/{self.t}", **extra,
        )
        self.t += 1
        return frame

    @property
    def devices_on(self) -> np.ndarray:
        """Which devices are on in the last frame drawn (a copy)."""
        return self._on.copy()

    @property
    def gains(self) -> np.ndarray:
        """The fading state's power gains ``|h|^2`` (a copy; meaningful for ``"rayleigh"``)."""
        return np.abs(self._h) ** 2
