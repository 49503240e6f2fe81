"""``offbench profile MODEL``: per-layer MACs and output sizes of a built-in DNN.

Reads the tables shipped with offbench, so torch is not needed; ``--from-torch`` profiles the
model live instead. ``--json`` prints one object for programs::

    {"model", "convention", "total_macs", "input_bits",
     "layers": [{"name", "macs", "output_bits"}, ...]}

``--dag`` prints the model as a DAG of layers (:mod:`offbench.dag_profiles`: ResNet-18,
MobileNetV2, GoogLeNet, ViT-B/16, ViT-Ti/16), with ``--json``::

    {"model", "convention", "total_macs", "input_shape", "bits_per_element", "input_bits",
     "nodes": [{"id", "name", "macs", "output_bits", "ops"}, ...], "edges": [[u, v], ...]}

(``id`` and ``edges`` 1-based, as in a version-2 instance file).
"""

from __future__ import annotations

from ..errors import UserError


def add_parser(sub):
    from ..dag_profiles import dag_models
    from ..profiles import DEFAULT_BITS_PER_ELEMENT, GRANULARITIES, builtin_models

    p = sub.add_parser(
        "profile", help="per-layer MACs and output sizes of a built-in DNN",
        description="Print a built-in DNN as a chain of units: the multiply-accumulates (MACs) of "
                    "each and the bits that cross a cut after it (FLOPs = 2 * MACs; instance "
                    f"ops are FLOPs). Built-in models: {', '.join(builtin_models())}. With --dag, "
                    "as a DAG of layers traced with torch.fx: nodes, edges and output sizes; "
                    f"DAG models: {', '.join(dag_models())}.",
    )
    p.add_argument("model", metavar="MODEL", help="a built-in model, e.g. resnet18")
    p.add_argument("--dag", action="store_true",
                   help="the model as a DAG of layers (skip connections, branches, attention) "
                        "instead of a chain")
    p.add_argument("--granularity", choices=GRANULARITIES, default=None,
                   help="block: a residual block is one unit; layer: residual blocks are opened "
                        "into their layers (default: block; chains only: a DAG is per layer)")
    p.add_argument("--bits-per-element", type=_bits_per_element, default=DEFAULT_BITS_PER_ELEMENT,
                   metavar="N", help="bits per tensor element sent at a cut "
                                     "(default: %(default)s, float32)")
    p.add_argument("--json", action="store_true", help="print one JSON object for programs")
    p.add_argument("--from-torch", action="store_true",
                   help="profile the model live with torch instead of reading the shipped table")
    p.set_defaults(func=run)
    return p


#: The widest tensor element a cut can send (bits): far above any numeric type in use.
MAX_BITS_PER_ELEMENT = 1024


def _bits_per_element(text: str) -> int:
    shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text):,} characters)"
    what = f"--bits-per-element: expected an integer in [1, {MAX_BITS_PER_ELEMENT}], got {shown!r}"
    try:
        value = int(text) if len(text) <= 40 else 0
    except ValueError:
        raise UserError(what) from None
    if not 1 <= value <= MAX_BITS_PER_ELEMENT:
        raise UserError(what)
    return value


def run(args) -> int:
    from ..dag_profiles import dag_models, resolve_dag_model
    from ..profiles import get_profile

    if args.dag:
        return _run_dag(args)
    profile = _load(
        lambda: get_profile(args.model, args.granularity or "block",
                            bits_per_element=args.bits_per_element, live=args.from_torch),
        args.model, resolve_dag_model,
        lambda model: f"{model} is profiled as a DAG only: offbench profile {model} --dag "
                      f"(DAG models: {', '.join(dag_models())})")
    return _print(args, profile, format_profile)


def _run_dag(args) -> int:
    from ..dag_profiles import get_dag_profile
    from ..profiles import resolve_model_name

    if args.granularity is not None:
        raise UserError("--granularity applies to chains; a DAG profile (--dag) is per layer")
    profile = _load(
        lambda: get_dag_profile(args.model, bits_per_element=args.bits_per_element,
                                live=args.from_torch),
        args.model, resolve_model_name,
        lambda model: f"{model} has no branches and is profiled as a chain only: offbench "
                      f"profile {model}")
    return _print(args, profile, format_dag_profile)


