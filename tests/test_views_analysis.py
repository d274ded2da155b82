"""The analysis pages' logic in ``core.views`` (timeline, states, teams, latent map panels,
the one filter rule and the one imputation rule), on the real ``demo_run``, without Streamlit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from core.analysis.latents import pearson_matrix
from core.analysis.mixtures import DEFAULT_K_RANGE
from core.errors import FingerprintError, JobError
from core.jobs.api import states_job, submit_states, wait_job
from core.model.imputation import impute_missing
from core.runs.states_store import load_states
from core.services.states import get_states
from core.services.timeline import run_timeline
from core.views.correlations import subset_correlations
from core.views.inspector import segment_summary
from core.views.map_panels import (
    contrast_columns,
    has_projection,
    headline,
    map_pick,
    nearest_list,
    open_example_label,
    profile_rows,
    selection_mask,
)
from core.views.states import (
    bic_figure,
    contingency_figure,
    fit_caption,
    profile_figure,
    request_states,
    state_profile,
    state_shares,
    states_k_range,
    typical_state_segment,
)
from core.views.table import Filters, SegmentTable, filter_frame, filter_mask, load_segment_table
from core.views.teams import (
    match_labels,
    means_figure,
    segment_choices,
    share_figure,
    similar_table,
    team_scope,
)
from core.views.timeline import (
    markers_table,
    match_events,
    match_windows,
    state_labels,
    team_names,
    timeline_figure,
    timeline_matches,
    transition_figure,
    transition_probabilities,
)

if TYPE_CHECKING:
    from core.runs.store import Run

ITALY, TURKEY_ITALY = 914, 3788741


@pytest.fixture(scope="module")
def table(demo_run: Run) -> SegmentTable:
    return load_segment_table(demo_run)


@pytest.fixture(scope="module")
def turkey(demo_run: Run) -> int:
    """Italy's opponent in Turkey 0-3 Italy."""
    teams = demo_run.latents().filter(pl.col("match_id") == TURKEY_ITALY)["team_id"].unique()
    return int(next(t for t in teams.to_list() if t != ITALY))


@pytest.fixture(scope="module")
def states_run(demo_run: Run) -> Run:
    """The demo run with its states cached over the default K range."""
    get_states(demo_run, k_range=DEFAULT_K_RANGE)
    return demo_run


# --- the one imputation rule ----------------------------------------------------------------


def test_impute_missing_fills_only_the_gaps() -> None:
    X = np.array([[1.0, np.nan], [np.nan, 4.0], [3.0, 5.0]])
    out = impute_missing(X, [10.0, 20.0])
    assert out.tolist() == [[1.0, 20.0], [10.0, 4.0], [3.0, 5.0]]
    assert np.isnan(X[0, 1])  # the input is left alone
    with pytest.raises(ValueError, match="one training median per feature"):
        impute_missing(X, [1.0])


def test_segment_table_carries_the_training_medians(demo_run: Run, table: SegmentTable) -> None:
    pipeline = demo_run.load_pipeline()
    trained = dict(zip(pipeline.feature_columns_, pipeline.medians_, strict=True))
    assert table.feature_names == list(pipeline.feature_columns_)
    np.testing.assert_array_equal(table.feature_medians, [trained[n] for n in table.feature_names])


def test_a_subset_is_filled_with_the_training_median_not_its_own(
    demo_run: Run, table: SegmentTable
) -> None:
    mask = filter_mask(table.meta, Filters(team_ids=(ITALY,)))
    subset = table.features[mask]
    trained = demo_run.load_pipeline().medians_
    own = np.nanmedian(subset, axis=0)
    # A feature Italy misses somewhere, whose subset median is not the training median.
    j = next(
        j
        for j in range(subset.shape[1])
        if np.isnan(subset[:, j]).any() and np.isfinite(own[j]) and own[j] != trained[j]
    )
    i = int(np.flatnonzero(np.isnan(subset[:, j]))[0])
    filled = impute_missing(subset, table.feature_medians)
    assert filled[i, j] == trained[j] != own[j]
    # The filtered correlations use exactly those values.
    sub = subset_correlations(
        table.latents, table.features, table.feature_names, mask, table.feature_medians
    )
    expected = np.where(np.isnan(subset), trained[None, :], subset)
    r, _ = pearson_matrix(table.latents[mask].astype(np.float64), expected)
    np.testing.assert_allclose(sub.pearson_r, r, equal_nan=True)
    own_fill = np.where(np.isnan(subset), own[None, :], subset)
    r_own, _ = pearson_matrix(table.latents[mask].astype(np.float64), own_fill)
    assert not np.allclose(sub.pearson_r[:, j], r_own[:, j])


def test_training_fills_with_the_same_medians(demo_dataset: Path) -> None:
    from core.features.datasets import load_features
    from core.model.config import PreprocessConfig
    from core.pipeline.prepare import prepare

    df = load_features(demo_dataset / "features.parquet")
    data = prepare(df, PreprocessConfig())
    raw = data.segments.select([pl.col(c).cast(pl.Float64) for c in data.feature_names]).to_numpy()
    gaps = np.isnan(raw)
    assert gaps.any()
    rows, cols = np.nonzero(gaps)
    np.testing.assert_array_equal(data.features[rows, cols], data.pipeline.medians_[cols])
    np.testing.assert_array_equal(data.features[~gaps], raw[~gaps])


# --- the one filter rule ----------------------------------------------------------------------


def test_filter_frame_keeps_what_filter_mask_keeps(table: SegmentTable) -> None:
    meta = table.meta
    for filters in (
        Filters(team_ids=(ITALY,)),
        Filters(match_ids=(TURKEY_ITALY,), periods=(2,)),
        Filters(score_states=("leading",)),
    ):
        kept = filter_frame(meta, filters)
        assert (
            kept["segment_id"].to_list()
            == meta.filter(pl.Series(filter_mask(meta, filters)))["segment_id"].to_list()
        )
    italy = filter_frame(meta, Filters(team_ids=(ITALY,)))
    assert set(italy["team_id"].to_list()) == {ITALY}
    assert italy.height == int((meta["team_id"] == ITALY).sum())
    assert filter_frame(meta, Filters()) is meta
    # A null in a filtered column does not pass.
    nulls = pl.DataFrame({"team_id": [ITALY, None, 1]}, schema={"team_id": pl.Int64})
    assert filter_frame(nulls, Filters(team_ids=(ITALY,)))["team_id"].to_list() == [ITALY]


def test_filters_only_and_without() -> None:
    f = Filters(competitions=("Euro",), match_ids=(1,), team_ids=(2,), periods=(1,))
    assert f.only("team_ids") == Filters(team_ids=(2,))
    assert f.without("team_ids", "periods") == Filters(competitions=("Euro",), match_ids=(1,))
    assert not f.only("score_states").active
    with pytest.raises(ValueError, match="no field"):
        f.without("teams")


# --- timeline -----------------------------------------------------------------------------------


def test_timeline_matches_follow_competition_and_team(table: SegmentTable) -> None:
    all_matches = timeline_matches(table.meta, Filters())
    assert len(all_matches) == table.meta["match_id"].n_unique() == 3
    italy = timeline_matches(table.meta, Filters(team_ids=(ITALY,)))
    assert list(italy) == [TURKEY_ITALY]
    assert italy[TURKEY_ITALY].startswith("Turkey 0-3 Italy")
    # The match filter only preselects: every match stays on offer.
    assert timeline_matches(table.meta, Filters(match_ids=(TURKEY_ITALY,))) == all_matches


def test_match_windows_apply_team_period_and_score(states_run: Run, turkey: int) -> None:
    tl = run_timeline(states_run)
    both = match_windows(tl, TURKEY_ITALY, Filters())
    latents = states_run.latents().filter(pl.col("match_id") == TURKEY_ITALY)
    assert both.height == latents.height
    assert set(both["team_id"].to_list()) == {ITALY, turkey}
    italy = match_windows(tl, TURKEY_ITALY, Filters(team_ids=(ITALY,), periods=(2,)))
    expected = latents.filter((pl.col("team_id") == ITALY) & (pl.col("period") == 2))
    assert sorted(italy["segment_id"].to_list()) == sorted(expected["segment_id"].to_list())
    # A filtered team that does not play this match leaves both teams' rows.
    other = match_windows(tl, TURKEY_ITALY, Filters(team_ids=(123456,)))
    assert other.height == both.height
    level = match_windows(tl, TURKEY_ITALY, Filters(score_states=("level",)))
    assert level.height == latents.filter(pl.col("score_state") == 0).height


def test_timeline_figure_bars_and_markers(states_run: Run, turkey: int) -> None:
    tl = run_timeline(states_run)
    windows = match_windows(tl, TURKEY_ITALY, Filters())
    names = team_names(windows)
    assert names == {turkey: "Turkey", ITALY: "Italy"}
    assert list(names) == sorted(names)
    markers, missing = match_events(states_run, TURKEY_ITALY, list(names))
    assert missing is None and markers is not None
    assert markers.filter(pl.col("kind").is_in(["goal", "own goal"])).height == 3
    labels = state_labels(tl)
    assert set(labels) == set(range(tl.n_states))
    fig = timeline_figure(windows, labels, tl.n_states, markers)
    bars = [t for t in fig.data if t.type == "bar"]
    assert {y for t in bars for y in t.y} == {"Italy", "Turkey"}
    ids = sorted(str(cd[2]) for t in bars for cd in t.customdata)
    assert ids == sorted(windows["segment_id"].to_list())
    assert {t.name for t in fig.data if t.type == "scatter"} >= {"goal"}
    table = markers_table(markers, names)
    assert table.columns == ["minute", "team", "kind", "player_name"]
    assert set(table["team"].to_list()) <= {"Italy", "Turkey"}


def test_timeline_figure_with_smoothed_rows(states_run: Run) -> None:
    tl = run_timeline(states_run, smooth=True)
    windows = match_windows(tl, TURKEY_ITALY, Filters(team_ids=(ITALY,)))
    fig = timeline_figure(windows, state_labels(tl), tl.n_states, None, smoothed=True)
    assert {y for t in fig.data for y in t.y} == {"Italy", "Italy · smoothed"}


def test_transition_probabilities() -> None:
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    p = transition_probabilities(counts)
    assert p.tolist() == [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]]
    fig = transition_figure(p, ["S0", "S1", "S2"], "Blues", "t")
    assert np.asarray(fig.data[0].z).tolist() == p.tolist()
    assert fig.layout.height == 120 + 45 * 3


def test_transition_probabilities_of_the_run(states_run: Run) -> None:
    tl = run_timeline(states_run)
    p = transition_probabilities(tl.observed_transitions)
    rows = tl.observed_transitions.sum(axis=1)
    np.testing.assert_allclose(p.sum(axis=1), np.where(rows > 0, 1.0, 0.0))


# --- states ---------------------------------------------------------------------------------------


def test_state_shares_in_the_filter(states_run: Run) -> None:
    result = load_states(states_run)
    assert result is not None
    latents = states_run.latents()
    shares = state_shares(result, latents, "latent", Filters(team_ids=(ITALY,)))
    italy = latents.filter(pl.col("team_id") == ITALY).join(result.assignments, on="segment_id")
    counts = italy["latent_state"].value_counts()
    k = result.summary["latent"]["best_k"]
    expected = [
        counts.filter(pl.col("latent_state") == s)["count"].sum() / italy.height for s in range(k)
    ]
    assert shares.table["share_in_filter"].to_list() == pytest.approx(expected)
    assert (shares.n_filtered, shares.n_total) == (italy.height, latents.height)
    everyone = state_shares(result, latents, "features", Filters())
    assert "share_in_filter" not in everyone.table.columns
    assert everyone.n_filtered == everyone.n_total == latents.height
    assert everyone.table.height == result.summary["features"]["best_k"]


def test_typical_state_segment_among_the_filtered(states_run: Run) -> None:
    result = load_states(states_run)
    assert result is not None
    latents = states_run.latents()
    italy_ids = set(latents.filter(pl.col("team_id") == ITALY)["segment_id"].to_list())
    rows = result.assignments.filter(pl.col("segment_id").is_in(list(italy_ids)))
    state = int(rows["latent_state"][0])
    best = rows.filter(pl.col("latent_state") == state).sort("latent_prob", descending=True)
    sid = typical_state_segment(result, latents, "latent", state, Filters(team_ids=(ITALY,)))
    assert sid == best["segment_id"][0]
    absent = set(range(result.summary["latent"]["best_k"])) - set(rows["latent_state"].to_list())
    if absent:
        with pytest.raises(FingerprintError):
            typical_state_segment(
                result, latents, "latent", min(absent), Filters(team_ids=(ITALY,))
            )


