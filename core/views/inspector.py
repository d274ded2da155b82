"""What the dashboard needs to explain one segment or a group of them, computed without
Streamlit: vectorised calls over a :class:`~core.views.table.SegmentTable`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import special

from core.errors import InspectError
from core.features.segments import in_window
from core.infra.arrays import BoolArray, IntArray
from core.views.table import SegmentTable

# --- one segment -------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSummary:
    """Who, when and in what score state: the inspector's headline for one segment."""

    row: int
    segment_id: str
    match_id: int | None
    match_label: str
    team_id: int | None
    team_name: str
    opponent_name: str
    period: int | None
    start_time: float  # seconds from the start of the period
    end_time: float
    minute_start: float  # match clock minute at the segment's start
    minute_end: float
    score_state: int | None
    segment_type: str

    @property
    def minute_range(self) -> str:
        """``"34'–39'"`` (match clock minutes, floored)."""
        return f"{int(self.minute_start)}'–{int(self.minute_end)}'"

    @property
    def score_text(self) -> str:
        if self.score_state is None:
            return "score unknown"
        if self.score_state == 0:
            return "level"
        word = "leading" if self.score_state > 0 else "trailing"
        return f"{word} by {abs(self.score_state)}"

    @property
    def headline(self) -> str:
        """One line naming the segment: team, match, period and minutes."""
        period = f"period {self.period}" if self.period is not None else "period ?"
        return f"{self.team_name} · {self.match_label} · {period} · {self.minute_range}"


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def segment_summary(table: SegmentTable, row: int) -> SegmentSummary:
    """Headline facts of segment ``row`` from the table's metadata."""
    if not 0 <= row < table.n:
        raise InspectError(f"Segment row {row} is outside this run's {table.n} segments.")
    r = table.meta.row(row, named=True)
    start = float(r.get("start_time") or 0.0)
    end = float(r.get("end_time") or start)
    minute = r.get("match_minute")
    minute_start = float(minute) if minute is not None else start / 60.0
    team = r.get("team_name") or (f"Team {r['team_id']}" if r.get("team_id") is not None else "?")
    opponent = r.get("opponent_name") or (
        f"Team {r['opponent_id']}" if r.get("opponent_id") is not None else "?"
    )
    return SegmentSummary(
        row=row,
        segment_id=str(r.get("segment_id")),
        match_id=_opt_int(r.get("match_id")),
        match_label=str(r.get("match_label") or f"Match {r.get('match_id')}"),
        team_id=_opt_int(r.get("team_id")),
        team_name=str(team),
        opponent_name=str(opponent),
        period=_opt_int(r.get("period")),
        start_time=start,
        end_time=end,
        minute_start=minute_start,
        minute_end=minute_start + max(end - start, 0.0) / 60.0,
        score_state=_opt_int(r.get("score_state")),
        segment_type=str(r.get("segment_type") or ""),
    )


