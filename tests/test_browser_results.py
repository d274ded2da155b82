"""The Results page in a real browser: opened from the top navigation over the demo run, it
shows every pattern's sentences with their intervals and draws an interval bar per pattern
and outcome; the sidebar's team filter narrows the segments it averages."""

from __future__ import annotations

import polars as pl
import pytest

from core.runs.store import Run
from core.views.results import results_view
from tests.conftest import AppPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ITALY = 914

# The figure's traces as plotly holds them: points, and the interval half-widths drawn.
_FIGURE_JS = """() => {
  const gd = document.querySelector('.st-key-results_figure .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return {
    traces: gd.data.map(t => ({
      n: t.x.length,
      plus: Array.from(t.error_x && t.error_x.array ? t.error_x.array : []),
      minus: Array.from(t.error_x && t.error_x.arrayminus ? t.error_x.arrayminus : []),
    })),
    bars: gd.querySelectorAll('g.errorbar').length,
  };
}"""


def _main_text(app_page: AppPage) -> str:
    return app_page.page.locator('[data-testid="stMain"]').inner_text()


def test_results_page_draws_intervals(app_page: AppPage, demo_run: Run) -> None:
    view = results_view(demo_run)
    n_cells = 3 * len(view.patterns)
    app_page.goto(f"?run={demo_run.run_id}")
    app_page.open_from_nav("Results")
    page = app_page.page
    assert page.locator("h1").first.inner_text().strip() == "Results"
    page.locator(".st-key-results_figure .js-plotly-plot").wait_for(timeout=30_000)
    text = _main_text(app_page)
    # Every pattern with its three sentences, each with its interval, as the view words them.
    assert text.count("95% CI") >= n_cells, text
    for pattern in view.patterns:
        assert pattern.title in text
        for sentence in pattern.sentences:
            assert sentence in text, sentence
    assert "Only 3 matches" in text
    assert "chance is 20% (5 teams)" in text
    # One interval bar per pattern and outcome, drawn with real widths.
    figure = page.evaluate(_FIGURE_JS)
    assert figure is not None
    assert sum(t["n"] for t in figure["traces"]) == n_cells, figure
    widths = [w for t in figure["traces"] for w in t["plus"] + t["minus"]]
    assert len(widths) == 2 * n_cells and all(w >= 0 for w in widths), widths
    assert any(w > 0 for w in widths)
    assert figure["bars"] >= len(figure["traces"]), figure


def test_results_page_follows_the_team_filter(app_page: AppPage, demo_run: Run) -> None:
    latents = demo_run.latents()
    n, total = latents.filter(pl.col("team_id") == ITALY).height, latents.height
    app_page.goto(f"?run={demo_run.run_id}&team={ITALY}")
    app_page.open_from_nav("Results")
    text = _main_text(app_page)
    assert f"Sidebar filters apply: codes averaged over {n:,} of {total:,} segments" in text
    assert "Naming the team needs at least two teams" in text
    assert "Only 1 match" in text
