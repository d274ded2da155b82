"""The home page renders in a real browser (the foundation's first browser test)."""

from __future__ import annotations

import pytest

from tests.conftest import AppPage

pytestmark = pytest.mark.browser


def test_home_page_renders_with_navigation(app_page: AppPage) -> None:
    app_page.goto("")
    page = app_page.page
    assert page.locator("h1").first.inner_text().strip(), "home page has no title"
    nav = page.locator('[data-testid="stSidebarNav"]')
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
    app_page.assert_healthy()
