"""Tier-3 (360) features: what each freeze frame shows of both teams' shape, aggregated per
segment.

Each team's players are put in its own attacking direction before measuring, so a line
height is always yards from that team's own goal. A segment gets a t3 value only when at
least ``MIN_T3_FRAMES`` of its frames pass the visibility rule; else the value is null
(never 0). Registered in :mod:`core.features.registry` like every feature; the event tiers
are :mod:`core.features.compute`.
"""

from __future__ import annotations

import math
from typing import Final

import polars as pl

from core.data.schema import PITCH_LENGTH, PITCH_WIDTH
from core.features.exprs import ON_BALL, OPP, OWN, TYPE, X, count_if
from core.features.registry import feature_names
from core.features.segments import segment_events

# 360 visibility rules (see the registry definitions of the t3 features).
MIN_T3_FRAMES: Final = 5


LINE_MIN_PLAYERS: Final = 4


LINE_BEHIND_MARGIN: Final = 5.0


SHAPE_MIN_PLAYERS: Final = 6


AHEAD_OF_BALL: Final = 30.0


PASSING_LANE_YARDS: Final = 2.5


def frame_team_metrics(
    events: pl.DataFrame, players: pl.DataFrame, frames: pl.DataFrame
) -> pl.DataFrame:
    """Per 360 frame, the metrics of the acting team (``a_``) and the other team (``b_``).

    Each team's players are put in its own attacking direction before measuring, so a
    line height is always yards from that team's own goal. Columns with the event's
    ``match_id``, ``period``, ``time_s``, ``possession``, ``team_id`` (actor's team),
    ``possession_team_id`` and ``index`` so frames can be assigned to segments like events.
    """
    ev = events.select(
        "match_id", "event_id", "index", "period", "time_s", "possession", "team_id",
        "possession_team_id", "type", "x", "y", "end_x", "end_y",
    )  # fmt: skip
    # The visible area's extent in x, in the actor's direction.
    extent = frames.select(
        "event_id",
        "visible_fraction",
        pl.col("visible_area").list.gather_every(2).list.min().alias("vis_min_x"),
        pl.col("visible_area").list.gather_every(2).list.max().alias("vis_max_x"),
    )
    outfield = players.filter(~pl.col("keeper"))
    # Each player in his own team's direction: the actor's team as is, the other mirrored.
    own_dir = outfield.with_columns(
        pl.when(pl.col("teammate")).then(X).otherwise(PITCH_LENGTH - X).alias("tx"),
        pl.when(pl.col("teammate"))
        .then(pl.col("y"))
        .otherwise(PITCH_WIDTH - pl.col("y"))
        .alias("ty"),
    )
    cx = pl.col("tx") - pl.col("tx").mean()
    cy = pl.col("ty") - pl.col("ty").mean()
    shape = own_dir.group_by("event_id", "teammate").agg(
        pl.len().alias("n"),
        pl.col("tx").sort().head(2).mean().alias("line"),
        (pl.col("tx").max() - pl.col("tx").min()).alias("length"),
        (pl.col("ty").max() - pl.col("ty").min()).alias("width"),
        (
            math.pi
            * (pl.col("tx").var(ddof=0) * pl.col("ty").var(ddof=0) - (cx * cy).mean() ** 2)
            .clip(lower_bound=0.0)
            .sqrt()
        ).alias("area"),
        (cx**2 + cy**2).sqrt().mean().alias("stretch"),
    )
    shape_cols = ["n", "line", "length", "width", "area", "stretch"]
    a = shape.filter(pl.col("teammate")).select(
        "event_id", *[pl.col(c).alias(f"a_{c}") for c in shape_cols]
    )
    b = shape.filter(~pl.col("teammate")).select(
        "event_id", *[pl.col(c).alias(f"b_{c}") for c in shape_cols]
    )

    # Ball-relative counts, in the actor's direction, from the event's own location.
    rel = players.join(
        ev.select("event_id", "x", "y", "end_x", "end_y"), on="event_id", suffix="_ev"
    )
    px, py = pl.col("x"), pl.col("y")
    ex, ey = pl.col("x_ev"), pl.col("y_ev")
    dx, dy = pl.col("end_x") - ex, pl.col("end_y") - ey
    seg_len2 = dx**2 + dy**2
    u = pl.when(seg_len2 > 0).then(((px - ex) * dx + (py - ey) * dy) / seg_len2).otherwise(0.0)
    u = u.clip(0.0, 1.0)
    lane_dist = ((px - (ex + u * dx)) ** 2 + (py - (ey + u * dy)) ** 2).sqrt()
    opponent = ~pl.col("teammate")
    ball = rel.group_by("event_id").agg(
        count_if(opponent & ~pl.col("keeper") & (px > ex)).alias("opp_behind"),
        ((px - ex) ** 2 + (py - ey) ** 2).sqrt().filter(opponent).min().alias("nearest_opp"),
        count_if(opponent & (lane_dist <= PASSING_LANE_YARDS)).alias("lane_opps"),
    )
    return (
        ev.join(extent, on="event_id", how="inner")
        .join(a, on="event_id", how="left")
        .join(b, on="event_id", how="left")
        .join(ball, on="event_id", how="left")
        .with_columns(
            # How far back each team's view reaches, in its own direction.
            pl.col("vis_min_x").alias("a_behind"),
            (PITCH_LENGTH - pl.col("vis_max_x")).alias("b_behind"),
        )
    )


