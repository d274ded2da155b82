"""Cut matches into per-team segments, and say which events fall inside each segment.

Window defaults (300 s long, 150 s stride, per team per period): five minutes holds enough
play for stable rates (a team makes about 40-60 passes and 10-15 possessions in that time)
while staying short enough to separate tactical phases such as a pressing spell or the
reaction to a goal; a half-window stride doubles the samples and blurs the arbitrary window
boundaries. Windows never cross a period boundary, so every segment is one team, one period.

A window holds its events with ``start <= time < end``, except that a window ending at its
period's end (the period's last event) holds that instant too: the period's last events
(often a pass, in feeds without a half-end marker) belong to the windows that reach it, as
every earlier event belongs to the windows around it (:func:`in_window`).
"""

from __future__ import annotations

from typing import Final

import polars as pl

DEFAULT_WINDOW_S: Final = 300.0
DEFAULT_STRIDE_S: Final = 150.0
# Shoot-outs (period 5) are not open play; no segment covers them.
LAST_PLAY_PERIOD: Final = 4
# Possessions shorter than this have no tactical content and blow up per-minute rates.
MIN_POSSESSION_S: Final = 3.0

SEGMENT_SCHEMA: Final = pl.Schema(
    {
        "segment_id": pl.String(),
        "match_id": pl.Int64(),
        "team_id": pl.Int64(),
        "opponent_id": pl.Int64(),
        "segment_type": pl.String(),
        "period": pl.Int64(),
        "start_time": pl.Float64(),
        "end_time": pl.Float64(),
        "possession": pl.Int64(),  # the provider's possession id for possession segments
    }
)


def match_teams(events: pl.DataFrame) -> pl.DataFrame:
    """``match_id, team_id, opponent_id``: both teams of every match, each with its opponent."""
    teams = events.filter(pl.col("team_id").is_not_null()).select("match_id", "team_id").unique()
    return (
        teams.join(teams.rename({"team_id": "opponent_id"}), on="match_id")
        .filter(pl.col("team_id") != pl.col("opponent_id"))
        .sort("match_id", "team_id")
    )


def period_bounds(events: pl.DataFrame) -> pl.DataFrame:
    """``match_id, period, period_end`` (seconds) for the periods of open play."""
    return (
        events.filter(pl.col("period") <= LAST_PLAY_PERIOD)
        .group_by("match_id", "period")
        .agg(pl.col("time_s").max().alias("period_end"))
        .sort("match_id", "period")
    )


def window_segments(
    events: pl.DataFrame,
    window_s: float = DEFAULT_WINDOW_S,
    stride_s: float = DEFAULT_STRIDE_S,
) -> pl.DataFrame:
    """Fixed windows per team per period: ``[k * stride, k * stride + window)``.

    The last windows of a period are cut at the period's end (which they hold, see
    :func:`in_window`); a window shorter than half the window length is dropped when the
    previous window already reaches the period's end (its events are inside that longer
    window), so every event of a period of play lies in a window whenever the stride is
    at most the window length. The first window of a period is always kept.
    """
    if window_s <= 0 or stride_s <= 0:
        raise ValueError(f"window ({window_s}) and stride ({stride_s}) must be positive seconds")
    bounds = period_bounds(events)
    windows = (
        bounds.with_columns(
            pl.int_ranges(
                0, (pl.col("period_end") / stride_s).ceil().cast(pl.Int64()).clip(lower_bound=1)
            ).alias("k")
        )
        .explode("k")
        .with_columns((pl.col("k") * stride_s).cast(pl.Float64()).alias("start_time"))
        .with_columns(
            pl.min_horizontal(pl.col("start_time") + window_s, pl.col("period_end")).alias(
                "end_time"
            )
        )
        .filter(
            ((pl.col("end_time") - pl.col("start_time")) >= window_s / 2)
            | (pl.col("k") == 0)
            | ((pl.col("start_time") - stride_s + window_s) < pl.col("period_end"))
        )
    )
    return (
        windows.join(match_teams(events), on="match_id")
        .with_columns(
            pl.lit("window").alias("segment_type"),
            pl.lit(None, dtype=pl.Int64()).alias("possession"),
            pl.format(
                "{}-{}-p{}-w{}",
                "match_id",
                "team_id",
                "period",
                pl.col("start_time").round(0).cast(pl.Int64()),
            ).alias("segment_id"),
        )
        .select(SEGMENT_SCHEMA.names())
        .sort("match_id", "team_id", "period", "start_time")
        .cast(SEGMENT_SCHEMA)
    )


ON_PITCH_TYPES: Final = (
    "pass", "ball_receipt", "carry", "pressure", "ball_recovery", "duel", "interception",
    "clearance", "block", "dribble", "dribbled_past", "shot", "goalkeeper", "foul_committed",
    "foul_won", "miscontrol", "dispossessed", "fifty_fifty", "shield",
)  # fmt: skip


def possession_segments(
    events: pl.DataFrame, min_duration_s: float = MIN_POSSESSION_S
) -> pl.DataFrame:
    """One segment per provider possession, for the team in possession.

    Start is the possession's first on-pitch event, end its last one's end (time + duration);
    possessions shorter than ``min_duration_s`` are left out.
    """
    # On-pitch actions are the events with a location (not line-ups, half starts, ...); a
    # feed without any location falls back on the action types, so its possessions remain.
    on_pitch = (
        pl.col("x").is_not_null()
        if events.get_column("x").is_not_null().any()
        else pl.col("type").is_in(ON_PITCH_TYPES)
    )
    poss = (
        events.filter(
            pl.col("possession_team_id").is_not_null()
            & (pl.col("period") <= LAST_PLAY_PERIOD)
            & on_pitch
        )
        .group_by("match_id", "period", "possession")
        .agg(
            pl.col("possession_team_id").first().alias("team_id"),
            pl.col("time_s").min().alias("start_time"),
            (pl.col("time_s") + pl.col("duration").fill_null(0.0)).max().alias("end_time"),
        )
        .filter((pl.col("end_time") - pl.col("start_time")) >= min_duration_s)
    )
    return (
        poss.join(match_teams(events), on=["match_id", "team_id"])
        .with_columns(
            pl.lit("possession").alias("segment_type"),
            pl.format("{}-{}-p{}-poss{}", "match_id", "team_id", "period", "possession").alias(
                "segment_id"
            ),
        )
        .select(SEGMENT_SCHEMA.names())
        .sort("match_id", "period", "start_time")
        .cast(SEGMENT_SCHEMA)
    )


