"""offbench report: a self-contained static HTML page, checked with an HTML parser."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest

from offbench.cli import main
from offbench.run import InProcessExecutor, parse_spec, run

FIXTURES = str(Path(__file__).parent / "fixtures_solvers")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.imgs, self.refs, self.sections = [], {}, [], [], []
        self.cells, self.text = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag not in ("img", "meta", "br", "link"):
            self.stack.append(tag)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])
        if tag == "section":
            self.sections.append(a.get("id"))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("td", "th"):
            self.cells.append(data)
        self.text.append(data)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("rep") / "r.sqlite"
    spec = {"name": "rep", "solvers_dirs": [FIXTURES], "time_limit": 5.0, "seeds": [0],
            "sources": [{"kind": "random", "name": "tiny <b>", "count": 3, "n_jobs": 2,
                         "layers": [1, 3]}],
            "solvers": ["fx-zero", {"id": "fx-random-best", "params": {"samples": 3}}]}
    run(parse_spec(spec), path, executor=InProcessExecutor())
    return path


def test_report_is_one_self_contained_valid_page(store, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", "--store", str(store), "--out", str(out)]) == 0
    assert "index.html" in capsys.readouterr().err
    page = _Page()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    page.close()
    assert page.stack == ["html"] or page.stack == []  # every element closed
    # nothing fetched: every image inline, every link an anchor in the page
    assert page.imgs and all(s.startswith("data:image/png;base64,") for s in page.imgs)
    for s in page.imgs:
        assert base64.b64decode(s.split(",", 1)[1])[:4] == b"\x89PNG"
    assert all(r.startswith("data:") or r.startswith("#") for r in page.refs)
    anchors = {r[1:] for r in page.refs if r.startswith("#")}
    assert anchors <= set(page.sections)
    # a section per family and track, the tables, the provenance
    assert "provenance" in page.sections and any("static" in (s or "") for s in page.sections)
    assert "gmean ratio" in page.cells and "fx-zero-v1" in page.cells
    text = "".join(page.text)
    assert "tiny <b>" in text  # escaped text from the store, never markup
    assert '"specs"' in text and "offbench_version" in text
    assert list(out.iterdir()) == [out / "index.html"]


def test_report_bad_input_is_one_message(tmp_path, capsys):
    assert main(["report", "--store", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "none.sqlite" in err
    assert not (tmp_path / "o" / "index.html").exists()


@pytest.mark.slow
def test_report_renders_in_a_headless_browser(store, tmp_path):
    """Chromium (a system package: ``apt-get install chromium``) opens the page from disk, with
    no network, lays out its tables and draws it (the README's results/report.png is made so)."""
    import shutil
    import subprocess

    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless Chromium on PATH (the system package chromium)")
    out = tmp_path / "rep"
    assert main(["report", "--store", str(store), "--out", str(out)]) == 0
    url = (out / "index.html").resolve().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    page = _Page()
    page.feed(dom)
    assert "gmean ratio" in page.cells and "fx-zero-v1" in page.cells and "provenance" in page.sections
    png = tmp_path / "shot.png"
    subprocess.run([*flags, "--window-size=1280,1400", f"--screenshot={png}", url],
                   capture_output=True, timeout=120)
    data = png.read_bytes()
    assert data[:4] == b"\x89PNG" and len(data) > 20_000  # a drawn page, not a blank one
