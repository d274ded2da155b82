"""Segment features as polars expressions over the neutral event table (and 360 frames).

Every column produced here is registered in :mod:`core.features.registry`; the events of all
segments are aggregated in one ``group_by``, never in a Python loop over segments. Each
team's actions are in its own attacking direction, so an opponent's "final third" is its
own x >= 80; where a definition mixes the two views (PPDA's zone) the opponent's x is
mirrored explicitly (120 - x).
"""

from __future__ import annotations

import math
from typing import Final

import polars as pl

from core.data.schema import PITCH_LENGTH, PITCH_WIDTH
from core.features.registry import feature_names
from core.features.segments import segment_events

GOAL_X: Final = PITCH_LENGTH
GOAL_Y: Final = PITCH_WIDTH / 2
FINAL_THIRD_X: Final = 80.0
HALFWAY_X: Final = 60.0
PPDA_ZONE_X: Final = 48.0  # the pressing team's attacking 60% of the pitch
PPDA_FLOOR: Final = 1.0  # PPDA's denominator never drops below one action
HIGH_TURNOVER_X: Final = 76.3  # 40 m from the opponent's goal on a 120-yard pitch
BOX_X: Final = 102.0
BOX_Y: Final = (18.0, 62.0)
LONG_PASS_YARDS: Final = 35.0
DEEP_COMPLETION_YARDS: Final = 20.0
PROGRESSIVE_RATIO: Final = 0.75
PROGRESSIVE_MIN_GAIN: Final = 5.0
POSSESSION_GAP_CAP_S: Final = 10.0  # a longer pause is dead ball, credited at most this much
MIN_SPEED_SPAN_S: Final = 2.0

# 360 visibility rules (see the registry definitions of the t3 features).
MIN_T3_FRAMES: Final = 5
LINE_MIN_PLAYERS: Final = 4
LINE_BEHIND_MARGIN: Final = 5.0
SHAPE_MIN_PLAYERS: Final = 6
AHEAD_OF_BALL: Final = 30.0
PASSING_LANE_YARDS: Final = 2.5

ON_BALL: Final = ("pass", "carry", "dribble", "shot")
DEFENSIVE_ACTIONS: Final = (
    "pressure",
    "duel",
    "interception",
    "ball_recovery",
    "block",
    "clearance",
    "foul_committed",
    "dribbled_past",
)
PPDA_ACTIONS: Final = ("duel", "interception", "foul_committed", "dribbled_past")
SET_PIECE_PASSES: Final = ("corner", "free_kick", "throw_in", "goal_kick")

_t = pl.col("type")
_own = pl.col("own")
_opp = ~pl.col("own")
_x = pl.col("x")


def _dist_to_goal(x: str, y: str) -> pl.Expr:
    return ((GOAL_X - pl.col(x)) ** 2 + (GOAL_Y - pl.col(y)) ** 2).sqrt()


def prepare_events(events: pl.DataFrame) -> pl.DataFrame:
    """The event table plus the per-event flags that the feature expressions count."""
    completed = pl.col("success").fill_null(False)
    moved = (_t == "carry") | ((_t == "pass") & completed)
    start_in_box = (_x >= BOX_X) & pl.col("y").is_between(*BOX_Y)
    end_in_box = (pl.col("end_x") >= BOX_X) & pl.col("end_y").is_between(*BOX_Y)
    next_time = pl.col("time_s").shift(-1).over("match_id", "period", order_by="index")
    ev = events.with_columns(
        _dist_to_goal("x", "y").alias("dist"),
        _dist_to_goal("end_x", "end_y").alias("end_dist"),
        (next_time - pl.col("time_s"))
        .clip(0.0, POSSESSION_GAP_CAP_S)
        .fill_null(0.0)
        .alias("gap_s"),
        _t.is_in(ON_BALL).alias("on_ball"),
        ((_t == "pass") & completed).alias("pass_ok"),
        (moved & (_x < FINAL_THIRD_X) & (pl.col("end_x") >= FINAL_THIRD_X))
        .fill_null(False)
        .alias("final_third_entry"),
        (moved & end_in_box & ~start_in_box).fill_null(False).alias("box_entry"),
        (_t.is_in(["ball_recovery", "interception"]) & completed).alias("regain"),
        # Tackles and other duels won, 50-50s won, and aerial duels won: the winner of an
        # aerial has no Duel event, his pass/clearance/shot/miscontrol carries the flag.
        ((_t.is_in(["duel", "fifty_fifty"]) & completed) | pl.col("aerial_won"))
        .fill_null(False)
        .alias("duel_won"),
        (_t.is_in(["dispossessed", "miscontrol"]) | ((_t == "dribble") & ~completed)).alias(
            "ball_loss"
        ),
    )
    progressive = (
        moved
        & (pl.col("end_dist") <= PROGRESSIVE_RATIO * pl.col("dist"))
        & ((pl.col("end_x") - _x) >= PROGRESSIVE_MIN_GAIN)
    ).fill_null(False)
    return ev.with_columns(progressive.alias("progressive"))


