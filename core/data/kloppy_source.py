"""Any kloppy ``EventDataset`` to the neutral event table, so every provider kloppy reads is a source.

kloppy already puts each provider's events into one model; this module only translates
that model into :data:`core.data.schema.EVENT_SCHEMA`: coordinates onto the 120 x 80 pitch
in the acting team's attacking direction (kloppy's own transform, which maps pitch
landmarks such as the penalty box exactly), period clocks in seconds from the period
start, kloppy's event types and qualifiers onto the neutral vocabulary, and teams, lineups
and match metadata. Concepts kloppy (or the provider) lacks stay empty here; which
features that costs is recorded per provider in :mod:`core.features.registry`.

Derived where kloppy has no field (documented, and the reason a StatsBomb match through
this path differs slightly from the fast reader in :mod:`core.data.statsbomb`):

- ``possession`` numbers a new possession whenever the team in possession changes, a
  period starts or play restarts with a set piece; the team in possession is kloppy's
  ``ball_owning_team``, else the team of the last on-ball action. StatsBomb also splits
  some possessions at other stoppages (about one in six of its possessions), so
  possession-based features and possession segments differ most from the fast reader.
- ``counterpress`` and ``aerial_won`` are false (kloppy has no such flag); an aerial duel
  won is a ``duel`` with a won result instead.
- ``play_pattern`` is ``from_counter`` where kloppy marks a counter-attack, else
  ``regular_play``.
- An own goal (a kloppy shot with result ``OWN_GOAL``) becomes ``own_goal_against`` for
  the scorer's team plus an ``own_goal_for`` row for the other team, as StatsBomb has it;
  it is never a shot.
- An Impect shot's end lies on the goal line (x = 120): kloppy 3.19 reads the target point
  with an x beyond the pitch. Impect's ball receptions are ``ball_receipt`` rows, and its
  goal markers (the shot already says goal) stay ``unknown`` without a warning.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import polars as pl
from kloppy.domain import (
    CounterAttackQualifier,
    DuelResult,
    EventDataset,
    ExpectedGoals,
    InterceptionResult,
    Orientation,
    PassQualifier,
    PassResult,
    PassType,
    Provider,
    SetPieceQualifier,
    SetPieceType,
    ShotResult,
    TakeOnResult,
    UnderPressureQualifier,
)

from core.data.schema import (
    EVENT_SCHEMA,
    EVENT_TYPES,
    PITCH_LENGTH,
    PITCH_WIDTH,
    UNKNOWN_TYPE,
    match_label,
)

logger = logging.getLogger(__name__)

# kloppy event types (``EventType.value``) to neutral types; generic events go by name.
KLOPPY_TYPES: Final[dict[str, str]] = {
    "PASS": "pass",
    "SHOT": "shot",
    "TAKE_ON": "dribble",
    "CARRY": "carry",
    "CLEARANCE": "clearance",
    "INTERCEPTION": "interception",
    "DUEL": "duel",
    "SUBSTITUTION": "substitution",
    "CARD": "bad_behaviour",
    "PLAYER_ON": "player_on",
    "PLAYER_OFF": "player_off",
    "RECOVERY": "ball_recovery",
    "MISCONTROL": "miscontrol",
    "FOUL_COMMITTED": "foul_committed",
    "GOALKEEPER": "goalkeeper",
    "PRESSURE": "pressure",
    "FORMATION_CHANGE": "tactical_shift",
}
# kloppy types with no neutral concept: kept as ``unknown`` (they still mark time and ball
# possession) but not reported, since they are expected.
QUIET_TYPES: Final = frozenset({"BALL_OUT"})
# Generic event names (snake case) that name a neutral type differently.
GENERIC_NAMES: Final[dict[str, str]] = {
    "goal_keeper": "goalkeeper",
    "50_50": "fifty_fifty",
    "camera_on": "camera",
    "camera_off": "camera",
    "card": "bad_behaviour",
    "player_on": "player_on",
    "player_off": "player_off",
}
# Generic names whose meaning depends on the feed: the Opta family (Opta, Stats Perform)
# records the fouled player's side of a foul as "foul" (the committed side is kloppy's
# FOUL_COMMITTED), and a "challenge" is the defender dribbled past.
# Impect's ball receptions are StatsBomb's ball receipts.
PROVIDER_GENERIC_NAMES: Final[dict[str, dict[str, str]]] = {
    "opta": {"foul": "foul_won", "challenge": "dribbled_past"},
    "statsperform": {"foul": "foul_won", "challenge": "dribbled_past"},
    "impect": {"reception": "ball_receipt"},
}
# Generic event names with no neutral concept that a feed is expected to carry: kept as
# ``unknown`` but not reported. Impect marks each goal with a "GOAL" event besides the shot.
QUIET_GENERIC_NAMES: Final[dict[str, frozenset[str]]] = {"impect": frozenset({"goal"})}
SET_PIECES: Final[dict[SetPieceType, str]] = {
    SetPieceType.CORNER_KICK: "corner",
    SetPieceType.FREE_KICK: "free_kick",
    SetPieceType.THROW_IN: "throw_in",
    SetPieceType.GOAL_KICK: "goal_kick",
    SetPieceType.KICK_OFF: "kick_off",
    SetPieceType.PENALTY: "penalty",
}
HIGH_PASSES: Final = frozenset({PassType.HIGH_PASS, PassType.CHIPPED_PASS, PassType.LAUNCH})
# Event types whose team has the ball (for providers without ``ball_owning_team``).
ON_BALL_TYPES: Final = frozenset({"pass", "carry", "dribble", "shot", "ball_receipt", "miscontrol"})
# Match-clock minute at which each period starts.
PERIOD_START_MINUTE: Final[dict[int, int]] = {1: 0, 2: 45, 3: 90, 4: 105, 5: 120}
# A period whose first event is this far after the period start (or before it) has a
# clock that does not fit its events (e.g. metadata from another feed); it is re-based.
CLOCK_SLACK_S: Final = 300.0
# No period lasts longer than this (a half with a very long stoppage): an event timed
# beyond it, or before the period start, is mistimed and dropped (and reported).
MAX_PERIOD_S: Final = 75 * 60.0
# A period is mirrored when its shots (and its goal kicks, mirrored) lie on average in the
# acting team's own half, given at least this many of them.
MIN_DIRECTION_EVIDENCE: Final = 3
_INT63: Final = (1 << 63) - 1


def stable_id(value: Any) -> int | None:
    """An Int64 id for a provider id: the number itself when numeric, else a stable hash."""
    if value is None:
        return None
    text = str(value)
    if text.isdigit() and int(text) <= _INT63:
        return int(text)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _INT63


def team_name(team: Any) -> str:
    """A kloppy team's name; ``Team <id>`` when the feed names none (Impect without squads)."""
    return str(team.name or f"Team {team.team_id}")


