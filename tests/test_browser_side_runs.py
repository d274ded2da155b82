"""A fresh visitor (no ``?run=``) opens the run someone trained, never a seed run that
finished after it (issue 24), in a real browser."""

from __future__ import annotations

import shutil

import pytest

from core.runs.side import mark_side_run
from core.runs.store import Run, list_runs
from core.views.runs import default_run
from tests.conftest import AppPage, _clone_run


def _finished_last(cfg: dict[str, object]) -> None:
    cfg["created_at"] = "2999-01-01T00:00:00+00:00"  # the newest run of the store


@pytest.mark.browser
@pytest.mark.slow
def test_a_fresh_visitor_opens_the_trained_run_not_a_newer_seed_run(
    app_page: AppPage, demo_run: Run
) -> None:
    seed = _clone_run(demo_run, "5eed0f000001", _finished_last)
    try:
        assert list_runs()[0] == seed and default_run(list_runs()) == seed  # unmarked: opened
        mark_side_run(seed, "seed", demo_run.run_id)
        expected = default_run(list_runs())
        assert expected is not None and expected != seed
        app_page.goto("")  # a fresh visitor: no run in the URL, none in the session
        sidebar = app_page.page.locator('[data-testid="stSidebar"]')
        picker = sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Active run")
        picker.first.wait_for(timeout=30_000)
        app_page.wait_until_idle()
        shown = picker.first.get_by_role("combobox").input_value()  # the chosen run's label
        assert expected.run_id in shown and seed.run_id not in shown, shown
        app_page.assert_healthy()
    finally:
        shutil.rmtree(seed.path, ignore_errors=True)
