"""Duels won, aerial duels included, checked against counts made by hand from the raw JSON.

StatsBomb gives the loser of an aerial duel a Duel event of type "Aerial Lost"; the winner
has no Duel event, the action he won it with (a pass, clearance, shot or miscontrol)
carries ``aerial_won: true``. ``t1_duels_won_per_min`` counts those aerials won as well
as duels (tackles) won and 50-50s won.
"""

from __future__ import annotations

import copy
import gzip
from collections import Counter
from pathlib import Path
from typing import Any, Final

import orjson
import polars as pl
import pytest

from core.data.statsbomb import parse_events
from core.features.compute import prepare_events, segment_features
from core.features.segments import LAST_PLAY_PERIOD, window_segments

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "statsbomb"
WORLD_CUP_FINAL: Final = 8658  # France 4-2 Croatia, 2018-07-15
WORLD_CUP_OPENER: Final = 7525  # Russia 5-0 Saudi Arabia, 2018-06-14
NWSL: Final = 7443
MATCHES: Final = (WORLD_CUP_FINAL, WORLD_CUP_OPENER, NWSL)

AERIAL_KEYS: Final = ("pass", "clearance", "shot", "miscontrol")
WON: Final = {"Won", "Success", "Success In Play", "Success Out", "Success To Team"}
# Longer than any period: window_segments then cuts one window per team per period.
WHOLE_PERIOD_S: Final = 20_000.0

pytestmark = pytest.mark.skipif(
    not (SHARED / "events").is_dir(), reason="shared StatsBomb open data not present"
)