def _snake(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name.lower())
    return "_".join(p for p in out.split("_") if p)


@dataclass
class KloppyEvents:
    """The neutral event table of one kloppy dataset, its match row and what was noticed."""

    events: pl.DataFrame
    match: dict[str, Any]
    lineups: pl.DataFrame  # team_id, team_name, ground, player_id, player_name, starting
    unknown_types: list[str] = field(default_factory=list)
    rebased_periods: dict[int, float] = field(default_factory=dict)  # period -> seconds moved
    warnings: list[str] = field(default_factory=list)


def to_product_pitch(dataset: EventDataset) -> EventDataset:
    """``dataset`` on the 120 x 80 pitch, each event in its acting team's attacking direction.

    Events without a team (referee and ball-out markers of some feeds) have no attacking
    direction and are left out; no feature counts them.
    """
    with_team = dataset.filter(lambda event: event.team is not None)
    return with_team.transform(
        to_orientation=Orientation.ACTION_EXECUTING_TEAM,
        to_coordinate_system=Provider.STATSBOMB,
    )


def _neutral_type(event: Any, generic_names: dict[str, str]) -> str:
    kind = event.event_type.value
    if kind in KLOPPY_TYPES:
        return KLOPPY_TYPES[kind]
    if kind == "generic":
        name = _snake(str(event.event_name))
        name = generic_names.get(name, name)
        return name if name in EVENT_TYPES else UNKNOWN_TYPE
    return UNKNOWN_TYPE


# The result that counts as success for each neutral type (as the StatsBomb reader has it).
_SUCCESS: Final[dict[str, tuple[Any, ...]]] = {
    "pass": (PassResult.COMPLETE,),
    "shot": (ShotResult.GOAL,),
    "dribble": (TakeOnResult.COMPLETE,),
    "duel": (DuelResult.WON,),
    "interception": (InterceptionResult.SUCCESS, None),
}


def _outcome(event: Any, kind: str) -> tuple[str | None, bool | None]:
    """Snake-case outcome and success flag (null where the type has no success)."""
    result = getattr(event, "result", None)
    name = None if result is None else _snake(str(result.value))
    if kind == "ball_recovery":
        return name, True
    if kind in _SUCCESS:
        return name, result in _SUCCESS[kind]
    return name, None


