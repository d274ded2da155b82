"""What the Latent map's panels read: what a click or a box/lasso selection means, the
inspected segment's nearest segments, and the rows of the selection's contrast table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from core.analysis.latents import nearest_segments
from core.infra.arrays import BoolArray
from core.views.inspector import (
    SegmentSummary,
    rows_from_selection,
    segment_profile,
    segment_summary,
)
from core.views.table import SegmentTable

# The inspector's feature profile columns, in the order shown (those the profile has).
PROFILE_COLUMNS = ("feature", "z", "value", "mean", "definition")
# The contrast table's columns, in the order shown (those the contrast has).
CONTRAST_COLUMNS = ("kind", "name", "effect", "mean_selected", "mean_rest", "p_value", "definition")


def has_projection(table: SegmentTable) -> bool:
    """True when at least one segment has a 2-D map position (the run has ``umap.parquet``)."""
    return bool(np.isfinite(table.xy).all(axis=1).any())


@dataclass(frozen=True)
class MapPick:
    """What a change of the map's selection asks for."""

    action: Literal["group", "inspect", "clear"]  # compare a group, inspect one, drop the group
    rows: list[int]  # the group's rows, or the inspected row


def map_pick(selection: Mapping[str, Any]) -> MapPick:
    """Read a plotly selection event of the map: a box or lasso selects a group, a single
    click inspects its segment, an empty selection (double click) clears the group."""
    rows = rows_from_selection(selection.get("points", []) or [])
    if selection.get("box") or selection.get("lasso"):
        return MapPick("group", [int(r) for r in rows])
    if rows.size:
        return MapPick("inspect", [int(rows[0])])
    return MapPick("clear", [])


def headline(summary: SegmentSummary) -> str:
    """The inspector's line under the segment's title (markdown)."""
    return (
        f"against **{summary.opponent_name}** · period **{summary.period}** · minutes "
        f"**{summary.minute_range}** · **{summary.score_text}** · {summary.segment_type} "
        f"segment `{summary.segment_id}`"
    )


def profile_rows(
    table: SegmentTable, row: int, registry: pl.DataFrame | None, n: int = 20
) -> pl.DataFrame:
    """The inspected segment's ``n`` most unusual features (z-scores against all segments)."""
    profile = segment_profile(table, row, registry)
    return profile.select([c for c in PROFILE_COLUMNS if c in profile.columns]).head(n)


@dataclass(frozen=True)
class Neighbour:
    """One of the inspected segment's nearest segments in latent space."""

    row: int
    distance: float
    label: str  # "1. distance 0.42 · Italy · 34'–39' · P1 · Turkey 0-3 Italy · ..."


def nearest_list(table: SegmentTable, row: int, k: int) -> list[Neighbour]:
    """The ``k`` segments nearest ``row`` in latent space, nearest first, with a label."""
    idx, dist = nearest_segments(table.latents, row, k=k)
    out: list[Neighbour] = []
    for rank, (other_row, distance) in enumerate(zip(idx.tolist(), dist.tolist(), strict=True)):
        other = segment_summary(table, int(other_row))
        out.append(
            Neighbour(
                int(other_row),
                float(distance),
                f"{rank + 1}. distance {distance:.2f} · {other.team_name} · "
                f"{other.minute_range} · P{other.period} · {other.match_label}",
            )
        )
    return out


def selection_mask(n: int, rows: list[int]) -> BoolArray:
    """A mask of ``n`` rows with the selected ``rows`` set."""
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(rows, dtype=np.int64)] = True
    return mask


def contrast_columns(contrast: pl.DataFrame) -> list[str]:
    """The contrast table's columns to show, of :data:`CONTRAST_COLUMNS`."""
    return [c for c in CONTRAST_COLUMNS if c in contrast.columns]


def open_example_label(row: Mapping[str, Any]) -> str:
    """The button under a contrast row: open a selected segment high (or low) in it."""
    side = "high" if (row.get("effect") or 0) >= 0 else "low"
    return f"Open a selected segment {side} in {row['name']} on the pitch"
