"""What the dashboard needs to explain one segment or a group of them, computed without Streamlit.

The Latent map page calls these on every click, so each is a vectorised numpy/polars call
over a :class:`SegmentTable` built once per run: the run's latents, 2-D projection, raw
feature values and metadata, row-aligned. Row ``i`` of every array is the same segment, and
that row index is what the map sends back as a point's ``customdata``.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import polars as pl
from scipy import stats
from scipy.cluster import hierarchy

from core.features.registry import FEATURE_PATTERN, feature_tier

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LATENT_PATTERN = re.compile(r"^z(\d+)$")

# Colours shared by every chart of the dashboard: a qualitative palette for categories
# (dominant dimension, team, match) and a diverging scale for signed values.
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

ColorMode = Literal["dominant", "latent", "team", "match", "minute", "score_state"]
COLOR_MODES: dict[str, str] = {
    "dominant": "Dominant dimension",
    "latent": "A single latent",
    "team": "Team",
    "match": "Match",
    "minute": "Match minute",
    "score_state": "Score state",
}


class InspectError(ValueError):
    """The data handed to an inspector function cannot answer the question asked."""


def feature_columns(columns: Iterable[str]) -> list[str]:
    """Feature column names (``t<tier>_<name>``), in their given order; never ``team_id``."""
    return [c for c in columns if FEATURE_PATTERN.match(c)]


def latent_columns(columns: Iterable[str]) -> list[str]:
    """Latent columns ``z0..z{k-1}`` ordered by index."""
    found = [c for c in columns if LATENT_PATTERN.match(c)]
    return sorted(found, key=lambda c: int(c[1:]))


# --- the row-aligned table ---------------------------------------------------------------


@dataclass(frozen=True)
class SegmentTable:
    """One run's segments, row-aligned: metadata, latents, 2-D map position, raw features."""

    meta: pl.DataFrame  # segment_id + metadata (+ match_label); row i = segment i
    latents: npt.NDArray[np.float32]  # (n, k) posterior means
    xy: npt.NDArray[np.float32]  # (n, 2) map coordinates (UMAP); NaN where missing
    features: FloatArray  # (n, f) raw feature values; NaN where null
    feature_names: list[str]
    feature_mean: FloatArray = field(repr=False)  # (f,) over all n segments, NaN-aware
    feature_std: FloatArray = field(repr=False)  # (f,) population std, NaN-aware

    @property
    def n(self) -> int:
        return int(self.latents.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.latents.shape[1])

    @property
    def latent_names(self) -> list[str]:
        return [f"z{i}" for i in range(self.latent_dim)]

    def row_of(self, segment_id: str) -> int:
        """Row index of a segment id; :class:`InspectError` when it is not in the table."""
        hits = np.flatnonzero((self.meta["segment_id"] == segment_id).to_numpy())
        if hits.size == 0:
            raise InspectError(f"Segment {segment_id!r} is not part of this run.")
        return int(hits[0])