def _qualifier(event: Any, kind: type) -> list[Any]:
    qualifiers: list[Any] = getattr(event, "qualifiers", None) or []
    return [getattr(q, "value", None) for q in qualifiers if isinstance(q, kind)]


def _end_point(event: Any) -> Any:
    for attr in ("receiver_coordinates", "end_coordinates", "result_coordinates"):
        point = getattr(event, attr, None)
        if point is not None:
            return point
    return None


def _xg(event: Any) -> float | None:
    for stat in getattr(event, "statistics", None) or []:
        if isinstance(stat, ExpectedGoals) and stat.value is not None:
            return float(stat.value)
    return None


def _xy(point: Any) -> tuple[float | None, float | None]:
    """A kloppy point's x and y as floats; both null when it has no (finite) x."""
    if point is None or point.x is None or math.isnan(point.x):
        return None, None
    return float(point.x), float(point.y)


def _duration(event: Any) -> float:
    end = getattr(event, "end_timestamp", None) or getattr(event, "receive_timestamp", None)
    if end is None:
        return 0.0
    return max(0.0, float((end - event.timestamp).total_seconds()))


def _event_row(event: Any, kind: str) -> dict[str, Any]:
    """One neutral row (without match, index, clock and possession columns)."""
    outcome, success = _outcome(event, kind)
    x, y = _xy(event.coordinates)
    end_x, end_y = _xy(_end_point(event))
    pass_types = set(_qualifier(event, PassQualifier)) if kind == "pass" else set()
    set_piece = _qualifier(event, SetPieceQualifier)
    length = None
    if (
        kind == "pass"
        and x is not None
        and y is not None
        and end_x is not None
        and end_y is not None
    ):
        length = math.hypot(end_x - x, end_y - y)
    team, player = event.team, event.player
    return {
        "event_id": str(event.event_id),
        "team_id": stable_id(team.team_id) if team is not None else None,
        "team_name": team_name(team) if team is not None else None,
        "player_id": stable_id(player.player_id) if player is not None else None,
        "player_name": (player.full_name or player.name) if player is not None else None,
        "type": kind,
        "outcome": "complete" if kind == "pass" and success else outcome,
        "success": success,
        "x": x,
        "y": y,
        "end_x": end_x if kind in ("pass", "carry", "shot", "goalkeeper") else None,
        "end_y": end_y if kind in ("pass", "carry", "shot", "goalkeeper") else None,
        "owner_id": (
            stable_id(event.ball_owning_team.team_id)
            if event.ball_owning_team is not None
            else None
        ),
        "play_pattern": (
            "from_counter" if any(_qualifier(event, CounterAttackQualifier)) else "regular_play"
        ),
        "under_pressure": any(_qualifier(event, UnderPressureQualifier)),
        "counterpress": False,
        "aerial_won": False,
        "xg": _xg(event) if kind == "shot" else None,
        "pass_length": length,
        "pass_height": ("high" if pass_types & HIGH_PASSES else None) if kind == "pass" else None,
        "pass_cross": PassType.CROSS in pass_types,
        "pass_switch": PassType.SWITCH_OF_PLAY in pass_types,
        "pass_through_ball": PassType.THROUGH_BALL in pass_types,
        "set_piece": SET_PIECES.get(set_piece[0]) if set_piece else None,
        "duration": _duration(event),
    }


def _own_goal_rows(row: dict[str, Any], other: tuple[int, str] | None) -> list[dict[str, Any]]:
    """A kloppy own-goal shot as StatsBomb has it: against the scorer, for the other team."""
    against = {**row, "type": "own_goal_against", "success": None, "xg": None}
    if other is None:
        return [against]
    return [
        against,
        {
            **against,
            "event_id": f"{row['event_id']}-for",
            "type": "own_goal_for",
            "team_id": other[0],
            "team_name": other[1],
            "player_id": None,
            "player_name": None,
        },
    ]


def period_offsets(dataset: EventDataset) -> dict[int, float]:
    """Seconds to add to each period's kloppy timestamps so the period clock fits its events.

    kloppy's timestamps count from the period start in the metadata. Where the first event
    of a period lies before that start, or more than :data:`CLOCK_SLACK_S` after it, the
    metadata's clock belongs to something else (kloppy's Metrica fixture pairs the events
    with a tracking snippet's metadata); the period is then re-based on its first event.
    """
    first: dict[int, float] = {}
    for event in dataset.records:
        pid = event.period.id
        t = event.timestamp.total_seconds()
        first[pid] = min(first.get(pid, t), t)
    return {pid: -t for pid, t in first.items() if t < 0 or t > CLOCK_SLACK_S}