def segment_profile(
    table: SegmentTable, row: int, registry: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The segment's features as z-scores against all the run's segments, largest |z| first.

    Columns: ``feature``, ``value``, ``mean``, ``z``, plus ``definition`` and ``unit`` when a
    registry frame (``core.features.registry.registry_frame()``: ``name``, ``definition``, ``unit``)
    is given. Features with no spread or a null value get a null ``z`` and sort last.
    """
    if not 0 <= row < table.n:
        raise InspectError(f"Segment row {row} is outside this run's {table.n} segments.")
    values = table.features[row]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(
            table.feature_std > 0, (values - table.feature_mean) / table.feature_std, np.nan
        )
    frame = pl.DataFrame(
        {
            "feature": table.feature_names,
            "value": values,
            "mean": table.feature_mean,
            "z": z,
        },
        schema={"feature": pl.String, "value": pl.Float64, "mean": pl.Float64, "z": pl.Float64},
    ).with_columns(pl.col("value", "mean", "z").fill_nan(None))
    frame = _with_definitions(frame, registry)
    return frame.sort(pl.col("z").abs(), descending=True, nulls_last=True)


def _with_definitions(frame: pl.DataFrame, registry: pl.DataFrame | None) -> pl.DataFrame:
    if registry is None or "name" not in registry.columns:
        return frame
    cols = [c for c in ("definition", "unit") if c in registry.columns]
    return frame.join(
        registry.select(pl.col("name").alias("feature"), *cols), on="feature", how="left"
    )


def segment_events(events: pl.DataFrame, summary: SegmentSummary) -> pl.DataFrame:
    """The segment team's own events inside the segment's time window, in time order (the
    window rule of the features: :func:`core.features.segments.in_window`)."""
    period = events.filter(
        (pl.col("match_id") == summary.match_id) & (pl.col("period") == summary.period)
    )
    period_end = period["time_s"].max() if period.height else summary.end_time
    return period.filter(
        (pl.col("team_id") == summary.team_id)
        & in_window(
            pl.col("time_s"),
            pl.lit(summary.start_time),
            pl.lit(summary.end_time),
            pl.lit(period_end),
        )
    ).sort("time_s")


ON_BALL_TYPES = ("pass", "carry", "shot", "dribble", "take_on", "take-on", "cross")


def segment_players(events: pl.DataFrame, n: int = 5) -> pl.DataFrame:
    """The players on the ball in a segment's events (``segment_events``), busiest first.

    Columns ``player_name``, ``actions`` (passes, carries, shots, take-ons), ``passes``,
    ``shots``; at most ``n`` rows. Events without a player are left out.
    """
    if events.is_empty() or "player_name" not in events.columns:
        return pl.DataFrame(
            schema={
                "player_name": pl.String,
                "actions": pl.UInt32,
                "passes": pl.UInt32,
                "shots": pl.UInt32,
            }
        )
    kind = pl.col("type").cast(pl.String).str.to_lowercase()
    return (
        events.filter(pl.col("player_name").is_not_null() & kind.is_in(ON_BALL_TYPES))
        .group_by("player_name")
        .agg(
            pl.len().alias("actions"),
            (kind == "pass").sum().alias("passes"),
            (kind == "shot").sum().alias("shots"),
        )
        .sort(["actions", "player_name"], descending=[True, False])
        .head(n)
    )


def players_line(players: pl.DataFrame) -> str:
    """``"On the ball: Jorginho (9), Insigne (6), Barella (4)"``, or ``""`` without players."""
    if players.is_empty():
        return ""
    names = [f"{p} ({a})" for p, a in players.select("player_name", "actions").iter_rows()]
    return "On the ball: " + ", ".join(names)


# --- many segments -----------------------------------------------------------------------


def rows_from_selection(points: Iterable[Mapping[str, Any]]) -> IntArray:
    """Segment rows carried as ``customdata`` by the map's selected points (unique, sorted)."""
    rows: list[int] = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list | tuple):
            cd = cd[0] if cd else None
        if cd is not None:
            rows.append(int(cd))
    return np.unique(np.asarray(rows, dtype=np.int64))


LATENT_DEFINITION = (
    "Latent dimension {}: one of the model's own summary axes; the Interpretation page "
    "lists the features it tracks."
)
LATENT_UNIT = "code (prior sd = 1)"


