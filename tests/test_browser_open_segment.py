"""Everything clickable leads to the pitch (issue 15): a state, a timeline bar, a fingerprint
row and a similar-segment row each open the segment inspector of the Latent map, in a real
browser."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.conftest import GRID_CELL_BOUNDS_JS

if TYPE_CHECKING:
    from core.runs.store import Run
    from tests.conftest import AppPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _select_first_row(app_page: AppPage, key: str) -> None:
    """Tick the row-selection box of the first row of the dataframe with ``key``."""
    grid = app_page.page.locator(f".st-key-{key} [data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    bounds = None
    for _ in range(50):
        bounds = grid.evaluate(GRID_CELL_BOUNDS_JS, [0, 0])
        if bounds and bounds["width"] > 0:
            break
        app_page.page.wait_for_timeout(100)
    assert bounds, "the grid did not render"
    # The selection column sits at index 0 when rows can be selected.
    app_page.page.mouse.click(bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)
    app_page.wait_until_idle()


def _assert_inspector(app_page: AppPage) -> None:
    page = app_page.page
    page.wait_for_url(re.compile(r"/latent-map"), timeout=30_000)
    app_page.wait_until_idle()
    page.get_by_role("button", name="Close inspector").wait_for(timeout=30_000)
    assert page.locator(".st-key-inspector_pitch .js-plotly-plot").count() == 1
    app_page.assert_healthy()


def test_fingerprint_row_opens_the_inspector(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"teams?run={demo_run.run_id}")
    _select_first_row(app_page, "teams_table")
    button = app_page.page.get_by_role("button", name=re.compile("most typical segment"))
    button.wait_for(timeout=30_000)
    button.click()
    _assert_inspector(app_page)


def test_similar_segment_row_opens_the_inspector(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"teams?run={demo_run.run_id}")
    app_page.page.get_by_role("tab", name="Similar segments").click()
    _select_first_row(app_page, "teams_similar_table")
    button = app_page.page.get_by_role("button", name="Open the selected segment on the pitch")
    button.wait_for(timeout=30_000)
    button.click()
    _assert_inspector(app_page)


def test_timeline_bar_opens_the_inspector(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"timeline?run={demo_run.run_id}")
    bar = app_page.page.locator(".st-key-timeline_chart .barlayer .point").nth(3)
    bar.wait_for(timeout=30_000)
    box = bar.bounding_box()
    assert box, "the timeline bar has no box"
    # Plotly's drag layer sits above the bars: click the spot, as a user does.
    app_page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    app_page.wait_until_idle()
    button = app_page.page.get_by_role(
        "button", name=re.compile(r"Open the window .* on the pitch")
    )
    button.wait_for(timeout=30_000)
    button.click()
    _assert_inspector(app_page)


def test_state_opens_its_most_typical_segment(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"states?run={demo_run.run_id}")
    app_page.page.get_by_role("tab", name="States and profiles").click()
    button = app_page.page.get_by_role(
        "button", name="Open the segment most typical of this state on the pitch"
    )
    button.wait_for(timeout=30_000)
    button.click()
    _assert_inspector(app_page)


# The map's plot area in page coordinates (plotly's axes: offsets and lengths in pixels).
_PLOT_AREA_JS = """() => {
  const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset, y: box.top + ya._offset, w: xa._length, h: ya._length};
}"""


def test_contrast_row_of_a_box_selection_opens_an_example(app_page: AppPage, demo_run: Run) -> None:
    """Box-select most of the map, tick the contrast table's first row (its largest
    difference), and open a selected segment that shows it on the pitch."""
    app_page.goto(f"latent-map?run={demo_run.run_id}")
    page = app_page.page
    plot = page.locator(".st-key-latent_map .js-plotly-plot")
    plot.wait_for(timeout=30_000)
    area = None
    for _ in range(50):
        area = page.evaluate(_PLOT_AREA_JS)
        if area:
            break
        page.wait_for_timeout(100)
    assert area, "the latent map did not render"
    plot.hover()
    page.locator('.st-key-latent_map .modebar-btn[data-title="Box Select"]').click()
    # The left half of the map: a group to compare with the rest.
    page.mouse.move(area["x"] + 2, area["y"] + 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["w"] * 0.5, area["y"] + area["h"] - 2, steps=12)
    page.mouse.up()
    app_page.wait_until_idle()
    page.get_by_text(re.compile(r"Selection: [\d,]+ segments")).wait_for(timeout=30_000)
    _select_first_row(app_page, "selection_contrast")
    button = page.get_by_role("button", name=re.compile(r"Open a selected segment (high|low) in"))
    button.wait_for(timeout=30_000)
    button.click()
    _assert_inspector(app_page)
    # The selection and its contrast stay below the inspector.
    assert page.get_by_text(re.compile(r"Selection: [\d,]+ segments")).count() == 1
