"""What a pattern means for results (core.analysis.results, core.services.results,
core.views.results): the bootstrap interval and the team-naming score on planted data, then
the report on the real demo run and, where the shared data is present, the World Cup 2018."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.analysis.mixtures import zscore_columns
from core.analysis.results import (
    EVIDENCE,
    MIN_VERDICT_MATCHES,
    NO_EVIDENCE,
    NOT_AVAILABLE,
    TOO_FEW,
    associations,
    bootstrap_pearson,
    group_codes,
    identity_score,
    nearest_centroid_lomo,
    team_match_means,
)
from core.errors import InspectError
from core.features.datasets import Dataset
from core.runs.store import Run
from core.services.results import match_outcomes, results_report
from core.views.results import association_sentence, ordered_dims, results_view
from core.views.table import Filters
from tests.helpers import PROJECT_ROOT

TURKEY, ITALY, BARCELONA = 909, 914, 217
TURKEY_ITALY = 3788741
WC2018 = PROJECT_ROOT.parent / "shared" / "data" / "statsbomb"


def _planted(n_matches: int = 60, seed: int = 3) -> pl.DataFrame:
    """Two rows per match with mirrored outcomes: ``planted`` follows the goal difference,
    ``null`` is noise."""
    rng = np.random.default_rng(seed)
    gd = rng.integers(-3, 4, n_matches).astype(float)
    goal_diff = np.stack([gd, -gd], axis=1).ravel()
    return pl.DataFrame(
        {
            "match_id": np.repeat(np.arange(n_matches), 2),
            "team_id": np.tile([1, 2], n_matches),
            "planted": 0.4 * goal_diff + rng.normal(size=2 * n_matches),
            "null": rng.normal(size=2 * n_matches),
            "goal_diff": goal_diff,
        }
    )


class TestAssociations:
    def test_planted_association_excludes_zero_and_noise_crosses_it(self) -> None:
        table = _planted()
        out = associations(table, ["planted", "null"], ["goal_diff"])
        planted, null = out.row(0, named=True), out.row(1, named=True)
        assert planted["pattern"] == "planted" and planted["n_matches"] == 60
        assert planted["n_rows"] == 120
        assert 0.4 < planted["r"] < 0.9, planted
        assert 0 < planted["low"] < planted["r"] < planted["high"], planted
        assert planted["verdict"] == EVIDENCE
        assert null["low"] < 0 < null["high"], null
        assert null["verdict"] == NO_EVIDENCE
        # The same table and seed give the same interval.
        assert associations(table, ["planted", "null"], ["goal_diff"]).equals(out)

    def test_vectorised_bootstrap_equals_a_loop_over_resampled_matches(self) -> None:
        table = _planted(n_matches=25)
        x = table.select("planted", "null").to_numpy()
        y = table["goal_diff"].to_numpy()
        groups = table["match_id"].to_numpy()
        r, low, high = bootstrap_pearson(x, y, groups, n_boot=300, seed=5)
        # The same draws, one resample at a time: whole matches, both rows together.
        draws = np.random.default_rng(5).integers(0, 25, size=(300, 25))
        loop = np.array(
            [
                [
                    np.corrcoef(x[rows, j], y[rows])[0, 1]
                    for j in range(2)
                    for rows in [np.concatenate([np.flatnonzero(groups == g) for g in d])]
                ]
                for d in draws
            ]
        )
        np.testing.assert_allclose(low, np.percentile(loop, 2.5, axis=0), atol=1e-9)
        np.testing.assert_allclose(high, np.percentile(loop, 97.5, axis=0), atol=1e-9)
        np.testing.assert_allclose(r, [np.corrcoef(x[:, j], y)[0, 1] for j in range(2)])

    def test_few_matches_get_an_interval_but_no_verdict(self) -> None:
        table = _planted(n_matches=MIN_VERDICT_MATCHES - 1)
        out = associations(table, ["planted"], ["goal_diff"])
        assert out["verdict"].to_list() == [TOO_FEW]
        assert out["low"][0] is not None and out["high"][0] is not None
        # An outcome without values is not available rather than zero.
        blank = table.with_columns(pl.lit(None, pl.Float64).alias("goal_diff"))
        row = associations(blank, ["planted"], ["goal_diff"]).row(0, named=True)
        assert row["verdict"] == NOT_AVAILABLE and row["r"] is None and row["n_rows"] == 0
        assert "not available" in association_sentence(row)

    def test_bad_shapes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="x must be"):
            bootstrap_pearson(np.zeros((4, 2)), np.zeros(3), np.arange(4))
        with pytest.raises(ValueError, match="lacks the column"):
            associations(_planted(), ["nope"], ["goal_diff"])

    def test_sentences_read_the_verdict(self) -> None:
        row = {
            "outcome": "shot_diff", "r": -0.31, "low": -0.48, "high": -0.12,
            "n_matches": 64, "n_rows": 128, "verdict": EVIDENCE,
        }  # fmt: skip
        assert association_sentence(row) == (
            "Teams higher on this pattern in a match had a worse shot difference: "
            "r = -0.31, 95% CI -0.48 to -0.12 (64 matches)."
        )
        crossing = {**row, "r": 0.05, "low": -0.2, "high": 0.29, "verdict": NO_EVIDENCE}
        assert association_sentence(crossing).startswith(
            "No evidence for shot difference: the interval crosses 0; r = +0.05"
        )


class TestIdentity:
    def test_leave_one_match_out_equals_refitting_without_the_match(self) -> None:
        rng = np.random.default_rng(0)
        n_matches, n_teams = 40, 8
        home = rng.integers(0, n_teams, n_matches)
        away = (home + rng.integers(1, n_teams, n_matches)) % n_teams
        teams = np.stack([home, away], axis=1).ravel()
        matches = np.repeat(np.arange(n_matches), 2)
        values = rng.normal(size=(2 * n_matches, 3)) + 0.8 * teams[:, None] % 3
        pred = nearest_centroid_lomo(values, teams, matches)
        X = zscore_columns(values)
        for i in range(teams.size):
            keep = matches != matches[i]
            cents = {t: X[keep & (teams == t)].mean(axis=0) for t in np.unique(teams[keep])}
            best = min(cents, key=lambda t: float(((X[i] - cents[t]) ** 2).sum()))
            assert pred[i] == best, i

    def test_a_planted_team_style_is_named_above_chance(self) -> None:
        rng = np.random.default_rng(1)
        n_matches, n_teams = 60, 6
        home = rng.integers(0, n_teams, n_matches)
        away = (home + rng.integers(1, n_teams, n_matches)) % n_teams
        teams = np.stack([home, away], axis=1).ravel()
        style = rng.normal(size=(n_teams, 4))
        values = style[teams] + 0.5 * rng.normal(size=(teams.size, 4))
        matches = np.repeat(np.arange(n_matches), 2)
        score = identity_score(values, teams, matches, source="planted", label="planted")
        assert score.n_teams == n_teams and score.chance == pytest.approx(1 / 6)
        assert score.n_evaluated == teams.size
        assert score.accuracy > 0.8, score
        noise = identity_score(
            rng.normal(size=values.shape), teams, matches, source="noise", label="noise"
        )
        assert noise.accuracy < 0.5, noise

    def test_repeated_team_match_rows_are_refused(self) -> None:
        with pytest.raises(ValueError, match="one row per team and match"):
            nearest_centroid_lomo(np.zeros((2, 1)), np.array([1, 1]), np.array([5, 5]))


def test_team_match_means_average_each_teams_segments() -> None:
    segments = pl.DataFrame(
        {
            "match_id": [1, 1, 1, 2],
            "team_id": [7, 7, 8, 7],
            "z0": [1.0, 3.0, -1.0, float("nan")],
        }
    )
    out = team_match_means(segments, ["z0"])
    assert out.rows() == [(1, 7, 2, 2.0), (1, 8, 1, -1.0), (2, 7, 1, None)]
    assert group_codes([5, 3, 5]).tolist() == [1, 0, 1]


# --- the real demo run ---------------------------------------------------------------------


def test_demo_report_reads_real_outcomes(demo_run: Run) -> None:
    report = results_report(demo_run)
    table = report.table
    assert (report.n_matches, report.n_teams, table.height) == (3, 5, 6)
    assert report.n_segments == report.n_total == demo_run.latents().height
    assert report.dims == demo_run.dim_quality().distinct
    assert set(report.dims) <= set(table.columns)
    row = {r["team_id"]: r for r in table.filter(pl.col("match_id") == TURKEY_ITALY).to_dicts()}
    # Turkey 0-3 Italy (one of Italy's goals an own goal).
    assert (row[ITALY]["goals_for"], row[ITALY]["goals_against"]) == (3, 0)
    assert row[ITALY]["goal_diff"] == 3.0 and row[TURKEY]["goal_diff"] == -3.0
    # Differences mirror within a match; Italy out-shot and out-created Turkey.
    assert row[ITALY]["shot_diff"] == -row[TURKEY]["shot_diff"] > 0
    assert row[ITALY]["xg_diff"] == pytest.approx(-row[TURKEY]["xg_diff"])
    assert row[ITALY]["xg_diff"] > 0
    events = Dataset.of_features(demo_run.config().features_path).events()
    assert events is not None
    shots = (
        events.filter((pl.col("match_id") == TURKEY_ITALY) & (pl.col("type") == "shot"))
        .group_by("team_id")
        .len()
    )
    counts = dict(shots.iter_rows())
    assert row[ITALY]["shot_diff"] == counts[ITALY] - counts[TURKEY]
    # Every pattern against every outcome; 3 matches are too few for a verdict.
    assoc = report.associations
    assert assoc.height == 3 * len(report.dims)
    assert set(assoc["verdict"].to_list()) <= {TOO_FEW, NOT_AVAILABLE}
    # Naming the team: only Barcelona plays twice, so only its two rows can be named.
    assert [s.source for s in report.identity] == ["patterns", "pca", "features"]
    for score in report.identity:
        assert (score.n_teams, score.n_rows, score.n_evaluated) == (5, 6, 2)
        assert score.chance == pytest.approx(0.2)
    assert any("Only 2 of 6 team-matches" in n for n in report.notes)
    with pytest.raises(InspectError, match="No segments pass the sidebar's filters"):
        results_report(demo_run, filters=lambda f: f.head(0))


def test_goals_without_a_matches_file_are_counted_from_events(
    demo_run: Run, tmp_path: Path
) -> None:
    source = Dataset.of_features(demo_run.config().features_path)
    bare = Dataset(tmp_path / "bare")
    bare.path.mkdir()
    shutil.copy(source.events_path, bare.events_path)
    segments = demo_run.latents().select("segment_id", "match_id", "team_id", "opponent_id")
    scored, sources = match_outcomes(segments, source)
    counted, counted_sources = match_outcomes(segments, bare)
    assert "matches.parquet" in sources["goal_diff"]
    assert "events.parquet" in counted_sources["goal_diff"]
    cols = ["match_id", "team_id", "goals_for", "goals_against", "goal_diff"]
    assert (
        counted.select(cols)
        .sort("match_id", "team_id")
        .equals(scored.select(cols).sort("match_id", "team_id"))
    )
    # Without the rate columns, xG is not available rather than zero.
    assert counted["xg_diff"].null_count() == counted.height
    assert "not available" in counted_sources["xg_diff"]


def test_reproduced_patterns_come_first() -> None:
    assert ordered_dims(["z0", "z1", "z2", "z3"], ["z3", "z1"]) == ["z1", "z3", "z0", "z2"]
    assert ordered_dims(["z0", "z1"], []) == ["z0", "z1"]


def test_demo_view_orders_patterns_and_follows_the_team_filter(demo_run: Run) -> None:
    view = results_view(demo_run)
    quality = demo_run.dim_quality()
    dims = [p.dim for p in view.patterns]
    assert sorted(dims) == sorted(quality.distinct)
    reproduced = [p.reproduced for p in view.patterns]
    assert reproduced == sorted(reproduced, reverse=True)  # reproduced first
    assert all(p.title.endswith("unconfirmed") for p in view.patterns if not p.reproduced)
    assert all(len(p.sentences) == 3 for p in view.patterns)
    assert "95% CI" in view.patterns[0].sentences[0]
    assert any("Only 3 matches" in c for c in view.cautions)
    traces = [t for t in view.figure.data if t.error_x.array is not None]
    assert sum(len(t.x) for t in traces) == 3 * len(dims)

    italy = results_view(demo_run, Filters(team_ids=(ITALY,)))
    n_italy = demo_run.latents().filter(pl.col("team_id") == ITALY).height
    assert italy.report.table["team_id"].to_list() == [ITALY]
    assert italy.report.n_segments == n_italy
    assert italy.report.identity == []  # one team: nothing to tell apart


# --- World Cup 2018 (shared data) ----------------------------------------------------------


@pytest.fixture(scope="module")
def wc2018(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The 64 World Cup 2018 matches' features, extracted once (skips without the data)."""
    if not (WC2018 / "matches" / "43" / "3.json").is_file():
        pytest.skip(f"StatsBomb open data not found under {WC2018}")
    from core.features.extract import extract_features

    out = tmp_path_factory.mktemp("wc2018") / "wc2018"
    extract_features(WC2018, out, competitions=[43], seasons=[3], workers=2)
    return Dataset(out)


