"""Segment inspector, map and pitch logic (core.views and core.analysis.latents) on the real demo run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from scipy.spatial.distance import cdist

from core.analysis.latents import dominant_dimension, nearest_segments
from core.errors import InspectError
from core.features.registry import registry_frame
from core.features.summary import dataset_overview, feature_coverage
from core.runs.store import Run
from core.views.correlations import adjust_pvalues, feature_order
from core.views.inspector import (
    contrast_example,
    rows_from_selection,
    segment_events,
    segment_profile,
    segment_summary,
    selection_contrast,
    selection_frame,
)
from core.views.latent_map import ColorSpec, color_spec, latent_map_figure
from core.views.palettes import MAX_LEGEND_CATEGORIES, QUALITATIVE
from core.views.pitch import EVENT_STYLES, event_kind, marker_angles, segment_pitch_figure
from core.views.table import Filters, SegmentTable, build_segment_table, filter_mask, filter_options

TURKEY_ITALY = 3788741


@pytest.fixture(scope="module")
def features(demo_dataset: Path) -> pl.DataFrame:
    return pl.read_parquet(demo_dataset / "features.parquet")


@pytest.fixture(scope="module")
def table(demo_run: Run, demo_dataset: Path, features: pl.DataFrame) -> SegmentTable:
    return build_segment_table(
        demo_run.latents(),
        demo_run.umap(),
        features,
        feature_names=demo_run.correlations().feature_names,
        matches=pl.read_parquet(demo_dataset / "matches.parquet"),
    )


@pytest.fixture(scope="module")
def events(demo_dataset: Path) -> pl.DataFrame:
    return pl.read_parquet(demo_dataset / "events.parquet")


class TestSegmentTable:
    def test_rows_follow_latents_and_carry_their_features(
        self, table: SegmentTable, demo_run: Run, features: pl.DataFrame
    ) -> None:
        latents = demo_run.latents()
        assert table.n == latents.height
        assert table.meta["segment_id"].to_list() == latents["segment_id"].to_list()
        np.testing.assert_allclose(
            table.latents, latents.select(demo_run.latent_columns()).to_numpy(), rtol=1e-6
        )
        # Row 17's features are exactly that segment's row of features.parquet.
        sid = table.meta["segment_id"][17]
        name = table.feature_names[0]
        expected = features.filter(pl.col("segment_id") == sid)[name].item()
        assert table.features[17, 0] == pytest.approx(expected, nan_ok=True)
        umap = demo_run.umap().filter(pl.col("segment_id") == sid)
        assert table.xy[17, 0] == pytest.approx(umap["umap_x"].item(), rel=1e-5)

    def test_match_labels_come_from_matches_parquet(self, table: SegmentTable) -> None:
        labels = dict(
            zip(table.meta["match_id"].to_list(), table.meta["match_label"].to_list(), strict=True)
        )
        assert labels[TURKEY_ITALY].startswith("Turkey 0-3 Italy")

    def test_unknown_segment_and_missing_features_are_clear_errors(
        self, demo_run: Run, features: pl.DataFrame, table: SegmentTable
    ) -> None:
        with pytest.raises(InspectError, match="not part of this run"):
            table.row_of("no-such-segment")
        with pytest.raises(InspectError, match="lacks 1 feature"):
            build_segment_table(demo_run.latents(), None, features, feature_names=["t1_nope"])


class TestOneSegment:
    def test_profile_is_z_scores_against_all_segments_largest_first(
        self, table: SegmentTable
    ) -> None:
        row = 11
        profile = segment_profile(table, row, registry_frame())
        z = profile["z"].drop_nulls().to_numpy()
        assert np.all(np.diff(np.abs(z)) <= 1e-12), "not sorted by |z|"
        top = profile.row(0, named=True)
        col = table.features[:, table.feature_names.index(top["feature"])]
        expected = (col[row] - np.nanmean(col)) / np.nanstd(col)
        assert top["z"] == pytest.approx(expected)
        assert top["definition"], "the top feature has no definition"
        assert set(profile["feature"].to_list()) == set(table.feature_names)

    def test_summary_names_match_team_period_and_minutes(self, table: SegmentTable) -> None:
        meta = table.meta.with_row_index("row")
        first = meta.filter((pl.col("match_id") == TURKEY_ITALY) & (pl.col("period") == 2)).row(
            0, named=True
        )
        summary = segment_summary(table, int(first["row"]))
        assert summary.match_label.startswith("Turkey 0-3 Italy")
        assert summary.team_name == first["team_name"]
        assert summary.period == 2
        assert summary.minute_start == pytest.approx(first["match_minute"])
        length_min = (first["end_time"] - first["start_time"]) / 60
        assert summary.minute_end == pytest.approx(first["match_minute"] + length_min)
        assert summary.minute_range == (
            f"{int(first['match_minute'])}'–{int(first['match_minute'] + length_min)}'"
        )
        assert summary.score_text in (
            "level",
            "leading by 1",
            "leading by 2",
            "leading by 3",
            "trailing by 1",
            "trailing by 2",
            "trailing by 3",
        )
        with pytest.raises(InspectError):
            segment_summary(table, table.n)

    def test_nearest_segments_match_brute_force(self, table: SegmentTable) -> None:
        row = 42
        idx, dist = nearest_segments(table.latents, row, k=5)
        d = cdist(table.latents[[row]].astype(np.float64), table.latents.astype(np.float64))[0]
        d[row] = np.inf
        expected = np.argsort(d, kind="stable")[:5]
        assert idx.tolist() == expected.tolist()
        np.testing.assert_allclose(dist, d[expected], rtol=1e-5)
        assert row not in idx

    def test_segment_events_are_the_teams_events_inside_the_window(
        self, table: SegmentTable, events: pl.DataFrame
    ) -> None:
        summary = segment_summary(table, 5)
        seg = segment_events(events, summary)
        assert seg.height > 0
        assert seg["team_id"].unique().to_list() == [summary.team_id]
        assert seg["time_s"].min() >= summary.start_time  # type: ignore[operator]
        assert seg["time_s"].max() < summary.end_time  # type: ignore[operator]
        everything = events.filter(
            (pl.col("match_id") == summary.match_id)
            & (pl.col("period") == summary.period)
            & (pl.col("team_id") == summary.team_id)
            & pl.col("time_s").is_between(summary.start_time, summary.end_time, closed="left")
        )
        assert seg.height == everything.height


class TestFiltersAndSelections:
    def test_filter_mask_counts_match_polars(self, table: SegmentTable) -> None:
        filters = Filters(match_ids=(TURKEY_ITALY,), periods=(1,))
        mask = filter_mask(table.meta, filters)
        expected = table.meta.filter(
            (pl.col("match_id") == TURKEY_ITALY) & (pl.col("period") == 1)
        ).height
        assert 0 < mask.sum() == expected < table.n
        assert filter_mask(table.meta, Filters()).all()

    def test_options_narrow_from_competition_to_matches_to_teams(self, table: SegmentTable) -> None:
        everything = filter_options(table.meta, Filters())
        assert everything.competitions == ["Euro 2020", "La Liga"]
        la_liga = filter_options(table.meta, Filters(competitions=("La Liga",)))
        assert TURKEY_ITALY not in la_liga.matches and len(la_liga.matches) == 2
        one_match = filter_options(table.meta, Filters(match_ids=(TURKEY_ITALY,)))
        assert sorted(one_match.teams.values()) == ["Italy", "Turkey"]

    def test_score_state_filter_reads_the_teams_goal_difference(self, table: SegmentTable) -> None:
        diff = table.meta["score_state"]
        options = filter_options(table.meta, Filters())
        # Every demo match has goals, so all three states occur, offered in this order.
        assert options.score_states == ["trailing", "level", "leading"]
        for name, expected in (
            ("trailing", int((diff < 0).sum())),
            ("level", int((diff == 0).sum())),
            ("leading", int((diff > 0).sum())),
        ):
            mask = filter_mask(table.meta, Filters(score_states=(name,)))
            assert 0 < mask.sum() == expected < table.n, name
        both = filter_mask(table.meta, Filters(score_states=("trailing", "leading")))
        assert both.sum() == int((diff != 0).sum())
        # Combined with a team: Italy won 3-0, so it never trailed against Turkey.
        italy_behind = Filters(
            match_ids=(TURKEY_ITALY,), team_ids=(914,), score_states=("trailing",)
        )
        assert filter_mask(table.meta, italy_behind).sum() == 0

    def test_rows_from_selection_reads_customdata(self) -> None:
        points: list[dict[str, object]] = [
            {"customdata": 7},
            {"customdata": [3]},
            {"customdata": 7},
            {"x": 1.0},
        ]
        assert rows_from_selection(points).tolist() == [3, 7]

    def test_selection_contrast_compares_means(self, table: SegmentTable) -> None:
        selected = (table.meta["team_name"] == "Barcelona").to_numpy()
        contrast = selection_contrast(table, selected, registry_frame())
        row = contrast.filter(pl.col("name") == "z0").row(0, named=True)
        assert row["mean_selected"] == pytest.approx(table.latents[selected, 0].mean(), rel=1e-5)
        assert row["mean_rest"] == pytest.approx(table.latents[~selected, 0].mean(), rel=1e-5)
        p = contrast["p_value"].drop_nulls().to_numpy()
        assert ((p >= 0) & (p <= 1)).all()
        effects = contrast["effect"].drop_nulls().abs().to_numpy()
        assert np.all(np.diff(effects) <= 1e-12)
        with pytest.raises(InspectError, match="at least one"):
            selection_contrast(table, np.zeros(table.n, dtype=bool))

    def test_a_contrast_row_opens_a_clear_example_of_it(self, table: SegmentTable) -> None:
        """A contrast row's example is a selected segment on the side the selection differs,
        at the 90th percentile of that difference (not the single most extreme one)."""
        name = "t1_possession_share"
        col = table.features[:, table.feature_names.index(name)]
        selected = col > np.nanmedian(col)  # the more-of-the-ball half
        row = contrast_example(table, selected, "feature", name)
        assert selected[row]
        values = np.sort(col[selected])
        assert col[row] == values[round(0.9 * (len(values) - 1))]
        assert col[row] < values[-1] or len(values) == 1
        # Low side: a selection with less of the ball gets an example low in it.
        low = contrast_example(table, ~selected, "feature", name)
        assert not selected[low] and col[low] <= np.nanmedian(col[~selected])
        # Latent rows work the same way, on the run's latent columns.
        z = table.latents[:, 0]
        top = z > np.quantile(z, 0.75)
        assert top[contrast_example(table, top, "latent", "z0")]
        with pytest.raises(InspectError, match="No feature named"):
            contrast_example(table, selected, "feature", "t9_nonsense")
        with pytest.raises(InspectError, match="at least one"):
            contrast_example(table, np.zeros(table.n, dtype=bool), "feature", name)

    def test_selection_frame_exports_meta_latents_and_position(self, table: SegmentTable) -> None:
        frame = selection_frame(table, [4, 9])
        assert frame.height == 2
        assert frame["segment_id"].to_list() == table.meta["segment_id"][[4, 9]].to_list()
        assert frame["z1"][1] == pytest.approx(float(table.latents[9, 1]))


class TestMap:
    def test_dominant_colouring_is_argmax_abs(self, table: SegmentTable) -> None:
        spec = color_spec(table, "dominant")
        assert spec.categories == table.latent_names
        np.testing.assert_array_equal(spec.values, np.argmax(np.abs(table.latents), axis=1))
        np.testing.assert_array_equal(dominant_dimension(table.latents), spec.values)

    def test_team_and_score_colourings_are_categories(self, table: SegmentTable) -> None:
        team = color_spec(table, "team")
        assert sorted(team.categories or []) == sorted(table.meta["team_name"].unique().to_list())
        labels = [team.categories[c] for c in team.values[:5]]  # type: ignore[index]
        assert labels == table.meta["team_name"][:5].to_list()
        score = color_spec(table, "score_state")
        assert "level" in (score.categories or [])
        with pytest.raises(InspectError):
            color_spec(table, "latent", latent=table.latent_dim)

    def test_figure_sends_each_filtered_point_once_with_its_row(self, table: SegmentTable) -> None:
        mask = filter_mask(table.meta, Filters(match_ids=(TURKEY_ITALY,)))
        fig = latent_map_figure(
            table, color_spec(table, "team"), mask, highlight=3, neighbours=[1, 2]
        )
        data_traces = [
            t for t in fig.data if t.name not in ("inspected segment", "nearest segments")
        ]
        rows = np.concatenate([np.asarray(t.customdata) for t in data_traces])
        assert sorted(rows.tolist()) == np.flatnonzero(mask).tolist()
        assert {t.name for t in data_traces} == {"Turkey", "Italy"}
        ring = next(t for t in fig.data if t.name == "inspected segment")
        assert list(ring.customdata) == [3]
        first = data_traces[0]
        r0 = int(first.customdata[0])
        assert first.x[0] == pytest.approx(float(table.xy[r0, 0]))

    def test_hundreds_of_categories_share_one_trace(self, table: SegmentTable) -> None:
        n_cat = MAX_LEGEND_CATEGORIES + 5
        codes = np.arange(table.n) % n_cat
        spec = ColorSpec(values=codes, title="Match", categories=[f"m{i}" for i in range(n_cat)])
        fig = latent_map_figure(table, spec)
        assert len(fig.data) == 1 and fig.data[0].showlegend is False
        np.testing.assert_array_equal(fig.data[0].customdata, np.arange(table.n))
        np.testing.assert_array_equal(fig.data[0].marker.color, codes % len(QUALITATIVE))

    def test_continuous_colouring_is_one_trace(self, table: SegmentTable) -> None:
        fig = latent_map_figure(table, color_spec(table, "latent", latent=1))
        assert len(fig.data) == 1
        np.testing.assert_allclose(fig.data[0].marker.color, table.latents[:, 1], rtol=1e-6)


class TestCorrelationHelpers:
    def test_benjamini_hochberg_and_bonferroni(self) -> None:
        p = np.array([[0.01, 0.02], [0.03, np.nan]])
        bh = adjust_pvalues(p, "bh")
        np.testing.assert_allclose(bh[~np.isnan(p)], [0.03, 0.03, 0.03])
        assert np.isnan(bh[1, 1])
        bonf = adjust_pvalues(p, "bonferroni")
        np.testing.assert_allclose(bonf[~np.isnan(p)], [0.03, 0.06, 0.09])
        np.testing.assert_array_equal(adjust_pvalues(p, "none")[0], p[0])

    def test_feature_order_by_tier_and_cluster(self, demo_run: Run) -> None:
        corr = demo_run.correlations()
        names = corr.feature_names
        by_tier = feature_order(corr.pearson_r, names, by="tier")
        tiers = [int(names[i][1]) for i in by_tier]
        assert tiers == sorted(tiers)
        clustered = feature_order(corr.pearson_r, names, by="cluster")
        assert sorted(clustered.tolist()) == list(range(len(names)))
        # Two features with identical profiles end up next to each other.
        r = np.array([[0.9, -0.5, 0.1, 0.9], [0.1, 0.8, -0.7, 0.1]])
        order = feature_order(r, ["t1_a", "t1_b", "t1_c", "t1_d"], by="cluster").tolist()
        assert abs(order.index(0) - order.index(3)) == 1


class TestDatasetSummaries:
    def test_overview_of_the_demo(self, features: pl.DataFrame) -> None:
        ov = dataset_overview(features)
        assert ov["matches"] == 3
        assert ov["competitions"] == 2
        assert ov["segments"] == features.height
        assert sum(ov["features_by_tier"].values()) == ov["features"]
        t3 = [c for c in features.columns if c.startswith("t3_")]
        share = features.select(pl.any_horizontal(pl.col(t3).is_not_null()).mean()).item()
        assert ov["coverage_360"] == pytest.approx(share)
        assert 0 < ov["coverage_360"] < 1, "only Turkey-Italy has 360 frames"

    def test_feature_coverage(self, features: pl.DataFrame) -> None:
        cov = feature_coverage(features)
        name = cov["name"][0]
        assert cov["coverage"][0] == pytest.approx(features[name].is_not_null().mean())
        t3 = cov.filter(pl.col("name").str.starts_with("t3_"))["coverage"]
        assert t3.max() < 1.0  # type: ignore[operator]


class TestPitch:
    def test_event_kinds(self) -> None:
        kinds = event_kind(
            pl.Series(["pass", "pass", "shot", "shot", "carry", "pressure", "duel"]),
            pl.Series(["complete", "incomplete", "goal", "saved", None, None, "won"]),
        )
        assert kinds.to_list() == [
            "pass_complete",
            "pass_incomplete",
            "goal",
            "shot",
            "carry",
            "pressure",
            None,
        ]

    def test_marker_angles_point_along_the_move(self) -> None:
        # Reversed y axis: +x is right (90 deg), +y is down the screen (180 deg).
        np.testing.assert_allclose(marker_angles([1, 0, 0], [0, 1, -1]), [90, 180, 0], atol=1e-9)

    def test_drawing_places_pass_ends_and_pressures(
        self, table: SegmentTable, events: pl.DataFrame
    ) -> None:
        seg = segment_events(events, segment_summary(table, 5))
        fig = segment_pitch_figure(seg, title="test")
        assert isinstance(fig, go.Figure)
        passes = seg.filter((pl.col("type") == "pass") & (pl.col("outcome") == "complete"))
        marker = next(
            t
            for t in fig.data
            if t.name == EVENT_STYLES["pass_complete"].label and t.mode == "markers"
        )
        assert len(marker.x) == passes.height
        np.testing.assert_allclose(sorted(marker.x), sorted(passes["end_x"].to_list()))
        pressures = seg.filter(pl.col("type") == "pressure").height
        drawn = [t for t in fig.data if t.name == EVENT_STYLES["pressure"].label]
        assert sum(len(t.x) for t in drawn) == pressures
        assert len(fig.layout.shapes) >= 10  # the pitch lines
