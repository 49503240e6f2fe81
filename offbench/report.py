"""A self-contained static HTML report of a results store (``offbench report``).

:func:`write_report` writes one file, ``DIR/index.html``, that opens in a browser from disk with
no server and nothing fetched: the provenance summary, a section per family and track with each
table (ranked as SPEC.md section 6 says, with its notes) and its figures embedded as base64 PNG
images, the aggregate performance profile, and the full provenance as JSON at the end. Every
text taken from the store is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from . import tracks
from .leaderboard import Leaderboard
from .leaderboard.render import display_cells, summary_lines

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .88em; }
th, td { padding: .25em .6em; border-bottom: 1px solid #e3e3e3; text-align: right;
         white-space: nowrap; }
th { background: #f4f4f4; } td.solver, th.solver { text-align: left; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
p.note { font-style: italic; color: #555; font-size: .9em; }
ul.prov { color: #444; font-size: .9em; } figure { display: inline-block; margin: .3em; }
img { max-width: 560px; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .8em; }
nav a { margin-right: 1em; }
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _table_html(t) -> str:
    cols = t.columns
    head = "".join(f'<th class="solver">{html.escape(c)}</th>' if c == "solver" else
                   f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for e in t.entries:
        cells = display_cells(t, e)
        body.append("<tr>" + "".join(
            f'<td class="solver">{html.escape(c)}</td>' if i == 0 else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(cells)) + "</tr>")
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in t.notes)
    return (f"<table><caption>{html.escape(t.title)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{notes}")


def _family_of(board: Leaderboard, source: str) -> str:
    for s in board.provenance.get("sources", []):
        if s["name"] == source:
            spec = s.get("spec") or {}
            fam = spec.get("family") or (str(spec.get("set", "")).split(":")[0] or None)
            if fam:
                return str(fam).split(":")[0]
            return f"{s['kind']} sources"
    return source


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "section"


def render_report(board: Leaderboard, *, figures: bool = True) -> str:
    """The report of a leaderboard as one HTML document (a string)."""
    from .plots import _stream_figures, _static_figures, aggregate_profile_figure

    sections: dict[tuple[str, str], list] = {}
    for t in board.tables:
        sections.setdefault((_family_of(board, t.source), t.track), []).append(t)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>offbench report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>offbench report</h1>",
           '<ul class="prov">' + "".join(f"<li>{html.escape(x)}</li>" for x in summary_lines(board))
           + "</ul>",
           "<nav>" + "".join(f'<a href="#{_slug(f + "-" + tr)}">{html.escape(f)} / '
                             f"{html.escape(tr)}</a>" for f, tr in sections)
           + '<a href="#provenance">provenance</a></nav>']
    for (fam, tr), tables in sections.items():
        track = tracks.get(tr)
        out.append(f'<section id="{_slug(fam + "-" + tr)}"><h2>{html.escape(fam)}, '
                   f"{html.escape(tr)} track</h2>")
        if track.doc:
            out.append(f"<p>{html.escape(track.doc)}</p>")
        for t in tables:
            out.append(_table_html(t))
            if figures:
                title = f"{t.source}, {t.track} track"
                drawers = (_stream_figures if track.stream else _static_figures)(t, title)
                for name in track.figures:
                    if name in drawers:
                        out.append(_img(drawers[name](), f"{name}: {title}"))
        out.append("</section>")
    if figures:
        agg = aggregate_profile_figure(board)
        if agg is not None:
            out.append('<section id="all-sources"><h2>All sources</h2>'
                       + _img(agg, "performance profile over all sources") + "</section>")
    prov = json.dumps(board.provenance, indent=1, sort_keys=True, allow_nan=False)
    out.append('<section id="provenance"><h2>Provenance</h2><p>Everything the tables were derived '
               "from: offbench version and commit, sources and their digests, seeds, solver "
               "parameters, machine, libraries, the run specs (<code>offbench leaderboard verify"
               "</code> re-runs them).</p>"
               f"<details><summary>full provenance (JSON)</summary><pre>{html.escape(prov)}</pre>"
               "</details></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(board: Leaderboard, out_dir, *, figures: bool = True) -> Path:
    """Write ``out_dir/index.html`` (whole or not at all); returns its path."""
    from .instance import atomic_write
    from .leaderboard import LeaderboardError
    from .plots import output_folder

    out = output_folder(out_dir, "--out")
    path = out / "index.html"
    text = render_report(board, figures=figures)
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as e:
        raise LeaderboardError(f"--out {out}: cannot write index.html ({e.strerror})") from None
    return path
