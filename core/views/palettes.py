"""Colours shared by every chart of the dashboard: a qualitative palette for categories
(dominant dimension, team, match), a wider one for many teams, and a diverging scale."""

from __future__ import annotations

from typing import Literal

QUALITATIVE = (
    "#1f6f50",
    "#4c72b0",
    "#dd8452",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
    "#2ca02c",
    "#17becf",
)
DIVERGING = "RdBu"  # plotly's RdBu runs red (low) to blue (high); callers reverse where needed
SEQUENTIAL = "Viridis"
# Distinct colours for up to 40 categories (a league's or a World Cup's teams), each named in
# the legend: the qualitative palette first, then plotly's Dark24 and Alphabet colours.
WIDE_QUALITATIVE = (
    *QUALITATIVE,
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
    "#2ED9FF", "#F6F926", "#FE00CE", "#BC7196",
)  # fmt: skip
MAX_LEGEND_CATEGORIES = 40  # more categories than this share one trace without a legend

ColorMode = Literal["state", "latent", "dominant", "team", "match", "minute", "score_state"]
COLOR_MODES: dict[str, str] = {
    "state": "Tactical state",
    "latent": "A pattern",
    "dominant": "Dominant dimension",
    "team": "Team",
    "match": "Match",
    "minute": "Match minute",
    "score_state": "Score state",
}


def category_colours(n: int) -> tuple[str, ...]:
    """A colour per category: the qualitative palette, or the wide one past its 12 colours
    (colours repeat only past :data:`WIDE_QUALITATIVE`'s 40)."""
    return QUALITATIVE if n <= len(QUALITATIVE) else WIDE_QUALITATIVE