def in_window(time: pl.Expr, start: pl.Expr, end: pl.Expr, period_end: pl.Expr) -> pl.Expr:
    """Whether an event at ``time`` belongs to the window ``[start, end)`` of its period.

    Half-open, so an event exactly on a window's end goes to the windows starting there;
    at the period's end no window starts, so the windows ending at ``period_end`` hold it
    (``start <= time <= end``). Otherwise the period's last event would be in no window.
    """
    return (time >= start) & ((time < end) | ((time == end) & (end >= period_end)))


def segment_events(events: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """Every (segment, event) pair where the event belongs to the segment.

    Windows take the events of their match and period by :func:`in_window`, the period's
    end being the latest end of the given windows of that match and period (the period's
    last event, for :func:`window_segments`' windows); possession segments take the events
    carrying their possession id. Both teams' events are kept: ``own`` says whether the
    segment's team acted. Columns: the event columns plus ``segment_id``, ``seg_team_id``,
    ``own``.
    """
    seg = segments.select(
        "segment_id",
        "match_id",
        pl.col("team_id").alias("seg_team_id"),
        pl.col("opponent_id").alias("seg_opponent_id"),
        pl.col("period").alias("seg_period"),
        "start_time",
        "end_time",
        pl.col("possession").alias("seg_possession"),
        "segment_type",
    )
    acting = events.filter(pl.col("team_id").is_not_null())
    windows = (
        seg.filter(pl.col("segment_type") == "window")
        .with_columns(pl.col("end_time").max().over("match_id", "seg_period").alias("period_end"))
        .join(acting, left_on=["match_id", "seg_period"], right_on=["match_id", "period"])
        .filter(
            in_window(
                pl.col("time_s"), pl.col("start_time"), pl.col("end_time"), pl.col("period_end")
            )
        )
        .with_columns(pl.col("seg_period").alias("period"))
    )
    poss = (
        seg.filter(pl.col("segment_type") == "possession")
        .join(
            acting,
            left_on=["match_id", "seg_period", "seg_possession"],
            right_on=["match_id", "period", "possession"],
        )
        .with_columns(
            pl.col("seg_period").alias("period"), pl.col("seg_possession").alias("possession")
        )
    )
    cols = ["segment_id", "seg_team_id", *events.columns]
    out = pl.concat([windows.select(cols), poss.select(cols)], how="vertical")
    return out.with_columns((pl.col("team_id") == pl.col("seg_team_id")).alias("own"))


def segment_context(events: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """``segment_id, match_minute, score_state, team_name, opponent_name`` per segment.

    ``match_minute`` is the match clock at the segment's start (period 2 starts at 45);
    ``score_state`` is the team's goal difference at the start: goals from shots and own
    goals in the team's favour, shoot-outs excluded.
    """
    clock = (
        events.filter(pl.col("period") <= LAST_PLAY_PERIOD)
        .group_by("match_id", "period")
        .agg(
            (pl.col("minute") * 60 + pl.col("second") - pl.col("time_s").floor())
            .median()
            .round(0)
            .alias("offset_s")
        )
    )
    goals = events.filter(
        (pl.col("period") <= LAST_PLAY_PERIOD)
        & (
            ((pl.col("type") == "shot") & (pl.col("outcome") == "goal"))
            | (pl.col("type") == "own_goal_for")
        )
    ).select(
        "match_id",
        pl.col("team_id").alias("goal_team_id"),
        pl.col("period").alias("goal_period"),
        pl.col("time_s").alias("goal_time"),
    )
    before = (
        segments.select("segment_id", "match_id", "team_id", "period", "start_time")
        .join(goals, on="match_id")
        .filter(
            (pl.col("goal_period") < pl.col("period"))
            | (
                (pl.col("goal_period") == pl.col("period"))
                & (pl.col("goal_time") < pl.col("start_time"))
            )
        )
        .group_by("segment_id")
        .agg(
            (
                pl.when(pl.col("goal_team_id") == pl.col("team_id")).then(1).otherwise(-1).sum()
            ).alias("score_state")
        )
    )
    names = (
        events.filter(pl.col("team_id").is_not_null())
        .group_by("match_id", "team_id")
        .agg(pl.col("team_name").first())
    )
    return (
        segments.select("segment_id", "match_id", "team_id", "opponent_id", "period", "start_time")
        .join(clock, on=["match_id", "period"], how="left")
        .join(before, on="segment_id", how="left")
        .join(names, on=["match_id", "team_id"], how="left")
        .join(
            names.rename({"team_id": "opponent_id", "team_name": "opponent_name"}),
            on=["match_id", "opponent_id"],
            how="left",
        )
        .select(
            "segment_id",
            ((pl.col("offset_s").fill_null(0.0) + pl.col("start_time")) / 60.0).alias(
                "match_minute"
            ),
            pl.col("score_state").fill_null(0).cast(pl.Int64()),
            "team_name",
            "opponent_name",
        )
    )
