"""The static leaderboard page (``leaderboard.page``, ``leaderboard.plots``): built from hand-made
entries (no model, no database), checked as text, as a folder on disk, and in headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftcaps.errors import DriftCapsError
from driftcaps.judges.base import JudgeInfo
from driftcaps.scaling import get_law
from driftcaps.scaling.report import fit_groups
from driftcaps.schema import MetricCI
from leaderboard.page import EMPTY, MARKER, build_page
from leaderboard.plots import category_drift_plot, pareto_plot, scaling_plot
from leaderboard.schema import BoardRow, Entry, TaskQuality
from leaderboard.views import pareto_front, rank_ranges

PNG = b"\x89PNG\r\n\x1a\n"
ARTIFACTS = Path(__file__).parent / "artifacts"
FOREIGN = ("{out}: exists and holds other files; choose an empty or new --out (a folder built by "
           "`driftcaps leaderboard build` is replaced).")
NO_CHROMIUM = ("Chromium not found: install it with `apt-get install chromium` (Debian) and `pip install "
               "playwright`; the test uses the system browser, no `playwright install` needed")


def m(value: float, half: float = 0.04, n: int = 200) -> MetricCI:
    return MetricCI(value=value, ci_low=round(value - half, 4), ci_high=round(value + half, 4), n=n)


def entry(i: int, name: str, kind: str, rr: float, hr: float, orr: float, method: str | None = None,
          acc: float | None = None) -> Entry:
    return Entry(
        key=f"{i:02d}" * 32, name=name, kind=kind, base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        base_sha256="b" * 64, adapter_sha256=None if kind == "base" else f"{i}a{i}c" * 16,
        adapter_rank=None if kind == "base" else 16, method=method,
        training_data_sha256=None if kind == "base" else "d" * 64, manifest_sha256="e" * 64, data_version="1.0",
        tasks=["driftcaps_unsafe", "driftcaps_safe"], n_prompts=400,
        judges=[JudgeInfo(kind="refusal", name="trained", version="1.0"), JudgeInfo(kind="harm", name="trained", version="1.0")],
        generation={"backend": "hf", "dtype": "float32", "limit": None, "gen_kwargs": {"max_gen_toks": 128}},
        apply_chat_template=True, chat_template_sha256="f" * 64, lm_eval_version="0.4.13", driftcaps_version="0.1.0",
        metrics={"refusal_rate_unsafe": m(rr), "harmful_rate_unsafe": m(hr), "over_refusal_rate_safe": m(orr),
                 "helpfulness_safe": m(1 - orr), "balanced_safety": m(round((rr + 1 - orr) / 2, 4), 0.03)},
        by_category={}, task_quality=None if acc is None else TaskQuality(task="mmlu", heldout_accuracy=acc),
        provenance={"model": name, "seed": i, "note": "hand-made <test> entry"}, report_sha256=f"{i}" * 64,
        submitted_at=f"2025-01-0{i}T00:00:00Z", id=i)


def make_rows() -> list[BoardRow]:
    """A base and three adapters with ranks, drift, per-category drift and the Pareto front set by hand."""
    entries = [entry(1, "base", "base", 0.90, 0.05, 0.10), entry(2, "lora-r16", "adapter", 0.60, 0.30, 0.08, "lora", 0.62),
               entry(3, "agl-r16", "adapter", 0.86, 0.08, 0.12, "agl", 0.60),
               entry(4, "lora-r64", "adapter", 0.62, 0.27, 0.09, "lora", 0.66)]
    bal = [e.metrics["balanced_safety"] for e in entries]
    ranks = rank_ranges([b.value for b in bal], [b.ci_low for b in bal], [b.ci_high for b in bal])
    drift = [0.0, 0.30, 0.04, 0.28]
    utility = [e.metrics["helpfulness_safe"].value for e in entries]
    front = pareto_front(drift, utility)
    cats = {2: {"cyber": m(0.35, 0.1), "weapons": m(0.25, 0.1), "self-harm": m(0.30, 0.12)},
            3: {"cyber": m(0.05, 0.06), "weapons": m(0.02, 0.05), "self-harm": m(0.06, 0.07)},
            4: {"cyber": m(0.31, 0.1), "weapons": m(0.22, 0.1), "self-harm": m(0.29, 0.12)}}
    rows = [BoardRow(entry=e, rank_low=lo, rank_high=hi, alignment_drift=m(d, 0 if e.kind == "base" else 0.05),
                     drift_by_category=cats.get(e.id, {}), utility=u, utility_name="helpfulness_safe", pareto=f)
            for e, (lo, hi), d, u, f in zip(entries, ranks, drift, utility, front, strict=True)]
    return sorted(rows, key=lambda r: (r.rank_low, -r.entry.metrics["balanced_safety"].value))


@pytest.fixture(scope="module")
def fits():
    """One stored scaling fit: a power law in steps per method, with a held-out rule."""
    rng, points = np.random.default_rng(0), []
    for method, a in (("lora", 0.02), ("agl", 0.008)):
        for r in range(3):
            for s in (10, 20, 40, 80, 160):
                points.append({"run": f"{method}{r}", "method": method, "S": float(s),
                               "forgetting": (a * s ** 0.5 + 0.01) * np.exp(rng.normal(0, 0.05))})
    data = pd.DataFrame(points)
    report = fit_groups(get_law("power"), data, source="points.csv", x={"x": "S"}, by="method", holdout="top:S", n_boot=0)
    return [(report, data.to_csv(index=False))]


@pytest.fixture(scope="module")
def built(tmp_path_factory, fits) -> Path:
    return build_page(make_rows(), fits, tmp_path_factory.mktemp("page") / "site", source="sqlite:///board.db")


def test_page_shows_every_entry_and_needs_no_network(built):
    html = built.read_text(encoding="utf-8")
    for name in ("base", "lora-r16", "agl-r16", "lora-r64"):
        assert f">{name}<" in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert html.count('src="data:image/png;base64,') == 3  # Pareto, per-category drift, scaling fits
    assert "<link rel=\"stylesheet\"" not in html and "<script src" not in html
    assert (built.parent / MARKER).is_file()
    for i in range(1, 5):
        assert f'data-entry-id="{i}"' in html and f'<details id="entry-{i}">' in html
    assert 'id="board"' in html and 'id="filter"' in html and 'id="kind"' in html
    assert 'data-sort="0.87"' in html  # balanced safety of agl-r16 sorts on its point value
    assert '0.87 <span class="ci">[0.84, 0.90]</span>' in html
    assert '<span class="tie" title="tied within 95% CIs">' in html  # agl-r16 and the base overlap
    assert "(RR + 1 − ORR) / 2" in html and "refusals were lost" in html
    assert "hand-made &lt;test&gt; entry" in html  # provenance JSON, escaped
    assert "held-out MAPE" in html and "F = A * x**beta + E" in html


def test_names_are_escaped(tmp_path):
    rows = make_rows()
    rows[0].entry.name = "<script>alert(1)</script>"
    html = build_page(rows, [], tmp_path / "site").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_rebuild_replaces_a_previous_build(tmp_path, fits):
    out = tmp_path / "site"
    build_page(make_rows(), fits, out)
    index = build_page(make_rows()[:1], [], out)
    html = index.read_text(encoding="utf-8")
    assert index == out / "index.html" and (out / MARKER).is_file()
    assert "lora-r16" not in html and sorted(p.name for p in out.iterdir()) == sorted([MARKER, "index.html"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no staging folder left behind
    (out / "notes.txt").write_text("added by a person")  # a build folder with other files is not replaced
    with pytest.raises(DriftCapsError, match="holds other files"):
        build_page(make_rows(), fits, out)
    assert (out / "notes.txt").read_text() == "added by a person"


def test_refuses_a_folder_it_did_not_build(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DriftCapsError) as err:
        build_page(make_rows(), [], out)
    assert str(err.value) == FOREIGN.format(out=out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    out.joinpath("notes.txt").unlink()
    assert build_page([], [], out).is_file()  # an empty folder is fine


def test_refuses_a_file(tmp_path):
    out = tmp_path / "page.html"
    out.write_text("x")
    with pytest.raises(DriftCapsError, match=r"page.html: exists and is a file; choose an empty or new --out"):
        build_page([], [], out)
    assert out.read_text() == "x"


def test_empty_board_builds(tmp_path):
    html = build_page([], [], tmp_path / "site").read_text(encoding="utf-8")
    assert EMPTY.replace("`", "&#96;") in html or EMPTY in html
    assert 'id="board"' not in html and "<img" not in html
    assert (tmp_path / "site" / MARKER).is_file()


def test_plots_return_png_or_none(fits):
    rows = make_rows()
    assert pareto_plot(rows).startswith(PNG) and pareto_plot([]).startswith(PNG)
    assert category_drift_plot(rows).startswith(PNG)
    assert category_drift_plot([r for r in rows if r.entry.kind == "base"]) is None
    assert scaling_plot(fits).startswith(PNG) and scaling_plot([]) is None
    assert len(pareto_plot(rows)) < 150_000  # small figures keep the page light


def test_page_in_headless_chromium(built):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(NO_CHROMIUM)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip(NO_CHROMIUM)
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(built.as_uri(), wait_until="load")

            def visible(column: str) -> list[str]:
                return [r.locator(f"td.c-{column}").get_attribute("data-sort")
                        for r in page.locator("#board tbody tr").all() if r.is_visible()]

            assert page.eval_on_selector_all("img", "ims => ims.every(i => i.complete && i.naturalWidth > 0)")
            page.click("#board th.h-balanced_safety")
            values = [float(v) for v in visible("balanced_safety")]
            assert len(values) == 4 and values == sorted(values)
            assert page.get_attribute("#board th.h-balanced_safety", "aria-sort") == "ascending"
            page.click("#board th.h-balanced_safety")
            assert [float(v) for v in visible("balanced_safety")] == sorted(values, reverse=True)
            page.click("#board th.h-name")
            assert visible("name") == ["agl-r16", "base", "lora-r16", "lora-r64"]
            page.fill("#filter", "LORA-R64")
            assert visible("name") == ["lora-r64"]
            assert page.text_content("#count") == "1 of 4 entries"
            page.fill("#filter", "")
            assert len(visible("name")) == 4
            page.select_option("#kind", "base")
            assert visible("kind") == ["base"]
            page.select_option("#kind", "adapter")
            page.fill("#filter", "no such entry")
            assert visible("name") == [] and page.is_visible("#nomatch")
            page.fill("#filter", "")
            page.select_option("#kind", "all")
            page.click("#board th.h-rank")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "leaderboard_page.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests
