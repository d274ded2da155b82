"""One neutral event schema for every data source, so segments and features never speak a provider's language.

Coordinates are in the acting team's attacking direction: x runs 0-120 from the team's own
goal line to the opponent's, y 0-80 across the pitch (the StatsBomb pitch, in yards).
"""

from __future__ import annotations

from typing import Final

import polars as pl

PITCH_LENGTH: Final = 120.0
PITCH_WIDTH: Final = 80.0

# Neutral event types. A reader maps its provider's types onto these; anything it does not
# know becomes ``UNKNOWN_TYPE`` (kept, counted, and reported as a warning).
EVENT_TYPES: Final[tuple[str, ...]] = (
    "pass",
    "ball_receipt",
    "carry",
    "pressure",
    "ball_recovery",
    "duel",
    "interception",
    "clearance",
    "block",
    "dribble",
    "dribbled_past",
    "shot",
    "goalkeeper",
    "foul_committed",
    "foul_won",
    "miscontrol",
    "dispossessed",
    "fifty_fifty",
    "error",
    "shield",
    "offside",
    "own_goal_for",
    "own_goal_against",
    "substitution",
    "tactical_shift",
    "starting_xi",
    "half_start",
    "half_end",
    "injury_stoppage",
    "player_on",
    "player_off",
    "referee_ball_drop",
    "bad_behaviour",
    "camera",
)
UNKNOWN_TYPE: Final = "unknown"

# Neutral set-piece kinds (``set_piece`` column: the restart a pass or shot was taken from).
SET_PIECES: Final[tuple[str, ...]] = (
    "corner",
    "free_kick",
    "throw_in",
    "goal_kick",
    "kick_off",
    "penalty",
)

# Neutral play patterns (how the possession began).
PLAY_PATTERNS: Final[tuple[str, ...]] = (
    "regular_play",
    "from_corner",
    "from_free_kick",
    "from_throw_in",
    "from_goal_kick",
    "from_kick_off",
    "from_keeper",
    "from_counter",
    "other",
)

# Neutral pass heights.
PASS_HEIGHTS: Final[tuple[str, ...]] = ("ground", "low", "high")

# Neutral body parts a shot is taken with (``body_part`` column; null when unknown).
BODY_PARTS: Final[tuple[str, ...]] = ("head", "foot", "other")

EVENT_SCHEMA: Final = pl.Schema(
    {
        "match_id": pl.Int64(),
        "event_id": pl.String(),  # provider's event id; the key 360 frames join on
        "index": pl.Int64(),  # order of the event within the match
        "period": pl.Int64(),  # 1, 2 (3, 4 extra time; 5 penalty shoot-out)
        "time_s": pl.Float64(),  # seconds from the start of the period
        "minute": pl.Int64(),  # match clock minute (period 2 starts at 45)
        "second": pl.Int64(),
        "team_id": pl.Int64(),
        "team_name": pl.String(),
        "player_id": pl.Int64(),
        "player_name": pl.String(),
        "type": pl.String(),  # one of EVENT_TYPES or UNKNOWN_TYPE
        "outcome": pl.String(),  # snake_case outcome ("complete", "goal", "won", "incomplete", ...)
        "success": pl.Boolean(),  # did the action work (pass completed, duel won, ...); null if n/a
        "x": pl.Float64(),
        "y": pl.Float64(),
        "end_x": pl.Float64(),
        "end_y": pl.Float64(),
        "possession": pl.Int64(),  # possession sequence number within the match
        "possession_team_id": pl.Int64(),
        "play_pattern": pl.String(),  # one of PLAY_PATTERNS
        "under_pressure": pl.Boolean(),
        "counterpress": pl.Boolean(),  # pressure/defensive action within 5 s of losing the ball
        "aerial_won": pl.Boolean(),  # the action (pass, clearance, shot, ...) won an aerial duel
        "xg": pl.Float64(),  # shot xG: the provider's, else core.data.xg_model's
        "xg_modelled": pl.Boolean(),  # xg comes from core.data.xg_model, not the provider
        "body_part": pl.String(),  # one of BODY_PARTS for shots, null when unknown
        "pass_length": pl.Float64(),
        "pass_height": pl.String(),  # one of PASS_HEIGHTS
        "pass_cross": pl.Boolean(),
        "pass_switch": pl.Boolean(),
        "pass_through_ball": pl.Boolean(),
        "set_piece": pl.String(),  # one of SET_PIECES, null in open play
        "duration": pl.Float64(),  # seconds
    }
)

# One row per player seen in a 360 frame, in the acting team's attacking direction.
FREEZE_FRAME_SCHEMA: Final = pl.Schema(
    {
        "match_id": pl.Int64(),
        "event_id": pl.String(),
        "teammate": pl.Boolean(),  # same team as the actor of the event
        "actor": pl.Boolean(),
        "keeper": pl.Boolean(),
        "x": pl.Float64(),
        "y": pl.Float64(),
    }
)

# One row per 360 frame: the camera's visible area and the share of the pitch it covers.
FRAME_SCHEMA: Final = pl.Schema(
    {
        "match_id": pl.Int64(),
        "event_id": pl.String(),
        "visible_area": pl.List(pl.Float64()),  # flat polygon x0, y0, x1, y1, ...
        "visible_fraction": pl.Float64(),  # polygon area / pitch area, 0-1
        "mirrored": pl.Boolean(),  # the provider's frame was flipped and has been corrected
    }
)

# One row per match: who played, the score, where it belongs.
MATCH_SCHEMA: Final = pl.Schema(
    {
        "match_id": pl.Int64(),
        "home_team_id": pl.Int64(),
        "home_team_name": pl.String(),
        "away_team_id": pl.Int64(),
        "away_team_name": pl.String(),
        "home_score": pl.Int64(),
        "away_score": pl.Int64(),
        "match_date": pl.String(),
        "competition": pl.String(),
        "season": pl.String(),
        "has_360": pl.Boolean(),
        "label": pl.String(),
    }
)

# Compact events for drawing a segment on a pitch (``events.parquet``).
COMPACT_EVENT_COLUMNS: Final[tuple[str, ...]] = (
    "match_id",
    "period",
    "time_s",
    "team_id",
    "player_name",
    "type",
    "outcome",
    "x",
    "y",
    "end_x",
    "end_y",
    "possession",
)

# Metadata columns of ``features.parquet`` (every other column is a ``t<tier>_<name>``
# feature). Training needs only the required ones; ``segment_id`` is derived when absent.
REQUIRED_METADATA_COLUMNS: Final[tuple[str, ...]] = (
    "match_id",
    "team_id",
    "segment_type",
    "start_time",
    "end_time",
    "period",
    "match_minute",
)
METADATA_COLUMNS: Final[tuple[str, ...]] = (
    *REQUIRED_METADATA_COLUMNS,
    "segment_id",
    "team_name",
    "opponent_id",
    "opponent_name",
    "competition",
    "season",
    "score_state",
)


def empty_events() -> pl.DataFrame:
    """An event table with no rows and the neutral schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def match_label(
    home: str, away: str, home_score: int | None, away_score: int | None, *parts: str | None
) -> str:
    """``"Turkey 0-3 Italy · Euro 2020 · 2021-06-11"``; missing parts are left out."""
    score = (
        f"{home_score}-{away_score}" if home_score is not None and away_score is not None else "v"
    )
    return " · ".join([f"{home} {score} {away}", *[p for p in parts if p]])
