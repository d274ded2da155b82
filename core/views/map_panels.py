"""What the Latent map's panels read: what a click or a box/lasso selection means, the
inspected segment's nearest segments, and the rows of the selection's contrast table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from core.analysis.latents import nearest_segments
from core.errors import TacticalError
from core.features.names import display_name
from core.infra.arrays import BoolArray
from core.views.correlations import p_text
from core.views.inspector import (
    SegmentSummary,
    rows_from_selection,
    segment_profile,
    segment_summary,
)
from core.views.table import SegmentTable

if TYPE_CHECKING:
    from core.runs.store import Run

# The inspector's feature profile columns, in the order shown (those the profile has):
# display names first, the code name last.
PROFILE_COLUMNS = ("feature", "z", "value", "mean", "definition", "code")
# The contrast table's columns, in the order shown (those the contrast has); ``p`` is text.
CONTRAST_COLUMNS = ("kind", "name", "effect", "mean_selected", "mean_rest", "p", "definition")
INTRO = (
    "Each point is a segment (a team's few minutes of a match) placed by a 2-D UMAP of its "
    "code: nearby points played alike. Hover a point for its team, minute, match and score; "
    "click one to inspect it; box or lasso to compare a group."
)
NO_EVENTS = (
    "No events.parquet beside this run's features, so the segment cannot be drawn. "
    "Re-extract the dataset on the **Data** page to add it."
)
CONTRAST_NOTE = (
    "How the selected segments differ from all the others: effect is the difference of "
    "means in pooled standard deviations (|effect| ≥ 0.5 is a clear difference); p from "
    "Welch's t-test. Tick a row to open a selected segment that shows it."
)
EXAMPLE_HELP = (
    "Opens, in the inspector above, the selected segment at the 90th percentile of this "
    "row's difference from the rest: a clear example, not the single most extreme one."
)
# Where the page scrolls when a segment is opened from another page: the pitch, else the
# inspector's close button (a dataset without events draws no pitch).
SCROLL_TARGETS = (".st-key-inspector_pitch", ".st-key-close_inspector")


def has_projection(table: SegmentTable) -> bool:
    """True when at least one segment has a 2-D map position (the run has ``umap.parquet``)."""
    return bool(np.isfinite(table.xy).all(axis=1).any())


def projection_note(run: Run, n_segments: int) -> str | None:
    """What the map says when its UMAP was fitted on a sample (a run above
    ``core.analysis.latents.UMAP_FIT_MAX`` segments), else None (also for a run whose
    diagnostics cannot be read: the map itself still shows)."""
    try:
        record = run.diagnostics().get("projection")
    except TacticalError:
        return None
    fitted = record.get("fitted_on") if isinstance(record, Mapping) else None
    if not isinstance(fitted, int) or fitted >= n_segments:
        return None
    return (
        f"The map's UMAP was fitted on a seeded sample of {fitted:,} of the {n_segments:,} "
        "segments; each other segment is placed among its nearest sampled segments (in the "
        "latent space), so its neighbours on the map are its neighbours in the model."
    )


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
    profile = segment_profile(table, row, registry).with_columns(
        pl.col("feature").alias("code"),
        pl.col("feature").map_elements(display_name, return_dtype=pl.String),
    )
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


def readable_contrast(contrast: pl.DataFrame, meanings: Mapping[str, str]) -> pl.DataFrame:
    """A selection contrast as people read it: features by display name, a dimension with
    its pattern's name (``meanings``: latent name -> pattern name, read off the ``key``
    column of code names when it has one), p as text (``"< 0.001"``, never ``"0.0e+0"``)."""
    keys = contrast["key" if "key" in contrast.columns else "name"].to_list()
    names = [
        f"{name}: {meanings[key]}" if key in meanings else display_name(str(name))
        for name, key in zip(contrast["name"].to_list(), keys, strict=True)
    ]
    out = contrast.with_columns(pl.Series("name", names, dtype=pl.String))
    if "p_value" in out.columns:
        p = out["p_value"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        out = out.with_columns(pl.Series("p", p_text(p), dtype=pl.String))
    return out


def arrived(inspected: object, map_state_present: bool) -> bool:
    """Whether the page was opened on a segment from elsewhere (an "Open" on another page):
    a segment to inspect while the map's own widget state is absent, which Streamlit drops
    whenever another page ran in between."""
    return inspected is not None and not map_state_present


def scroll_script(row: int) -> str:
    """The HTML of a zero-height component that scrolls the app (its parent document) to
    the opened segment's pitch once drawn, and back to it while the page above it still
    grows (for up to 15 s); ``row`` makes each opening a new element that scrolls again."""
    targets = ", ".join(f"'{t}'" for t in SCROLL_TARGETS)
    return (
        f"<script>/* open segment row {int(row)} */\n"
        "const doc = window.parent.document, win = window.parent; let tries = 0, still = 0;\n"
        "const timer = setInterval(() => {\n"
        f"  const el = [{targets}].map(s => doc.querySelector(s)).find(e => e);\n"
        "  if (el) {\n"
        "    const box = el.getBoundingClientRect();\n"
        "    if (box.top < 0 || box.top > win.innerHeight - 50) {\n"
        "      el.scrollIntoView({block: 'center'}); still = 0;\n"
        "    } else { still += 1; }\n"
        "  }\n"
        "  if (still > 20 || ++tries > 150) clearInterval(timer);\n"
        "}, 100);\n</script>"
    )
