"""The Data page in a real browser: World Cup 2018 from the open-data catalogue to the Train page.

The app is served with ``TACTICAL_OPEN_DATA_URL`` pointing at a local HTTP copy of the
shared open data (``tests.test_opendata``), so the whole path runs for real: the catalogue
table, a row click, the background extraction job (64 matches), its summary, and the
button that opens the Train page on the new dataset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import pytest

from core.data.opendata import BASE_URL_ENV
from core.features.datasets import import_features
from core.infra.paths import datasets_root
from tests.conftest import GRID_CELL_BOUNDS_JS, AppPage, AppServer, serve_app
from tests.test_opendata import Mirror, open_data_copy, serve  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATASET = "fifa-world-cup-2018"


# What a selectbox shows as chosen: its text and its input's value (options render on open).
_SELECTED_JS = """el => el.textContent + ' ' + Array.from(el.querySelectorAll('input'))
  .map(i => i.value + ' ' + (i.getAttribute('aria-label') || '')).join(' ')"""


@pytest.fixture(scope="module")
def mirror(open_data_copy: Path) -> Iterator[Mirror]:  # noqa: F811 - the imported fixture
    with serve(open_data_copy) as m:
        yield m


@pytest.fixture(scope="module")
def app_server(mirror: Mirror) -> Iterator[AppServer]:
    """The dashboard served with the open-data URL pointing at the local mirror."""
    with serve_app("streamlit-server-data.log", {**os.environ, BASE_URL_ENV: mirror.url}) as server:
        yield server


def _click_row(app_page: AppPage, text: str) -> None:
    """Tick the row-selection box of the first dataframe's row that shows ``text``."""
    grid = app_page.page.locator('[data-testid="stDataFrame"]').first
    grid.locator("[role=row]", has_text=text).first.wait_for(state="attached")
    rows: list[str] = grid.locator("[role=row]").evaluate_all(
        "rows => rows.slice(1).map(r => r.innerText)"
    )
    index = next(i for i, r in enumerate(rows) if text in r)
    grid.scroll_into_view_if_needed()
    bounds = grid.evaluate(GRID_CELL_BOUNDS_JS, [0, index])
    assert bounds and bounds["width"] > 0, bounds
    app_page.page.mouse.click(bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)
    app_page.wait_until_idle()


def test_world_cup_from_the_catalogue_to_the_train_page(app_page: AppPage, mirror: Mirror) -> None:
    assert not (datasets_root() / DATASET).exists()
    app_page.goto("data")
    page = app_page.page
    main = page.locator('[data-testid="stMain"]')
    page.get_by_text("StatsBomb open data (catalogue)").click()  # opens on an offline source
    app_page.wait_until_idle()
    assert "StatsBomb open data" in main.inner_text()  # the credit

    _click_row(app_page, "FIFA World Cup")
    page.get_by_text("FIFA World Cup 2018: 64 matches").wait_for()
    name = page.locator(".st-key-data_name input")
    assert name.input_value() == DATASET  # proposed from the pick

    page.locator(".st-key-data_extract button").click()
    train = page.locator(".st-key-data_train button")
    train.wait_for(timeout=180_000)
    app_page.wait_until_idle()
    text = main.inner_text()
    assert f"Dataset {DATASET} is ready: 64 matches" in text, text
    assert "No file was skipped" in text
    assert mirror.event_requests() == 64
    matches = pl.read_parquet(datasets_root() / DATASET / "matches.parquet")
    assert matches.height == 64

    # A newer dataset is the Train page's default: the button must pick ours instead.
    features = (datasets_root() / DATASET / "features.parquet").read_bytes()
    import_features(features, f"{DATASET}-newer")
    train.click()
    app_page.wait_until_idle()
    assert urlparse(page.url).path.rstrip("/").endswith("/train"), page.url
    picked = page.locator(".st-key-train_dataset").evaluate(_SELECTED_JS)
    assert DATASET in picked and f"{DATASET}-newer" not in picked, picked
