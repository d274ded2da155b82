"""What Wyscout v2 carries in another form (take-ons, carries, recoveries, dispossessions,
fouls won, switches, defensive height), derived and checked on the shared World Cup 2018
against StatsBomb's events of the same matches; and the per-provider "built from" texts."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from core.data.kloppy_source import MODELLED_XG_ENV, kloppy_events
from core.data.providers import ProviderMatch, load_match, provider_match_files
from core.data.statsbomb import read_events
from core.data.xg_model import ARTEFACT_PATH
from core.features.availability import provider_availability
from core.features.compute import DEFENSIVE_ACTIONS
from core.features.extract import extract_features
from core.features.registry import feature_columns, feature_names
from core.features.support import (
    PROVIDER_NAMES,
    available_features,
    definition_differs,
    feature_source,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WYSCOUT_WC = SHARED / "wyscout" / "world-cup-2018"
STATSBOMB = SHARED / "statsbomb"
needs_both = pytest.mark.skipif(
    not (WYSCOUT_WC.is_dir() and (STATSBOMB / "matches" / "43" / "3.json").is_file()),
    reason="shared Wyscout and StatsBomb World Cup 2018 data not present",
)
PAIRED_MATCHES = 12
MIN_FILLED = 45


def _num(value: object) -> float:
    """A polars aggregate as a float (it is typed as any literal)."""
    assert isinstance(value, int | float), value
    return float(value)


@pytest.fixture(scope="module")
def paired() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Neutral events of the same World Cup matches from Wyscout (kloppy) and StatsBomb."""
    records = json.loads((STATSBOMB / "matches" / "43" / "3.json").read_text())
    by_teams = {
        frozenset((m["home_team"]["home_team_name"], m["away_team"]["away_team_name"])): m
        for m in records
    }
    wyscout, statsbomb = [], []
    for match in provider_match_files(WYSCOUT_WC, "wyscout").matches:
        assert isinstance(match, ProviderMatch)
        parsed = kloppy_events(load_match(match), match.match_id, modelled_xg=False)
        teams = frozenset((parsed.match["home_team_name"], parsed.match["away_team_name"]))
        if teams not in by_teams:
            continue
        mid = by_teams[teams]["match_id"]
        wyscout.append(parsed.events)
        statsbomb.append(read_events(STATSBOMB / "events" / f"{mid}.json.gz", mid).events)
        if len(wyscout) == PAIRED_MATCHES:
            break
    assert len(wyscout) == PAIRED_MATCHES
    return pl.concat(wyscout, how="diagonal_relaxed"), pl.concat(statsbomb, how="diagonal_relaxed")


def _per_team_match(events: pl.DataFrame, cond: pl.Expr) -> float:
    teams = events.select(pl.struct("match_id", "team_id").n_unique()).item()
    return float(events.filter(cond).height) / teams


def _ratio(paired: tuple[pl.DataFrame, pl.DataFrame], cond: pl.Expr) -> tuple[float, float]:
    wy, sb = (_per_team_match(e.filter(pl.col("team_id").is_not_null()), cond) for e in paired)
    return wy, sb


@needs_both
@pytest.mark.slow  # 12 Wyscout matches through kloppy and 12 StatsBomb matches
@pytest.mark.parametrize(
    ("concept", "cond"),
    [
        ("fouls won", pl.col("type") == "foul_won"),
        ("take-ons", pl.col("type") == "dribble"),
        ("take-ons completed", (pl.col("type") == "dribble") & pl.col("success")),
        ("recoveries", (pl.col("type") == "ball_recovery") & pl.col("success")),
        ("dispossessions", pl.col("type") == "dispossessed"),
        ("switches", (pl.col("type") == "pass") & pl.col("pass_switch")),
    ],
)
def test_derived_concepts_match_statsbomb_within_a_factor_of_1_5(
    paired: tuple[pl.DataFrame, pl.DataFrame], concept: str, cond: pl.Expr
) -> None:
    wy, sb = _ratio(paired, cond)
    assert wy > 2 and sb > 2, (concept, wy, sb)  # several per team and match
    assert 1 / 1.5 <= wy / sb <= 1.5, (concept, wy, sb)


