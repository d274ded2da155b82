"""One run's segments as a row-aligned table, and the filters pages apply to it.

Row ``i`` of every array is the same segment, and that row index is what the map sends
back as a point's ``customdata``. Built once per run (pages cache it by file versions).
The table carries the run's training medians of its features, the fill of a missing value
(:mod:`core.model.imputation`). :func:`filter_frame` is the one place the sidebar's
filters apply to a frame: every page that filters goes through it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from core.errors import InspectError
from core.features.registry import feature_columns
from core.infra.arrays import BoolArray, FloatArray
from core.model.latents import latent_columns, latent_names
from core.runs.files import CORRELATIONS_FILE, PREPROCESSING_FILE, UMAP_FILE
from core.runs.store import Run

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
    feature_medians: FloatArray = field(repr=False)  # (f,) the run's training medians

    @property
    def n(self) -> int:
        return int(self.latents.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.latents.shape[1])

    @property
    def latent_names(self) -> list[str]:
        return latent_names(self.latent_dim)

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
    medians: Mapping[str, float] | None = None,
) -> SegmentTable:
    """Join a run's ``latents.parquet``, ``umap.parquet`` and the dataset's features by ``segment_id``.

    ``feature_names`` picks the features (default: every ``t<digit>_`` column of
    ``features``); ``matches`` (``matches.parquet``) adds a readable ``match_label``;
    ``medians`` are the run's training medians by feature name (the fill of a missing
    value); a feature without one (none given, or one the preprocessing dropped) takes its
    median over the table's segments, which are the run's training segments. Segments keep
    the order of ``latents``.
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
        median = np.nanmedian(X, axis=0) if X.shape[0] else np.full(len(names), np.nan)
    given = medians or {}
    trained = np.asarray([given.get(n, m) for n, m in zip(names, median, strict=True)])
    return SegmentTable(
        meta=base.select(meta_cols),
        latents=base.select(zcols).to_numpy().astype(np.float32),
        xy=base.select("umap_x", "umap_y").to_numpy().astype(np.float32),
        features=X,
        feature_names=names,
        feature_mean=mean,
        feature_std=std,
        feature_medians=trained.astype(np.float64).reshape(len(names)),
    )


# --- filters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The sidebar's filters; an empty tuple means "no restriction"."""

    competitions: tuple[str, ...] = ()
    match_ids: tuple[int, ...] = ()
    team_ids: tuple[int, ...] = ()
    periods: tuple[int, ...] = ()
    score_states: tuple[str, ...] = ()  # of SCORE_STATES: the team's score at the start

    @property
    def active(self) -> bool:
        return bool(
            self.competitions
            or self.match_ids
            or self.team_ids
            or self.periods
            or self.score_states
        )

    def only(self, *names: str) -> Filters:
        """These filters with every field but ``names`` cleared (e.g. a page's match list
        follows only the competition and team filters)."""
        return replace(self, **{f.name: () for f in fields(self) if f.name not in names})

    def without(self, *names: str) -> Filters:
        """These filters with the fields ``names`` cleared."""
        unknown = set(names) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"Filters has no field(s) {sorted(unknown)}.")
        return replace(self, **dict.fromkeys(names, ()))


# The score-state filter's values, from the segment's team's side: its goal difference at
# the segment's start (the ``score_state`` column) below, at or above zero.
SCORE_STATES: tuple[str, ...] = ("trailing", "level", "leading")
SCORE_STATE_LABELS: dict[str, str] = {
    "trailing": "Trailing",
    "level": "Level",
    "leading": "Leading",
}


def score_state_name(column: str = "score_state") -> pl.Expr:
    """``trailing`` / ``level`` / ``leading`` from a goal-difference column (null stays null)."""
    diff = pl.col(column)
    return (
        pl.when(diff < 0)
        .then(pl.lit("trailing"))
        .when(diff == 0)
        .then(pl.lit("level"))
        .when(diff > 0)
        .then(pl.lit("leading"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


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
    if filters.score_states and "score_state" in columns:
        expr = expr & score_state_name().is_in(list(filters.score_states))
    return expr


def filter_mask(meta: pl.DataFrame, filters: Filters) -> BoolArray:
    """Boolean mask of the rows of ``meta`` that pass ``filters``."""
    if not filters.active:
        return np.ones(meta.height, dtype=bool)
    return (
        meta.select(filter_expr(filters, meta.columns).alias("m"))["m"].fill_null(False).to_numpy()
    )


def filter_frame(frame: pl.DataFrame, filters: Filters) -> pl.DataFrame:
    """The rows of ``frame`` that pass ``filters``: any frame carrying the metadata columns
    (segments, timeline windows, latents), by the rules of :func:`filter_expr`; a row whose
    filtered column is null does not pass. Pages narrow ``filters`` with
    :meth:`Filters.only` / :meth:`Filters.without`, never with rules of their own."""
    if not filters.active:
        return frame
    return frame.filter(filter_expr(filters, frame.columns).fill_null(False))


@dataclass(frozen=True)
class FilterOptions:
    """Values the sidebar offers, each narrowed by the filters above it."""

    competitions: list[str]
    matches: dict[int, str]  # match_id -> label
    teams: dict[int, str]  # team_id -> name
    periods: list[int]
    score_states: list[str] = field(default_factory=list)  # of SCORE_STATES, in that order


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
    states: list[str] = []
    if "score_state" in meta.columns:
        present = set(meta.select(score_state_name().alias("s").unique())["s"].drop_nulls())
        states = [s for s in SCORE_STATES if s in present]
    return FilterOptions(
        competitions=comps, matches=matches, teams=teams, periods=periods, score_states=states
    )


def load_segment_table(run: Run) -> SegmentTable:
    """The run's segment table from its files: latents, UMAP, features, matches.

    Reads the features file once (``load_features`` adds ``segment_id`` when missing) and
    the training medians from the run's stored preprocessing (``preprocessing.json``); a
    run whose dataset folder is gone still gets a table of latents and positions.
    """
    from core.features.datasets import Dataset, load_features  # only when a table is built

    dataset = Dataset.of_features(run.config().features_path)
    projection = run.umap() if run.has(UMAP_FILE) else None
    features = None
    feature_names = None
    medians: dict[str, float] | None = None
    if dataset.features_path.is_file():
        features = load_features(dataset.features_path)
        if run.has(CORRELATIONS_FILE):
            feature_names = run.correlations().feature_names
        if run.has(PREPROCESSING_FILE):
            pipeline = run.load_pipeline()
            medians = dict(
                zip(pipeline.feature_columns_, map(float, pipeline.medians_), strict=True)
            )
    return build_segment_table(
        run.latents(),
        projection,
        features,
        feature_names=feature_names,
        matches=dataset.matches(),
        medians=medians,
    )
