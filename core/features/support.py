"""Which providers can supply each feature.

A feature needs the concepts (event kinds or flags) its definition counts; a provider
supplies the concepts its feed, as kloppy reads it, carries. A feature a provider cannot
supply is null in its datasets, never 0. "statsbomb" is the fast reader (360 included when
a match has its 360 file); every other provider is read through kloppy. What each feature
means is :mod:`core.features.registry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from core.features.registry import FEATURES, feature_info, feature_names

CONCEPTS: Final[dict[str, str]] = {
    "xg": "shot expected goals",
    "cross": "a cross flag on passes",
    "switch": "a switch-of-play flag on passes",
    "through_ball": "a through-ball flag on passes",
    "pass_end": "pass end locations",
    "carry": "carry events (every carry, not only long runs)",
    "take_on": "take-on (dribble) events",
    "pressure": "pressure events",
    "counterpress": "a counter-press flag on pressures",
    "under_pressure": "an under-pressure flag on actions",
    "recovery": "ball recovery events",
    "interception": "interception events",
    "duel": "duel events with a won/lost result",
    "foul": "fouls committed",
    "foul_won": "fouls won (suffered)",
    "clearance": "clearance events",
    "block": "block events",
    "dispossessed": "dispossessed events",
    "set_piece": "set-piece types on passes",
    "counter": "a counter-attack flag",
    "360": "360 freeze frames",
}
_ENTRIES: Final = ("pass_end", "carry")
FEATURE_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "t1_xg_per_min": ("xg",),
    "t1_crosses_per_min": ("cross",),
    "t1_carries_per_min": ("carry",),
    "t1_take_ons_per_min": ("take_on",),
    "t1_take_on_success": ("take_on",),
    "t1_pressures_per_min": ("pressure",),
    "t1_counterpress_share": ("pressure", "counterpress"),
    "t1_recoveries_per_min": ("recovery",),
    "t1_interceptions_per_min": ("interception",),
    "t1_duels_won_per_min": ("duel",),
    "t1_fouls_per_min": ("foul",),
    "t1_fouls_won_per_min": ("foul_won",),
    "t1_clearances_per_min": ("clearance",),
    "t1_blocks_per_min": ("block",),
    "t1_under_pressure_share": ("under_pressure",),
    "t1_set_piece_share": ("set_piece",),
    "t1_counter_share": ("counter",),
    "t1_ball_losses_per_min": ("dispossessed", "take_on"),
    "t1_corners_per_min": ("set_piece",),
    "t1_xg_conceded_per_min": ("xg",),
    "t2_ppda": ("duel", "interception", "foul"),
    "t2_defensive_action_height": ("pressure", "duel", "interception"),
    "t2_pressure_height": ("pressure",),
    "t2_high_press_share": ("pressure",),
    "t2_high_turnovers_per_min": ("recovery", "interception"),
    "t2_progressive_passes_per_min": ("pass_end",),
    "t2_progressive_carries_per_min": ("carry",),
    "t2_final_third_entries_per_min": _ENTRIES,
    "t2_box_entries_per_min": _ENTRIES,
    "t2_deep_completions_per_min": ("pass_end", "cross"),
    "t2_forward_pass_share": ("pass_end",),
    "t2_long_ball_share": ("pass_end",),
    "t2_switch_share": ("switch",),
    "t2_through_ball_share": ("through_ball",),
    "t2_mean_pass_length": ("pass_end",),
    "t2_xg_per_shot": ("xg",),
    "t2_own_half_losses_per_min": ("dispossessed", "take_on"),
    "t2_final_third_entries_conceded_per_min": _ENTRIES,
    "t2_box_entries_conceded_per_min": _ENTRIES,
    **{f.name: ("360",) for f in FEATURES if f.tier == 3},
}
# fmt: off
_OPTA_FAMILY: Final = frozenset({
    "xg", "cross", "through_ball", "pass_end", "take_on", "recovery", "interception", "duel",
    "foul", "foul_won", "clearance", "block", "dispossessed", "set_piece", "counter",
})
_WYSCOUT: Final = frozenset({
    "xg", "cross", "through_ball", "pass_end", "interception", "duel", "foul", "clearance",
    "set_piece", "counter",
})
_IMPECT: Final = frozenset({
    "pass_end", "carry", "recovery", "interception", "duel", "foul", "clearance", "block",
    "set_piece",
})
# fmt: on
# What each provider's feed carries as kloppy reads it (checked on kloppy's fixture files).
# Wyscout: the intersection of v2 and v3 (v2 has no take-ons or xG, v3 no recoveries; v3's
# carries are long runs only). Opta and Stats Perform: no carries, pressures or flags of
# pressure and switches. Sportec and Metrica: passes, shots, fouls and set pieces, Metrica
# also carries and recoveries. Impect: no xG, take-ons, pressures, fouls won or counters;
# its cross and under-pressure flags are left out too, as kloppy's fixture leaves them
# blank (a feed without them would count 0, not null). xG counts as supplied where the
# feed may carry it; a match whose shots carry none has its xG features nulled at extraction.
PROVIDER_CONCEPTS: Final[dict[str, frozenset[str]]] = {
    "statsbomb": frozenset(CONCEPTS),
    "wyscout": _WYSCOUT,
    "opta": _OPTA_FAMILY,
    "statsperform": _OPTA_FAMILY,
    "sportec": frozenset({"pass_end", "foul", "set_piece"}),
    "metrica": frozenset({"pass_end", "carry", "recovery", "foul", "set_piece"}),
    "impect": _IMPECT,
}
PROVIDER_NAMES: Final[tuple[str, ...]] = tuple(PROVIDER_CONCEPTS)


def _check_provider(provider: str) -> frozenset[str]:
    try:
        return PROVIDER_CONCEPTS[provider]
    except KeyError:
        raise KeyError(
            f"{provider!r} is not a known provider; known: {', '.join(PROVIDER_NAMES)}"
        ) from None


def feature_providers(name: str) -> tuple[str, ...]:
    """The providers that can supply feature ``name``."""
    needs = FEATURE_NEEDS.get(feature_info(name).name, ())
    return tuple(p for p, have in PROVIDER_CONCEPTS.items() if set(needs) <= have)


def missing_concepts(name: str, provider: str) -> list[str]:
    """What ``provider``'s feed lacks for feature ``name``, in words (empty when supplied)."""
    have = _check_provider(provider)
    return [CONCEPTS[c] for c in FEATURE_NEEDS.get(name, ()) if c not in have]


def unavailable_features(provider: str, *, lacking: tuple[str, ...] = ()) -> list[str]:
    """Features ``provider`` cannot supply (also those needing a concept in ``lacking``)."""
    have = _check_provider(provider) - set(lacking)
    return [n for n in feature_names() if not set(FEATURE_NEEDS.get(n, ())) <= have]


def available_features(provider: str) -> list[str]:
    """Features ``provider`` can supply, in catalogue order."""
    missing = set(unavailable_features(provider))
    return [n for n in feature_names() if n not in missing]


def common_features(providers: Iterable[str]) -> list[str]:
    """Features every one of ``providers`` can supply (all features for none)."""
    missing: set[str] = set()
    for provider in set(providers):
        missing |= set(unavailable_features(provider))
    return [n for n in feature_names() if n not in missing]
