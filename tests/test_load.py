"""Load: 20 browser sessions at once on the Overview and the Latent map of a World Cup 2018
run of about 15,000 segments, each clicking a point (issue 10).

Each session opens the Overview, then the Latent map, waits for the map to draw, clicks a
point and waits for the inspector's pitch. The test asserts no session sees an error and
the server's memory grows by less than 200 MB; it prints p50/p95 of the times it measured
(they are reported, never asserted: speed is measured in ``bench/``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core.features.extract import extract_features
from core.infra.paths import datasets_root
from core.model.config import PreprocessConfig
from core.model.presets import batch_size_for, preset
from core.pipeline.execute import execute_run
from core.runs.store import Run, create_run
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, AppServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "statsbomb"
SESSIONS = 20
# 5-minute windows every 50 s give World Cup 2018 about 15,000 window segments.
WINDOW_S, STRIDE_S = 300.0, 50.0
RSS_LIMIT_MB = 200.0

# A point of the map (page coordinates) and its row: the point at a fixed rank of the first
# trace, found in O(n) (20 sessions share two cores; no pairwise search here).
_POINT_JS = """(rank) => {
  const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData || !gd._fullData.length) return null;
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  if (!xa || typeof xa.l2p !== 'function') return null;
  const tr = gd._fullData.find(t => t.visible === true && t.x && t.x.length && t.customdata);
  if (!tr) return null;
  const j = rank % tr.x.length;
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(tr.x[j]), y: box.top + ya._offset + ya.l2p(tr.y[j])};
}"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture(scope="module")
def world_cup_run() -> Run:
    if not (SHARED / "competitions.json").is_file():
        pytest.fail(f"{SHARED} is missing: the shared StatsBomb data is part of the checkout.")
    out = datasets_root() / "wc2018-load"
    if not (out / "features.parquet").is_file():
        extract_features(SHARED, out, competitions=[43], window_s=WINDOW_S, stride_s=STRIDE_S)
    prep = PreprocessConfig()
    from core.features.datasets import count_segments

    n = count_segments(out / "features.parquet", prep.segment_type)
    vae = preset("recommended", n_epochs=20)
    vae = preset("recommended", n_epochs=20, batch_size=batch_size_for(n, vae))
    run, _ = create_run(out / "features.parquet", vae, prep)
    if run.status().state != "done":
        execute_run(run.run_id)
    assert run.status().state == "done", run.status()
    return run


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def test_twenty_sessions_on_map_and_overview(app_server: AppServer, world_cup_run: Run) -> None:
    n_segments = world_cup_run.latents().height
    assert n_segments >= 14_000, n_segments
    query = f"?run={world_cup_run.run_id}"  # every page of every session opens this run
    pid = app_server.process.pid
    rss: dict[str, float] = {}
    # Its own thread and event loop: the suite's sync Playwright (the shared browser fixture)
    # keeps an event loop running in this thread, and asyncio.run refuses to nest in it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = pool.submit(
            asyncio.run, _load(app_server.url, query, SESSIONS, lambda: _rss_mb(pid), rss)
        ).result()
    rss_before, rss_after = rss["warm"], _rss_mb(pid)
    errors = [e for r in results for e in r["errors"]]
    assert not errors, errors
    growth = rss_after - rss_before
    report = {
        key: (round(statistics.median([r[key] for r in results]), 2), round(_p([r[key] for r in results], 95), 2))
        for key in ("overview_s", "map_s", "click_s")
    }  # fmt: skip
    print(
        f"\n{SESSIONS} sessions, {n_segments:,} segments: p50/p95 seconds {report}; "
        f"server RSS {rss_before:.0f} -> {rss_after:.0f} MB (+{growth:.0f})"
    )
    assert growth < RSS_LIMIT_MB, f"server RSS grew {growth:.0f} MB under load"


async def _load(
    url: str, query: str, n: int, rss: Callable[[], float], seen: dict[str, float]
) -> list[dict[str, Any]]:
    """One warm-up session (it fills the server's caches and imports; ``seen["warm"]`` is
    the server's RSS after it), then ``n`` sessions at once; their measurements."""
    from playwright.async_api import async_playwright

    async def session(browser: Any, rank: int) -> dict[str, Any]:
        return await _session(browser, url, query, rank)

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            await session(browser, 1)
            seen["warm"] = rss()
            return list(await asyncio.gather(*(session(browser, 97 * (i + 1)) for i in range(n))))
        finally:
            await browser.close()


async def _session(browser: Any, url: str, query: str, rank: int) -> dict[str, Any]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    try:
        t0 = time.monotonic()
        await page.goto(f"{url}/overview{query}", timeout=240_000)
        await page.locator('[data-testid="stMetric"]').first.wait_for(timeout=240_000)
        overview_s = time.monotonic() - t0
        t0 = time.monotonic()
        await page.goto(f"{url}/latent-map{query}", timeout=240_000)
        await page.locator(".st-key-latent_map .js-plotly-plot").wait_for(timeout=240_000)
        point = None
        while point is None and time.monotonic() - t0 < 240:
            point = await page.evaluate(_POINT_JS, rank)
            if point is None:
                await page.wait_for_timeout(200)
        assert point is not None, "the map never drew"
        map_s = time.monotonic() - t0
        t0 = time.monotonic()
        await page.mouse.click(point["x"], point["y"])
        await page.locator(".st-key-inspector_pitch .js-plotly-plot").wait_for(timeout=240_000)
        click_s = time.monotonic() - t0
        exceptions = await page.locator('[data-testid="stException"]').all_inner_texts()
        alerts = await page.locator('[data-testid="stAlert"]').all_inner_texts()
        unexpected = [t for t in alerts if "Unexpected error" in t]
        return {
            "overview_s": overview_s,
            "map_s": map_s,
            "click_s": click_s,
            "errors": errors + exceptions + unexpected,
        }
    finally:
        await context.close()