def build_segment_table(
    latents: pl.DataFrame,
    projection: pl.DataFrame | None = None,
    features: pl.DataFrame | None = None,
    *,
    feature_names: Sequence[str] | None = None,
    matches: pl.DataFrame | None = None,
) -> SegmentTable:
    """Join a run's ``latents.parquet``, ``umap.parquet`` and the dataset's features by ``segment_id``.

    ``feature_names`` picks the features (default: every ``t<digit>_`` column of
    ``features``); ``matches`` (``matches.parquet``) adds a readable ``match_label``.
    Segments keep the order of ``latents``.
    """
    if "segment_id" not in latents.columns:
        raise InspectError(
            "The run's latents have no segment_id column, so segments cannot be matched to "
            "their features; retrain the run with the current engine."
        )
    zcols = latent_columns(latents.columns)
    if not zcols:
        raise InspectError("The run's latents have no z0..z{k-1} columns.")
    base = latents.with_row_index("_row")
    if projection is not None and not projection.is_empty():
        proj = projection.select("segment_id", "umap_x", "umap_y")
        base = base.join(proj, on="segment_id", how="left")
    else:
        base = base.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("umap_x"),
            pl.lit(None, dtype=pl.Float64).alias("umap_y"),
        )
    names: list[str] = []
    if features is not None:
        names = (
            list(feature_names) if feature_names is not None else feature_columns(features.columns)
        )
        missing = [c for c in names if c not in features.columns]
        if missing:
            raise InspectError(
                f"The dataset lacks {len(missing)} feature(s) the run was trained on "
                f"(e.g. {missing[:3]}); was features.parquet replaced after training?"
            )
        feats = features.select(
            "segment_id", *[pl.col(c).cast(pl.Float64).alias(f"_f_{c}") for c in names]
        ).unique("segment_id", keep="first")
        base = base.join(feats, on="segment_id", how="left")
    base = base.sort("_row")
    if matches is not None and "label" in matches.columns and "match_id" in base.columns:
        base = base.join(
            matches.select("match_id", pl.col("label").alias("match_label")),
            on="match_id",
            how="left",
        )
    if "match_id" in base.columns:
        fallback = pl.format("Match {}", pl.col("match_id"))
        base = base.with_columns(
            (
                pl.col("match_label").fill_null(fallback)
                if "match_label" in base.columns
                else fallback
            ).alias("match_label")
        )
    fcols = [f"_f_{c}" for c in names]
    X = (
        base.select(fcols).to_numpy().astype(np.float64)
        if fcols
        else np.empty((base.height, 0), dtype=np.float64)
    )
    meta_cols = [
        c
        for c in base.columns
        if c not in zcols and c not in fcols and c not in ("_row", "umap_x", "umap_y")
    ]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: mean/std stay NaN
        mean = np.nanmean(X, axis=0) if X.shape[0] else np.full(len(names), np.nan)
        std = np.nanstd(X, axis=0) if X.shape[0] else np.full(len(names), np.nan)
    return SegmentTable(
        meta=base.select(meta_cols),
        latents=base.select(zcols).to_numpy().astype(np.float32),
        xy=base.select("umap_x", "umap_y").to_numpy().astype(np.float32),
        features=X,
        feature_names=names,
        feature_mean=mean,
        feature_std=std,
    )


# --- filters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The sidebar's filters; an empty tuple means "no restriction"."""

    competitions: tuple[str, ...] = ()
    match_ids: tuple[int, ...] = ()
    team_ids: tuple[int, ...] = ()
    periods: tuple[int, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.competitions or self.match_ids or self.team_ids or self.periods)


def filter_expr(filters: Filters, columns: Sequence[str]) -> pl.Expr:
    """A polars predicate for ``filters`` over a frame with ``columns`` (missing columns ignored)."""
    expr = pl.lit(True)
    pairs: list[tuple[str, Sequence[Any]]] = [
        ("competition", filters.competitions),
        ("match_id", filters.match_ids),
        ("team_id", filters.team_ids),
        ("period", filters.periods),
    ]
    for column, values in pairs:
        if values and column in columns:
            expr = expr & pl.col(column).is_in(list(values))
    return expr


def filter_mask(meta: pl.DataFrame, filters: Filters) -> BoolArray:
    """Boolean mask of the rows of ``meta`` that pass ``filters``."""
    if not filters.active:
        return np.ones(meta.height, dtype=bool)
    return (
        meta.select(filter_expr(filters, meta.columns).alias("m"))["m"].fill_null(False).to_numpy()
    )


@dataclass(frozen=True)
class FilterOptions:
    """Values the sidebar offers, each narrowed by the filters above it."""

    competitions: list[str]
    matches: dict[int, str]  # match_id -> label
    teams: dict[int, str]  # team_id -> name
    periods: list[int]