def _n(cond: pl.Expr) -> pl.Expr:
    """Count of rows where ``cond`` holds (nulls count as false)."""
    return cond.fill_null(False).sum().cast(pl.Float64)


def _share(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den``, null where the denominator is zero."""
    return pl.when(den > 0).then(num / den).otherwise(None)


def _event_aggregates() -> list[pl.Expr]:
    """Per-segment sums, counts and means over the segment's own and opponent events."""
    own_pass = _own & (_t == "pass")
    own_on_ball = _own & pl.col("on_ball")
    own_pressure = _own & (_t == "pressure")
    own_shot = _own & (_t == "shot")
    opp_pass = _opp & (_t == "pass")
    seg_team_poss = pl.col("possession_team_id") == pl.col("seg_team_id")
    return [
        pl.col("gap_s").filter(seg_team_poss).sum().alias("poss_time"),
        pl.col("gap_s").sum().alias("all_time"),
        _n(own_pass).alias("passes"),
        _n(_own & pl.col("pass_ok")).alias("passes_ok"),
        _n(own_shot).alias("shots"),
        pl.col("xg").filter(own_shot).sum().alias("xg"),
        _n(own_pass & pl.col("pass_cross")).alias("crosses"),
        _n(_own & (_t == "carry")).alias("carries"),
        _n(_own & (_t == "dribble")).alias("take_ons"),
        _n(_own & (_t == "dribble") & pl.col("success")).alias("take_ons_ok"),
        _n(own_pressure).alias("pressures"),
        _n(own_pressure & pl.col("counterpress")).alias("counterpresses"),
        _n(_own & (_t == "ball_recovery") & pl.col("success")).alias("recoveries"),
        _n(_own & (_t == "interception")).alias("interceptions"),
        _n(_own & pl.col("duel_won")).alias("duels_won"),
        _n(_own & (_t == "foul_committed")).alias("fouls"),
        _n(_own & (_t == "foul_won")).alias("fouls_won"),
        _n(_own & (_t == "clearance")).alias("clearances"),
        _n(_own & (_t == "block")).alias("blocks"),
        _n(own_on_ball).alias("on_ball"),
        _n(own_on_ball & pl.col("under_pressure")).alias("on_ball_pressed"),
        _n(own_pass & pl.col("set_piece").is_in(SET_PIECE_PASSES)).alias("set_piece_passes"),
        _n(own_on_ball & (pl.col("play_pattern") == "from_counter")).alias("counter_actions"),
        _n(_own & pl.col("ball_loss")).alias("ball_losses"),
        _n(own_pass & (pl.col("set_piece") == "corner")).alias("corners"),
        _n(opp_pass).alias("opp_passes"),
        _n(_opp & pl.col("pass_ok")).alias("opp_passes_ok"),
        _n(_opp & (_t == "shot")).alias("opp_shots"),
        pl.col("xg").filter(_opp & (_t == "shot")).sum().alias("opp_xg"),
        # tier 2
        _n(own_pass & (_x >= FINAL_THIRD_X)).alias("final_third_passes"),
        _n(opp_pass & (_x >= FINAL_THIRD_X)).alias("opp_final_third_passes"),
        _n(opp_pass & ((PITCH_LENGTH - _x) >= PPDA_ZONE_X)).alias("ppda_opp_passes"),
        _n(_own & _t.is_in(PPDA_ACTIONS) & (_x >= PPDA_ZONE_X)).alias("ppda_actions"),
        _x.filter(_own & _t.is_in(DEFENSIVE_ACTIONS)).mean().alias("def_height"),
        _x.filter(own_pressure).mean().alias("pressure_height"),
        _n(own_pressure & (_x >= FINAL_THIRD_X)).alias("high_pressures"),
        _n(_own & pl.col("regain") & (_x >= HIGH_TURNOVER_X)).alias("high_turnovers"),
        _n(own_pass & pl.col("progressive")).alias("progressive_passes"),
        _n(_own & (_t == "carry") & pl.col("progressive")).alias("progressive_carries"),
        _n(_own & pl.col("final_third_entry")).alias("final_third_entries"),
        _n(_own & pl.col("box_entry")).alias("box_entries"),
        _n(
            _own
            & pl.col("pass_ok")
            & ~pl.col("pass_cross")
            & (pl.col("end_dist") <= DEEP_COMPLETION_YARDS)
        ).alias("deep_completions"),
        _n(own_pass & (pl.col("end_x") > _x)).alias("forward_passes"),
        _n(own_pass & (pl.col("pass_length") > LONG_PASS_YARDS)).alias("long_passes"),
        _n(own_pass & pl.col("pass_switch")).alias("switches"),
        _n(own_pass & pl.col("pass_through_ball")).alias("through_balls"),
        pl.col("pass_length").filter(own_pass).mean().alias("mean_pass_length"),
        pl.col("possession").filter(seg_team_poss).n_unique().alias("possessions"),
        pl.col("y").filter(own_on_ball & (_x >= HALFWAY_X)).std().alias("attack_width"),
        _x.filter(own_on_ball).mean().alias("centroid_x"),
        pl.col("y").filter(own_on_ball).mean().alias("centroid_y"),
        pl.col("dist").filter(own_shot).mean().alias("shot_distance"),
        _n(
            _own & (_x < HALFWAY_X) & (pl.col("ball_loss") | ((_t == "pass") & ~pl.col("pass_ok")))
        ).alias("own_half_losses"),
        _n(_opp & pl.col("final_third_entry")).alias("opp_final_third_entries"),
        _n(_opp & pl.col("box_entry")).alias("opp_box_entries"),
    ]


def _possession_aggregates(se: pl.DataFrame) -> pl.DataFrame:
    """Per segment: mean own-possession duration and direct speed (two-level aggregation)."""
    own_poss = se.filter(pl.col("possession_team_id") == pl.col("seg_team_id"))
    per_poss = (
        own_poss.sort("index")
        .group_by("segment_id", "possession")
        .agg(
            (pl.col("time_s").max() - pl.col("time_s").min()).alias("duration"),
            _x.filter(_own & pl.col("on_ball")).first().alias("first_x"),
            pl.coalesce("end_x", "x").filter(_own & pl.col("on_ball")).last().alias("last_x"),
            pl.col("time_s").filter(_own & pl.col("on_ball")).first().alias("first_t"),
            pl.col("time_s").filter(_own & pl.col("on_ball")).last().alias("last_t"),
        )
        .with_columns((pl.col("last_t") - pl.col("first_t")).alias("span"))
    )
    # Sorted so that float sums run in the same order in every process (reproducible bits).
    return (
        per_poss.sort("segment_id", "possession")
        .group_by("segment_id")
        .agg(
            pl.col("duration").mean().alias("possession_duration"),
            ((pl.col("last_x") - pl.col("first_x")) / pl.col("span"))
            .filter(pl.col("span") >= MIN_SPEED_SPAN_S)
            .mean()
            .alias("direct_speed"),
        )
    )


def _feature_columns(minutes: pl.Expr) -> list[pl.Expr]:
    """The tier 1 and 2 feature columns from the per-segment aggregates."""
    c = pl.col

    def rate(name: str) -> pl.Expr:
        return _share(c(name), minutes)

    return [
        _share(c("poss_time"), c("all_time")).alias("t1_possession_share"),
        rate("passes").alias("t1_passes_per_min"),
        _share(c("passes_ok"), c("passes")).alias("t1_pass_completion"),
        rate("shots").alias("t1_shots_per_min"),
        rate("xg").alias("t1_xg_per_min"),
        rate("crosses").alias("t1_crosses_per_min"),
        rate("carries").alias("t1_carries_per_min"),
        rate("take_ons").alias("t1_take_ons_per_min"),
        _share(c("take_ons_ok"), c("take_ons")).alias("t1_take_on_success"),
        rate("pressures").alias("t1_pressures_per_min"),
        _share(c("counterpresses"), c("pressures")).alias("t1_counterpress_share"),
        rate("recoveries").alias("t1_recoveries_per_min"),
        rate("interceptions").alias("t1_interceptions_per_min"),
        rate("duels_won").alias("t1_duels_won_per_min"),
        rate("fouls").alias("t1_fouls_per_min"),
        rate("fouls_won").alias("t1_fouls_won_per_min"),
        rate("clearances").alias("t1_clearances_per_min"),
        rate("blocks").alias("t1_blocks_per_min"),
        _share(c("on_ball_pressed"), c("on_ball")).alias("t1_under_pressure_share"),
        _share(c("set_piece_passes"), c("passes")).alias("t1_set_piece_share"),
        _share(c("counter_actions"), c("on_ball")).alias("t1_counter_share"),
        rate("ball_losses").alias("t1_ball_losses_per_min"),
        rate("corners").alias("t1_corners_per_min"),
        rate("opp_passes").alias("t1_opponent_passes_per_min"),
        _share(c("opp_passes_ok"), c("opp_passes")).alias("t1_opponent_pass_completion"),
        rate("opp_shots").alias("t1_shots_conceded_per_min"),
        rate("opp_xg").alias("t1_xg_conceded_per_min"),
        _share(
            c("final_third_passes"), c("final_third_passes") + c("opp_final_third_passes")
        ).alias("t2_field_tilt"),
        (c("ppda_opp_passes") / pl.max_horizontal(c("ppda_actions"), pl.lit(PPDA_FLOOR))).alias(
            "t2_ppda"
        ),
        c("def_height").alias("t2_defensive_action_height"),
        c("pressure_height").alias("t2_pressure_height"),
        _share(c("high_pressures"), c("pressures")).alias("t2_high_press_share"),
        rate("high_turnovers").alias("t2_high_turnovers_per_min"),
        rate("progressive_passes").alias("t2_progressive_passes_per_min"),
        rate("progressive_carries").alias("t2_progressive_carries_per_min"),
        rate("final_third_entries").alias("t2_final_third_entries_per_min"),
        rate("box_entries").alias("t2_box_entries_per_min"),
        rate("deep_completions").alias("t2_deep_completions_per_min"),
        _share(c("forward_passes"), c("passes")).alias("t2_forward_pass_share"),
        _share(c("long_passes"), c("passes")).alias("t2_long_ball_share"),
        _share(c("switches"), c("passes")).alias("t2_switch_share"),
        _share(c("through_balls"), c("passes")).alias("t2_through_ball_share"),
        c("mean_pass_length").alias("t2_mean_pass_length"),
        _share(c("passes"), c("possessions")).alias("t2_passes_per_possession"),
        c("possession_duration").alias("t2_possession_duration"),
        c("direct_speed").alias("t2_direct_speed"),
        c("attack_width").alias("t2_attack_width"),
        c("centroid_x").alias("t2_action_centroid_x"),
        c("centroid_y").alias("t2_action_centroid_y"),
        _share(c("xg"), c("shots")).alias("t2_xg_per_shot"),
        c("shot_distance").alias("t2_shot_distance"),
        rate("own_half_losses").alias("t2_own_half_losses_per_min"),
        rate("opp_final_third_entries").alias("t2_final_third_entries_conceded_per_min"),
        rate("opp_box_entries").alias("t2_box_entries_conceded_per_min"),
    ]


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
        pl.when(pl.col("teammate")).then(_x).otherwise(PITCH_LENGTH - _x).alias("tx"),
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
        _n(opponent & ~pl.col("keeper") & (px > ex)).alias("opp_behind"),
        ((px - ex) ** 2 + (py - ey) ** 2).sqrt().filter(opponent).min().alias("nearest_opp"),
        _n(opponent & (lane_dist <= PASSING_LANE_YARDS)).alias("lane_opps"),
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
    own, opp = _own, _opp  # own: the segment's team is the actor's team (``a_``)

    def team(metric: str) -> pl.Expr:
        return pl.when(own).then(pl.col(f"a_{metric}")).otherwise(pl.col(f"b_{metric}"))

    in_poss = pl.col("possession_team_id") == pl.col("seg_team_id")
    n = team("n").fill_null(0)
    line_ok = (n >= LINE_MIN_PLAYERS) & (team("behind") <= team("line") - LINE_BEHIND_MARGIN)
    shape_ok = n >= SHAPE_MIN_PLAYERS
    actor_in_poss = pl.col("team_id") == pl.col("possession_team_id")
    on_ball = _t.is_in([*ON_BALL, "ball_receipt"]) & actor_in_poss
    ahead_ok = pl.col("vis_max_x") >= pl.min_horizontal(_x + AHEAD_OF_BALL, pl.lit(118.0))

    def mean_if(value: pl.Expr, ok: pl.Expr, name: str) -> list[pl.Expr]:
        ok = ok.fill_null(False)
        return [value.filter(ok).mean().alias(name), _n(ok).alias(f"{name}__n")]

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
            own & (_t == "pass") & pl.col("end_x").is_not_null(),
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


def segment_features(
    events: pl.DataFrame,
    segments: pl.DataFrame,
    players: pl.DataFrame | None = None,
    frames: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``segment_id`` plus every registered feature (``t1_``, ``t2_``, ``t3_``) per segment.

    ``events`` is the neutral event table (one or more matches), ``segments`` comes from
    :mod:`core.features.segments`, ``players`` / ``frames`` are the 360 tables (None without 360).
    Rates are per minute of the segment; shares and means are null when nothing was counted.
    """
    ev = prepare_events(events)
    se = segment_events(ev, segments).sort("segment_id", "index")
    agg = se.group_by("segment_id").agg(_event_aggregates())
    poss = _possession_aggregates(se)
    minutes = (pl.col("end_time") - pl.col("start_time")) / 60.0
    counts = [
        c
        for c, dt in agg.schema.items()
        if c != "segment_id" and dt == pl.Float64 and not c.startswith(("xg", "opp_xg"))
    ]
    base = (
        segments.select("segment_id", "start_time", "end_time")
        .join(agg, on="segment_id", how="left")
        .join(poss, on="segment_id", how="left")
        .with_columns(
            # A segment without events of a kind counted zero of them.
            *[pl.col(c).fill_null(0.0) for c in counts if c not in _MEANS],
            pl.col("xg").fill_null(0.0),
            pl.col("opp_xg").fill_null(0.0),
        )
    )
    t12 = base.select("segment_id", *_feature_columns(minutes))
    t3 = tier3_features(events, segments, players, frames)
    out = t12.join(t3, on="segment_id", how="left")
    names = feature_names()
    return out.select("segment_id", *[pl.col(n).cast(pl.Float64) for n in names])


# Aggregates that are means (null when nothing to average), never filled with zero.
_MEANS: Final = frozenset(
    {
        "def_height",
        "pressure_height",
        "mean_pass_length",
        "attack_width",
        "centroid_x",
        "centroid_y",
        "shot_distance",
    }
)
