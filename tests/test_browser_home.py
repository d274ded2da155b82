"""The home page renders in a real browser (the foundation's first browser test)."""

from __future__ import annotations

import pytest

from tests.conftest import AppPage

pytestmark = pytest.mark.browser


def test_home_page_renders_with_navigation(app_page: AppPage) -> None:
    app_page.goto("")
    page = app_page.page
    assert page.locator("h1").first.inner_text().strip(), "home page has no title"
    # The pages sit in the top navigation's menus, so the sidebar holds only the run and
    # the filters (all above the fold at 900 px).
    sections = app_page.nav_sections()
    assert list(sections) == ["Set up", "Explore", "Manage"], sections
    titles = [t for section in sections.values() for t in section]
    for label in (
        "Overview",
        "Data",
        "Train",
        "Correlations",
        "Interpretation",
        "Latent map",
        "Team report",
        "Runs",
        "Glossary",
    ):
        assert label in titles, f"navigation lacks {label!r}: {sections}"
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    # The sidebar's one switch for listing every latent dimension, off by default.
    toggle = page.locator(".st-key-show_all_dims")
    assert toggle.get_by_text("Show all dimensions").count() == 1
    assert not toggle.locator("input").is_checked()
    app_page.assert_healthy()