def filter_options(meta: pl.DataFrame, filters: Filters) -> FilterOptions:
    """Competitions, then matches within the chosen competitions, then teams within those matches."""

    def distinct(frame: pl.DataFrame, key: str, label: str | None = None) -> pl.DataFrame:
        cols = [key] if label is None or label not in frame.columns else [key, label]
        return frame.select(cols).unique(key).drop_nulls(key).sort(key)

    comps = (
        distinct(meta, "competition")["competition"].to_list()
        if "competition" in meta.columns
        else []
    )
    scoped = meta.filter(filter_expr(Filters(competitions=filters.competitions), meta.columns))
    matches: dict[int, str] = {}
    if "match_id" in scoped.columns:
        m = distinct(scoped, "match_id", "match_label")
        labels = m["match_label"] if "match_label" in m.columns else m["match_id"].cast(pl.String)
        matches = dict(zip(m["match_id"].to_list(), labels.to_list(), strict=True))
    scoped = scoped.filter(filter_expr(Filters(match_ids=filters.match_ids), scoped.columns))
    teams: dict[int, str] = {}
    if "team_id" in scoped.columns:
        t = distinct(scoped, "team_id", "team_name")
        names = t["team_name"] if "team_name" in t.columns else t["team_id"].cast(pl.String)
        teams = dict(zip(t["team_id"].to_list(), names.to_list(), strict=True))
    periods = distinct(meta, "period")["period"].to_list() if "period" in meta.columns else []
    return FilterOptions(competitions=comps, matches=matches, teams=teams, periods=periods)


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


def nearest_segments(
    latents: npt.NDArray[np.floating[Any]], row: int, k: int = 5
) -> tuple[IntArray, FloatArray]:
    """Rows of the ``k`` segments closest to ``row`` in latent space (Euclidean), nearest first.

    The segment itself is excluded; ties break by row order. O(n * latent_dim) per call.
    """
    n = latents.shape[0]
    if not 0 <= row < n:
        raise InspectError(f"Segment row {row} is outside this run's {n} segments.")
    k = min(k, n - 1)
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    diff = latents - latents[row]
    d2 = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
    d2[row] = np.inf
    idx = np.argpartition(d2, k - 1)[:k] if k < n - 1 else np.flatnonzero(np.isfinite(d2))
    order = np.lexsort((idx, d2[idx]))
    idx = idx[order][:k].astype(np.int64)
    return idx, np.sqrt(d2[idx])


def segment_events(events: pl.DataFrame, summary: SegmentSummary) -> pl.DataFrame:
    """The segment team's own events inside the segment's time window, in time order."""
    return events.filter(
        (pl.col("match_id") == summary.match_id)
        & (pl.col("team_id") == summary.team_id)
        & (pl.col("period") == summary.period)
        & (pl.col("time_s") >= summary.start_time)
        & (pl.col("time_s") < summary.end_time)
    ).sort("time_s")


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
        p = 2 * stats.t.sf(np.abs(t), dof)
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
    return frame.sort(pl.col("effect").abs(), descending=True, nulls_last=True)


def selection_frame(table: SegmentTable, rows: Sequence[int] | IntArray) -> pl.DataFrame:
    """Metadata, latents and map position of the given rows (what the selection CSV exports)."""
    idx = np.asarray(rows, dtype=np.int64)
    lat = pl.DataFrame(table.latents[idx], schema=table.latent_names)
    xy = pl.DataFrame(table.xy[idx], schema=["umap_x", "umap_y"])
    return pl.concat([table.meta[idx], lat, xy], how="horizontal")


# --- the map -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ColorSpec:
    """Per-segment colour values for the map: category codes or continuous numbers."""

    values: npt.NDArray[Any]  # (n,) int codes (categorical) or floats (continuous)
    title: str
    categories: list[str] | None = None  # code -> label for categorical colourings
    colorscale: str = SEQUENTIAL
    midpoint: float | None = None  # centre of a diverging scale

    @property
    def categorical(self) -> bool:
        return self.categories is not None


