"""Segment features as polars expressions over the neutral event table (and 360 frames).

Every column produced here is registered in :mod:`core.features.registry`; the events of all
segments are aggregated in one ``group_by``, never in a Python loop over segments. Each
team's actions are in its own attacking direction, so an opponent's "final third" is its
own x >= 80; where a definition mixes the two views (PPDA's zone) the opponent's x is
mirrored explicitly (120 - x).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from core.data.schema import PITCH_LENGTH, PITCH_WIDTH
from core.features.compute_360 import tier3_features
from core.features.exprs import ON_BALL, OPP, OWN, TYPE, X, count_if
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


def _dist_to_goal(x: str, y: str) -> pl.Expr:
    return ((GOAL_X - pl.col(x)) ** 2 + (GOAL_Y - pl.col(y)) ** 2).sqrt()


def prepare_events(events: pl.DataFrame) -> pl.DataFrame:
    """The event table plus the per-event flags that the feature expressions count."""
    completed = pl.col("success").fill_null(False)
    moved = (TYPE == "carry") | ((TYPE == "pass") & completed)
    start_in_box = (X >= BOX_X) & pl.col("y").is_between(*BOX_Y)
    end_in_box = (pl.col("end_x") >= BOX_X) & pl.col("end_y").is_between(*BOX_Y)
    next_time = pl.col("time_s").shift(-1).over("match_id", "period", order_by="index")
    ev = events.with_columns(
        _dist_to_goal("x", "y").alias("dist"),
        _dist_to_goal("end_x", "end_y").alias("end_dist"),
        (next_time - pl.col("time_s"))
        .clip(0.0, POSSESSION_GAP_CAP_S)
        .fill_null(0.0)
        .alias("gap_s"),
        TYPE.is_in(ON_BALL).alias("on_ball"),
        ((TYPE == "pass") & completed).alias("pass_ok"),
        (moved & (X < FINAL_THIRD_X) & (pl.col("end_x") >= FINAL_THIRD_X))
        .fill_null(False)
        .alias("final_third_entry"),
        (moved & end_in_box & ~start_in_box).fill_null(False).alias("box_entry"),
        (TYPE.is_in(["ball_recovery", "interception"]) & completed).alias("regain"),
        # Tackles and other duels won, 50-50s won, and aerial duels won: the winner of an
        # aerial has no Duel event, his pass/clearance/shot/miscontrol carries the flag.
        ((TYPE.is_in(["duel", "fifty_fifty"]) & completed) | pl.col("aerial_won"))
        .fill_null(False)
        .alias("duel_won"),
        (TYPE.is_in(["dispossessed", "miscontrol"]) | ((TYPE == "dribble") & ~completed)).alias(
            "ball_loss"
        ),
    )
    progressive = (
        moved
        & (pl.col("end_dist") <= PROGRESSIVE_RATIO * pl.col("dist"))
        & ((pl.col("end_x") - X) >= PROGRESSIVE_MIN_GAIN)
    ).fill_null(False)
    return ev.with_columns(progressive.alias("progressive"))


def _share(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den``, null where the denominator is zero."""
    return pl.when(den > 0).then(num / den).otherwise(None)


