"""Segments and features of the demo matches, checked against facts counted from the raw JSON."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from core.data.sources import demo_match_files
from core.data.statsbomb import read_events, read_three_sixty
from core.features.compute import segment_features
from core.features.registry import FEATURES, feature_info, feature_names, registry_frame
from core.features.segments import (
    possession_segments,
    segment_context,
    segment_events,
    window_segments,
)

ITALY, TURKEY = 914, 909
MATCH = 3788741


def _seconds(ts: str) -> float:
    h, m, s = ts.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.fixture(scope="module")
def raw() -> list[dict[str, Any]]:
    files = next(m for m in demo_match_files() if m.match_id == MATCH)
    out: list[dict[str, Any]] = orjson.loads(files.events.read_bytes())
    return out


@pytest.fixture(scope="module")
def match() -> dict[str, Any]:
    files = next(m for m in demo_match_files() if m.match_id == MATCH)
    events = read_events(files.events, MATCH).events
    assert files.three_sixty is not None
    players, frames = read_three_sixty(files.three_sixty, events)
    segments = pl.concat([window_segments(events), possession_segments(events)])
    features = segment_features(events, segments, players, frames)
    table = segments.join(features, on="segment_id").join(
        segment_context(events, segments), on="segment_id"
    )
    return {"events": events, "segments": segments, "table": table}


def _raw_in(
    raw: list[dict[str, Any]], team: int, period: int, start: float, end: float
) -> list[dict[str, Any]]:
    return [
        e
        for e in raw
        if e["team"]["id"] == team
        and e["period"] == period
        and start <= _seconds(e["timestamp"]) < end
    ]


def _window(table: pl.DataFrame, team: int, period: int, start: float) -> dict[str, Any]:
    row = table.filter(
        (pl.col("segment_type") == "window")
        & (pl.col("team_id") == team)
        & (pl.col("period") == period)
        & (pl.col("start_time") == start)
    )
    assert row.height == 1
    return row.row(0, named=True)


class TestWindows:
    def test_windows_per_team_per_period(self, match: dict[str, Any]) -> None:
        w = match["segments"].filter(pl.col("segment_type") == "window")
        assert set(w["team_id"]) == {ITALY, TURKEY}
        assert set(w["period"]) == {1, 2}
        assert (w["start_time"] % 150 == 0).all()
        length = w["end_time"] - w["start_time"]
        assert (length <= 300).all() and (length >= 150).all()
        # Both teams get the same windows, each with the other as opponent.
        by_team = w.group_by("team_id").agg(pl.col("start_time").sort())
        assert by_team["start_time"][0].to_list() == by_team["start_time"][1].to_list()
        assert (w["team_id"] != w["opponent_id"]).all()
        assert w["segment_id"].n_unique() == w.height

    def test_no_segment_holds_another_periods_or_teams_events(self, match: dict[str, Any]) -> None:
        se = segment_events(match["events"], match["segments"]).join(
            match["segments"].select(
                "segment_id",
                pl.col("period").alias("seg_period"),
                "start_time",
                "end_time",
                "segment_type",
                pl.col("possession").alias("seg_possession"),
            ),
            on="segment_id",
        )
        assert (se["period"] == se["seg_period"]).all()
        # [start, end), and the period's last instant (its Half End) in the windows ending there.
        period_end = match["events"].group_by("period").agg(pl.col("time_s").max().alias("last"))
        windows = se.filter(pl.col("segment_type") == "window").join(period_end, on="period")
        at_end = (pl.col("time_s") == pl.col("end_time")) & (pl.col("end_time") == pl.col("last"))
        assert windows.select(
            (
                (pl.col("time_s") >= pl.col("start_time"))
                & ((pl.col("time_s") < pl.col("end_time")) | at_end)
            ).all()
        ).item()
        assert windows.select(at_end.any()).item()
        poss = se.filter(pl.col("segment_type") == "possession")
        assert (poss["possession"] == poss["seg_possession"]).all()
        assert ((se["team_id"] == se["seg_team_id"]) == se["own"]).all()

    def test_counts_match_the_raw_json(
        self, match: dict[str, Any], raw: list[dict[str, Any]]
    ) -> None:
        row = _window(match["table"], ITALY, 1, 600.0)
        minutes = (row["end_time"] - row["start_time"]) / 60
        assert minutes == 5.0
        mine = _raw_in(raw, ITALY, 1, 600, 900)
        passes = [e for e in mine if e["type"]["name"] == "Pass"]
        shots = [e for e in mine if e["type"]["name"] == "Shot"]
        assert len(passes) > 20 and len(shots) >= 1
        assert row["t1_passes_per_min"] * minutes == pytest.approx(len(passes))
        assert row["t1_pass_completion"] == pytest.approx(
            sum("outcome" not in e["pass"] for e in passes) / len(passes)
        )
        assert row["t1_shots_per_min"] * minutes == pytest.approx(len(shots))
        assert row["t1_xg_per_min"] * minutes == pytest.approx(
            sum(e["shot"]["statsbomb_xg"] for e in shots)
        )
        theirs = _raw_in(raw, TURKEY, 1, 600, 900)
        their_passes = [e for e in theirs if e["type"]["name"] == "Pass"]
        assert row["t1_opponent_passes_per_min"] * minutes == pytest.approx(len(their_passes))
        pressures = [e for e in mine if e["type"]["name"] == "Pressure"]
        assert row["t2_pressure_height"] == pytest.approx(
            sum(e["location"][0] for e in pressures) / len(pressures)
        )

    def test_ppda_and_field_tilt_from_raw_json(
        self, match: dict[str, Any], raw: list[dict[str, Any]]
    ) -> None:
        row = _window(match["table"], ITALY, 2, 300.0)
        mine = _raw_in(raw, ITALY, 2, 300, 600)
        theirs = _raw_in(raw, TURKEY, 2, 300, 600)
        # Turkey's passes in its own 60% (its x <= 72) over Italy's defensive actions at x >= 48.
        opp_passes = sum(e["type"]["name"] == "Pass" and e["location"][0] <= 72 for e in theirs)
        actions = sum(
            e["type"]["name"] in {"Duel", "Interception", "Foul Committed", "Dribbled Past"}
            and e["location"][0] >= 48
            for e in mine
        )
        assert row["t2_ppda"] == pytest.approx(opp_passes / max(actions, 1))
        final_third = sum(e["type"]["name"] == "Pass" and e["location"][0] >= 80 for e in mine)
        their_final = sum(e["type"]["name"] == "Pass" and e["location"][0] >= 80 for e in theirs)
        assert row["t2_field_tilt"] == pytest.approx(final_third / (final_third + their_final))

    def test_non_overlapping_windows_add_up_to_the_match(
        self, match: dict[str, Any], raw: list[dict[str, Any]]
    ) -> None:
        events = match["events"]
        segs = window_segments(events, window_s=600, stride_s=600)
        feats = segment_features(events, segs).join(segs, on="segment_id")
        per_team = feats.group_by("team_id").agg(
            (pl.col("t1_passes_per_min") * (pl.col("end_time") - pl.col("start_time")) / 60)
            .sum()
            .round(6)
            .alias("passes")
        )
        got = dict(per_team.iter_rows())
        for team in (ITALY, TURKEY):
            assert got[team] == sum(
                e["type"]["name"] == "Pass" and e["team"]["id"] == team for e in raw
            )

    def test_score_state_and_match_minute(self, match: dict[str, Any]) -> None:
        table = match["table"]
        # Italy led 1-0 at 52:43 (own goal), 2-0 at 65:33, 3-0 at 78:30.
        assert _window(table, TURKEY, 2, 300.0)["score_state"] == 0
        assert _window(table, TURKEY, 2, 450.0)["score_state"] == -1
        assert _window(table, ITALY, 2, 1350.0)["score_state"] == 2
        assert _window(table, ITALY, 2, 2100.0)["score_state"] == 3
        assert _window(table, ITALY, 2, 2100.0)["match_minute"] == pytest.approx(80.0)
        assert _window(table, ITALY, 1, 150.0)["match_minute"] == pytest.approx(2.5)


class TestPossessions:
    def test_possession_segment_counts(
        self, match: dict[str, Any], raw: list[dict[str, Any]]
    ) -> None:
        table = match["table"].filter(pl.col("segment_type") == "possession")
        assert set(table["team_id"]) == {ITALY, TURKEY}
        longest = table.sort(pl.col("end_time") - pl.col("start_time")).row(-1, named=True)
        in_poss = [e for e in raw if e["possession"] == longest["possession"]]
        assert {e["possession_team"]["id"] for e in in_poss} == {longest["team_id"]}
        passes = sum(
            e["type"]["name"] == "Pass" and e["team"]["id"] == longest["team_id"] for e in in_poss
        )
        minutes = (longest["end_time"] - longest["start_time"]) / 60
        assert longest["t1_passes_per_min"] * minutes == pytest.approx(passes)
        assert longest["t1_possession_share"] == 1.0


class TestTier3:
    def test_t3_only_where_there_is_360(self, match: dict[str, Any]) -> None:
        t3 = [n for n in feature_names() if n.startswith("t3_")]
        windows = match["table"].filter(pl.col("segment_type") == "window")
        filled = windows.select(pl.col(t3).is_not_null().mean())
        assert filled.row(0) > tuple(0.9 for _ in t3), filled
        for files in demo_match_files()[1:]:
            events = read_events(files.events, files.match_id).events
            segs = window_segments(events)
            feats = segment_features(events, segs)
            assert feats.select(pl.col(t3).is_null().all()).row(0) == tuple(True for _ in t3)

    def test_t3_values_are_plausible(self, match: dict[str, Any]) -> None:
        w = match["table"].filter(pl.col("segment_type") == "window")
        assert 0.15 < w["t3_visible_fraction"].mean() < 0.35
        assert 20 < w["t3_defensive_line_height"].mean() < 70
        assert (w["t3_team_width"].drop_nulls() <= 80).all()
        assert (w["t3_pressure_distance"].drop_nulls() > 0).all()

    def test_too_few_frames_gives_null(
        self, match: dict[str, Any], raw: list[dict[str, Any]]
    ) -> None:
        files = next(m for m in demo_match_files() if m.match_id == MATCH)
        assert files.three_sixty is not None
        with_frame = {f["event_uuid"] for f in orjson.loads(files.three_sixty.read_bytes())}
        frames_per_possession: dict[tuple[int, int], int] = {}
        for e in raw:
            if e["id"] in with_frame:
                key = (e["period"], e["possession"])
                frames_per_possession[key] = frames_per_possession.get(key, 0) + 1
        poss = match["table"].filter(pl.col("segment_type") == "possession")
        few = [
            frames_per_possession.get((p, k), 0) < 5
            for p, k in poss.select("period", "possession").iter_rows()
        ]
        assert 0 < sum(few) < len(few)
        assert poss["t3_visible_fraction"].is_null().to_list() == few


class TestRegistry:
    def test_every_feature_column_is_registered(self, match: dict[str, Any]) -> None:
        feature_cols = [c for c in match["table"].columns if re.match(r"^t\d+_", c)]
        assert feature_cols == feature_names()
        assert match["table"].select(feature_cols).dtypes == [pl.Float64] * len(feature_cols)

    def test_catalogue_size_and_entries(self) -> None:
        assert len(feature_names(max_tier=2)) >= 35
        assert len(feature_names()) - len(feature_names(max_tier=2)) >= 8
        for info in FEATURES:
            assert info.definition.endswith(".") and info.unit and info.direction
            assert re.match(r"^(higher|lower) = ", info.direction), info
        assert feature_info("t2_ppda").direction.startswith("lower")
        assert registry_frame().columns == ["name", "tier", "definition", "unit", "direction"]
        with pytest.raises(KeyError, match="not a registered feature"):
            feature_info("t9_nope")


def test_metadata_names_never_look_like_features(tmp_path: Path) -> None:
    from core.features.extract import METADATA_COLUMNS

    assert not [c for c in METADATA_COLUMNS if re.match(r"^t\d+_", c)]