def dominant_dimension(latents: npt.NDArray[np.floating[Any]]) -> IntArray:
    """Index of the latent with the largest absolute value per segment (the notebook's colouring)."""
    return np.argmax(np.abs(latents), axis=1).astype(np.int64)


def _codes(series: pl.Series) -> tuple[IntArray, list[str]]:
    labels = series.cast(pl.String).fill_null("unknown")
    cats = labels.unique().sort()
    codes = labels.replace_strict(cats, pl.Series(np.arange(cats.len())), return_dtype=pl.Int64)
    return codes.to_numpy().astype(np.int64), cats.to_list()


def color_spec(table: SegmentTable, mode: str, latent: int = 0) -> ColorSpec:
    """Colour values for a map colouring (one of :data:`COLOR_MODES`)."""
    if mode == "dominant":
        return ColorSpec(
            values=dominant_dimension(table.latents),
            title="Dominant dimension",
            categories=table.latent_names,
        )
    if mode == "latent":
        if not 0 <= latent < table.latent_dim:
            raise InspectError(f"This run has latents z0..z{table.latent_dim - 1}, not z{latent}.")
        vals = table.latents[:, latent]
        return ColorSpec(values=vals, title=f"z{latent}", colorscale=DIVERGING, midpoint=0.0)
    if mode in ("team", "match"):
        column = "team_name" if mode == "team" else "match_label"
        if column not in table.meta.columns:
            column = "team_id" if mode == "team" else "match_id"
        codes, cats = _codes(table.meta[column])
        return ColorSpec(values=codes, title=COLOR_MODES[mode], categories=cats)
    if mode == "minute":
        minute = table.meta["match_minute"] if "match_minute" in table.meta.columns else None
        if minute is None:
            raise InspectError("The run's segments carry no match_minute.")
        return ColorSpec(
            values=minute.cast(pl.Float64).fill_null(np.nan).to_numpy(), title="Match minute"
        )
    if mode == "score_state":
        if "score_state" not in table.meta.columns:
            raise InspectError("The run's segments carry no score_state.")
        state = table.meta["score_state"].clip(-2, 2)
        labels = {
            -2: "trailing by 2+",
            -1: "trailing by 1",
            0: "level",
            1: "leading by 1",
            2: "leading by 2+",
        }
        present = sorted(int(v) for v in state.drop_nulls().unique().to_list())
        cats = [labels[v] for v in present] + (["unknown"] if state.null_count() else [])
        lookup = {v: i for i, v in enumerate(present)}
        state_codes = state.replace_strict(
            list(lookup), list(lookup.values()), default=len(present), return_dtype=pl.Int64
        )
        return ColorSpec(
            values=state_codes.to_numpy().astype(np.int64), title="Score state", categories=cats
        )
    raise InspectError(f"Unknown colouring {mode!r}; choose one of {list(COLOR_MODES)}.")


def _ring_trace(
    table: SegmentTable,
    rows: Sequence[int],
    name: str,
    point: str,
    *,
    size: int,
    width: int,
    colour: str,
) -> go.Scattergl:
    """Hollow rings around the map points of ``rows`` (the inspected segment, its neighbours).

    ``name`` is the trace's name, ``point`` what the hover calls one of them.
    """
    ring_rows = np.asarray(rows, dtype=np.int32)
    return go.Scattergl(
        x=table.xy[ring_rows, 0],
        y=table.xy[ring_rows, 1],
        customdata=ring_rows,
        mode="markers",
        name=name,
        marker={"size": size, "color": "rgba(0,0,0,0)", "line": {"width": width, "color": colour}},
        hovertemplate=f"{point} %{{customdata}}<extra></extra>",
    )


