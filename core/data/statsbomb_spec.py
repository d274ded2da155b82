"""StatsBomb's vocabulary and JSON layout, in one place (as kloppy's ``specification.py``):
event type names, set pieces, pass heights, won outcomes, and the events-file schema.

Only :mod:`core.data.statsbomb` reads these; the rest of ``core`` speaks the neutral
vocabulary of :mod:`core.data.schema`.
"""

from __future__ import annotations

from typing import Final

import polars as pl

SB_EVENT_TYPES: Final[dict[str, str]] = {
    "Pass": "pass",
    "Ball Receipt*": "ball_receipt",
    "Carry": "carry",
    "Pressure": "pressure",
    "Ball Recovery": "ball_recovery",
    "Duel": "duel",
    "Interception": "interception",
    "Clearance": "clearance",
    "Block": "block",
    "Dribble": "dribble",
    "Dribbled Past": "dribbled_past",
    "Shot": "shot",
    "Goal Keeper": "goalkeeper",
    "Foul Committed": "foul_committed",
    "Foul Won": "foul_won",
    "Miscontrol": "miscontrol",
    "Dispossessed": "dispossessed",
    "50/50": "fifty_fifty",
    "Error": "error",
    "Shield": "shield",
    "Offside": "offside",
    "Own Goal For": "own_goal_for",
    "Own Goal Against": "own_goal_against",
    "Substitution": "substitution",
    "Tactical Shift": "tactical_shift",
    "Starting XI": "starting_xi",
    "Half Start": "half_start",
    "Half End": "half_end",
    "Injury Stoppage": "injury_stoppage",
    "Player On": "player_on",
    "Player Off": "player_off",
    "Referee Ball-Drop": "referee_ball_drop",
    "Bad Behaviour": "bad_behaviour",
    "Camera On": "camera",
    "Camera off": "camera",
    "Camera Off": "camera",
}

SB_SET_PIECES: Final[dict[str, str]] = {
    "Corner": "corner",
    "Free Kick": "free_kick",
    "Throw-in": "throw_in",
    "Goal Kick": "goal_kick",
    "Kick Off": "kick_off",
    "Penalty": "penalty",
}

SB_PASS_HEIGHTS: Final[dict[str, str]] = {
    "Ground Pass": "ground",
    "Low Pass": "low",
    "High Pass": "high",
}

# Duel / interception / 50-50 outcomes that mean the acting team came away with the ball.
SB_WON_OUTCOMES: Final[tuple[str, ...]] = (
    "Won",
    "Success",
    "Success In Play",
    "Success Out",
    "Success To Team",
)

# The event kinds whose StatsBomb dict carries ``aerial_won``: the winner's action in an
# aerial duel (the loser gets a Duel of type "Aerial Lost"). JSON key of each kind.
SB_AERIAL_WON_KEYS: Final[tuple[str, ...]] = ("pass", "clearance", "shot", "miscontrol")

_NAME = pl.Struct({"name": pl.String()})
_ID_NAME = pl.Struct({"id": pl.Int64(), "name": pl.String()})
_XY = pl.List(pl.Float64())

# Only the fields we use: polars reads them straight into columns and ignores the rest.
SB_EVENT_JSON_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String(),
        "index": pl.Int64(),
        "period": pl.Int64(),
        "timestamp": pl.String(),
        "minute": pl.Int64(),
        "second": pl.Int64(),
        "type": _NAME,
        "possession": pl.Int64(),
        "possession_team": _ID_NAME,
        "play_pattern": _NAME,
        "team": _ID_NAME,
        "player": _ID_NAME,
        "location": _XY,
        "duration": pl.Float64(),
        "under_pressure": pl.Boolean(),
        "counterpress": pl.Boolean(),
        "pass": pl.Struct(
            {
                "length": pl.Float64(),
                "end_location": _XY,
                "height": _NAME,
                "cross": pl.Boolean(),
                "switch": pl.Boolean(),
                "through_ball": pl.Boolean(),
                "type": _NAME,
                "outcome": _NAME,
                "aerial_won": pl.Boolean(),
            }
        ),
        "shot": pl.Struct(
            {
                "statsbomb_xg": pl.Float64(),
                "end_location": _XY,
                "outcome": _NAME,
                "type": _NAME,
                "aerial_won": pl.Boolean(),
            }
        ),
        "clearance": pl.Struct({"aerial_won": pl.Boolean()}),
        "miscontrol": pl.Struct({"aerial_won": pl.Boolean()}),
        "carry": pl.Struct({"end_location": _XY}),
        "duel": pl.Struct({"type": _NAME, "outcome": _NAME}),
        "dribble": pl.Struct({"outcome": _NAME}),
        "interception": pl.Struct({"outcome": _NAME}),
        "goalkeeper": pl.Struct({"outcome": _NAME, "end_location": _XY}),
        "50_50": pl.Struct({"outcome": _NAME}),
        "ball_recovery": pl.Struct({"recovery_failure": pl.Boolean()}),
    }
)

SB_360_JSON_SCHEMA: Final = pl.Schema(
    {
        "event_uuid": pl.String(),
        "visible_area": pl.List(pl.Float64()),
        "freeze_frame": pl.List(
            pl.Struct(
                {
                    "teammate": pl.Boolean(),
                    "actor": pl.Boolean(),
                    "keeper": pl.Boolean(),
                    "location": _XY,
                }
            )
        ),
    }
)
