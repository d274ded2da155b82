"""Colours shared by every chart of the dashboard: a qualitative palette for categories
(dominant dimension, team, match) and a diverging scale for signed values."""

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
MAX_LEGEND_CATEGORIES = 30  # more categories than this share one trace without a legend

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
