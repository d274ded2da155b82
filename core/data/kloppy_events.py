"""kloppy's event model to the neutral vocabulary, one event at a time.

kloppy's event types and qualifiers onto :data:`core.data.schema.EVENT_TYPES`, set pieces,
high passes, outcomes, end points, xG; own goals as StatsBomb has them (an
``own_goal_against`` row for the scorer's team and an ``own_goal_for`` row for the other).
The match-level assembly (clocks, attacking direction, possessions, lineups, the match
row) is :mod:`core.data.kloppy_source`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final

from kloppy.domain import (
    BodyPart,
    BodyPartQualifier,
    CounterAttackQualifier,
    DuelResult,
    ExpectedGoals,
    InterceptionResult,
    PassQualifier,
    PassResult,
    PassType,
    SetPieceQualifier,
    SetPieceType,
    ShotResult,
    TakeOnResult,
    UnderPressureQualifier,
)

from core.data.schema import (
    EVENT_TYPES,
    PITCH_LENGTH,
    PITCH_WIDTH,
    UNKNOWN_TYPE,
)
from core.data.wyscout_v2 import FOUL_WON_SUB_EVENTS, sub_event

_INT63: Final = (1 << 63) - 1
# The row key naming the team of the feed record a row comes from (see event_row).
SOURCE_TEAM: Final = "source_team_id"


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


def snake(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name.lower())
    return "_".join(p for p in out.split("_") if p)


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

# A pass that travels across at least half the pitch's width is a switch of play: exactly
# StatsBomb's flag (checked on the World Cup 2018: every flagged pass and no other), so a
# feed without the flag gets it from its pass end points.
SWITCH_MIN_WIDTH: Final = PITCH_WIDTH / 2

# kloppy's body parts in the neutral vocabulary (``body_part``: head, foot or other).
# Wyscout's one "head/body" tag is kloppy's HEAD_OTHER: counted as a header.
BODY_PARTS: Final[dict[BodyPart, str]] = {
    BodyPart.LEFT_FOOT: "foot",
    BodyPart.RIGHT_FOOT: "foot",
    BodyPart.DROP_KICK: "foot",
    BodyPart.HEAD: "head",
    BodyPart.HEAD_OTHER: "head",
    BodyPart.OTHER: "other",
    BodyPart.CHEST: "other",
    BodyPart.BOTH_HANDS: "other",
    BodyPart.LEFT_HAND: "other",
    BodyPart.RIGHT_HAND: "other",
    BodyPart.KEEPER_ARM: "other",
}

# Providers whose feed records the fouled side of a foul itself (StatsBomb's "Foul Won",
# the Opta family's "foul"); for every other one a foul committed gives the other team a
# ``foul_won`` row (:func:`foul_won_rows`).
NATIVE_FOUL_WON: Final = frozenset({"statsbomb", "opta", "statsperform"})
# Providers whose foul event is the fouled player's: Metrica's "FAULT RECEIVED", which
# kloppy 3.19 reads as a foul committed by the fouled team. Its row is a ``foul_won`` and
# the other team gets the ``foul_committed``.
FOUL_EVENT_IS_WON: Final = frozenset({"metrica"})


# Event types whose team has the ball (for providers without ``ball_owning_team``).
ON_BALL_TYPES: Final = frozenset({"pass", "carry", "dribble", "shot", "ball_receipt", "miscontrol"})


def neutral_type(event: Any, generic_names: dict[str, str]) -> str:
    kind = event.event_type.value
    if kind in KLOPPY_TYPES:
        return KLOPPY_TYPES[kind]
    if kind == "generic":
        name = snake(str(event.event_name))
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
    name = None if result is None else snake(str(result.value))
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


def _body_part(event: Any) -> str | None:
    parts = _qualifier(event, BodyPartQualifier)
    return BODY_PARTS.get(parts[0]) if parts else None


def _is_switch(flagged: bool, y: float | None, end_x: float | None, end_y: float | None) -> bool:
    """The feed's switch flag, or a pass across at least half the width (see SWITCH_MIN_WIDTH)."""
    if flagged:
        return True
    if y is None or end_x is None or end_y is None:
        return False
    return abs(end_y - y) >= SWITCH_MIN_WIDTH


def _duration(event: Any) -> float:
    end = getattr(event, "end_timestamp", None) or getattr(event, "receive_timestamp", None)
    if end is None:
        return 0.0
    return max(0.0, float((end - event.timestamp).total_seconds()))


def event_row(event: Any, kind: str) -> dict[str, Any]:
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
    team_id = stable_id(team.team_id) if team is not None else None
    return {
        "event_id": str(event.event_id),
        "team_id": team_id,
        # The team whose feed record this row comes from (rows derived for the other team
        # keep it): the attacking-direction check mirrors by it; not an EVENT_SCHEMA column.
        SOURCE_TEAM: team_id,
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
        "xg_modelled": False,
        "body_part": _body_part(event) if kind == "shot" else None,
        "pass_length": length,
        "pass_height": ("high" if pass_types & HIGH_PASSES else None) if kind == "pass" else None,
        "pass_cross": PassType.CROSS in pass_types,
        "pass_switch": kind == "pass"
        and _is_switch(PassType.SWITCH_OF_PLAY in pass_types, y, end_x, end_y),
        "pass_through_ball": PassType.THROUGH_BALL in pass_types,
        "set_piece": SET_PIECES.get(set_piece[0]) if set_piece else None,
        "duration": _duration(event),
    }


def own_goal_rows(row: dict[str, Any], other: tuple[int, str] | None) -> list[dict[str, Any]]:
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


def has_fouled_side(event: Any) -> bool:
    """Whether a foul committed has a fouled player (a Wyscout v2 hand ball, protest,
    simulation or time wasting has none; every other feed's fouls do)."""
    if not isinstance(getattr(event, "raw_event", None), dict) or "tags" not in event.raw_event:
        return True  # not a Wyscout v2 record
    name = sub_event(event)
    return name is None or name in FOUL_WON_SUB_EVENTS


def foul_rows(
    row: dict[str, Any], other: tuple[int, str] | None, provider: str
) -> list[dict[str, Any]]:
    """A kloppy foul committed as the neutral rows of both sides (see :data:`NATIVE_FOUL_WON`
    and :data:`FOUL_EVENT_IS_WON`): the row itself, and the other side's row where derived."""
    if provider in FOUL_EVENT_IS_WON:
        won = {**row, "type": "foul_won"}
        return [won, *other_side_row(won, other, "foul_committed", "committed")]
    if provider in NATIVE_FOUL_WON:
        return [row]
    return [row, *other_side_row(row, other, "foul_won", "won")]


def other_side_row(
    row: dict[str, Any], other: tuple[int, str] | None, kind: str, suffix: str
) -> list[dict[str, Any]]:
    """The other team's side of ``row`` (a ``kind`` row at the same spot, seen in its own
    attacking direction, without a player); none when the other team is unknown."""
    if other is None:
        return []
    x, y = row["x"], row["y"]
    return [
        {
            **row,
            "event_id": f"{row['event_id']}-{suffix}",
            "type": kind,
            "outcome": None,
            "success": None,
            "team_id": other[0],
            "team_name": other[1],
            "player_id": None,
            "player_name": None,
            "x": None if x is None else PITCH_LENGTH - x,
            "y": None if y is None else PITCH_WIDTH - y,
            "end_x": None,
            "end_y": None,
        }
    ]