def _t3_aggregates() -> list[pl.Expr]:
    """Per-segment means of frame metrics, each over the frames that pass its visibility rule."""
    own, opp = OWN, OPP  # own: the segment's team is the actor's team (``a_``)

    def team(metric: str) -> pl.Expr:
        return pl.when(own).then(pl.col(f"a_{metric}")).otherwise(pl.col(f"b_{metric}"))

    in_poss = pl.col("possession_team_id") == pl.col("seg_team_id")
    n = team("n").fill_null(0)
    line_ok = (n >= LINE_MIN_PLAYERS) & (team("behind") <= team("line") - LINE_BEHIND_MARGIN)
    shape_ok = n >= SHAPE_MIN_PLAYERS
    actor_in_poss = pl.col("team_id") == pl.col("possession_team_id")
    on_ball = TYPE.is_in([*ON_BALL, "ball_receipt"]) & actor_in_poss
    ahead_ok = pl.col("vis_max_x") >= pl.min_horizontal(X + AHEAD_OF_BALL, pl.lit(118.0))

    def mean_if(value: pl.Expr, ok: pl.Expr, name: str) -> list[pl.Expr]:
        ok = ok.fill_null(False)
        return [value.filter(ok).mean().alias(name), count_if(ok).alias(f"{name}__n")]

    return [
        *mean_if(team("line"), line_ok & ~in_poss, "t3_defensive_line_height"),
        *mean_if(team("line"), line_ok & in_poss, "t3_own_line_height"),
        *mean_if(team("length"), shape_ok, "t3_team_length"),
        *mean_if(team("width"), shape_ok, "t3_team_width"),
        *mean_if(team("area"), shape_ok, "t3_spread_area"),
        *mean_if(team("stretch"), shape_ok, "t3_stretch_index"),
        *mean_if(pl.col("opp_behind"), own & on_ball & ahead_ok, "t3_opponents_behind_ball"),
        *mean_if(
            pl.col("nearest_opp"),
            opp & on_ball & pl.col("nearest_opp").is_not_null(),
            "t3_pressure_distance",
        ),
        *mean_if(
            pl.col("lane_opps"),
            own & (TYPE == "pass") & pl.col("end_x").is_not_null(),
            "t3_opponents_in_passing_lane",
        ),
        *mean_if(
            pl.col("visible_fraction"),
            pl.col("visible_fraction").is_not_null(),
            "t3_visible_fraction",
        ),
    ]


def tier3_features(
    events: pl.DataFrame,
    segments: pl.DataFrame,
    players: pl.DataFrame | None,
    frames: pl.DataFrame | None,
) -> pl.DataFrame:
    """``segment_id`` plus the t3 columns; null where too few frames pass the visibility rule."""
    t3 = [n for n in feature_names() if n.startswith("t3_")]
    empty = segments.select("segment_id").with_columns(
        [pl.lit(None, dtype=pl.Float64).alias(n) for n in t3]
    )
    if players is None or frames is None or frames.height == 0:
        return empty
    per_frame = frame_team_metrics(events, players, frames)
    se = segment_events(per_frame, segments).sort("segment_id", "index")
    if se.height == 0:
        return empty
    agg = se.group_by("segment_id").agg(_t3_aggregates())
    agg = agg.select(
        "segment_id",
        *[
            pl.when(pl.col(f"{n}__n") >= MIN_T3_FRAMES).then(pl.col(n)).otherwise(None).alias(n)
            for n in t3
        ],
    )
    return (
        segments.select("segment_id")
        .join(agg, on="segment_id", how="left")
        .select("segment_id", *[pl.col(n).cast(pl.Float64) for n in t3])
    )
