"""The home page renders in a real browser (the foundation's first browser test)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import AppPage

pytestmark = pytest.mark.browser


def test_home_page_renders_with_navigation(app_page: AppPage) -> None:
    app_page.goto("")
    page = app_page.page
    assert page.locator("h1").first.inner_text().strip(), "home page has no title"
    nav = page.locator('[data-testid="stSidebarNav"]')
    # With many pages Streamlit folds the list behind "View N more".
    more = nav.get_by_text(re.compile(r"^View \d+ more$"))
    if more.count():
        more.first.click()
        app_page.wait_until_idle()
    for label in (
        "Overview",
        "Data",
        "Train",
        "Correlations",
        "Interpretation",
        "Latent map",
        "Runs",
    ):
        assert nav.get_by_text(label, exact=True).count() >= 1, f"navigation lacks {label!r}"
    # The sidebar's one switch for listing every latent dimension, off by default.
    toggle = page.locator(".st-key-show_all_dims")
    assert toggle.get_by_text("Show all dimensions").count() == 1
    assert not toggle.locator("input").is_checked()
    app_page.assert_healthy()
