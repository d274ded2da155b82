"""The dashboard in a real browser: live training, map clicks, sorting, URL state.

Every page opening cleanly is the browser sweep's (``test_browser_sweep.py``)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.jobs.api import cancel_job, list_jobs
from core.runs.store import Run
from tests.conftest import GRID_CELL_BOUNDS_JS, AppPage

# Each test drives the served app over the trained demo run for several seconds: the quick
# loop (-m "not slow") keeps only the home page's browser test (the sweep's).
pytestmark = [pytest.mark.browser, pytest.mark.slow]

TURKEY_ITALY = 3788741

# Pixel position (page coordinates) of a real data point of the latent map, computed with
# plotly's own axis transforms (``l2p`` plus the axis offset in the graph div, plus the div's
# place on the page), and that point's segment row (its customdata). The point taken is the
# one farthest from any other, so a click there can only hit it (``gap``: that distance).
_MAP_POINT_JS = """() => {
  const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData || !gd._fullData.length) return null;
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  if (!xa || !ya || typeof xa.l2p !== 'function') return null;
  const pts = [];
  for (const tr of gd._fullData) {
    if (tr.visible !== true || !tr.x || !tr.customdata) continue;
    for (let j = 0; j < tr.x.length; j++) {
      pts.push({
        px: xa._offset + xa.l2p(tr.x[j]),
        py: ya._offset + ya.l2p(tr.y[j]),
        row: Number(tr.customdata[j]),
      });
    }
  }
  if (pts.length < 2) return null;
  let best = null, bestGap = -1;
  for (const p of pts) {
    let gap = Infinity;
    for (const q of pts) {
      if (q !== p) gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py));
    }
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  const box = gd.getBoundingClientRect();
  return {
    x: box.left + best.px,
    y: box.top + best.py,
    row: best.row,
    gap: bestGap,
    inside: best.px >= xa._offset && best.px <= xa._offset + xa._length
      && best.py >= ya._offset && best.py <= ya._offset + ya._length,
  };
}"""


_LOSS_POINTS_JS = """() => {
  const gd = document.querySelector('.st-key-loss_curves .js-plotly-plot');
  return gd && gd.data && gd.data.length ? gd.data[0].y.length : 0;
}"""


def _select_run(app_page: AppPage, run: Run, path: str) -> None:
    app_page.goto(f"{path}?run={run.run_id}")
    app_page.assert_healthy()


def _main_text(app_page: AppPage) -> str:
    return app_page.page.locator('[data-testid="stMain"]').inner_text()


def test_training_curves_grow_while_the_job_runs(app_page: AppPage) -> None:
    app_page.goto("train")
    page = app_page.page
    # A small model with many short epochs: it runs for minutes (the test cancels it once
    # growth is seen), so a loaded machine cannot finish it before the chart is polled.
    for _ in range(6):  # latent dimensions 8 -> 2
        page.locator(".st-key-train_latent input[type=range]").press("ArrowLeft")
    for _ in range(5):  # batch size 512 -> 16
        page.locator(".st-key-train_batch input[type=range]").press("ArrowLeft")
    page.locator(".st-key-train_hidden input").fill("16")
    page.locator(".st-key-train_epochs input").fill("2000")
    page.locator(".st-key-train_seed input").fill("20261126")
    page.locator(".st-key-train_seed input").press("Tab")
    page.get_by_role("button", name="Start training").click()
    app_page.wait_until_idle()
    assert "Started training run" in _main_text(app_page), _main_text(app_page)[:500]

    counts: list[int] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        n = int(page.evaluate(_LOSS_POINTS_JS) or 0)
        running = " running " in f" {_main_text(app_page)} "
        if running and n and (not counts or n > counts[-1]):
            counts.append(n)
        if len(counts) >= 3:
            break
        page.wait_for_timeout(300)
    # Stop the job: the growth has been seen and the machine is shared.
    for job in list_jobs("train"):
        if job.is_active:
            cancel_job(job.job_id)
    assert len(counts) >= 3, f"loss chart point counts seen while running: {counts}"
    assert counts == sorted(counts)
    app_page.assert_healthy()


def test_clicking_a_map_point_opens_its_segment(
    app_page: AppPage, demo_run: Run, demo_dataset: Path
) -> None:
    _select_run(app_page, demo_run, "latent-map")
    page = app_page.page
    page.locator(".st-key-latent_map .js-plotly-plot").wait_for()
    point = None
    for _ in range(50):  # the figure renders a moment after the script finished
        point = page.evaluate(_MAP_POINT_JS)
        if point:
            break
        page.wait_for_timeout(200)
    assert point, "the latent map did not render"
    assert point["inside"], point
    assert point["gap"] >= 7, f"no point stands apart enough to click unambiguously: {point}"
    page.mouse.click(point["x"], point["y"])
    app_page.wait_until_idle()
    app_page.assert_healthy()

    seg = demo_run.latents().row(int(point["row"]), named=True)
    matches = pl.read_parquet(demo_dataset / "matches.parquet")
    label = matches.filter(pl.col("match_id") == seg["match_id"])["label"].item()
    start = seg["match_minute"]
    end = start + (seg["end_time"] - seg["start_time"]) / 60
    text = _main_text(app_page)
    assert label in text
    assert f"{int(start)}'–{int(end)}'" in text
    assert page.locator(".st-key-inspector_pitch .js-plotly-plot").count() == 1
    assert seg["segment_id"] in text  # the inspector's headline names the segment
    # The nearest segment (Euclidean in latent space) is one click away, and opens.
    latents = demo_run.latents()
    z = latents.select(demo_run.latent_columns()).to_numpy().astype(np.float64)
    distance = np.linalg.norm(z - z[int(point["row"])], axis=1)
    distance[int(point["row"])] = np.inf
    nearest = latents["segment_id"][int(np.argmin(distance))]
    assert nearest not in text
    page.locator(".st-key-nearest_1 button").click()
    app_page.wait_until_idle()
    text = _main_text(app_page)
    assert nearest in text and seg["segment_id"] not in text


def _column(app_page: AppPage, name: str) -> list[str]:
    grid = app_page.page.locator('[data-testid="stDataFrame"]').first
    heads = grid.locator("[role=columnheader]").all_inner_texts()
    i = [name in h for h in heads].index(True)
    cells: list[str] = grid.locator("[role=row]").evaluate_all(
        f"rows => rows.slice(1).map(r => r.children[{i}] ? r.children[{i}].innerText : '')"
    )
    return [c for c in cells if c]


def _click_header(app_page: AppPage, name: str) -> None:
    """Click the middle of column ``name``'s header, placed by the grid itself."""
    grid = app_page.page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    # The grid's accessible twin names each header (after a sort arrow once sorted) with
    # its column index (1-based).
    pairs = grid.locator("[role=columnheader]").evaluate_all(
        "hs => hs.map(h => [h.textContent.trim(), h.getAttribute('aria-colindex')])"
    )
    heads = {re.sub(r"^[↑↓]\s*", "", text): index for text, index in pairs}
    assert name in heads, f"no header {name!r} in {list(heads)}"
    bounds = grid.evaluate(GRID_CELL_BOUNDS_JS, [int(heads[name]) - 1, -1])
    assert bounds and bounds["width"] > 0 and bounds["height"] > 0, bounds
    app_page.page.mouse.click(bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)