def _raw(match_id: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = orjson.loads(
        gzip.decompress((SHARED / "events" / f"{match_id}.json.gz").read_bytes())
    )
    return out


def _tackle_or_5050_won(e: dict[str, Any]) -> bool:
    kind = e["type"]["name"]
    if kind == "Duel":
        return e.get("duel", {}).get("outcome", {}).get("name") in WON
    if kind == "50/50":
        return e.get("50_50", {}).get("outcome", {}).get("name") in WON
    return False


def _aerial_won(e: dict[str, Any]) -> bool:
    return any(isinstance(e.get(k), dict) and e[k].get("aerial_won") is True for k in AERIAL_KEYS)


def _parse(raw: list[dict[str, Any]], match_id: int) -> tuple[pl.DataFrame, set[int]]:
    """The neutral events and the raw indices the reader dropped as misdated."""
    parsed = parse_events(orjson.dumps(raw), match_id)
    return parsed.events, {m["index"] for m in parsed.misdated}


def _team_duels_won(events: pl.DataFrame) -> dict[int, float]:
    """Per team, the duels won summed over one window per period (no overlap, nothing left out).

    A window ends just after the period's last event (windows are ``start <= t < end``),
    so every event of periods 1-4 falls in exactly one of its team's windows.
    """
    segs = window_segments(events, WHOLE_PERIOD_S, WHOLE_PERIOD_S).with_columns(
        pl.col("end_time") + 1.0
    )
    assert segs.group_by("team_id", "period").len()["len"].max() == 1
    feats = segment_features(events, segs).join(segs, on="segment_id")
    minutes = (pl.col("end_time") - pl.col("start_time")) / 60
    per_team = feats.group_by("team_id").agg(
        (pl.col("t1_duels_won_per_min") * minutes).sum().round(6).alias("n")
    )
    return {int(t): float(n) for t, n in per_team.iter_rows()}


@pytest.fixture(scope="module", params=MATCHES)
def match(request: pytest.FixtureRequest) -> dict[str, Any]:
    match_id: int = request.param
    raw = _raw(match_id)
    events, misdated = _parse(raw, match_id)
    counted = [e for e in raw if e["period"] <= LAST_PLAY_PERIOD and e["index"] not in misdated]
    return {"match_id": match_id, "raw": raw, "counted": counted, "events": events}


class TestAerialWonFlag:
    def test_reader_keeps_every_aerial_won_flag(self, match: dict[str, Any]) -> None:
        raw, events = match["raw"], match["events"]
        want = Counter(e["type"]["name"] for e in raw if _aerial_won(e))
        assert sum(want.values()) > 0
        assert set(want) <= {"Pass", "Clearance", "Shot", "Miscontrol"}
        flagged = events.filter(pl.col("aerial_won"))
        got = Counter(flagged.get_column("type").to_list())
        sb_name = {"pass": "Pass", "clearance": "Clearance", "shot": "Shot"}
        assert {sb_name.get(t, "Miscontrol"): n for t, n in got.items()} == want
        assert set(flagged.get_column("event_id")) == {e["id"] for e in raw if _aerial_won(e)}
        assert events.get_column("aerial_won").null_count() == 0

    def test_each_aerial_won_pairs_with_an_opponents_aerial_lost(
        self, match: dict[str, Any]
    ) -> None:
        # StatsBomb's own consistency, which makes the aerials-won count checkable.
        raw = match["raw"]
        for team in {e["team"]["id"] for e in raw}:
            won = sum(e["team"]["id"] == team and _aerial_won(e) for e in raw)
            lost_by_opp = sum(
                e["team"]["id"] != team
                and e["type"]["name"] == "Duel"
                and e["duel"]["type"]["name"] == "Aerial Lost"
                for e in raw
            )
            assert won == lost_by_opp


class TestDuelsWon:
    def test_flagged_events_are_the_raw_duels_50_50s_and_aerials_won(
        self, match: dict[str, Any]
    ) -> None:
        events, raw = match["events"], match["raw"]
        flagged = prepare_events(events).filter(pl.col("duel_won"))
        want = {e["id"] for e in raw if _tackle_or_5050_won(e) or _aerial_won(e)}
        assert set(flagged.get_column("event_id")) == want

    def test_team_totals_equal_the_raw_counts(self, match: dict[str, Any]) -> None:
        counted = match["counted"]
        got = _team_duels_won(match["events"])
        assert len(got) == 2
        for team, total in got.items():
            mine = [e for e in counted if e["team"]["id"] == team]
            tackles = sum(_tackle_or_5050_won(e) for e in mine)
            aerials = sum(_aerial_won(e) for e in mine)
            assert aerials > 0
            assert total == tackles + aerials, (team, total, tackles, aerials)

    def test_world_cup_final_counts(self) -> None:
        # France 12 duels won + 7 aerials, Croatia 17 + 9 (before the fix: 12 and 17).
        events, _ = _parse(_raw(WORLD_CUP_FINAL), WORLD_CUP_FINAL)
        assert _team_duels_won(events) == {771: 19.0, 785: 26.0}


@pytest.fixture(scope="module")
def final() -> dict[str, Any]:
    raw = _raw(WORLD_CUP_FINAL)
    events, _ = _parse(raw, WORLD_CUP_FINAL)
    return {"raw": raw, "totals": _team_duels_won(events)}


@pytest.mark.parametrize("key", AERIAL_KEYS)
def test_one_aerial_won_flag_adds_one_duel_won(final: dict[str, Any], key: str) -> None:
    raw = copy.deepcopy(final["raw"])
    sb_type = {"pass": "Pass", "clearance": "Clearance", "shot": "Shot"}.get(key, "Miscontrol")
    e = next(
        e for e in raw if e["type"]["name"] == sb_type and e["period"] <= 2 and not _aerial_won(e)
    )
    e.setdefault(key, {})["aerial_won"] = True
    events, _ = _parse(raw, WORLD_CUP_FINAL)
    assert events.filter(pl.col("event_id") == e["id"])["aerial_won"].item() is True
    team = e["team"]["id"]
    before = final["totals"]
    after = _team_duels_won(events)
    assert after == {t: n + (t == team) for t, n in before.items()}


def test_aerial_won_flag_elsewhere_or_false_counts_nothing(final: dict[str, Any]) -> None:
    raw = copy.deepcopy(final["raw"])
    block = next(e for e in raw if e["type"]["name"] == "Block")
    block.setdefault("block", {})["aerial_won"] = True  # not a StatsBomb field of blocks
    passes = [e for e in raw if e["type"]["name"] == "Pass" and not _aerial_won(e)]
    passes[0]["pass"]["aerial_won"] = False
    events, _ = _parse(raw, WORLD_CUP_FINAL)
    assert _team_duels_won(events) == final["totals"]
