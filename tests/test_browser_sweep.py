"""Every page app.py declares, opened once in a real browser over ``demo_run``.

One served app, one fresh tab per page (``?run=`` set). Each page must render without a
Streamlit exception or a browser console error, show its title, keep the sidebar (the
active run, and every filter above the fold at 1400x900), pass its own few checks, and is
saved for review as ``test-artifacts/page-<url>.png`` (whole page) and
``test-artifacts/screens/<url>-<width>x<height>.png`` at 1400x900 and 1920x1080 (issue 15).

The home page (Overview) also carries the navigation checks. A served app and a browser
take seconds to start: every page here is slow (``make test`` runs them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import ARTIFACTS, AppPage
from tests.helpers import PAGES, PROJECT_ROOT, PageSpec

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from core.runs.store import Run
    from tests.conftest import AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = ((1400, 900), (1920, 1080))
SCREENS = ARTIFACTS / "screens"
FILTERS = ("Competition", "Match", "Team", "Period")
# What the top navigation holds (titles in app.py's order within each section).
SECTIONS = ["Set up", "Explore", "Manage"]
NAVIGATION = [
    "Overview", "Data", "Train", "Correlations", "Interpretation", "Latent map",
    "Team report", "Runs", "Glossary",
]  # fmt: skip


@pytest.fixture(scope="module")
def routed(app_server: AppServer, browser: Browser) -> None:
    """app.py has run once on the server: until some session has run it, Streamlit serves
    a deep link to a file in pages/ as a legacy page, without app.py's sidebar."""
    context = browser.new_context()
    try:
        AppPage(page=context.new_page(), base_url=app_server.url).goto("")
    finally:
        context.close()


def _home(app_page: AppPage, run: Run) -> None:
    page = app_page.page
    # The pages sit in the top navigation's menus, so the sidebar holds only the run and
    # the filters.
    sections = app_page.nav_sections()
    assert list(sections) == SECTIONS, sections
    titles = [t for section in sections.values() for t in section]
    missing = [label for label in NAVIGATION if label not in titles]
    assert not missing, f"navigation lacks {missing}: {sections}"
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    # The sidebar's one switch for listing every latent dimension, off by default.
    toggle = page.locator(".st-key-show_all_dims")
    assert toggle.get_by_text("Show all dimensions").count() == 1
    assert not toggle.locator("input").is_checked()


def _states(app_page: AppPage, run: Run) -> None:
    assert app_page.page.get_by_text("Agreement (ARI)").count() >= 1


def _timeline(app_page: AppPage, run: Run) -> None:
    app_page.page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)


def _traversal(app_page: AppPage, run: Run) -> None:
    # It opens on the most informative distinct dimension, read at +2.
    first = run.dim_quality().distinct[0]
    assert app_page.page.get_by_text(f"{first} +2:").count() >= 1


PAGE_CHECKS: dict[str, Callable[[AppPage, Run], None]] = {
    "overview": _home,
    "states": _states,
    "timeline": _timeline,
    "traversal": _traversal,
}


def _filters_above_the_fold(app_page: AppPage, height: int) -> None:
    sidebar = app_page.page.locator('[data-testid="stSidebar"]')
    for label in FILTERS:
        widget = sidebar.locator('[data-testid="stMultiSelect"]').filter(has_text=label)
        box = widget.first.bounding_box()
        assert box is not None, label
        assert box["y"] + box["height"] <= height, f"the {label} filter is below the fold: {box}"


# The window's size, the main area's box and every chart's width: equal on two reads in a
# row once the page has laid out again at a new viewport size.
_LAYOUT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const box = main ? main.getBoundingClientRect() : null;
  return [window.innerWidth, window.innerHeight, box ? [box.width, box.height] : null,
          Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map(e => e.getBoundingClientRect().width)];
}"""


def _resized(app_page: AppPage, width: int, height: int, timeout: float = 10.0) -> None:
    """Set the viewport, then poll until the page holds still at that size."""
    page = app_page.page
    page.set_viewport_size({"width": width, "height": height})
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        layout = page.evaluate(_LAYOUT_JS)
        if layout[:2] == [width, height] and layout == last:
            return
        last = layout
        page.wait_for_timeout(100)
    raise AssertionError(f"the page did not settle at {width}x{height}: {last}")


@pytest.mark.usefixtures("routed")
@pytest.mark.parametrize("spec", PAGES, ids=[p.url for p in PAGES])
def test_page(app_page: AppPage, demo_run: Run, spec: PageSpec) -> None:
    assert (PROJECT_ROOT / spec.file).is_file(), f"{spec.file} is missing"
    page = app_page.page
    _resized(app_page, *SIZES[0])
    app_page.goto(f"{spec.link}?run={demo_run.run_id}")
    h1 = page.locator("h1").first
    h1.wait_for(timeout=30_000)
    assert h1.inner_text().strip() == spec.heading, spec.url
    app_page.assert_healthy()
    sidebar = page.locator('[data-testid="stSidebar"]')
    # A page may rerun once more after its first idle moment (query params): wait for the
    # sidebar's run picker to be drawn, then for the script to settle again.
    active = sidebar.get_by_text("Active run")
    try:
        active.first.wait_for(timeout=30_000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"/{spec.link} lacks the sidebar") from None
    app_page.wait_until_idle()
    assert active.count() == 1, f"/{spec.link} draws the run picker {active.count()} times"
    _filters_above_the_fold(app_page, SIZES[0][1])
    PAGE_CHECKS.get(spec.url, lambda *_: None)(app_page, demo_run)

    page.screenshot(path=str(ARTIFACTS / f"page-{spec.url}.png"), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        _resized(app_page, width, height)
        page.screenshot(path=str(SCREENS / f"{spec.url}-{width}x{height}.png"))
    app_page.assert_healthy()