@needs_both
@pytest.mark.slow
def test_interceptions_are_wyscouts_broader_tag(
    paired: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Wyscout tags many more actions interception than StatsBomb logs (feature_source says so)."""
    wy, sb = _ratio(paired, pl.col("type") == "interception")
    assert 2 <= wy / sb <= 6, (wy, sb)
    assert "four times" in feature_source("t1_interceptions_per_min", "wyscout")


@needs_both
@pytest.mark.slow
def test_carries_are_runs_with_the_ball(paired: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    carries = paired[0].filter(pl.col("type") == "carry")
    per_team = _per_team_match(paired[0], pl.col("type") == "carry")
    assert 3 <= per_team <= 20, per_team  # accelerations: a handful per team and match
    runs = carries.select(
        ((pl.col("end_x") - pl.col("x")) ** 2 + (pl.col("end_y") - pl.col("y")) ** 2)
        .sqrt()
        .alias("length"),
        (pl.col("end_x") > pl.col("x")).alias("forward"),
    )
    assert _num(runs["length"].median()) > 10  # yards
    assert _num(runs["forward"].mean()) > 0.7  # mostly towards the opponent's goal
    assert carries["end_x"].is_between(0, 120).all()


@needs_both
@pytest.mark.slow
def test_defensive_height_without_pressures_agrees(
    paired: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """The mean height of non-pressure defensive actions, per team and match, agrees."""
    actions = [a for a in DEFENSIVE_ACTIONS if a != "pressure"]
    heights = [
        e.filter(pl.col("type").is_in(actions) & pl.col("x").is_not_null())
        .group_by("match_id", "team_id")
        .agg(pl.col("x").mean())["x"]
        .mean()
        for e in paired
    ]
    wy, sb = (float(str(h)) for h in heights)
    assert abs(wy - sb) < 8, (wy, sb)  # yards
    assert 25 < wy < 60


@needs_both
@pytest.mark.slow
def test_shots_have_body_parts(paired: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    shares = []
    for events in paired:
        shots = events.filter(pl.col("type") == "shot")
        assert shots["body_part"].drop_nulls().is_in(["head", "foot", "other"]).all()
        assert shots["body_part"].null_count() < 0.05 * shots.height
        shares.append((shots["body_part"] == "head").mean())
    wy, sb = (float(str(s)) for s in shares)
    assert 0.05 < wy < 0.35 and abs(wy - sb) < 0.12, (wy, sb)


@needs_both
@pytest.mark.slow  # extraction of 4 matches (the fill count is that of all 64: 45)
def test_wyscout_world_cup_fills_at_least_45_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODELLED_XG_ENV, "0")  # the count without modelled xG
    summary = extract_features(WYSCOUT_WC, tmp_path / "out", max_matches=4, workers=1)
    assert summary.provider == "wyscout"
    features = pl.read_parquet(tmp_path / "out" / "features.parquet")
    names = feature_columns(features.columns)
    filled = [n for n in names if features[n].null_count() < features.height]
    assert len(filled) >= MIN_FILLED, sorted(set(names) - set(filled))
    assert set(filled) == set(available_features("wyscout")) - {
        "t1_xg_per_min",
        "t1_xg_conceded_per_min",
        "t2_xg_per_shot",
    }


@needs_both
@pytest.mark.skipif(not ARTEFACT_PATH.is_file(), reason="no fitted xG model yet")
def test_modelled_xg_switch_fills_wyscout_shots() -> None:
    match = provider_match_files(WYSCOUT_WC, "wyscout", max_matches=1).matches[0]
    assert isinstance(match, ProviderMatch)
    dataset = load_match(match)
    off = kloppy_events(dataset, match.match_id, modelled_xg=False).events
    on = kloppy_events(dataset, match.match_id, modelled_xg=True).events
    shots_off, shots_on = (e.filter(pl.col("type") == "shot") for e in (off, on))
    assert shots_off["xg"].null_count() == shots_off.height
    assert shots_on["xg"].is_between(0.0, 1.0).all() and shots_on["xg_modelled"].all()
    assert 0.3 < shots_on["xg"].sum() < 0.3 * shots_on.height + 1


def test_every_feature_says_what_it_is_built_from() -> None:
    for name in feature_names():
        for provider in PROVIDER_NAMES:
            text = feature_source(name, provider)
            assert text.startswith(("Built from", "Not available")), (name, provider)
            assert (name in available_features(provider)) == text.startswith("Built from")
    carries = feature_source("t1_carries_per_min", "wyscout")
    assert "Acceleration" in carries and "fewer than StatsBomb" in carries
    assert "503/504" in feature_source("t1_take_on_success", "wyscout")
    assert "pressure" in feature_source("t2_defensive_action_height", "wyscout")
    assert "Note" not in feature_source("t2_defensive_action_height", "statsbomb")
    assert feature_source("t1_pressures_per_min", "wyscout").startswith("Not available")
    assert definition_differs("t1_carries_per_min") and definition_differs("t2_switch_share")
    assert not definition_differs("t1_passes_per_min")


def test_the_data_page_frame_says_what_each_feature_is_built_from() -> None:
    frame = provider_availability("wyscout").frame()
    assert {"built_from", "differs"} <= set(frame.columns)
    row = frame.filter(pl.col("name") == "t1_take_ons_per_min").row(0, named=True)
    assert row["available"] and row["differs"] and "503/504" in row["built_from"]
    passes = frame.filter(pl.col("name") == "t1_passes_per_min").row(0, named=True)
    assert passes["available"] and not passes["differs"]
    assert "built_from" not in provider_availability(["opta", "metrica"]).frame().columns
