"""The StatsBomb reader and the match sources, checked against the raw JSON files."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest

from core.data.schema import EVENT_SCHEMA, FRAME_SCHEMA, FREEZE_FRAME_SCHEMA
from core.data.sources import (
    SourceError,
    demo_match_files,
    discover,
    open_data_match_files,
)
from core.data.statsbomb import (
    StatsBombFormatError,
    parse_events,
    parse_three_sixty,
    read_events,
    read_three_sixty,
    retime_misplaced,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "statsbomb"
DEMO_360 = 3788741


def _raw(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    out: list[dict[str, Any]] = orjson.loads(data)
    return out


def _seconds(ts: str) -> float:
    h, m, s = ts.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.fixture(scope="module")
def demo() -> dict[int, Any]:
    return {m.match_id: m for m in demo_match_files()}


@pytest.fixture(scope="module")
def italy(demo: dict[int, Any]) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    files = demo[DEMO_360]
    return read_events(files.events, files.match_id).events, _raw(files.events)


class TestEventTable:
    def test_schema_and_one_row_per_raw_event(
        self, italy: tuple[pl.DataFrame, list[dict[str, Any]]]
    ) -> None:
        events, raw = italy
        assert events.schema == EVENT_SCHEMA
        assert events.height == len(raw) == 3803
        assert events.get_column("event_id").to_list() == [e["id"] for e in raw]

    def test_types_counted_like_the_raw_file(
        self, italy: tuple[pl.DataFrame, list[dict[str, Any]]]
    ) -> None:
        events, raw = italy
        counts = dict(events.group_by("type").len().iter_rows())
        for sb_name, ours in [("Pass", "pass"), ("Shot", "shot"), ("Pressure", "pressure")]:
            assert counts[ours] == sum(e["type"]["name"] == sb_name for e in raw)
        assert "unknown" not in counts

    def test_pass_outcomes_and_xg_from_raw(
        self, italy: tuple[pl.DataFrame, list[dict[str, Any]]]
    ) -> None:
        events, raw = italy
        raw_complete = sum(e["type"]["name"] == "Pass" and "outcome" not in e["pass"] for e in raw)
        assert events.filter(pl.col("type") == "pass")["success"].sum() == raw_complete
        raw_xg = sum(e["shot"]["statsbomb_xg"] for e in raw if e["type"]["name"] == "Shot")
        assert events["xg"].sum() == pytest.approx(raw_xg)
        goals = events.filter((pl.col("type") == "shot") & (pl.col("outcome") == "goal"))
        assert goals.height == 2  # Immobile and Insigne; the third goal is an own goal
        assert events.filter(pl.col("type") == "own_goal_for")["team_name"].to_list() == ["Italy"]

    def test_times_are_the_raw_timestamps(
        self, italy: tuple[pl.DataFrame, list[dict[str, Any]]]
    ) -> None:
        events, raw = italy
        raw_times = np.array([_seconds(e["timestamp"]) for e in raw])
        ours = events["time_s"].to_numpy()
        differs = np.flatnonzero(~np.isclose(ours, raw_times))
        # One ball receipt is dated 00:00.189 after the 46th minute; it is placed in its play.
        assert [raw[i]["index"] for i in differs] == [2001]
        assert ours[differs[0]] == pytest.approx(ours[differs[0] - 1])

    def test_locations_are_not_flipped(
        self, italy: tuple[pl.DataFrame, list[dict[str, Any]]]
    ) -> None:
        events, raw = italy
        raw_x = [e["location"][0] if "location" in e else None for e in raw]
        assert events["x"].to_list() == raw_x

    @pytest.mark.parametrize("match_id", [3788741, 15986, 15946])
    def test_each_team_attacks_towards_x120(self, demo: dict[int, Any], match_id: int) -> None:
        files = demo[match_id]
        events = read_events(files.events, match_id).events
        shots = (
            events.filter(pl.col("type") == "shot")
            .group_by("team_id", "period")
            .agg(pl.col("x").min().alias("min_x"), pl.col("x").mean().alias("mean_x"))
        )
        assert shots.height >= 3
        assert (shots["mean_x"] > 95).all(), shots
        assert (shots["min_x"] > 60).all(), shots
        kicks = events.filter(pl.col("set_piece") == "goal_kick")
        assert kicks.height > 0 and (kicks["x"] < 12).all()

    def test_synthetic_misdated_events_are_dropped(self, demo: dict[int, Any]) -> None:
        # kloppy's fixture appends an own goal at 44:51 of period 2 (impossible) and
        # goalkeeper events whose clock disagrees with their timestamp by 71 s.
        files = demo[15946]
        parsed = read_events(files.events, 15946)
        assert len(parsed.misdated) == 4
        assert {d["type"] for d in parsed.misdated} == {
            "own_goal_for",
            "own_goal_against",
            "goalkeeper",
        }
        assert parsed.events.height == len(_raw(files.events)) - 4

    def test_gzip_events_read_the_same(self, demo: dict[int, Any], tmp_path: Path) -> None:
        files = demo[15986]
        gz = tmp_path / "15986.json.gz"
        gz.write_bytes(gzip.compress(files.events.read_bytes()))
        plain = read_events(files.events, 15986).events
        assert read_events(gz, 15986).events.equals(plain)


# Match clock minute at which each period starts (StatsBomb's ``minute`` field).
PERIOD_START_MINUTE = {1: 0, 2: 45, 3: 90, 4: 105, 5: 120}


def _clock_s() -> pl.Expr:
    """Seconds into the period by the raw match clock (``minute:second``)."""
    start = pl.col("period").replace_strict(PERIOD_START_MINUTE, default=0)
    return (pl.col("minute") - start) * 60 + pl.col("second")


class TestEventTimes:
    def test_misdated_events_do_not_collapse_a_period(self, demo: dict[int, Any]) -> None:
        # Regression: kloppy's fixture of Barcelona 3-0 Alavés (15946) carries three events
        # at 48:01 of period 2 with first-half indices; the reader used to date every later
        # event of the period at 2881.77 s, so the goals all fell in minute 93.
        files = demo[15946]
        raw = _raw(files.events)
        events = read_events(files.events, 15946).events
        raw_goals = [
            e["minute"]
            for e in raw
            if e["type"]["name"] == "Shot" and e["shot"]["outcome"]["name"] == "Goal"
        ]
        assert raw_goals == [63, 82, 91]
        goals = events.filter((pl.col("type") == "shot") & (pl.col("outcome") == "goal"))
        minutes = goals.select(
            pl.col("period").replace_strict(PERIOD_START_MINUTE) + pl.col("time_s") // 60
        )
        assert minutes.to_series().cast(pl.Int64).to_list() == raw_goals
        per_period = events.group_by("period").agg(
            pl.col("time_s").max().alias("end"), pl.col("time_s").n_unique().alias("distinct")
        )
        ends = dict(zip(per_period["period"], per_period["end"], strict=True))
        assert ends[1] == pytest.approx(2705.267) and ends[2] == pytest.approx(2852.053)
        assert (per_period["distinct"] > 1000).all()  # times spread over the half
        # Only the three injected events move (to the play they sit in); the rest keep
        # their raw timestamps, which agree with the match clock.
        moved = events.filter((pl.col("time_s") - _clock_s()).abs() > 2)
        assert moved.select("index", "period", "type").rows() == [
            (1501, 2, "fifty_fifty"),
            (1501, 2, "clearance"),
            (1809, 2, "miscontrol"),
        ]
        assert moved["time_s"].to_list() == [0.0, 0.0, 0.0]

    @pytest.mark.parametrize("match_id", [3788741, 15986, 15946])
    def test_every_demo_period_runs_with_the_clock(
        self, demo: dict[int, Any], match_id: int
    ) -> None:
        events = read_events(demo[match_id].events, match_id).events
        stats = (
            events.sort("index")
            .group_by("period", maintain_order=True)
            .agg(
                pl.col("time_s").max().alias("end"),
                pl.col("time_s").diff().min().alias("largest_step_back"),
                ((pl.col("time_s") - _clock_s()).abs() > 2).sum().alias("off_clock"),
            )
            .sort("period")
        )
        assert stats["period"].to_list() == [1, 2]
        assert (stats["end"] > 2400).all() and (stats["end"] < 3300).all(), stats
        assert (stats["largest_step_back"] > -60).all(), stats  # no event far out of order
        assert stats["off_clock"].sum() <= 3, stats

    def test_clean_shared_matches_are_not_retimed(self) -> None:
        for mid in (7525, 7443, 7581):  # World Cup 2018 group game, NWSL 2018, extra time
            path = SHARED / "events" / f"{mid}.json.gz"
            raw = _raw(path)
            parsed = read_events(path, mid)
            assert parsed.misdated == []
            ours = parsed.events["time_s"].to_numpy()
            assert np.allclose(ours, [_seconds(e["timestamp"]) for e in raw])

    def test_only_the_misplaced_events_move(self) -> None:
        # One play every 10 s, a 3-minute stoppage after 1000 s, an isolated event dated at
        # 0.2 s in the 40th minute and a run of three dated 48 minutes into a 5-minute stretch.
        times = [float(t) for t in range(0, 1001, 10)] + [float(t) for t in range(1180, 2800, 10)]
        times[240] = 0.2
        times[5:8] = [2881.0, 2881.0, 2881.0]
        frame = pl.DataFrame({"period": [1] * len(times), "time_s": times})
        fixed = frame.select(retime_misplaced(pl.col("time_s")).over("period"))["time_s"]
        changed = [i for i, (a, b) in enumerate(zip(times, fixed, strict=True)) if a != b]
        assert changed == [5, 6, 7, 240]
        assert fixed[240] == times[239]  # the time of the play before it
        assert fixed.slice(5, 3).to_list() == [40.0, 40.0, 40.0]
        assert fixed[101] == 1180.0  # the stoppage is left alone


class TestBadEventFiles:
    def test_truncated_json(self, demo: dict[int, Any], tmp_path: Path) -> None:
        data = demo[15986].events.read_bytes()
        with pytest.raises(StatsBombFormatError, match="truncated or corrupt"):
            parse_events(data[: len(data) // 2], 15986, name="15986.json")

    def test_not_a_list_of_events(self) -> None:
        with pytest.raises(StatsBombFormatError, match="list of events"):
            parse_events(b'{"match_id": 1}', 1, name="x.json")
        with pytest.raises(StatsBombFormatError, match="no events"):
            parse_events(b"[]", 1, name="x.json")

    def test_unknown_event_type_is_kept_and_reported(self, demo: dict[int, Any]) -> None:
        raw = _raw(demo[15986].events)
        renamed = next(i for i, e in enumerate(raw) if e["type"]["name"] == "Pressure")
        raw[renamed]["type"] = {"id": 999, "name": "Teleport"}
        parsed = parse_events(orjson.dumps(raw), 15986)
        assert parsed.unknown_types == ["Teleport"]
        assert parsed.events.filter(pl.col("type") == "unknown").height == 1

    def test_corrupt_gzip(self, tmp_path: Path) -> None:
        bad = tmp_path / "1.json.gz"
        bad.write_bytes(b"\x1f\x8b" + b"not gzip at all")
        with pytest.raises(StatsBombFormatError, match="gzip"):
            read_events(bad, 1)


@pytest.fixture(scope="module")
def sixty(
    demo: dict[int, Any], italy: tuple[pl.DataFrame, list[dict[str, Any]]]
) -> tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]:
    events, _ = italy
    path = demo[DEMO_360].three_sixty
    players, frames = read_three_sixty(path, events)
    return players, frames, _raw(path)


class TestThreeSixty:
    def test_one_row_per_raw_player_and_frame(
        self, sixty: tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]
    ) -> None:
        players, frames, raw = sixty
        assert players.schema == FREEZE_FRAME_SCHEMA and frames.schema == FRAME_SCHEMA
        assert frames.height == len(raw) == 3470
        assert players.height == sum(len(f["freeze_frame"]) for f in raw)

    def test_frames_are_in_the_actors_direction(
        self,
        sixty: tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]],
        italy: tuple[pl.DataFrame, list[dict[str, Any]]],
    ) -> None:
        players, frames, _ = sixty
        events, _ = italy
        actors = players.filter(pl.col("actor")).join(
            events.select("event_id", pl.col("x").alias("ex"), pl.col("y").alias("ey")),
            on="event_id",
        )
        dist = np.hypot(actors["x"] - actors["ex"], actors["y"] - actors["ey"])
        assert np.median(dist) < 4.0  # tracked positions differ from event positions a little
        # None of this match's frames is mirrored (checked by hand: actors sit on the event).
        assert frames["mirrored"].sum() == 0

    def test_a_mirrored_frame_is_flipped_back(
        self,
        sixty: tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]],
        italy: tuple[pl.DataFrame, list[dict[str, Any]]],
    ) -> None:
        players, frames, raw = sixty
        events, _ = italy
        # A real frame with its actor far from the centre spot, flipped like a mirrored frame.
        frame = next(
            f
            for f in raw
            if any(p["actor"] and abs(p["location"][0] - 60) > 30 for p in f["freeze_frame"])
        )
        flipped = {
            "event_uuid": frame["event_uuid"],
            "visible_area": [
                (120 - v) if i % 2 == 0 else (80 - v) for i, v in enumerate(frame["visible_area"])
            ],
            "freeze_frame": [
                {**p, "location": [120 - p["location"][0], 80 - p["location"][1]]}
                for p in frame["freeze_frame"]
            ],
        }
        got_players, got_frames = parse_three_sixty(orjson.dumps([flipped]), events)
        assert got_frames["mirrored"].to_list() == [True]
        want = players.filter(pl.col("event_id") == frame["event_uuid"])
        assert got_players.sort("x")["x"].to_numpy() == pytest.approx(
            want.sort("x")["x"].to_numpy()
        )
        assert got_frames["visible_fraction"][0] == pytest.approx(
            frames.filter(pl.col("event_id") == frame["event_uuid"])["visible_fraction"][0]
        )

    def test_visible_fraction_is_the_polygon_area(
        self, sixty: tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]
    ) -> None:
        _, frames, raw = sixty
        for f in raw[:50:7]:
            pts = np.array(f["visible_area"]).reshape(-1, 2)
            x, y = pts[:, 0], pts[:, 1]
            area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
            ours = frames.filter(pl.col("event_id") == f["event_uuid"])["visible_fraction"][0]
            assert ours == pytest.approx(min(area / 9600, 1.0))
        assert 0.2 < float(frames["visible_fraction"].mean()) < 0.3  # type: ignore[arg-type]  # about a quarter of the pitch


class TestSources:
    def test_demo_files(self) -> None:
        files = demo_match_files()
        assert [f.match_id for f in files] == [3788741, 15986, 15946]
        assert all(f.events.is_file() and f.lineup is not None for f in files)
        assert [f.three_sixty is not None for f in files] == [True, False, False]

    def test_shared_open_data_folder(self) -> None:
        found = open_data_match_files(SHARED)
        assert len(found.matches) == 98 and not found.skipped
        world_cup = open_data_match_files(SHARED, competitions=["FIFA world cup"])
        assert len(world_cup.matches) == 64
        assert {m.record["competition"] for m in world_cup.matches} == {"FIFA World Cup"}
        nwsl = open_data_match_files(SHARED, competitions=[49], seasons=["2018"], max_matches=5)
        assert len(nwsl.matches) == 5 and all(
            m.record["competition"] == "NWSL" for m in nwsl.matches
        )
        one = open_data_match_files(SHARED, match_ids=[7443, 123])
        assert [m.match_id for m in one.matches] == [7443]
        assert one.skipped and "123" in one.skipped[0][0]

    def test_missing_and_empty_sources(self, tmp_path: Path) -> None:
        with pytest.raises(SourceError, match="does not exist"):
            discover(tmp_path / "nope")
        with pytest.raises(SourceError, match="no events/ folder"):
            discover(tmp_path)
        (tmp_path / "events").mkdir()
        with pytest.raises(SourceError, match="holds no"):
            discover(tmp_path)

    def test_open_data_repository_root_is_accepted(self, tmp_path: Path) -> None:
        data = tmp_path / "open-data" / "data"
        (data / "events").mkdir(parents=True)
        shutil.copy(SHARED / "events" / "7443.json.gz", data / "events" / "7443.json.gz")
        (data / "events" / "notes.txt").write_text("x")
        found = discover(tmp_path / "open-data")
        assert [m.match_id for m in found.matches] == [7443]
        assert found.matches[0].lineup is None
        assert any("notes.txt" in path for path, _ in found.skipped)