def _abs_r_when(app_page: AppPage, ok: Callable[[list[float]], bool], what: str) -> list[float]:
    """The abs_r column as soon as ``ok`` holds for it (the grid re-sorts a moment later)."""
    deadline = time.monotonic() + 10
    values: list[float] = []
    while time.monotonic() < deadline:
        values = [float(v) for v in _column(app_page, "abs_r")]
        if ok(values):
            return values
        app_page.page.wait_for_timeout(100)
    raise AssertionError(f"abs_r column never {what}: {values}")


def test_sorting_the_interpretation_table_by_abs_r(app_page: AppPage, demo_run: Run) -> None:
    _select_run(app_page, demo_run, "interpretation")
    grid = app_page.page.locator('[data-testid="stDataFrame"]').first
    grid.locator("[role=columnheader]", has_text="abs_r").wait_for(state="attached")
    before = [float(v) for v in _column(app_page, "abs_r")]
    assert before and before != sorted(before), "already sorted: the test would prove nothing"
    _click_header(app_page, "abs_r")
    ascending = _abs_r_when(app_page, lambda v: v != before and v == sorted(v), "sorted ascending")
    _click_header(app_page, "abs_r")
    descending = _abs_r_when(
        app_page, lambda v: v == sorted(v, reverse=True) and v != ascending, "sorted descending"
    )
    # The table lists the distinct dimensions (the sidebar toggle shows the others).
    shown = demo_run.interpretation().filter(
        pl.col("latent_dim").is_in(demo_run.dim_quality().distinct)
    )
    assert len(before) == shown.height
    assert descending[0] == pytest.approx(shown["abs_r"].max(), abs=1e-3)
    app_page.assert_healthy()