@pytest.mark.slow
def test_world_cup_features_name_the_team_above_chance(wc2018: Dataset) -> None:
    from core.analysis.baseline import pca_scores
    from core.features.registry import feature_columns

    features = pl.read_parquet(wc2018.features_path).filter(pl.col("segment_type") == "window")
    names = [c for c in feature_columns(features.columns) if features[c].null_count() == 0]
    X = zscore_columns(features.select(names).to_numpy())
    inputs = {
        "features": [f"f{i}" for i in range(len(names))],
        "pca": [f"pc{i}" for i in range(8)],
    }
    values = pl.DataFrame(
        np.hstack([X, pca_scores(X, 8)[0]]), schema=[*inputs["features"], *inputs["pca"]]
    )
    table = team_match_means(
        pl.concat([features.select("match_id", "team_id"), values], how="horizontal"),
        [*inputs["features"], *inputs["pca"]],
    )
    assert (table["match_id"].n_unique(), table["team_id"].n_unique()) == (64, 32)
    teams, matches = table["team_id"].to_numpy(), table["match_id"].to_numpy()
    for source, cols in inputs.items():
        score = identity_score(
            table.select(cols).to_numpy(), teams, matches, source=source, label=source
        )
        assert score.n_evaluated == 128 and score.chance == pytest.approx(1 / 32)
        assert score.accuracy > 2 * score.chance, score