def test_state_profile_and_figures(states_run: Run) -> None:
    result = load_states(states_run)
    assert result is not None
    prof = state_profile(result, "features", 1)
    effects = prof["effect"].abs().to_list()
    assert effects == sorted(effects, reverse=True)
    assert prof.height == result.summary["n_features"]
    fig = profile_figure(prof)
    assert len(fig.data[0].x) == min(12, prof.height)
    assert fig.data[0].x[-1] == pytest.approx(prof["effect"][0])  # largest at the top
    bic = bic_figure(result, "latent")
    assert list(bic.data[0].x) == result.summary["params"]["k_values"][: len(bic.data[0].x)]
    grid = contingency_figure(result)
    assert np.asarray(grid.data[0].z).sum() == result.summary["n_segments"]
    assert f"{result.summary['n_segments']:,} segments" in fit_caption(result)


def test_request_states_reads_a_matching_cache(states_run: Run) -> None:
    assert states_k_range(states_run) == DEFAULT_K_RANGE
    request = request_states(states_run, DEFAULT_K_RANGE)
    assert request.result is not None and request.job is None and not request.fitting
    assert request.result.summary["params"]["k_values"] == list(range(2, 11))


def test_submit_states_refuses_a_bad_range(demo_run: Run) -> None:
    with pytest.raises(JobError, match="K range"):
        submit_states(demo_run.run_id, (5, 3))


@pytest.mark.slow  # a worker process fits two mixtures
def test_states_job_refits_another_k_range(states_run: Run) -> None:
    job = submit_states(states_run.run_id, (2, 4))
    assert job.kind == "states" and job.run_id == states_run.run_id
    assert states_job(states_run.run_id) is not None
    # While it runs (or once it ended) the page follows it, never fits itself.
    request = request_states(states_run, (2, 4))
    assert request.result is None or request.result.summary["params"]["k_values"] == [2, 3, 4]
    done = wait_job(job.job_id, timeout=240)
    assert done.state == "done", (done.error, done.log_tail)
    assert done.result is not None and done.result["k_values"] == [2, 3, 4]
    result = load_states(states_run)
    assert result is not None
    assert result.summary["params"]["k_values"] == [2, 3, 4]
    assert result.bic.filter(pl.col("space") == "latent")["k"].to_list() == [2, 3, 4]
    assert states_k_range(states_run) == (2, 4)
    after = request_states(states_run, (2, 4))
    assert after.result is not None and after.job is None
    # A page that only reads states takes the cached range as it is (no refit to the default).
    any_range = request_states(states_run)
    assert any_range.job is None and any_range.result is not None
    assert any_range.result.summary["params"]["k_values"] == [2, 3, 4]
    # Recompute: a new job, followed until done; the default range comes back.
    again = request_states(states_run, DEFAULT_K_RANGE, recompute=True)
    assert again.result is None and again.job is not None and again.job.job_id != job.job_id
    assert wait_job(again.job.job_id, timeout=240).state == "done"
    restored = load_states(states_run)
    assert restored is not None
    assert restored.summary["params"]["k_values"] == list(range(2, 11))
    assert json.dumps(restored.summary["params"])  # a plain record


# --- teams ------------------------------------------------------------------------------------------


def test_team_scope_follows_the_filters(states_run: Run, table: SegmentTable, turkey: int) -> None:
    latents = states_run.latents()
    everyone = team_scope(states_run, Filters())
    assert sorted(everyone.teams) == sorted(latents["team_id"].unique().to_list())
    assert everyone.total == latents.height
    italy = team_scope(states_run, Filters(team_ids=(ITALY,)))
    assert italy.teams == [ITALY]
    assert italy.frame.height == latents.filter(pl.col("team_id") == ITALY).height
    assert italy.pool.height == latents.height  # candidates: every team
    match = team_scope(states_run, Filters(match_ids=(TURKEY_ITALY,)))
    assert sorted(match.team_name.values()) == ["Italy", "Turkey"]
    assert match.pool_teams == [ITALY, turkey]  # by name
    fp, names = match.fingerprints(match_labels(table.meta), per_match=True, show_all=False)
    assert fp.height == 2 and all("Turkey 0-3 Italy" in n for n in names)
    pair, pair_names = everyone.pair(ITALY, turkey)
    assert sorted(pair_names) == ["Italy", "Turkey"] and pair.height == 2


