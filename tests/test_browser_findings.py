"""The findings in a real browser: the Overview leads with the patterns other seeds found
again, and a pattern no other seed found is visibly marked unconfirmed."""

from __future__ import annotations

import pytest

from core.runs.store import Run
from core.views.plain import patterns_of
from tests.conftest import AppPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _main_text(app_page: AppPage) -> str:
    return app_page.page.locator('[data-testid="stMain"]').inner_text()


def test_overview_headline_counts_reproduced_patterns(app_page: AppPage, demo_run: Run) -> None:
    quality = demo_run.dim_quality()
    assert quality.n_seeds == 3
    app_page.goto(f"?run={demo_run.run_id}")
    app_page.assert_healthy()
    text = _main_text(app_page)
    n_all = sum(a.found_in == 3 for a in demo_run.ensemble().axes)  # type: ignore[union-attr]
    assert f"{n_all} pattern{'s' if n_all != 1 else ''} found again in 3 of 3 trainings" in text
    assert "Reproduced patterns" in text
    assert f"{len(quality.reproduced)} / {quality.n_distinct}" in text
    for p in patterns_of(demo_run):
        if p.reproduced:
            assert p.name in text
    assert "distinct patterns**" not in text


def test_a_single_seed_run_marks_its_axes_unconfirmed(
    app_page: AppPage, collapsed_run: Run
) -> None:
    quality = collapsed_run.dim_quality()
    assert quality.n_seeds == 1 and quality.distinct
    app_page.goto(f"?run={collapsed_run.run_id}")
    app_page.assert_healthy()
    text = _main_text(app_page)
    assert "unconfirmed axis " + quality.distinct[0] in text
    assert "trained one seed" in text
    app_page.goto(f"stability?run={collapsed_run.run_id}")
    app_page.assert_healthy()
    assert "no axis could be confirmed" in _main_text(app_page)