def _event_aggregates() -> list[pl.Expr]:
    """Per-segment sums, counts and means over the segment's own and opponent events."""
    own_pass = OWN & (TYPE == "pass")
    own_on_ball = OWN & pl.col("on_ball")
    own_pressure = OWN & (TYPE == "pressure")
    own_shot = OWN & (TYPE == "shot")
    opp_pass = OPP & (TYPE == "pass")
    seg_team_poss = pl.col("possession_team_id") == pl.col("seg_team_id")
    return [
        pl.col("gap_s").filter(seg_team_poss).sum().alias("poss_time"),
        pl.col("gap_s").sum().alias("all_time"),
        count_if(own_pass).alias("passes"),
        count_if(OWN & pl.col("pass_ok")).alias("passes_ok"),
        count_if(own_shot).alias("shots"),
        pl.col("xg").filter(own_shot).sum().alias("xg"),
        count_if(own_pass & pl.col("pass_cross")).alias("crosses"),
        count_if(OWN & (TYPE == "carry")).alias("carries"),
        count_if(OWN & (TYPE == "dribble")).alias("take_ons"),
        count_if(OWN & (TYPE == "dribble") & pl.col("success")).alias("take_ons_ok"),
        count_if(own_pressure).alias("pressures"),
        count_if(own_pressure & pl.col("counterpress")).alias("counterpresses"),
        count_if(OWN & (TYPE == "ball_recovery") & pl.col("success")).alias("recoveries"),
        count_if(OWN & (TYPE == "interception")).alias("interceptions"),
        count_if(OWN & pl.col("duel_won")).alias("duels_won"),
        count_if(OWN & (TYPE == "foul_committed")).alias("fouls"),
        count_if(OWN & (TYPE == "foul_won")).alias("fouls_won"),
        count_if(OWN & (TYPE == "clearance")).alias("clearances"),
        count_if(OWN & (TYPE == "block")).alias("blocks"),
        count_if(own_on_ball).alias("on_ball"),
        count_if(own_on_ball & pl.col("under_pressure")).alias("on_ball_pressed"),
        count_if(own_pass & pl.col("set_piece").is_in(SET_PIECE_PASSES)).alias("set_piece_passes"),
        count_if(own_on_ball & (pl.col("play_pattern") == "from_counter")).alias("counter_actions"),
        count_if(OWN & pl.col("ball_loss")).alias("ball_losses"),
        count_if(own_pass & (pl.col("set_piece") == "corner")).alias("corners"),
        count_if(opp_pass).alias("opp_passes"),
        count_if(OPP & pl.col("pass_ok")).alias("opp_passes_ok"),
        count_if(OPP & (TYPE == "shot")).alias("opp_shots"),
        pl.col("xg").filter(OPP & (TYPE == "shot")).sum().alias("opp_xg"),
        # tier 2
        count_if(own_pass & (X >= FINAL_THIRD_X)).alias("final_third_passes"),
        count_if(opp_pass & (X >= FINAL_THIRD_X)).alias("opp_final_third_passes"),
        count_if(opp_pass & ((PITCH_LENGTH - X) >= PPDA_ZONE_X)).alias("ppda_opp_passes"),
        count_if(OWN & TYPE.is_in(PPDA_ACTIONS) & (X >= PPDA_ZONE_X)).alias("ppda_actions"),
        X.filter(OWN & TYPE.is_in(DEFENSIVE_ACTIONS)).mean().alias("def_height"),
        X.filter(own_pressure).mean().alias("pressure_height"),
        count_if(own_pressure & (X >= FINAL_THIRD_X)).alias("high_pressures"),
        count_if(OWN & pl.col("regain") & (X >= HIGH_TURNOVER_X)).alias("high_turnovers"),
        count_if(own_pass & pl.col("progressive")).alias("progressive_passes"),
        count_if(OWN & (TYPE == "carry") & pl.col("progressive")).alias("progressive_carries"),
        count_if(OWN & pl.col("final_third_entry")).alias("final_third_entries"),
        count_if(OWN & pl.col("box_entry")).alias("box_entries"),
        count_if(
            OWN
            & pl.col("pass_ok")
            & ~pl.col("pass_cross")
            & (pl.col("end_dist") <= DEEP_COMPLETION_YARDS)
        ).alias("deep_completions"),
        count_if(own_pass & (pl.col("end_x") > X)).alias("forward_passes"),
        count_if(own_pass & (pl.col("pass_length") > LONG_PASS_YARDS)).alias("long_passes"),
        count_if(own_pass & pl.col("pass_switch")).alias("switches"),
        count_if(own_pass & pl.col("pass_through_ball")).alias("through_balls"),
        pl.col("pass_length").filter(own_pass).mean().alias("mean_pass_length"),
        pl.col("possession").filter(seg_team_poss).n_unique().alias("possessions"),
        pl.col("y").filter(own_on_ball & (X >= HALFWAY_X)).std().alias("attack_width"),
        X.filter(own_on_ball).mean().alias("centroid_x"),
        pl.col("y").filter(own_on_ball).mean().alias("centroid_y"),
        pl.col("dist").filter(own_shot).mean().alias("shot_distance"),
        count_if(
            OWN & (X < HALFWAY_X) & (pl.col("ball_loss") | ((TYPE == "pass") & ~pl.col("pass_ok")))
        ).alias("own_half_losses"),
        count_if(OPP & pl.col("final_third_entry")).alias("opp_final_third_entries"),
        count_if(OPP & pl.col("box_entry")).alias("opp_box_entries"),
    ]


def _possession_aggregates(se: pl.DataFrame) -> pl.DataFrame:
    """Per segment: mean own-possession duration and direct speed (two-level aggregation)."""
    own_poss = se.filter(pl.col("possession_team_id") == pl.col("seg_team_id"))
    per_poss = (
        own_poss.sort("index")
        .group_by("segment_id", "possession")
        .agg(
            (pl.col("time_s").max() - pl.col("time_s").min()).alias("duration"),
            X.filter(OWN & pl.col("on_ball")).first().alias("first_x"),
            pl.coalesce("end_x", "x").filter(OWN & pl.col("on_ball")).last().alias("last_x"),
            pl.col("time_s").filter(OWN & pl.col("on_ball")).first().alias("first_t"),
            pl.col("time_s").filter(OWN & pl.col("on_ball")).last().alias("last_t"),
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
