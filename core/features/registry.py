"""What every feature means: the one-line definition, unit and direction the app shows beside it.

Coordinates in definitions are yards on a 120 x 80 pitch in the acting team's attacking
direction (x = 0 own goal line, x = 120 opponent's goal line). "Per minute" means per
minute of the segment. "On-ball actions" are passes, carries, take-ons and shots.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Final

import polars as pl

FEATURE_PATTERN: Final = re.compile(r"^t(\d+)_")


@dataclass(frozen=True)
class FeatureInfo:
    """A feature's name (``t<tier>_<name>``), tier, definition, unit and direction."""

    name: str
    tier: int
    definition: str
    unit: str
    direction: str  # how to read a high value, e.g. "higher = more pressing"


def feature_tier(name: str) -> int | None:
    """Tier of a feature column name (``t2_ppda`` -> 2), ``None`` for anything else."""
    match = FEATURE_PATTERN.match(name)
    return int(match.group(1)) if match else None


def _f(name: str, definition: str, unit: str, direction: str) -> FeatureInfo:
    tier = feature_tier(name)
    if tier is None:
        raise ValueError(f"feature name {name!r} must start with t<tier>_")
    return FeatureInfo(name, tier, definition, unit, direction)


FEATURES: Final[tuple[FeatureInfo, ...]] = (
    # --- tier 1: counts, rates and shares of events --------------------------------------
    _f(
        "t1_possession_share",
        "Share of the segment's in-play time the team had the ball: the time from each event to the next (capped at 10 s) is credited to the team in possession.",
        "share 0-1",
        "higher = more of the ball",
    ),
    _f("t1_passes_per_min", "Passes attempted per minute.", "passes/min", "higher = more passing"),
    _f(
        "t1_pass_completion",
        "Completed passes / passes attempted (null without passes).",
        "share 0-1",
        "higher = safer, more accurate passing",
    ),
    _f(
        "t1_shots_per_min",
        "Shots per minute (penalties included).",
        "shots/min",
        "higher = more shooting",
    ),
    _f(
        "t1_xg_per_min",
        "Sum of StatsBomb expected goals of the team's shots per minute.",
        "xG/min",
        "higher = more dangerous chances",
    ),
    _f(
        "t1_crosses_per_min",
        "Passes flagged as crosses per minute.",
        "crosses/min",
        "higher = more crossing",
    ),
    _f(
        "t1_carries_per_min",
        "Carries (a player moving with the ball) per minute.",
        "carries/min",
        "higher = more ball carrying",
    ),
    _f(
        "t1_take_ons_per_min",
        "Take-ons (dribbles past an opponent) attempted per minute.",
        "take-ons/min",
        "higher = more dribbling",
    ),
    _f(
        "t1_take_on_success",
        "Completed take-ons / take-ons attempted (null without take-ons).",
        "share 0-1",
        "higher = more successful dribbling",
    ),
    _f(
        "t1_pressures_per_min",
        "Pressures on the opponent's ball carrier per minute.",
        "pressures/min",
        "higher = more pressing",
    ),
    _f(
        "t1_counterpress_share",
        "Share of the team's pressures made within 5 s of losing the ball (StatsBomb counterpress flag); null without pressures.",
        "share 0-1",
        "higher = more counter-pressing",
    ),
    _f(
        "t1_recoveries_per_min",
        "Successful ball recoveries per minute.",
        "recoveries/min",
        "higher = wins loose balls more often",
    ),
    _f(
        "t1_interceptions_per_min",
        "Interceptions per minute.",
        "interceptions/min",
        "higher = more passes cut out",
    ),
    _f(
        "t1_duels_won_per_min",
        "Duels won per minute: duels with a won outcome (StatsBomb tackles won: Won, Success In Play, Success Out), 50-50s won (Won, Success To Team) and aerial duels won (the team's passes, clearances, shots and miscontrols StatsBomb flags aerial_won; the loser's 'Aerial Lost' duel counts for no one).",
        "duels/min",
        "higher = wins more challenges",
    ),
    _f("t1_fouls_per_min", "Fouls committed per minute.", "fouls/min", "higher = more fouling"),
    _f(
        "t1_fouls_won_per_min",
        "Fouls won (suffered) per minute.",
        "fouls/min",
        "higher = draws more fouls",
    ),
    _f(
        "t1_clearances_per_min",
        "Clearances per minute.",
        "clearances/min",
        "higher = more clearing under pressure",
    ),
    _f(
        "t1_blocks_per_min",
        "Blocks (of shots or passes) per minute.",
        "blocks/min",
        "higher = more last-ditch defending",
    ),
    _f(
        "t1_under_pressure_share",
        "Share of the team's on-ball actions made under an opponent's pressure.",
        "share 0-1",
        "higher = the team is pressed harder",
    ),
    _f(
        "t1_set_piece_share",
        "Share of the team's passes taken from a corner, free kick, throw-in or goal kick (kick-offs excluded).",
        "share 0-1",
        "higher = more set-piece play",
    ),
    _f(
        "t1_counter_share",
        "Share of the team's on-ball actions in possessions that began as a counter-attack (play pattern 'from counter').",
        "share 0-1",
        "higher = more counter-attacking",
    ),
    _f(
        "t1_ball_losses_per_min",
        "Times dispossessed, miscontrols and failed take-ons per minute.",
        "losses/min",
        "higher = loses the ball on the ball more often",
    ),
    _f(
        "t1_corners_per_min",
        "Corners taken per minute.",
        "corners/min",
        "higher = more corners won",
    ),
    _f(
        "t1_opponent_passes_per_min",
        "Opponent's passes attempted per minute.",
        "passes/min",
        "higher = the opponent passes more",
    ),
    _f(
        "t1_opponent_pass_completion",
        "Opponent's completed passes / passes attempted (null without opponent passes).",
        "share 0-1",
        "lower = the team disrupts the opponent's passing more",
    ),
    _f(
        "t1_shots_conceded_per_min",
        "Opponent's shots per minute.",
        "shots/min",
        "higher = concedes more shots",
    ),
    _f(
        "t1_xg_conceded_per_min",
        "Sum of the opponent's shot xG per minute.",
        "xG/min",
        "higher = concedes more dangerous chances",
    ),
    # --- tier 2: spatial and derived metrics ---------------------------------------------
    _f(
        "t2_field_tilt",
        "Team's passes started in the final third (x >= 80) / both teams' passes started in their final third (null when neither passes there).",
        "share 0-1",
        "higher = play is pinned in the opponent's third",
    ),
    _f(
        "t2_ppda",
        "Passes per defensive action: opponent passes started in its own 60% of the pitch (the pressing team's x >= 48) / the team's duels, interceptions, fouls and failed challenges at x >= 48, with the denominator floored at 1.",
        "passes/action",
        "lower = more intense pressing",
    ),
    _f(
        "t2_defensive_action_height",
        "Mean x of the team's defensive actions (pressures, duels, interceptions, recoveries, blocks, clearances, fouls, failed challenges).",
        "yards from own goal",
        "higher = defends higher up the pitch",
    ),
    _f(
        "t2_pressure_height",
        "Mean x of the team's pressures (null without pressures).",
        "yards from own goal",
        "higher = presses higher",
    ),
    _f(
        "t2_high_press_share",
        "Share of the team's pressures in the opponent's defensive third (x >= 80).",
        "share 0-1",
        "higher = more pressing high up",
    ),
    _f(
        "t2_high_turnovers_per_min",
        "Regains (successful recoveries and interceptions) within 40 m of the opponent's goal (x >= 76.3) per minute.",
        "regains/min",
        "higher = wins the ball high more often",
    ),
    _f(
        "t2_progressive_passes_per_min",
        "Completed passes that end at least 25% closer to the centre of the opponent's goal than they start and gain at least 5 yards in x, per minute.",
        "passes/min",
        "higher = more ball progression by passing",
    ),
    _f(
        "t2_progressive_carries_per_min",
        "Carries that end at least 25% closer to the centre of the opponent's goal and gain at least 5 yards in x, per minute.",
        "carries/min",
        "higher = more ball progression by carrying",
    ),
    _f(
        "t2_final_third_entries_per_min",
        "Completed passes and carries from x < 80 into the final third (end x >= 80) per minute.",
        "entries/min",
        "higher = reaches the final third more often",
    ),
    _f(
        "t2_box_entries_per_min",
        "Completed passes and carries from outside into the penalty area (x >= 102, 18 <= y <= 62) per minute.",
        "entries/min",
        "higher = reaches the box more often",
    ),
    _f(
        "t2_deep_completions_per_min",
        "Completed passes (crosses excluded) ending within 20 yards of the centre of the opponent's goal, per minute.",
        "passes/min",
        "higher = more passes into dangerous areas",
    ),
    _f(
        "t2_forward_pass_share",
        "Share of the team's passes that end further forward (larger x) than they start.",
        "share 0-1",
        "higher = more vertical passing",
    ),
    _f(
        "t2_long_ball_share",
        "Share of the team's passes longer than 35 yards.",
        "share 0-1",
        "higher = more direct, long-ball play",
    ),
    _f(
        "t2_switch_share",
        "Share of the team's passes that switch play across the pitch (StatsBomb switch flag).",
        "share 0-1",
        "higher = more switching of play",
    ),
    _f(
        "t2_through_ball_share",
        "Share of the team's passes played through the defensive line (StatsBomb through-ball flag).",
        "share 0-1",
        "higher = more through balls",
    ),
    _f(
        "t2_mean_pass_length",
        "Mean length of the team's passes.",
        "yards",
        "higher = longer passing",
    ),
    _f(
        "t2_passes_per_possession",
        "Team's passes in the segment / number of the team's possessions with an event in the segment.",
        "passes/possession",
        "higher = longer, more patient possessions",
    ),
    _f(
        "t2_possession_duration",
        "Mean time from the first to the last event of each of the team's possessions within the segment.",
        "seconds",
        "higher = longer possessions",
    ),
    _f(
        "t2_direct_speed",
        "Mean over the team's possessions lasting at least 2 s within the segment of the x gained from the first on-ball action's start to the last one's end, divided by the time between them.",
        "yards/second",
        "higher = more direct, faster attacks",
    ),
    _f(
        "t2_attack_width",
        "Standard deviation of y of the team's on-ball actions in the opponent's half (x >= 60).",
        "yards",
        "higher = wider attacking play",
    ),
    _f(
        "t2_action_centroid_x",
        "Mean x of the team's on-ball actions.",
        "yards from own goal",
        "higher = plays higher up the pitch",
    ),
    _f(
        "t2_action_centroid_y",
        "Mean y of the team's on-ball actions (y = 0 is the left touchline when attacking).",
        "yards from left touchline",
        "higher = more play down the right",
    ),
    _f(
        "t2_xg_per_shot",
        "Team's total shot xG / shots (null without shots).",
        "xG/shot",
        "higher = better chance quality",
    ),
    _f(
        "t2_shot_distance",
        "Mean distance of the team's shots to the centre of the opponent's goal (null without shots).",
        "yards",
        "lower = shoots from closer in",
    ),
    _f(
        "t2_own_half_losses_per_min",
        "Ball losses (failed passes, times dispossessed, miscontrols, failed take-ons) starting in the team's own half (x < 60), per minute.",
        "losses/min",
        "higher = more dangerous turnovers",
    ),
    _f(
        "t2_final_third_entries_conceded_per_min",
        "Opponent's completed passes and carries into its final third per minute.",
        "entries/min",
        "higher = the opponent reaches the team's defensive third more often",
    ),
    _f(
        "t2_box_entries_conceded_per_min",
        "Opponent's completed passes and carries into the team's penalty area per minute.",
        "entries/min",
        "higher = the opponent reaches the team's box more often",
    ),
    # --- tier 3: 360 freeze frames ---------------------------------------------------------
    _f(
        "t3_defensive_line_height",
        "Out of possession: mean x of the team's two deepest visible outfield players, over 360 frames that show at least 4 of its outfield players and the pitch 5 yards behind that line; null with fewer than 5 such frames.",
        "yards from own goal",
        "higher = a higher defensive line",
    ),
    _f(
        "t3_own_line_height",
        "In possession: mean x of the team's two deepest visible outfield players (its rest-defence line), same visibility rule as the defensive line height.",
        "yards from own goal",
        "higher = the back line pushes up in possession",
    ),
    _f(
        "t3_team_length",
        "Mean distance in x between the team's deepest and most advanced visible outfield players, over frames showing at least 6 of them; null with fewer than 5 such frames.",
        "yards",
        "higher = a more stretched team",
    ),
    _f(
        "t3_team_width",
        "Mean distance in y between the team's outermost visible outfield players, over frames showing at least 6 of them; null with fewer than 5 such frames.",
        "yards",
        "higher = a wider team shape",
    ),
    _f(
        "t3_spread_area",
        "Mean area of the one-standard-deviation ellipse of the team's visible outfield players (stands in for the convex hull), frames with at least 6 of them; null with fewer than 5 frames.",
        "square yards",
        "higher = the team occupies more space",
    ),
    _f(
        "t3_stretch_index",
        "Mean distance of the team's visible outfield players from their centroid, frames with at least 6 of them; null with fewer than 5 frames.",
        "yards",
        "higher = a more spread-out team",
    ),
    _f(
        "t3_opponents_behind_ball",
        "In possession: mean number of visible outfield opponents goal-side of the ball (larger x) at the team's on-ball actions, over frames that show the pitch from the ball to 30 yards ahead (or to the goal line); null with fewer than 5 frames.",
        "players",
        "higher = attacks face a more settled defence",
    ),
    _f(
        "t3_pressure_distance",
        "Out of possession: mean distance from the opponent's ball carrier to the nearest visible player of the team, at the opponent's on-ball actions; null with fewer than 5 frames with a team player visible.",
        "yards",
        "lower = tighter pressure on the ball",
    ),
    _f(
        "t3_opponents_in_passing_lane",
        "In possession: mean number of visible opponents within 2.5 yards of the straight line of the team's passes; null with fewer than 5 pass frames.",
        "players",
        "higher = passes played through more crowded lanes",
    ),
    _f(
        "t3_visible_fraction",
        "Mean share of the pitch inside the 360 camera's visible area, over all frames of the segment; null with fewer than 5 frames.",
        "share 0-1",
        "higher = the 360 features rest on more of the pitch",
    ),
)

_BY_NAME: Final[dict[str, FeatureInfo]] = {f.name: f for f in FEATURES}


def feature_names(max_tier: int | None = None) -> list[str]:
    """Names of the registered features, up to ``max_tier`` when given, in catalogue order."""
    return [f.name for f in FEATURES if max_tier is None or f.tier <= max_tier]


def feature_info(name: str) -> FeatureInfo:
    """The registry entry of ``name``; a clear error for a name that is not a feature."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not a registered feature; known features: {', '.join(_BY_NAME)}"
        ) from None


def registry_frame() -> pl.DataFrame:
    """The registry as a table: name, tier, definition, unit, direction."""
    return pl.DataFrame([asdict(f) for f in FEATURES])


def feature_columns(columns: Iterable[str]) -> list[str]:
    """Feature column names (``t<tier>_<name>``), in their given order; never ``team_id``."""
    return [c for c in columns if FEATURE_PATTERN.match(c)]