def latent_map_figure(
    table: SegmentTable,
    color: ColorSpec,
    mask: BoolArray | None = None,
    *,
    highlight: int | None = None,
    neighbours: Sequence[int] = (),
    height: int = 620,
    marker_size: float | None = None,
) -> go.Figure:
    """WebGL scatter of the segments' 2-D map positions, one trace per category.

    Only rows in ``mask`` are sent; every point carries its table row as ``customdata`` so
    a click or lasso maps back to segments without sending any other per-point data.
    ``highlight`` rings the inspected segment and ``neighbours`` its nearest segments.
    """
    keep = np.ones(table.n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    keep &= np.isfinite(table.xy).all(axis=1)
    rows = np.flatnonzero(keep).astype(np.int32)
    xy = table.xy[rows]
    size = marker_size or (3.0 if rows.size > 20_000 else 5.0 if rows.size > 2_000 else 7.0)
    fig = go.Figure()
    many = color.categorical and len(color.categories or []) > MAX_LEGEND_CATEGORIES
    if color.categorical and not many:
        assert color.categories is not None
        codes = np.asarray(color.values)[rows]
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(color.categories) + 1))
        for code, label in enumerate(color.categories):
            part = order[bounds[code] : bounds[code + 1]]
            if part.size == 0:
                continue
            fig.add_trace(
                go.Scattergl(
                    x=xy[part, 0],
                    y=xy[part, 1],
                    customdata=rows[part],
                    mode="markers",
                    name=label,
                    marker={
                        "size": size,
                        "color": QUALITATIVE[code % len(QUALITATIVE)],
                        "opacity": 0.75,
                    },
                    hovertemplate=f"{label}<br>segment %{{customdata}}<extra></extra>",
                )
            )
    else:
        marker: dict[str, Any]
        if many:
            # Hundreds of matches: one trace (a legend that long helps nobody and hundreds of
            # WebGL traces slow the browser); colours cycle through the palette.
            k = len(QUALITATIVE)
            steps = [[pos, c] for i, c in enumerate(QUALITATIVE) for pos in (i / k, (i + 1) / k)]
            marker = {
                "size": size,
                "color": (np.asarray(color.values)[rows] % k).astype(np.int8),
                "colorscale": steps,
                "cmin": -0.5,  # code i sits in the middle of palette step i
                "cmax": k - 0.5,
                "opacity": 0.75,
            }
            hover = f"{color.title}: click to inspect"
        else:
            marker = {
                "size": size,
                "color": np.asarray(color.values, dtype=np.float32)[rows],
                "colorscale": color.colorscale,
                "opacity": 0.8,
                "colorbar": {"title": {"text": color.title}, "thickness": 12},
                "reversescale": color.colorscale == DIVERGING,
            }
            if color.midpoint is not None:
                marker["cmid"] = color.midpoint
            hover = f"{color.title} %{{marker.color:.2f}}"
        fig.add_trace(
            go.Scattergl(
                x=xy[:, 0],
                y=xy[:, 1],
                customdata=rows,
                mode="markers",
                name=color.title,
                marker=marker,
                showlegend=False,
                hovertemplate=f"{hover}<br>segment %{{customdata}}<extra></extra>",
            )
        )
    rings = [r for r in neighbours if 0 <= r < table.n]
    if rings:
        fig.add_trace(
            _ring_trace(
                table, rings, "nearest segments", "nearest segment", size=12, width=2, colour="#555"
            )
        )
    if highlight is not None and 0 <= highlight < table.n:
        fig.add_trace(
            _ring_trace(
                table,
                [highlight],
                "inspected segment",
                "inspected segment",
                size=16,
                width=3,
                colour="#111",
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"title": {"text": color.title}, "itemsizing": "constant"},
        xaxis={"title": {"text": "UMAP-1"}, "showticklabels": False, "zeroline": False},
        yaxis={"title": {"text": "UMAP-2"}, "showticklabels": False, "zeroline": False},
        dragmode="pan",
        uirevision="latent-map",  # keep zoom/pan across reruns
    )
    return fig


# --- correlations ------------------------------------------------------------------------

Correction = Literal["none", "bh", "bonferroni"]