def _impect_shot_ends(frame: pl.DataFrame) -> pl.DataFrame:
    """Impect shots end on the goal line (x = 120), not 54 yards past it.

    kloppy 3.19 reads an Impect shot's end from its target point on the goal plane but
    sets its x to 100 in Impect's metre coordinates, whose goal line is at x = 52.5; the
    target point's y (across the goal mouth) is kept.
    """
    on_goal_plane = (pl.col("type") == "shot") & pl.col("end_x").is_not_null()
    return frame.with_columns(
        pl.when(on_goal_plane).then(pl.lit(PITCH_LENGTH)).otherwise(pl.col("end_x")).alias("end_x")
    )


def _fix_direction(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """Mirror each period whose shots (and goal kicks) say the direction is the wrong way.

    kloppy's orientation for a feed comes from its metadata; when that belongs to another
    recording (kloppy's Metrica fixture), every event of a period points at the own goal.
    """
    evidence = (
        frame.filter((pl.col("type") == "shot") | (pl.col("set_piece") == "goal_kick"))
        .filter(pl.col("x").is_not_null())
        .group_by("period")
        .agg(
            pl.when(pl.col("type") == "shot")
            .then(pl.col("x"))
            .otherwise(PITCH_LENGTH - pl.col("x"))
            .mean()
            .alias("x"),
            pl.len().alias("n"),
        )
    )
    flip = sorted(
        evidence.filter((pl.col("n") >= MIN_DIRECTION_EVIDENCE) & (pl.col("x") < PITCH_LENGTH / 2))
        .get_column("period")
        .to_list()
    )
    if not flip:
        return frame, []
    mirrored = pl.col("period").is_in(flip)
    return frame.with_columns(
        *[
            pl.when(mirrored).then(size - pl.col(c)).otherwise(pl.col(c)).alias(c)
            for c, size in (
                ("x", PITCH_LENGTH),
                ("end_x", PITCH_LENGTH),
                ("y", PITCH_WIDTH),
                ("end_y", PITCH_WIDTH),
            )
        ]
    ), flip


def _with_possessions(frame: pl.DataFrame) -> pl.DataFrame:
    """``possession_team_id`` and ``possession`` from ball ownership (see the module doc)."""
    on_ball_team = pl.when(pl.col("type").is_in(list(ON_BALL_TYPES))).then(pl.col("team_id"))
    owner = (
        pl.coalesce(pl.col("owner_id"), on_ball_team)
        .forward_fill()
        .over("period", order_by="index")
        .backward_fill()
    )
    frame = frame.with_columns(owner.alias("possession_team_id"))
    changed = (
        (pl.col("possession_team_id") != pl.col("possession_team_id").shift(1))
        | (pl.col("period") != pl.col("period").shift(1))
        | pl.col("set_piece").is_not_null()
    ).fill_null(True)
    return frame.with_columns(changed.cum_sum().cast(pl.Int64).alias("possession"))


def _lineups(dataset: EventDataset) -> pl.DataFrame:
    rows = [
        {
            "team_id": stable_id(team.team_id),
            "team_name": team_name(team),
            "ground": str(team.ground.value) if team.ground is not None else None,
            "player_id": stable_id(player.player_id),
            "player_name": player.full_name or player.name,
            "starting": bool(player.starting),
        }
        for team in dataset.metadata.teams
        for player in team.players
    ]
    return pl.DataFrame(
        rows,
        schema={
            "team_id": pl.Int64,
            "team_name": pl.String,
            "ground": pl.String,
            "player_id": pl.Int64,
            "player_name": pl.String,
            "starting": pl.Boolean,
        },
    )


def _score(dataset: EventDataset, events: pl.DataFrame, ids: list[int]) -> tuple[int, int]:
    """Home and away goals: the metadata's score when it has one, else the events' goals."""
    score = dataset.metadata.score
    if score is not None and all(isinstance(v, int) for v in (score.home, score.away)):
        return int(score.home), int(score.away)
    goals = events.filter(
        (pl.col("period") <= 4)  # shoot-outs (period 5) are not goals
        & (
            ((pl.col("type") == "shot") & (pl.col("outcome") == "goal"))
            | (pl.col("type") == "own_goal_for")
        )
    )
    counted = goals.get_column("team_id").to_list()
    return counted.count(ids[0]), counted.count(ids[1])


def _match_row(
    dataset: EventDataset, events: pl.DataFrame, match_id: int, record: dict[str, Any]
) -> dict[str, Any]:
    teams = dataset.metadata.teams
    ids = [stable_id(t.team_id) or 0 for t in teams]
    home, away = team_name(teams[0]), team_name(teams[1])
    home_score, away_score = _score(dataset, events, ids)
    date = record.get("match_date")
    if date is None and isinstance(dataset.metadata.date, datetime):
        date = dataset.metadata.date.date().isoformat()
    competition, season = record.get("competition"), record.get("season")
    return {
        "match_id": match_id,
        "home_team_id": ids[0],
        "home_team_name": home,
        "away_team_id": ids[1],
        "away_team_name": away,
        "home_score": home_score,
        "away_score": away_score,
        "match_date": date,
        "competition": competition,
        "season": season,
        "has_360": False,
        "label": match_label(home, away, home_score, away_score, competition, date),
    }


def kloppy_events(
    dataset: EventDataset, match_id: int, *, record: dict[str, Any] | None = None
) -> KloppyEvents:
    """The neutral event table, match row and lineups of one kloppy event dataset.

    ``record`` may add what the files do not say (``competition``, ``season``,
    ``match_date``). Raises ``ValueError`` for a dataset without two teams or events.
    """
    teams = dataset.metadata.teams
    if len(teams) != 2:
        raise ValueError(f"the dataset names {len(teams)} teams; a match needs 2")
    if not dataset.records:
        raise ValueError("the dataset holds no events")
    offsets = period_offsets(dataset)
    pitched = to_product_pitch(dataset)
    provider = str(getattr(dataset.metadata.provider, "value", None) or "")
    generic_names = {**GENERIC_NAMES, **PROVIDER_GENERIC_NAMES.get(provider, {})}
    quiet_generic = QUIET_GENERIC_NAMES.get(provider, frozenset())
    team_of = {stable_id(t.team_id): (stable_id(t.team_id) or 0, team_name(t)) for t in teams}
    other = {a: team_of[b] for a, b in zip(team_of, reversed(list(team_of)), strict=True)}
    rows: list[dict[str, Any]] = []
    unknown: set[str] = set()
    for event in pitched.records:
        kind = _neutral_type(event, generic_names)
        if (
            kind == UNKNOWN_TYPE
            and event.event_type.value not in QUIET_TYPES
            and _snake(str(event.event_name)) not in quiet_generic
        ):
            unknown.add(str(event.event_name))
        row = _event_row(event, kind)
        pid = event.period.id
        row["period"] = pid
        row["time_s"] = event.timestamp.total_seconds() + offsets.get(pid, 0.0)
        if kind == "shot" and event.result == ShotResult.OWN_GOAL:
            rows.extend(_own_goal_rows(row, other.get(row["team_id"])))
        else:
            rows.append(row)
    frame = pl.DataFrame(rows, schema_overrides={"xg": pl.Float64, "pass_length": pl.Float64})
    if provider == "impect":
        frame = _impect_shot_ends(frame)
    mistimed = frame.filter(~pl.col("time_s").is_between(0.0, MAX_PERIOD_S)).height
    frame, mirrored = _fix_direction(
        frame.filter(pl.col("time_s").is_between(0.0, MAX_PERIOD_S)).sort(
            "period", "time_s", maintain_order=True
        )
    )
    frame = frame.with_columns(
        pl.lit(match_id, dtype=pl.Int64).alias("match_id"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("index"),
        (
            pl.col("period").replace_strict(PERIOD_START_MINUTE, default=0) * 60
            + pl.col("time_s").floor()
        )
        .cast(pl.Int64)
        .alias("clock"),
    ).with_columns(
        (pl.col("clock") // 60).alias("minute"),
        (pl.col("clock") % 60).alias("second"),
    )
    events = _with_possessions(frame).select(EVENT_SCHEMA.names()).cast(EVENT_SCHEMA)
    warnings = [
        f"period {p} clock re-based by {s:+.1f} s: its first event does not fit the "
        "metadata's period start"
        for p, s in sorted(offsets.items())
    ]
    if not all(t.name for t in teams):
        warnings.append(
            "the data does not name the teams (for Impect, add the squads.json file); "
            "they are called by their ids"
        )
    if mistimed:
        warnings.append(
            f"{mistimed} events dropped: their time lies outside their period "
            f"(before its start or over {MAX_PERIOD_S / 60:.0f} minutes into it)"
        )
    warnings += [
        f"period {p} mirrored: its shots lay in the shooting team's own half, so the feed's "
        "attacking direction was the other way round"
        for p in mirrored
    ]
    return KloppyEvents(
        events=events,
        match=_match_row(dataset, events, match_id, record or {}),
        lineups=_lineups(dataset),
        unknown_types=sorted(unknown),
        rebased_periods=offsets,
        warnings=warnings,
    )
