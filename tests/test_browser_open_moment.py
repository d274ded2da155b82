"""Pages that lead somewhere (issue 24), in a real browser: a moment opened on the Team
report lands on the Latent map with its pitch in view and its point ringed; a States row
opens its state's typical segment; ``/overview?run=`` is the Overview, not "Page not found".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.conftest import GRID_CELL_BOUNDS_JS

if TYPE_CHECKING:
    from core.runs.store import Run
    from tests.conftest import AppPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The pitch's box against the window: in view when it overlaps the viewport vertically.
_IN_VIEW_JS = """() => {
  const el = document.querySelector('.st-key-inspector_pitch');
  if (!el) return null;
  const box = el.getBoundingClientRect();
  return {top: box.top, bottom: box.bottom, height: window.innerHeight,
          inView: box.bottom > 0 && box.top < window.innerHeight};
}"""
# The map's ring of the opened segment (its trace and the row it carries).
_RING_JS = """() => {
  const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  if (!gd || !gd.data) return null;
  const ring = (gd._fullData || gd.data).find(t => t.name === 'inspected segment');
  return ring ? Array.from(ring.customdata).map(Number) : null;
}"""


def _pitch_in_view(app_page: AppPage) -> dict[str, float]:
    page = app_page.page
    page.wait_for_url(re.compile(r"/latent-map"), timeout=30_000)
    app_page.wait_until_idle()
    page.locator(".st-key-inspector_pitch .js-plotly-plot").wait_for(timeout=30_000)
    box = None
    for _ in range(100):  # the page scrolls once the pitch is drawn
        box = page.evaluate(_IN_VIEW_JS)
        if box and box["inView"]:
            break
        page.wait_for_timeout(100)
    assert box and box["inView"], f"the pitch is not in view: {box}"
    return box


def test_overview_link_with_a_run_is_the_overview(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"overview?run={demo_run.run_id}")
    page = app_page.page
    page.get_by_role("heading", name="Tactical states").first.wait_for(timeout=30_000)
    assert page.get_by_text("Page not found").count() == 0
    assert demo_run.run_id in page.locator('[data-testid="stMain"]').inner_text()
    app_page.assert_healthy()


def test_a_report_moment_opens_with_its_pitch_in_view(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"report?run={demo_run.run_id}")
    page = app_page.page
    button = page.locator(".st-key-report_typical_0 button").first
    button.wait_for(timeout=60_000)
    button.scroll_into_view_if_needed()
    button.click()
    box = _pitch_in_view(app_page)
    assert box["top"] > -box["height"]
    # Not the top of the page: the map's title has scrolled away, the point is ringed.
    assert page.evaluate("() => window.scrollY || document.scrollingElement.scrollTop") > 0 or (
        page.evaluate(
            "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
            " return m ? m.scrollTop : 0; }"
        )
        > 0
    )
    ring = page.evaluate(_RING_JS)
    assert ring is not None and len(ring) == 1, f"no ringed segment on the map: {ring}"
    page.get_by_role("button", name="Close inspector").wait_for(timeout=10_000)
    app_page.assert_healthy()


def test_a_states_row_opens_its_typical_segment(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"states?run={demo_run.run_id}")
    page = app_page.page
    # The page opens on the states table (its first tab).
    grid = page.locator(".st-key-states_table [data-testid='stDataFrame']").first
    grid.wait_for(timeout=60_000)
    bounds = None
    for _ in range(50):
        bounds = grid.evaluate(GRID_CELL_BOUNDS_JS, [0, 0])
        if bounds and bounds["width"] > 0:
            break
        page.wait_for_timeout(100)
    assert bounds, "the states table did not render"
    page.mouse.click(bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)
    _pitch_in_view(app_page)
    app_page.assert_healthy()
