"""The states pages (States, Match timeline, Team fingerprints, Latent traversal, Stability).

AppTest runs each page script on the real ``demo_run``; the browser tests open each page
of the real app in headless Chromium and fail on any exception or console error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.states import get_states, load_states

if TYPE_CHECKING:
    from core.runs.store import Run
    from tests.conftest import AppPage

RUN_KEY = "active_run"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def page(name: str, run: Run) -> AppTest:
    """The app (router and sidebar included) set to open page ``name`` on ``run``."""
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
    at.session_state[RUN_KEY] = run.run_id
    return at.switch_page(f"pages/{name}.py")


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def frame_with(at: AppTest, *columns: str) -> Any:
    """The (pandas) value of the first dataframe on the page holding all ``columns``."""
    for element in at.dataframe:
        value = element.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no dataframe with columns {columns}")


def test_states_page(demo_run: Run) -> None:
    at = page("states", demo_run).run()
    no_errors(at)
    result = load_states(demo_run)
    assert result is not None  # the first visit computed and cached the states
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["States (latent)"] == str(result.summary["latent"]["best_k"])
    assert metrics["Agreement (ARI)"] == f"{result.summary['ari']:.2f}"
    table = frame_with(at, "label", "share")
    labels = result.labels.filter(pl.col("space") == "latent")
    assert list(table["label"]) == labels["label"].to_list()
    # Profile of the second state, in the feature mixture.
    at.radio(key="states_space").set_value("features").run()
    no_errors(at)
    at.selectbox(key="states_profile_state").set_value(1).run()
    no_errors(at)
    prof = frame_with(at, "state_mean", "effect")
    expected = result.profiles.filter(
        (pl.col("space") == "features") & (pl.col("state") == 1)
    ).sort(pl.col("effect").abs(), descending=True)
    assert list(prof["feature"])[:3] == expected["feature"].to_list()[:3]
    assert prof["state_mean"].iloc[0] == pytest.approx(expected["state_mean"][0])


def test_states_page_recomputes_for_a_new_k_range(demo_run: Run) -> None:
    at = page("states", demo_run).run()
    at.slider(key="states_k_range").set_range(2, 4).run()
    no_errors(at)
    result = load_states(demo_run)
    assert result is not None
    assert result.summary["params"]["k_values"] == [2, 3, 4]
    assert result.bic.filter(pl.col("space") == "latent")["k"].to_list() == [2, 3, 4]
    get_states(demo_run, k_range=(2, 10))  # back to the default for the other tests


def test_timeline_page(demo_run: Run) -> None:
    at = page("timeline", demo_run).run()
    no_errors(at)
    options = at.selectbox(key="timeline_match").options
    assert len(options) == 3
    assert any(o.startswith("Turkey 0-3 Italy") for o in options), options
    at.selectbox(key="timeline_match").set_value(3788741).run()
    no_errors(at)
    at.toggle(key="timeline_smooth").set_value(True).run()
    no_errors(at)
    captions = " ".join(c.value for c in at.caption)
    assert "observed" in captions and "smoothed" in captions
    markers = frame_with(at, "kind", "minute")
    assert (markers["kind"].isin(["goal", "own goal"])).sum() == 3  # Turkey 0-3 Italy


def test_teams_page(demo_run: Run) -> None:
    at = page("teams", demo_run).run()
    no_errors(at)
    table = frame_with(at, "n_segments")
    assert len(table) == demo_run.latents()["team_id"].n_unique()
    shares = table[[c for c in table.columns if c.startswith("share_")]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(1.0)
    at.toggle(key="teams_per_match").set_value(True).run()
    no_errors(at)
    assert len(frame_with(at, "n_segments")) == 6  # 3 matches x 2 teams
    cmp = frame_with(at, "quantity", "difference")
    assert "difference" in cmp.columns
    target = at.selectbox(key="teams_sim_target").value
    near = frame_with(at, "distance", "segment_id")
    assert len(near) == 10
    latents = demo_run.latents()
    team_of = dict(zip(latents["segment_id"], latents["team_id"], strict=True))
    assert {team_of[s] for s in near["segment_id"]} == {target}
    assert list(near["distance"]) == sorted(near["distance"])


def test_teams_page_follows_the_sidebar_match_filter(demo_run: Run) -> None:
    at = page("teams", demo_run).run()
    at.multiselect(key="filter_matches").set_value([3788741]).run()
    no_errors(at)
    table = frame_with(at, "n_segments")
    assert sorted(table["team_name"]) == ["Italy", "Turkey"]
    latents = demo_run.latents().filter(pl.col("match_id") == 3788741)
    assert table["n_segments"].sum() == latents.height


def test_traversal_page(demo_run: Run) -> None:
    distinct = demo_run.dim_quality().distinct
    assert len(distinct) >= 2, demo_run.dim_quality().verdict
    first, second = distinct[0], distinct[1]
    at = page("traversal", demo_run).run()
    no_errors(at)
    # opens on the most informative distinct dimension
    assert any(m.value.startswith(f"**{first} +2: ") for m in at.markdown)
    at.selectbox(key="trav_dim").set_value(int(second[1:])).run()
    at.select_slider(key="trav_at").set_value(-1.0).run()
    no_errors(at)
    assert any(m.value.startswith(f"**{second} -1: ") for m in at.markdown)
    table = frame_with(at, "change_z")
    assert len(table) == len(demo_run.load_pipeline().feature_columns_)
    at.radio(key="trav_hold").set_value("segment").run()
    no_errors(at)
    assert at.selectbox(key="trav_segment").value is not None


def test_stability_page(demo_run: Run) -> None:
    from core.analysis.stability import seed_config
    from core.runs.pipeline import execute_run
    from core.runs.store import create_run

    cfg = demo_run.config()
    other, _ = create_run(cfg.features_path, seed_config(demo_run, 11), cfg.preprocess)
    if other.status().state != "done":
        execute_run(other.run_id)
    at = page("stability", demo_run)
    at.run()
    no_errors(at)
    at.text_input(key="stab_seeds").set_value("11, 12").run()
    no_errors(at)
    runs = frame_with(at, "seed", "state")
    assert dict(zip(runs["seed"], runs["state"], strict=True)) == {11: "done", 12: "missing"}
    assert at.button(key="stab_start").label == "Train 1 seed run(s)"
    table = frame_with(at, "mean_jaccard")
    assert len(table) == demo_run.dim_quality().n_distinct  # distinct dims only
    assert ((table["mean_jaccard"] >= 0) & (table["mean_jaccard"] <= 1)).all()
    at.text_input(key="stab_seeds").set_value("x y").run()
    assert any("whole numbers" in e.value for e in at.error)


# --- real browser ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow  # a few seconds per page in the browser, over the trained demo run
@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("states", "Tactical states"),
        ("timeline", "Match timeline"),
        ("teams", "Team fingerprints"),
        ("traversal", "Latent traversal"),
        ("stability", "Stability across seeds"),
    ],
)
def test_state_pages_in_browser(app_page: AppPage, demo_run: Run, path: str, heading: str) -> None:
    # Home first: on a fresh server Streamlit runs a deep link to a file in pages/ as a
    # legacy page (without app.py's sidebar) until some session has run app.py once.
    app_page.goto("")
    app_page.goto(f"{path}?run={demo_run.run_id}")
    page = app_page.page
    page.get_by_role("heading", name=heading).wait_for(timeout=30_000)
    app_page.assert_healthy()
    if path == "states":
        assert page.get_by_text("Agreement (ARI)").count() >= 1
    if path == "timeline":
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    if path == "traversal":
        assert page.get_by_text("z0 +2:").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{path}.png"), full_page=True)
