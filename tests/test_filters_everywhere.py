"""One filter model (issue 15): every page follows the sidebar's filters or says why not.

What each page says under the sidebar's team filter is checked for every page by the page
sweep (``tests/test_pages_sweep.py``); here, with the team filter set to Italy, the numbers
of the pages that follow it are checked against the run's own segments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.features.datasets import load_features
from tests.helpers import chart, decode, frame_with, healthy, open_app, page

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

    from core.runs.store import Run

ITALY, TURKEY_ITALY = 914, 3788741


def _with_team_filter(url: str, run: Run) -> AppTest:
    at = open_app(run)  # app.py first, as a browser session does
    at.switch_page(page(url).file).run()
    at.multiselect(key="filter_teams").set_value([ITALY]).run()
    healthy(at, url)
    return at


def test_correlations_recomputed_on_the_filtered_segments(demo_run: Run) -> None:
    at = _with_team_filter("correlations", demo_run)
    # Italy's segments from the run's latents and the dataset's features (joined on the
    # segment), a missing value filled with the run's training median, as training does.
    quality = demo_run.dim_quality()
    names = demo_run.correlations().feature_names
    pipeline = demo_run.load_pipeline()
    medians = dict(zip(pipeline.feature_columns_, pipeline.medians_, strict=True))
    italy = demo_run.latents().filter(pl.col("team_id") == ITALY)
    features = load_features(demo_run.features_path).select("segment_id", *names)
    joined = italy.select("segment_id", *quality.distinct).join(
        features, on="segment_id", how="left"
    )
    assert joined.height == italy.height
    Z = joined.select(quality.distinct).to_numpy().astype(np.float64)
    X = joined.select(names).to_numpy().astype(np.float64)
    X = np.where(np.isnan(X), np.array([medians[n] for n in names])[None, :], X)
    Zc, Xc = Z - Z.mean(axis=0), X - X.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant feature: r is NaN
        r = (Zc.T @ Xc) / np.outer(np.linalg.norm(Zc, axis=0), np.linalg.norm(Xc, axis=0))
    rows = [demo_run.correlations().latent_names.index(d) for d in quality.distinct]
    got = decode(chart(at, "corr_heatmap")["data"][0]["z"])
    assert got.shape == r.shape
    # The heatmap's cells are Italy's correlations (in the page's column order), not the run's.
    np.testing.assert_allclose(np.sort(got, axis=1), np.sort(r, axis=1), rtol=1e-9, atol=1e-12)
    assert not np.allclose(
        np.sort(got, axis=1), np.sort(demo_run.correlations().pearson_r[rows], axis=1)
    )
    # Switched off, the run's own numbers come back.
    at.toggle(key="corr_filtered").set_value(False).run()
    got = decode(chart(at, "corr_heatmap")["data"][0]["z"])
    own = demo_run.correlations().pearson_r[rows]
    np.testing.assert_allclose(np.sort(got, axis=1), np.sort(own, axis=1), rtol=1e-9)


def test_team_fingerprints_and_timeline_keep_only_the_filtered_team(demo_run: Run) -> None:
    at = _with_team_filter("teams", demo_run)
    table = frame_with(at, "n_segments")
    assert list(table["team_name"]) == ["Italy"]
    at = _with_team_filter("timeline", demo_run)
    assert list(at.selectbox(key="timeline_match").options) == [
        "Turkey 0-3 Italy · Euro 2020 · 2021-06-11"
    ]
    rows = {y for trace in chart(at, "timeline_chart")["data"] for y in (trace.get("y") or [])}
    assert rows == {"Italy"}