def _load(load, name: str, resolve_other, redirect):
    """``load()``, with its errors for the user: torch missing (``--from-torch``), or ``name``
    unknown; when ``resolve_other`` knows ``name`` (a model of the other kind, chain or DAG),
    the message is ``redirect(model)``, else the unknown-model error itself."""
    from ..profiles import UnknownModelError

    try:
        return load()
    except ImportError as exc:
        raise UserError(f"--from-torch: {exc}") from None
    except UnknownModelError as exc:
        try:
            model = resolve_other(name)
        except UnknownModelError:
            raise exc from None
        raise UserError(redirect(model)) from None


def _print(args, profile, format_text) -> int:
    if args.json:
        from ._util import print_json

        print_json(profile.to_dict())
    else:
        print(format_text(profile))
    return 0


def _table(heading: list[str], units, input_bits: int, total: int,
           reads: list[str] | None = None) -> str:
    """The heading lines, then a table: the input, one row per unit (number, name, MACs, share
    of ``total``, output bits[, ``reads[k]``]) and the total."""
    extra = () if reads is None else ("",)
    rows = [("", "input", "", "", f"{input_bits:,}", *extra)]
    for index, unit in enumerate(units):
        share = f"{100 * unit.macs / total:.1f}%" if total else "-"
        rows.append((str(index + 1), unit.name, f"{unit.macs:,}", share, f"{unit.output_bits:,}",
                     *(() if reads is None else (reads[index],))))
    rows.append(("", "total", f"{total:,}", "100.0%" if total else "-", "", *extra))
    header = ("#", "unit" if reads is None else "node", "MACs", "share", "output bits",
              *(() if reads is None else ("reads",)))
    aligns = ">", "<", ">", ">", ">", "<"
    widths = [max(len(row[col]) for row in (header, *rows)) for col in range(len(header))]

    def line(row) -> str:
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, aligns, widths)).rstrip()

    return "\n".join([*heading, "", line(header), *(line(row) for row in rows)])


def format_profile(profile) -> str:
    """The profile as a table for people.

    Parameters
    ----------
    profile : offbench.profiles.Profile

    Returns
    -------
    str
        A heading, the convention, one row per unit (MACs, share of the total, output bits), and
        the total.
    """
    from ..profiles import CONVENTION

    total = profile.total_macs
    shape = "x".join(map(str, profile.input_shape))
    return _table([
        f"{profile.model}: {len(profile.layers)} units at {profile.granularity} granularity, "
        f"input {shape}, {profile.bits_per_element} bits per element",
        f"{CONVENTION}; {total / 1e9:.3f} GMAC in all",
    ], profile.layers, profile.input_bits, total)


def format_dag_profile(profile) -> str:
    """A DAG profile as a table for people: one row per node with the nodes it reads.

    Parameters
    ----------
    profile : offbench.dag_profiles.DagProfile

    Returns
    -------
    str
        A heading, the convention, one row per node (MACs, share, output bits, inputs: the
        numbers of the nodes it reads, or ``input``), and the total.
    """
    from ..dag_profiles import DAG_CONVENTION

    total = profile.total_macs
    reads: dict[int, list[str]] = {v: [] for v in range(profile.n_nodes)}
    for u, v in profile.edges:
        reads[v].append(str(u + 1))
    for v in profile.entries:
        reads[v].append("input")
    shape = "x".join(map(str, profile.input_shape))
    return _table([
        f"{profile.model}: a DAG of {profile.n_nodes} nodes and {len(profile.edges)} edges, "
        f"input {shape}, {profile.bits_per_element} bits per element",
        f"{DAG_CONVENTION}; {total / 1e9:.3f} GMAC in all; exits return to the device",
    ], profile.nodes, profile.input_bits, total,
        [",".join(reads[v]) for v in range(profile.n_nodes)])
