"""Display names of features: ``t1_possession_share`` reads "possession share" on every page.

The code name (``t<tier>_<name>``) stays the key everywhere; pages show the display name
and keep the code name on hover or in a column. Names are derived from the code name
(tier prefix and ``_per_min`` dropped, acronyms kept), with a few spelled out by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from core.features.registry import FEATURE_PATTERN, FEATURES

_ACRONYMS: Final = {"ppda": "PPDA", "xg": "xG", "xga": "xGA"}
_HYPHENS: Final = {"take on": "take-on", "set piece": "set-piece", "final third": "final-third"}
# Names the rule would make awkward.
_SPELLED: Final = {
    "t2_action_centroid_x": "action centre (length)",
    "t2_action_centroid_y": "action centre (width)",
    "t1_xg_per_min": "xG /min",
    "t1_xg_conceded_per_min": "xG conceded /min",
    "t2_xg_per_shot": "xG per shot",
    "t3_opponents_behind_ball": "opponents behind the ball",
    "t3_opponents_in_passing_lane": "opponents in the passing lane",
}


# Features that measure one concept: a count and its success rate, a rate and its quality,
# shapes of the same block. A label or a pattern name uses one feature per concept, so it
# never pairs a count and its own success rate in opposite directions ("more dribbling,
# less successful dribbling").
_CONCEPTS: Final[dict[str, tuple[str, ...]]] = {
    "passing": ("t1_passes_per_min", "t1_pass_completion"),
    "take-ons": ("t1_take_ons_per_min", "t1_take_on_success"),
    "shooting": ("t1_shots_per_min", "t1_xg_per_min", "t2_xg_per_shot", "t2_shot_distance"),
    "opponent passing": ("t1_opponent_passes_per_min", "t1_opponent_pass_completion"),
    "chances conceded": ("t1_shots_conceded_per_min", "t1_xg_conceded_per_min"),
    "entries conceded": (
        "t2_final_third_entries_conceded_per_min",
        "t2_box_entries_conceded_per_min",
    ),
    "carrying": ("t1_carries_per_min", "t2_progressive_carries_per_min"),
    "losses": ("t1_ball_losses_per_min", "t2_own_half_losses_per_min"),
    "pressing": (
        "t1_pressures_per_min",
        "t2_pressure_height",
        "t1_counterpress_share",
        "t2_high_press_share",
    ),
    "team shape": ("t3_team_length", "t3_team_width", "t3_spread_area", "t3_stretch_index"),
    "line height": ("t3_defensive_line_height", "t3_own_line_height"),
}
_CONCEPT_OF: Final = {f: c for c, feats in _CONCEPTS.items() for f in feats}


def concept(feature: str) -> str:
    """The concept a feature measures (``t1_take_on_success`` -> ``"take-ons"``); a feature
    alone in its concept is its own."""
    return _CONCEPT_OF.get(feature, feature)


def same_concept(a: str, b: str) -> bool:
    """Whether two features measure one concept (a count and its success rate, ...)."""
    return concept(a) == concept(b)


def display_name(feature: str) -> str:
    """Readable name of a feature column: ``t1_possession_share`` -> ``possession share``.

    A rate (``_per_min``) ends in " /min" (per minute of the segment); any name that is
    not a feature column comes back unchanged (a latent ``z0`` stays ``z0``).
    """
    if feature in _SPELLED:
        return _SPELLED[feature]
    if not FEATURE_PATTERN.match(feature):
        return feature
    stem = FEATURE_PATTERN.sub("", feature)
    rate = stem.endswith("_per_min")
    words = stem.removesuffix("_per_min").split("_")
    name = " ".join(_ACRONYMS.get(w.lower(), w) for w in words)
    for loose, fixed in _HYPHENS.items():
        name = name.replace(loose, fixed)
    return f"{name} /min" if rate else name


def display_names(features: Iterable[str]) -> dict[str, str]:
    """Code name -> display name for ``features`` (unique display names guaranteed)."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for f in features:
        name = display_name(f)
        if name in seen and seen[name] != f:
            name = f"{name} ({f})"
        seen[name] = f
        out[f] = name
    return out


def labelled(feature: str) -> str:
    """``"possession share (t1_possession_share)"``: display name with the code name."""
    name = display_name(feature)
    return name if name == feature else f"{name} ({feature})"


def registry_names() -> dict[str, str]:
    """Display name of every feature in the registry."""
    return display_names(f.name for f in FEATURES)