def adjust_pvalues(p: npt.ArrayLike, method: Correction) -> FloatArray:
    """Multiple-comparison adjusted p-values over all cells of ``p`` (NaN cells stay NaN).

    ``bh`` is Benjamini-Hochberg (false discovery rate), ``bonferroni`` multiplies by the
    number of tests (capped at 1), ``none`` returns ``p`` unchanged.
    """
    arr = np.asarray(p, dtype=np.float64)
    if method == "none":
        return arr.copy()
    out = np.full(arr.shape, np.nan)
    finite = np.isfinite(arr)
    flat = arr[finite]
    if flat.size == 0:
        return out
    if method == "bonferroni":
        out[finite] = np.minimum(flat * flat.size, 1.0)
    elif method == "bh":
        out[finite] = stats.false_discovery_control(flat, method="bh")
    else:
        raise InspectError(f"Unknown correction {method!r}; use 'none', 'bh' or 'bonferroni'.")
    return out


def feature_order(
    r: npt.ArrayLike, feature_names: Sequence[str], by: Literal["tier", "cluster"]
) -> IntArray:
    """Column order for a (latent x feature) correlation matrix.

    ``tier`` sorts by tier then name; ``cluster`` orders features by average-linkage
    hierarchical clustering of their correlation profiles across latents (correlation
    distance), so features that load on the same latents sit together.
    """
    names = list(feature_names)
    if by == "tier":
        keys = [(feature_tier(n) or 0, n) for n in names]
        return np.asarray(sorted(range(len(names)), key=keys.__getitem__), dtype=np.int64)
    mat = np.nan_to_num(np.asarray(r, dtype=np.float64).T)  # features x latents
    if mat.shape[0] < 3:
        return np.arange(mat.shape[0], dtype=np.int64)
    # Profiles with no variation have no correlation distance; Euclidean on them is stable.
    link = hierarchy.linkage(mat, method="average", metric="euclidean")
    return np.asarray(
        hierarchy.leaves_list(hierarchy.optimal_leaf_ordering(link, mat)), dtype=np.int64
    )


# --- dataset summary ---------------------------------------------------------------------


def dataset_overview(features: pl.DataFrame) -> dict[str, Any]:
    """Headline counts of a features table: matches, teams, competitions, segments, features by tier, 360 coverage.

    360 coverage is the share of segments with at least one non-null tier-3 feature.
    """
    names = feature_columns(features.columns)
    tiers: dict[int, int] = {}
    for name in names:
        tier = feature_tier(name) or 0
        tiers[tier] = tiers.get(tier, 0) + 1
    t3 = [n for n in names if feature_tier(n) == 3]
    coverage = (
        float(features.select(pl.any_horizontal(pl.col(t3).is_not_null()).mean()).item())
        if t3 and features.height
        else 0.0
    )

    def n_unique(col: str) -> int:
        return int(features[col].n_unique()) if col in features.columns else 0

    by_type: dict[str, int] = {}
    if "segment_type" in features.columns:
        counts = features["segment_type"].value_counts()
        by_type = dict(
            zip(counts["segment_type"].to_list(), counts["count"].to_list(), strict=True)
        )
    return {
        "matches": n_unique("match_id"),
        "teams": n_unique("team_id"),
        "competitions": n_unique("competition"),
        "segments": features.height,
        "segments_by_type": by_type,
        "features": len(names),
        "features_by_tier": dict(sorted(tiers.items())),
        "coverage_360": coverage,
    }


def feature_coverage(features: pl.DataFrame) -> pl.DataFrame:
    """Share of segments with a non-null, finite value per feature: ``name``, ``coverage``."""
    names = feature_columns(features.columns)
    if not names or features.height == 0:
        return pl.DataFrame(schema={"name": pl.String, "coverage": pl.Float64})
    shares = features.select(
        [
            (pl.col(n).is_not_null() & pl.col(n).cast(pl.Float64).is_finite()).mean().alias(n)
            for n in names
        ]
    ).row(0)
    return pl.DataFrame(
        {"name": names, "coverage": list(shares)},
        schema={"name": pl.String, "coverage": pl.Float64},
    )
