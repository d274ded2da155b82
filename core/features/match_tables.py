"""One match to its tables: parse it (StatsBomb fast reader or a kloppy provider), cut segments, compute features.

Features the match's provider cannot supply are null, never 0
(:func:`core.features.support.unavailable_features`); so are the xG features of a match
whose shots carry no xG, and the carry counts of a match without a carry event
(StatsBomb's 2018 open-data files hold none: 0 carries there would read as a team that
never runs with the ball).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from core.data.providers import ProviderMatch, read_provider_match
from core.data.schema import COMPACT_EVENT_COLUMNS, METADATA_COLUMNS, match_label
from core.data.sources import MatchFiles
from core.data.statsbomb import read_events, read_lineup_teams, read_three_sixty
from core.errors import StatsBombFormatError
from core.features.compute import segment_features
from core.features.registry import feature_names
from core.features.segments import (
    DEFAULT_STRIDE_S,
    DEFAULT_WINDOW_S,
    possession_segments,
    segment_context,
    window_segments,
)
from core.features.support import features_from_only, needs_location, unavailable_features

# Event types kept in ``events.parquet`` even without a location: the match timeline marks
# them (substitutions have none; goals and own goals normally do, kept regardless).
TIMELINE_EVENT_TYPES: Final[tuple[str, ...]] = (
    "shot",
    "own_goal_for",
    "own_goal_against",
    "substitution",
)

# What a provider's data lacks when it goes through kloppy rather than its own reader:
# kloppy's StatsBomb model has no counter-press flag and reads no 360 frames here.
KLOPPY_LACKS: Final[dict[str, tuple[str, ...]]] = {"statsbomb": ("counterpress", "360")}
# One match to extract: StatsBomb files for the fast reader, or a kloppy provider's folder.
AnyMatch = MatchFiles | ProviderMatch


@dataclass
class MatchTables:
    """Everything one match contributes to the dataset."""

    features: pl.DataFrame
    events: pl.DataFrame
    match: dict[str, Any]
    warnings: list[tuple[str, str]]
    provider: str = "statsbomb"
    unavailable: list[str] = field(default_factory=list)  # features left null for this match


def _match_row(
    files: MatchFiles, events: pl.DataFrame, has_360: bool, warnings: list[tuple[str, str]]
) -> dict[str, Any]:
    """The ``matches.parquet`` row: from the matches record, else from events and lineup."""
    rec = files.record
    xi = events.filter(pl.col("type") == "starting_xi").sort("index")
    order = xi if xi.height >= 2 else events.filter(pl.col("team_id").is_not_null()).sort("index")
    teams = order.unique("team_id", keep="first", maintain_order=True).select(
        "team_id", "team_name"
    )
    ids = teams.get_column("team_id").to_list()
    names = teams.get_column("team_name").to_list()
    if len(ids) != 2:
        raise StatsBombFormatError(
            f"{files.events.name}: events name {len(ids)} teams, a match needs 2."
        )
    home_id, away_id = (
        (rec["home_team_id"], rec["away_team_id"]) if rec.get("home_team_id") else ids
    )
    name_of = dict(zip(ids, names, strict=True))
    if {home_id, away_id} != set(ids):
        warnings.append(
            (str(files.events), "teams in the matches file differ from the events; using events")
        )
        home_id, away_id = ids
    goals = events.filter(
        (pl.col("period") <= 4)
        & (
            ((pl.col("type") == "shot") & (pl.col("outcome") == "goal"))
            | (pl.col("type") == "own_goal_for")
        )
    )
    counted = goals.get_column("team_id").value_counts()
    by_team = dict(zip(counted["team_id"].to_list(), counted["count"].to_list(), strict=True))
    home_score = rec.get("home_score", by_team.get(home_id, 0))
    away_score = rec.get("away_score", by_team.get(away_id, 0))
    if (home_score, away_score) != (by_team.get(home_id, 0), by_team.get(away_id, 0)):
        warnings.append(
            (
                str(files.events),
                f"matches file score {home_score}-{away_score} differs from the events' goals "
                f"{by_team.get(home_id, 0)}-{by_team.get(away_id, 0)} (shoot-outs or data error)",
            )
        )
    home = rec.get("home_team_name") or name_of[home_id]
    away = rec.get("away_team_name") or name_of[away_id]
    competition, season, date = rec.get("competition"), rec.get("season"), rec.get("match_date")
    return {
        "match_id": files.match_id,
        "home_team_id": int(home_id),
        "home_team_name": home,
        "away_team_id": int(away_id),
        "away_team_name": away,
        "home_score": None if home_score is None else int(home_score),
        "away_score": None if away_score is None else int(away_score),
        "match_date": date,
        "competition": competition,
        "season": season,
        "has_360": has_360,
        "label": match_label(home, away, home_score, away_score, competition, date),
    }


_Parsed = tuple[
    pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None, dict[str, Any], list[tuple[str, str]]
]


def _read_statsbomb(files: MatchFiles) -> _Parsed:
    """Events, 360 players and frames, match row and warnings of a StatsBomb match."""
    warnings: list[tuple[str, str]] = []
    parsed = read_events(files.events, files.match_id)
    events = parsed.events
    if parsed.unknown_types:
        warnings.append(
            (
                str(files.events),
                f"unknown event types {parsed.unknown_types} kept as 'unknown' and not counted",
            )
        )
    if parsed.misdated:
        warnings.append(
            (
                str(files.events),
                f"{len(parsed.misdated)} events dropped: their match clock disagrees with "
                f"their timestamp (e.g. {parsed.misdated[0]})",
            )
        )
    if files.lineup is None:
        warnings.append(
            (str(files.events), "no lineup file; teams and metadata taken from the events")
        )
    else:
        try:
            lineup_ids = {t for t, _ in read_lineup_teams(files.lineup)}
            event_ids = set(events.get_column("team_id").drop_nulls().unique().to_list())
            if lineup_ids != event_ids:
                warnings.append(
                    (str(files.lineup), f"lineup teams {sorted(lineup_ids)} differ from events")
                )
        except (StatsBombFormatError, OSError) as exc:
            warnings.append((str(files.lineup), f"{exc} Teams taken from the events."))
    players = frames = None
    if files.three_sixty is not None:
        try:
            players, frames = read_three_sixty(files.three_sixty, events)
        except (StatsBombFormatError, OSError) as exc:
            warnings.append((str(files.three_sixty), f"{exc} Tier-3 features left null."))
    has_360 = frames is not None and frames.height > 0
    return events, players, frames, _match_row(files, events, has_360, warnings), warnings


def _read_provider(files: ProviderMatch) -> _Parsed:
    """Events, match row and warnings of a kloppy provider's match folder (no 360)."""
    parsed = read_provider_match(files)
    warnings = [(str(files.folder), w) for w in parsed.warnings]
    return parsed.events, None, None, parsed.match, warnings


