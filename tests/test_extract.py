"""Extraction into a dataset folder: outputs, cache, parallel workers, bad input and the CLI."""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from core.cli import features as features_cli
from core.data.sources import demo_match_files
from core.features.extract import ExtractionError, extract_features
from core.features.registry import feature_names

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "statsbomb"
WORLD_CUP = [7525, 7529, 7530]  # three World Cup 2018 matches in the shared set
OUTPUTS = ("features.parquet", "matches.parquet", "events.parquet", "summary.json")


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    features_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def _open_data(root: Path, match_ids: list[int], *, lineups: bool = True) -> Path:
    """A small open-data folder built from copies of the shared set's real files."""
    (root / "events").mkdir(parents=True)
    (root / "lineups").mkdir()
    (root / "matches" / "43").mkdir(parents=True)
    shutil.copy(SHARED / "competitions.json", root / "competitions.json")
    shutil.copy(SHARED / "matches" / "43" / "3.json", root / "matches" / "43" / "3.json")
    for mid in match_ids:
        shutil.copy(SHARED / "events" / f"{mid}.json.gz", root / "events" / f"{mid}.json.gz")
        if lineups:
            shutil.copy(SHARED / "lineups" / f"{mid}.json", root / "lineups" / f"{mid}.json")
    return root


def _raw_events(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = orjson.loads(gzip.decompress(path.read_bytes()))
    return out


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    extract_features("demo", out)
    return out


class TestOutputs:
    def test_contract_columns(self, demo_dataset: Path) -> None:
        feats = pl.read_parquet(demo_dataset / "features.parquet")
        meta = {
            "match_id": pl.Int64, "team_id": pl.Int64, "segment_type": pl.String,
            "start_time": pl.Float64, "end_time": pl.Float64, "period": pl.Int64,
            "match_minute": pl.Float64, "segment_id": pl.String, "team_name": pl.String,
            "opponent_id": pl.Int64, "opponent_name": pl.String, "competition": pl.String,
            "season": pl.String, "score_state": pl.Int64,
        }  # fmt: skip
        assert {c: feats.schema[c] for c in meta} == meta
        assert [c for c in feats.columns if re.match(r"^t\d+_", c)] == feature_names()
        assert feats["segment_id"].n_unique() == feats.height
        assert set(feats["segment_type"]) == {"window", "possession"}
        matches = pl.read_parquet(demo_dataset / "matches.parquet")
        assert matches.columns == [
            "match_id", "home_team_id", "home_team_name", "away_team_id", "away_team_name",
            "home_score", "away_score", "match_date", "competition", "season", "has_360", "label",
        ]  # fmt: skip
        events = pl.read_parquet(demo_dataset / "events.parquet")
        assert events.columns == [
            "match_id", "period", "time_s", "team_id", "player_name", "type", "outcome",
            "x", "y", "end_x", "end_y", "possession",
        ]  # fmt: skip

    def test_matches_and_labels(self, demo_out: Path) -> None:
        matches = pl.read_parquet(demo_out / "matches.parquet").sort("match_id")
        labels = dict(zip(matches["match_id"], matches["label"], strict=True))
        assert labels[3788741] == "Turkey 0-3 Italy · Euro 2020 · 2021-06-11"
        assert labels[15946].startswith("Barcelona 3-0 Deportivo Alavés")
        assert labels[15986].startswith("Barcelona 2-2 Girona")
        assert dict(zip(matches["match_id"], matches["has_360"], strict=True)) == {
            15946: False, 15986: False, 3788741: True,
        }  # fmt: skip

    def test_t3_non_null_only_for_the_360_match(self, demo_out: Path) -> None:
        feats = pl.read_parquet(demo_out / "features.parquet")
        t3 = [c for c in feats.columns if c.startswith("t3_")]
        has_t3 = feats.group_by("match_id").agg(
            pl.any_horizontal(pl.col(t3).is_not_null()).any().alias("any_t3")
        )
        assert dict(has_t3.iter_rows()) == {3788741: True, 15986: False, 15946: False}

    def test_summary_file(self, demo_out: Path) -> None:
        summary = json.loads((demo_out / "summary.json").read_text())
        feats = pl.read_parquet(demo_out / "features.parquet")
        assert summary["matches"] == 3 and summary["segments"] == feats.height
        assert summary["n_features"] == len(feature_names())
        assert summary["coverage_360"] == pytest.approx(1 / 3, abs=1e-3)
        assert summary["skipped"] == []

    def test_events_file_is_in_attacking_direction(self, demo_out: Path) -> None:
        events = pl.read_parquet(demo_out / "events.parquet")
        shots = events.filter(pl.col("type") == "shot")
        assert shots.height > 50 and float(shots["x"].mean()) > 100  # type: ignore[arg-type]
        # Only the timeline's location-less events (substitutions) lack a location.
        assert set(events.filter(pl.col("x").is_null())["type"]) == {"substitution"}

    def test_substitutions_are_kept_in_events_parquet(self, demo_out: Path) -> None:
        # Regression: events.parquet kept only events with a location, and substitutions
        # have none, so the match timeline showed no substitutions.
        raw_subs = {
            f.match_id: [
                (e["period"], e["minute"], e["player"]["name"])
                for e in orjson.loads(f.events.read_bytes())
                if e["type"]["name"] == "Substitution"
            ]
            for f in demo_match_files()
        }
        assert {m: len(s) for m, s in raw_subs.items()} == {3788741: 9, 15946: 6, 15986: 6}
        events = pl.read_parquet(demo_out / "events.parquet")
        subs = events.filter(pl.col("type") == "substitution")
        assert subs["x"].null_count() == subs.height == 21
        for match_id, expected in raw_subs.items():
            ours = subs.filter(pl.col("match_id") == match_id).select(
                "period", 45 * (pl.col("period") - 1) + pl.col("time_s") // 60, "player_name"
            )
            assert [(p, int(m), n) for p, m, n in ours.rows()] == expected

    def test_goal_minutes_follow_the_raw_clock(self, demo_out: Path) -> None:
        # Regression: a few misdated events at 48:01 of period 2 in Barcelona 3-0 Alavés
        # (15946) dated the rest of the half at 2881.77 s, every goal in minute 93.
        from core.analysis.timeline import match_markers

        events = pl.read_parquet(demo_out / "events.parquet")
        markers = match_markers(events, 15946)
        goals = markers.filter(pl.col("kind") == "goal")
        assert goals["minute"].floor().cast(pl.Int64).to_list() == [63, 82, 91]  # Messi 2, Coutinho
        assert goals["player_name"].to_list()[1] == "Philippe Coutinho Correia"
        matches = pl.read_parquet(demo_out / "matches.parquet").filter(pl.col("match_id") == 15946)
        assert matches.select("home_score", "away_score").row(0) == (3, 0)
        # Both halves of every demo match are covered by windows that all hold passes.
        windows = pl.read_parquet(demo_out / "features.parquet").filter(
            pl.col("segment_type") == "window"
        )
        halves = windows.group_by("match_id", "period").agg(
            pl.col("end_time").max().alias("end"),
            (pl.col("t1_passes_per_min") > 0).all().alias("all_have_passes"),
        )
        assert halves.height == 6 and (halves["end"] > 2400).all(), halves
        assert halves["all_have_passes"].all(), halves


class TestCache:
    def test_rerun_reads_the_cache(self, tmp_path: Path) -> None:
        first = extract_features("demo", tmp_path, match_ids=[3788741])
        assert (first.matches, first.from_cache) == (1, 0)
        calls: list[tuple[int, int, str]] = []
        second = extract_features(
            "demo", tmp_path, progress=lambda d, t, m: calls.append((d, t, m))
        )
        assert (second.matches, second.from_cache) == (3, 1)  # only the two new matches parsed
        assert [c[:2] for c in calls] == [(1, 3), (2, 3), (3, 3)]
        before = pl.read_parquet(tmp_path / "features.parquet")
        third = extract_features("demo", tmp_path)
        assert third.from_cache == 3
        assert pl.read_parquet(tmp_path / "features.parquet").equals(before)

    def test_new_parameters_miss_the_cache(self, tmp_path: Path) -> None:
        extract_features("demo", tmp_path, match_ids=[15986])
        summary = extract_features("demo", tmp_path, match_ids=[15986], window_s=120, stride_s=60)
        assert summary.from_cache == 0
        windows = pl.read_parquet(tmp_path / "features.parquet").filter(
            pl.col("segment_type") == "window"
        )
        assert (windows["end_time"] - windows["start_time"]).max() == 120
        # The stale entry for the old parameters is gone; one entry (3 files) remains.
        assert len(list((tmp_path / "cache").iterdir())) == 3

    def test_changed_file_misses_the_cache(self, tmp_path: Path) -> None:
        src = _open_data(tmp_path / "src", [WORLD_CUP[0]])
        extract_features(src, tmp_path / "out")
        path = src / "events" / f"{WORLD_CUP[0]}.json.gz"
        raw = _raw_events(path)
        path.write_bytes(gzip.compress(orjson.dumps(raw[:-10])))
        assert extract_features(src, tmp_path / "out").from_cache == 0


class TestSharedSet:
    def test_metadata_from_matches_files(self, tmp_path: Path) -> None:
        summary = extract_features(
            SHARED, tmp_path, competitions=["43"], seasons=["2018"], max_matches=3
        )
        assert summary.matches == 3
        record = {
            m["match_id"]: m for m in json.loads((SHARED / "matches" / "43" / "3.json").read_text())
        }
        matches = pl.read_parquet(tmp_path / "matches.parquet")
        for row in matches.iter_rows(named=True):
            rec = record[row["match_id"]]
            assert row["home_team_name"] == rec["home_team"]["home_team_name"]
            assert (row["home_score"], row["away_score"]) == (rec["home_score"], rec["away_score"])
            assert row["label"] == (
                f"{rec['home_team']['home_team_name']} {rec['home_score']}-{rec['away_score']} "
                f"{rec['away_team']['away_team_name']} · FIFA World Cup · {rec['match_date']}"
            )
        # Every team of every match attacks towards x = 120 in both halves.
        shots = (
            pl.read_parquet(tmp_path / "events.parquet")
            .filter(pl.col("type") == "shot")
            .group_by("match_id", "team_id", "period")
            .agg(pl.col("x").mean())
        )
        assert shots.height >= 10 and (shots["x"] > 90).all(), shots
        feats = pl.read_parquet(tmp_path / "features.parquet")
        assert set(feats["competition"]) == {"FIFA World Cup"} and set(feats["season"]) == {"2018"}
        assert feats.select(pl.col("^t3_.*$").is_null().all()).row(0) == tuple(
            True for c in feats.columns if c.startswith("t3_")
        )

    @pytest.mark.slow  # four real matches extracted twice, once by worker processes
    def test_parallel_workers_give_the_same_features(self, tmp_path: Path) -> None:
        src = _open_data(tmp_path / "src", [*WORLD_CUP, 7531])
        serial = extract_features(src, tmp_path / "serial", workers=1)
        parallel = extract_features(src, tmp_path / "parallel", workers=2)
        assert serial.matches == parallel.matches == 4
        a = pl.read_parquet(tmp_path / "serial" / "features.parquet")
        b = pl.read_parquet(tmp_path / "parallel" / "features.parquet")
        assert a.equals(b)


class TestBadInput:
    @pytest.fixture
    def messy(self, tmp_path: Path) -> Path:
        """Four real matches: one truncated, one without lineup, one with an unknown type."""
        src = _open_data(tmp_path / "src", [*WORLD_CUP, 7531])
        truncated = src / "events" / f"{WORLD_CUP[0]}.json.gz"
        data = gzip.decompress(truncated.read_bytes())
        truncated.unlink()
        (src / "events" / f"{WORLD_CUP[0]}.json").write_bytes(data[: len(data) // 3])
        (src / "lineups" / f"{WORLD_CUP[1]}.json").unlink()
        odd = src / "events" / f"{WORLD_CUP[2]}.json.gz"
        raw = _raw_events(odd)
        next(e for e in raw if e["type"]["name"] == "Pressure")["type"] = {
            "id": 999,
            "name": "Teleport",
        }
        odd.write_bytes(gzip.compress(orjson.dumps(raw)))
        return src

    def test_bad_files_are_skipped_or_warned_and_named(self, messy: Path, tmp_path: Path) -> None:
        summary = extract_features(messy, tmp_path / "out", workers=2)
        assert summary.matches == 3
        assert len(summary.skipped) == 1
        path, reason = summary.skipped[0]
        assert path.endswith(f"{WORLD_CUP[0]}.json") and "truncated or corrupt" in reason
        warnings = " | ".join(f"{p}: {w}" for p, w in summary.warnings)
        assert f"{WORLD_CUP[1]}.json.gz: no lineup file" in warnings
        assert "Teleport" in warnings
        matches = pl.read_parquet(tmp_path / "out" / "matches.parquet")
        assert sorted(matches["match_id"]) == sorted([WORLD_CUP[1], WORLD_CUP[2], 7531])

    def test_cli_exit_codes_and_summary(
        self, messy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert _cli(["features", "--source", str(messy), "--out", str(tmp_path / "a")]) == 0
        out = capsys.readouterr().out
        assert "matches:   3" in out and "skipped (1):" in out and f"{WORLD_CUP[0]}.json" in out
        empty = tmp_path / "empty"
        (empty / "events").mkdir(parents=True)
        assert _cli(["features", "--source", str(empty), "--out", str(tmp_path / "b")]) == 1
        assert "holds no" in capsys.readouterr().out
        assert not (tmp_path / "b" / "features.parquet").exists()
        assert (
            _cli(["features", "--source", str(tmp_path / "nope"), "--out", str(tmp_path / "c")])
            == 1
        )
        assert "does not exist" in capsys.readouterr().out

    def test_nothing_extracted_leaves_previous_outputs(self, tmp_path: Path) -> None:
        out = tmp_path / "out"
        extract_features("demo", out, match_ids=[15986])
        before = {name: (out / name).read_bytes() for name in OUTPUTS}
        src = _open_data(tmp_path / "src", [WORLD_CUP[0]])
        events = src / "events" / f"{WORLD_CUP[0]}.json.gz"
        events.write_bytes(events.read_bytes()[:5000])  # a truncated download
        with pytest.raises(ExtractionError, match="no match of") as err:
            extract_features(src, out)
        assert "gzip" in err.value.summary.skipped[0][1]
        assert {name: (out / name).read_bytes() for name in OUTPUTS} == before
        assert not [p for p in out.rglob("*.tmp")]

    def test_360_missing_or_corrupt(self, tmp_path: Path) -> None:
        files = next(m for m in demo_match_files() if m.match_id == 3788741)
        assert files.three_sixty is not None
        src = tmp_path / "src"
        for sub in ("events", "lineups", "three-sixty"):
            (src / sub).mkdir(parents=True)
        shutil.copy(files.events, src / "events" / "3788741.json")
        shutil.copy(files.lineup, src / "lineups" / "3788741.json")  # type: ignore[arg-type]
        corrupt = src / "three-sixty" / "3788741.json"
        corrupt.write_bytes(files.three_sixty.read_bytes()[:100_000])
        summary = extract_features(src, tmp_path / "corrupt")
        assert summary.matches == 1 and summary.coverage_360 == 0
        assert any("3788741.json" in p and "360" in w for p, w in summary.warnings)
        feats = pl.read_parquet(tmp_path / "corrupt" / "features.parquet")
        assert feats.select(pl.col("^t3_.*$").is_null().all()).row(0)[0]
        corrupt.unlink()  # missing 360: no warning needed, tier 3 is simply null
        summary = extract_features(src, tmp_path / "missing")
        assert summary.matches == 1 and summary.coverage_360 == 0 and not summary.warnings
        shutil.copy(files.three_sixty, corrupt)  # and with the real file it is filled
        assert extract_features(src, tmp_path / "full").coverage_360 == 1.0


def test_main_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.__main__ import main

    assert (
        main(["features", "--source", "demo", "--match-id", "15986", "--out", str(tmp_path)]) == 0
    )
    assert "matches:   1" in capsys.readouterr().out
    assert (tmp_path / "features.parquet").is_file()
