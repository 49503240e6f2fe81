"""``offbench profile MODEL``: per-layer MACs and output sizes of a built-in DNN.

Reads the table shipped with offbench, so torch is not needed; ``--from-torch`` profiles the
model live instead. ``--json`` prints one object for programs::

    {"model", "convention", "total_macs", "input_bits",
     "layers": [{"name", "macs", "output_bits"}, ...]}
"""

from __future__ import annotations

from ..errors import UserError


def add_parser(sub):
    from ..profiles import DEFAULT_BITS_PER_ELEMENT, GRANULARITIES, builtin_models

    p = sub.add_parser(
        "profile", help="per-layer MACs and output sizes of a built-in DNN",
        description="Print a built-in DNN as a chain of units: the multiply-accumulates (MACs) of "
                    "each and the bits that cross a cut after it (FLOPs = 2 * MACs; instance "
                    f"ops are FLOPs). Built-in models: {', '.join(builtin_models())}.",
    )
    p.add_argument("model", metavar="MODEL", help="a built-in model, e.g. resnet18")
    p.add_argument("--granularity", choices=GRANULARITIES, default="block",
                   help="block: a residual block is one unit; layer: residual blocks are opened "
                        "into their layers (default: %(default)s)")
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
    from ..profiles import get_profile

    try:
        profile = get_profile(args.model, args.granularity, bits_per_element=args.bits_per_element,
                              live=args.from_torch)
    except ImportError as exc:
        raise UserError(f"--from-torch: {exc}") from None
    if args.json:
        from ._util import print_json

        print_json(profile.to_dict())
    else:
        print(format_profile(profile))
    return 0


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
    rows = [("", "input", "", "", f"{profile.input_bits:,}")]
    for index, unit in enumerate(profile.layers, 1):
        share = f"{100 * unit.macs / total:.1f}%" if total else "-"
        rows.append((str(index), unit.name, f"{unit.macs:,}", share, f"{unit.output_bits:,}"))
    rows.append(("", "total", f"{total:,}", "100.0%" if total else "-", ""))
    header = ("#", "unit", "MACs", "share", "output bits")
    widths = [max(len(row[col]) for row in (header, *rows)) for col in range(len(header))]

    def line(row) -> str:
        number, name, macs, share, bits = row
        return (f"{number:>{widths[0]}}  {name:<{widths[1]}}  {macs:>{widths[2]}}  "
                f"{share:>{widths[3]}}  {bits:>{widths[4]}}").rstrip()

    shape = "x".join(map(str, profile.input_shape))
    return "\n".join([
        f"{profile.model}: {len(profile.layers)} units at {profile.granularity} granularity, "
        f"input {shape}, {profile.bits_per_element} bits per element",
        f"{CONVENTION}; {total / 1e9:.3f} GMAC in all",
        "",
        line(header),
        *(line(row) for row in rows),
    ])