def lacking_concepts(events: pl.DataFrame) -> tuple[str, ...]:
    """Concepts a match's own data lacks although its provider may carry them: xG on shots,
    carry events, event locations."""
    shots = events.filter(pl.col("type") == "shot")
    lacks: tuple[str, ...] = ()
    if shots.height and shots.get_column("xg").is_null().all():
        lacks += ("xg",)
    if events.filter(pl.col("type") == "carry").is_empty():
        lacks += ("carry",)
    if events.height and events.get_column("x").is_null().all():
        lacks += ("location",)
    return lacks


def match_unavailable(provider: str, lacking: tuple[str, ...], events: pl.DataFrame) -> list[str]:
    """Features null in this match: those its provider (as read here) cannot supply, the xG
    features when its shots carry no xG, and the features built from carries alone when it
    holds no carry event (entries, which also count passes, keep their passes)."""
    own = lacking_concepts(events)
    unavailable = unavailable_features(
        provider, lacking=(*lacking, *(c for c in own if c not in ("carry", "location")))
    )
    if "carry" in own:
        unavailable += [n for n in features_from_only("carry") if n not in unavailable]
    if "location" in own:  # no event has a location: no spatial feature can be computed
        unavailable += [n for n in feature_names() if needs_location(n) and n not in unavailable]
    return unavailable


def extract_match(
    files: AnyMatch,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    stride_s: float = DEFAULT_STRIDE_S,
) -> MatchTables:
    """Parse one match and compute its segment features; raises on an unusable events file.

    Features the match's provider cannot supply (:func:`unavailable_features`), the xG
    features of a match whose shots carry no xG and the carry counts of a match without a
    carry event are null, never 0 (:func:`match_unavailable`).
    """
    lacking: tuple[str, ...] = ()
    if isinstance(files, ProviderMatch):
        events, players, frames, match, warnings = _read_provider(files)
        provider = files.provider
        lacking = KLOPPY_LACKS.get(provider, ())
    else:
        events, players, frames, match, warnings = _read_statsbomb(files)
        provider = "statsbomb"
    unavailable = match_unavailable(provider, lacking, events)

    segments = pl.concat([window_segments(events, window_s, stride_s), possession_segments(events)])
    features = segment_features(events, segments, players, frames)
    context = segment_context(events, segments)
    table = (
        segments.join(context, on="segment_id", how="left")
        .join(features, on="segment_id", how="left")
        .with_columns(
            pl.lit(match["competition"], dtype=pl.String).alias("competition"),
            pl.lit(match["season"], dtype=pl.String).alias("season"),
            pl.lit(provider, dtype=pl.String).alias("provider"),
            *[pl.lit(None, dtype=pl.Float64).alias(n) for n in unavailable],
        )
        .select(*METADATA_COLUMNS, "provider", *feature_names())
    )
    compact = events.filter(
        pl.col("x").is_not_null() | pl.col("type").is_in(TIMELINE_EVENT_TYPES)
    ).select(COMPACT_EVENT_COLUMNS)
    return MatchTables(
        features=table,
        events=compact,
        match=match,
        warnings=warnings,
        provider=provider,
        unavailable=unavailable,
    )