def test_team_figures_and_similar_segments(
    states_run: Run, table: SegmentTable, turkey: int
) -> None:
    from core.analysis.fingerprints import compare_teams

    scope = team_scope(states_run, Filters())
    k = scope.view.n_states
    labels = dict(zip(scope.view.labels["state"], scope.view.labels["label"], strict=True))
    fp, names = scope.fingerprints({}, per_match=False, show_all=False)
    fig = share_figure(fp, names, labels, k, "State shares")
    assert len(fig.data) == k
    totals = np.sum([np.asarray(t.x) for t in fig.data], axis=0)
    np.testing.assert_allclose(totals, 1.0)
    cmp = compare_teams(scope.overall, ITALY, turkey)
    means = means_figure(cmp, ("Italy", "Turkey"), str.upper)
    assert [t.name for t in means.data] == ["Italy", "Turkey"]
    assert list(means.data[0].x) == [d.upper() for d in scope.view.dims]
    labels_of = match_labels(table.meta)
    choices = segment_choices(scope.frame, ITALY, labels_of)
    italy_ids = scope.frame.filter(pl.col("team_id") == ITALY)["segment_id"].to_list()
    assert sorted(choices) == sorted(italy_ids)
    assert next(iter(choices.values())).startswith("Turkey 0-3 Italy")
    near = similar_table(scope.view, italy_ids[0], turkey, 7, labels_of)
    assert near.height == 7
    assert near["distance"].to_list() == sorted(near["distance"].to_list())
    theirs = set(scope.frame.filter(pl.col("team_id") == turkey)["segment_id"].to_list())
    assert set(near["segment_id"].to_list()) <= theirs
    assert set(near["match"].to_list()) == {labels_of[TURKEY_ITALY]}


# --- latent map panels ----------------------------------------------------------------------------


def test_map_pick_reads_clicks_and_selections() -> None:
    points = [{"customdata": [5]}, {"customdata": [2]}]
    assert map_pick({"points": points, "box": [{"x": [0, 1]}]}).rows == [2, 5]
    assert map_pick({"points": points, "lasso": [{}]}).action == "group"
    click = map_pick({"points": [{"customdata": [7]}]})
    assert (click.action, click.rows) == ("inspect", [7])
    assert map_pick({}).action == "clear"


def test_inspector_panels(table: SegmentTable) -> None:
    assert has_projection(table)
    near = nearest_list(table, 0, 5)
    assert len(near) == 5 and 0 not in [n.row for n in near]
    d = np.linalg.norm(table.latents.astype(np.float64) - table.latents[0], axis=1)
    d[0] = np.inf
    assert [n.row for n in near] == np.argsort(d, kind="stable")[:5].tolist()
    assert near[0].label.startswith(f"1. distance {d[near[0].row]:.2f} · ")
    summary = segment_summary(table, 0)
    assert f"`{summary.segment_id}`" in headline(summary)
    rows = profile_rows(table, 0, None)
    assert rows.height == min(20, len(table.feature_names))
    assert rows.columns[:2] == ["feature", "z"]


def test_selection_helpers(table: SegmentTable) -> None:
    mask = selection_mask(table.n, [0, 3, 3])
    assert mask.sum() == 2 and mask[[0, 3]].all()
    frame = pl.DataFrame({"name": ["a"], "effect": [0.7], "kind": ["feature"], "extra": [1]})
    assert contrast_columns(frame) == ["kind", "name", "effect"]
    assert open_example_label({"name": "passes", "effect": 0.7}).startswith(
        "Open a selected segment high in passes"
    )
    assert "low in passes" in open_example_label({"name": "passes", "effect": -0.1})