def selection_contrast(
    table: SegmentTable, selected: BoolArray, registry: pl.DataFrame | None = None
) -> pl.DataFrame:
    """How the selected segments differ from the rest, feature by feature and latent by latent.

    Columns: ``kind`` (``feature``/``latent``), ``name``, ``mean_selected``, ``mean_rest``,
    ``effect`` (difference of means over the pooled standard deviation), ``p_value``
    (Welch's t-test), plus ``definition``/``unit`` from the registry; sorted by |effect|.
    """
    sel = np.asarray(selected, dtype=bool)
    if sel.shape != (table.n,):
        raise InspectError(f"Selection mask has shape {sel.shape}, expected ({table.n},).")
    n_sel, n_rest = int(sel.sum()), int((~sel).sum())
    if n_sel == 0 or n_rest == 0:
        raise InspectError(
            "Select at least one segment and leave at least one out to compare the two groups."
        )
    values = np.hstack([table.features, table.latents.astype(np.float64)])
    names = [*table.feature_names, *table.latent_names]
    kinds = ["feature"] * len(table.feature_names) + ["latent"] * table.latent_dim
    a, b = values[sel], values[~sel]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        ma, mb = np.nanmean(a, axis=0), np.nanmean(b, axis=0)
        va, vb = np.nanvar(a, axis=0, ddof=1), np.nanvar(b, axis=0, ddof=1)
        na = np.sum(np.isfinite(a), axis=0).astype(float)
        nb = np.sum(np.isfinite(b), axis=0).astype(float)
        pooled = np.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
        effect = np.where(pooled > 0, (ma - mb) / pooled, np.nan)
        se2 = va / na + vb / nb
        t = (ma - mb) / np.sqrt(se2)
        dof = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
        p = 2 * special.stdtr(dof, -np.abs(t))  # Student t tail (scipy.stats.t.sf)
    frame = pl.DataFrame(
        {
            "kind": kinds,
            "name": names,
            "mean_selected": ma,
            "mean_rest": mb,
            "effect": effect,
            "p_value": p,
        },
        schema={
            "kind": pl.String,
            "name": pl.String,
            "mean_selected": pl.Float64,
            "mean_rest": pl.Float64,
            "effect": pl.Float64,
            "p_value": pl.Float64,
        },
    ).with_columns(pl.col("mean_selected", "mean_rest", "effect", "p_value").fill_nan(None))
    if registry is not None and "name" in registry.columns:
        cols = [c for c in ("definition", "unit") if c in registry.columns]
        frame = frame.join(registry.select("name", *cols), on="name", how="left")
        # Latent rows have no registry entry: say what they are instead of "None".
        latent = pl.col("kind") == "latent"
        if "definition" in frame.columns:
            frame = frame.with_columns(
                pl.when(latent)
                .then(pl.format(LATENT_DEFINITION, pl.col("name")))
                .otherwise(pl.col("definition").fill_null("no definition in the registry"))
                .alias("definition")
            )
        if "unit" in frame.columns:
            frame = frame.with_columns(
                pl.when(latent).then(pl.lit(LATENT_UNIT)).otherwise(pl.col("unit")).alias("unit")
            )
    return frame.sort(pl.col("effect").abs(), descending=True, nulls_last=True)


def contrast_example(table: SegmentTable, selected: BoolArray, kind: str, name: str) -> int:
    """The table row of a selected segment that shows one contrast row clearly.

    For the feature or latent ``name`` (``kind`` as in :func:`selection_contrast`), the
    selected segments are ranked by how far their value lies from the rest's mean in the
    direction the selection differs; the one at the 90th percentile of that ranking is
    returned: a clear example, not the single most extreme outlier. Raises
    :class:`InspectError` for an unknown name or a selection without a value.
    """
    sel = np.asarray(selected, dtype=bool)
    if sel.shape != (table.n,) or not sel.any():
        raise InspectError("Select at least one segment to open an example of it.")
    if kind == "latent" and name in table.latent_names:
        column = table.latents[:, table.latent_names.index(name)].astype(np.float64)
    elif kind == "feature" and name in table.feature_names:
        column = table.features[:, table.feature_names.index(name)]
    else:
        raise InspectError(f"No {kind} named {name!r} in this run's segments.")
    rows = np.flatnonzero(sel)
    values = column[rows]
    finite = np.isfinite(values)
    if not finite.any():
        raise InspectError(f"No selected segment has a value of {name!r}.")
    rows, values = rows[finite], values[finite]
    rest = column[~sel]
    rest_mean = float(np.nanmean(rest)) if np.isfinite(rest).any() else float(values.mean())
    direction = 1.0 if values.mean() >= rest_mean else -1.0
    score = (values - rest_mean) * direction
    order = np.argsort(score, kind="stable")
    pick = order[min(len(order) - 1, round(0.9 * (len(order) - 1)))]
    return int(rows[pick])


def selection_frame(table: SegmentTable, rows: Sequence[int] | IntArray) -> pl.DataFrame:
    """Metadata, latents and map position of the given rows (what the selection CSV exports)."""
    idx = np.asarray(rows, dtype=np.int64)
    lat = pl.DataFrame(table.latents[idx], schema=table.latent_names)
    xy = pl.DataFrame(table.xy[idx], schema=["umap_x", "umap_y"])
    return pl.concat([table.meta[idx], lat, xy], how="horizontal")
