"""Screenshots of every page at two common screen sizes, saved for review (issue 15).

One browser tab walks every page of the real app over ``demo_run``: each page must render
without an exception or console error, show its title, and is saved as
``test-artifacts/screens/<page>-<width>x<height>.png`` at 1400x900 and 1920x1080.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ARTIFACTS, PROJECT_ROOT

if TYPE_CHECKING:
    from core.runs.store import Run
    from tests.conftest import AppPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = ((1400, 900), (1920, 1080))
SCREENS = ARTIFACTS / "screens"
# (file, title, url path) of every page app.py declares, read from its page lists.
_PAGE = re.compile(r'\(\s*"(pages/[a-z_-]+\.py)",\s*"([^"]+)",\s*"([a-z-]+)"')
PAGES = [m.groups() for m in _PAGE.finditer((PROJECT_ROOT / "app.py").read_text())]


def test_every_page_at_two_screen_sizes(app_page: AppPage, demo_run: Run) -> None:
    assert len(PAGES) >= 10, PAGES
    SCREENS.mkdir(parents=True, exist_ok=True)
    page = app_page.page
    for path, title, url in PAGES:
        if not (PROJECT_ROOT / path).is_file():
            continue
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        app_page.goto(f"{'' if url == 'overview' else url}?run={demo_run.run_id}")
        heading = "Tactical states" if url == "overview" else title
        h1 = page.locator("h1").first
        h1.wait_for(timeout=30_000)
        assert heading.split()[0].lower() in h1.inner_text().lower(), (url, h1.inner_text())
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(300)
            page.screenshot(path=str(SCREENS / f"{url}-{width}x{height}.png"))
        assert not app_page.exceptions(), (url, app_page.exceptions())
    app_page.assert_healthy()


def test_filters_above_the_fold_at_900px(app_page: AppPage, demo_run: Run) -> None:
    """Every sidebar filter is on screen at 1400x900 without scrolling (issue 15, point 4):
    the pages sit in the top navigation, so the sidebar holds only the run and the filters."""
    page = app_page.page
    page.set_viewport_size({"width": 1400, "height": 900})
    app_page.goto(f"latent-map?run={demo_run.run_id}")
    sidebar = page.locator('[data-testid="stSidebar"]')
    for label in ("Competition", "Match", "Team", "Period"):
        widget = sidebar.locator('[data-testid="stMultiSelect"]').filter(has_text=label)
        box = widget.first.bounding_box()
        assert box is not None, label
        assert box["y"] + box["height"] <= 900, f"the {label} filter is below the fold: {box}"
    app_page.assert_healthy()
