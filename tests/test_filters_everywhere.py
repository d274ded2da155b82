"""One filter model (issue 15): every page follows the sidebar's filters or says why not.

AppTest walks every explore page of the real app over ``demo_run`` with the sidebar's team
filter set to Italy, and checks what each page shows against the run's own segments.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.latents import pearson_matrix
from core.views.table import Filters, filter_mask, load_segment_table
from tests.conftest import PROJECT_ROOT
from tests.test_pages_apptest import _decode

if TYPE_CHECKING:
    from core.runs.store import Run

ITALY, TURKEY_ITALY = 914, 3788741
# Pages that follow the filters, and pages that say in one line why they do not.
FOLLOW = ["correlations", "interpretation", "latent-map", "states", "timeline", "teams", "report"]
EXPLAIN = ["overview", "traversal", "stability", "glossary", "data", "train", "sweep", "runs"]


def _with_team_filter(page: str, run: Run) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
    at.session_state["active_run"] = run.run_id
    at.run()  # app.py first, as a browser session does (a fresh deep link can land elsewhere)
    at.switch_page(f"pages/{page}.py").run()
    at.multiselect(key="filter_teams").set_value([ITALY]).run()
    assert not at.exception, [e.value for e in at.exception]
    unexpected = [e.value for e in at.error if "Unexpected error" in e.value]
    assert not unexpected, unexpected
    return at


def _captions(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.caption)


def _frame_with(at: AppTest, *columns: str) -> Any:
    for element in at.dataframe:
        if all(c in element.value.columns for c in columns):
            return element.value
    raise AssertionError(f"no dataframe with columns {columns}")


def _chart(at: AppTest, key: str) -> dict[str, Any]:
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith(key):
            spec: dict[str, Any] = json.loads(el.proto.spec)
            return spec
    raise AssertionError(f"no plotly chart with key {key!r}")


@pytest.fixture(scope="module")
def italy(demo_run: Run) -> tuple[int, int]:
    """(Italy's segments, all segments) of the demo run."""
    latents = demo_run.latents()
    return latents.filter(pl.col("team_id") == ITALY).height, latents.height


@pytest.mark.parametrize("page", FOLLOW + EXPLAIN)
def test_every_page_says_how_it_uses_the_filters(
    page: str, demo_run: Run, italy: tuple[int, int]
) -> None:
    at = _with_team_filter(page, demo_run)
    text = _captions(at)
    n, total = italy
    if page in EXPLAIN:
        assert "Sidebar filters do not apply" in text or "does not use the sidebar" in text, text
    elif page == "latent-map":
        assert f"Showing {n:,} of {total:,} segments" in text, text
    elif page == "states":
        assert f"'share in filter' is over {n:,} of {total:,} segments" in text, text
    elif page == "timeline":
        assert "Sidebar filters apply" in text and f"({n:,} windows shown)" in text, text
    elif page == "report":
        assert "preselect" in text
        assert at.selectbox(key="report_team").value == ITALY
    else:
        assert "Sidebar filters apply: " in text and f"{n:,} of {total:,} segments" in text, text


def test_correlations_recomputed_on_the_filtered_segments(demo_run: Run) -> None:
    at = _with_team_filter("correlations", demo_run)
    table = load_segment_table(demo_run)
    mask = filter_mask(table.meta, Filters(team_ids=(ITALY,)))
    X = table.features[mask]
    X = np.where(np.isnan(X), np.nan_to_num(np.nanmedian(X, axis=0))[None, :], X)
    r, _ = pearson_matrix(table.latents[mask], X)
    quality = demo_run.dim_quality()
    rows = [table.latent_names.index(d) for d in quality.distinct]
    got = _decode(_chart(at, "corr_heatmap")["data"][0]["z"])
    assert got.shape == (len(rows), r.shape[1])
    # The heatmap's cells are Italy's correlations (in the page's column order), not the run's.
    np.testing.assert_allclose(np.sort(got, axis=1), np.sort(r[rows], axis=1), rtol=1e-9)
    assert not np.allclose(
        np.sort(got, axis=1), np.sort(demo_run.correlations().pearson_r[rows], axis=1)
    )
    # Switched off, the run's own numbers come back.
    at.toggle(key="corr_filtered").set_value(False).run()
    got = _decode(_chart(at, "corr_heatmap")["data"][0]["z"])
    own = demo_run.correlations().pearson_r[rows]
    np.testing.assert_allclose(np.sort(got, axis=1), np.sort(own, axis=1), rtol=1e-9)


def test_team_fingerprints_and_timeline_keep_only_the_filtered_team(demo_run: Run) -> None:
    at = _with_team_filter("teams", demo_run)
    table = _frame_with(at, "n_segments")
    assert list(table["team_name"]) == ["Italy"]
    at = _with_team_filter("timeline", demo_run)
    assert list(at.selectbox(key="timeline_match").options) == [
        "Turkey 0-3 Italy · Euro 2020 · 2021-06-11"
    ]
    rows = {y for trace in _chart(at, "timeline_chart")["data"] for y in (trace.get("y") or [])}
    assert rows == {"Italy"}