def test_filtered_view_survives_a_reload(app_page: AppPage, demo_run: Run) -> None:
    _select_run(app_page, demo_run, "latent-map")
    page = app_page.page
    total = demo_run.latents().height
    # Pick a match in the sidebar's Match filter.
    label = next(
        lab
        for lab in pl.read_parquet(demo_run.config().features_path.parent / "matches.parquet")[
            "label"
        ]
        if lab.startswith("Turkey")
    )
    page.locator(".st-key-filter_matches").click()
    page.get_by_role("option", name=label).click()
    page.keyboard.press("Escape")
    app_page.wait_until_idle()
    assert re.search(rf"[?&]match={TURKEY_ITALY}\b", page.url), page.url
    n_match = demo_run.latents().filter(pl.col("match_id") == TURKEY_ITALY).height
    shown = f"Showing {n_match:,} of {total:,} segments"
    assert shown in _main_text(app_page)

    page.reload()
    app_page.wait_until_idle()
    app_page.assert_healthy()
    assert shown in _main_text(app_page)
    assert page.locator(".st-key-filter_matches").get_by_text("Turkey").count() >= 1
    assert re.search(rf"[?&]match={TURKEY_ITALY}\b", page.url), page.url


def test_box_selection_compares_segments_and_exports_them(app_page: AppPage, demo_run: Run) -> None:
    _select_run(app_page, demo_run, "latent-map")
    page = app_page.page
    plot = page.locator(".st-key-latent_map .js-plotly-plot")
    plot.wait_for()
    plot.hover()
    page.locator('.st-key-latent_map .modebar-btn[data-title="Box Select"]').click()
    area = page.evaluate(
        """() => { const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
        const fl = gd._fullLayout, b = gd.getBoundingClientRect();
        return {x: b.left + fl.xaxis._offset, y: b.top + fl.yaxis._offset,
                w: fl.xaxis._length, h: fl.yaxis._length}; }"""
    )
    # The left half of the plot: some segments in, some out, so the two groups compare.
    page.mouse.move(area["x"] + 2, area["y"] + 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["w"] * 0.5, area["y"] + area["h"] - 2, steps=10)
    page.mouse.up()
    app_page.wait_until_idle()
    app_page.assert_healthy()
    found = re.search(r"Selection: ([\d,]+) segments", _main_text(app_page))
    assert found, "the selection summary did not appear"
    n = int(found.group(1).replace(",", ""))
    assert 0 < n < demo_run.latents().height
    assert page.locator(".st-key-dl_selection button").count() == 1
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
