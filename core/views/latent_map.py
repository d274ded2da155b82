"""The latent map: colourings of the segments and the WebGL scatter figure (plotly)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import polars as pl

from core.analysis.latents import dominant_dimension
from core.errors import InspectError, TacticalError
from core.infra.arrays import BoolArray, IntArray
from core.model.latents import latent_name
from core.views.palettes import (
    COLOR_MODES,
    DIVERGING,
    MAX_LEGEND_CATEGORIES,
    QUALITATIVE,
    SEQUENTIAL,
    category_colours,
)
from core.views.plain import patterns_of
from core.views.table import SegmentTable

if TYPE_CHECKING:
    from core.runs.store import Run

logger = logging.getLogger(__name__)

SCATTER_MAX = 100_000
"""Most shown segments the map draws every one of as a point (100k draw in about 1.5 s in
Chromium, ``bench/bench_map_browser.py``). Beyond it (a season of five leagues holds 500k)
it shades the density of every shown segment and draws ``MAP_SAMPLE`` of them, at random,
as the points you hover and click: 500k points took 18 s to reach the screen and a click
5 s; 50k over the density 3.9 s; 20k over it 1.7 s, the click 0.6 s."""
MAP_SAMPLE = 20_000
DENSITY_BINS = 160

# --- what a dimension means ------------------------------------------------------------


def dim_meanings(run: Run) -> dict[str, str]:
    """Latent name -> the name of the pattern it reads as (``"z3"`` -> ``"possession share
    & field tilt"``, ``"unconfirmed axis z7"``), for the run's distinct dimensions; empty
    when the run's interpretation cannot be read (a page then shows the bare names)."""
    try:
        return {p.dim: p.name for p in patterns_of(run)}
    except (TacticalError, OSError, ValueError, KeyError) as exc:
        logger.info("No pattern names for run %s: %s", run.run_id, exc)
        return {}


def with_meaning(label: str, name: str, meanings: Mapping[str, str]) -> str:
    """A dimension's ``label`` (``"z3"``, ``"z1 (redundant: copies z0)"``) with what it
    means when known: ``"z3: possession share & field tilt"``."""
    meaning = meanings.get(name)
    return f"{label}: {meaning}" if meaning and meaning != f"unconfirmed axis {name}" else label


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
        return ColorSpec(values=vals, title=latent_name(latent), colorscale=DIVERGING, midpoint=0.0)
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


def _text(meta: pl.DataFrame, column: str, fallback: pl.Expr) -> pl.Expr:
    """``column`` as text where the table has it and it is set, else ``fallback``."""
    if column not in meta.columns:
        return fallback
    return pl.col(column).cast(pl.String).fill_null(fallback)


def hover_text(meta: pl.DataFrame) -> npt.NDArray[np.str_]:
    """Each segment's hover on the map: team and minute, then match and score state
    (``"Italy · 34'<br>Turkey 0-3 Italy · leading by 1"``), computed in one pass."""
    unknown = pl.lit("?")
    team = _text(
        meta,
        "team_name",
        pl.format("Team {}", pl.col("team_id")) if "team_id" in meta.columns else unknown,
    ).fill_null(unknown)
    match = _text(
        meta,
        "match_label",
        pl.format("Match {}", pl.col("match_id")) if "match_id" in meta.columns else unknown,
    ).fill_null(unknown)
    if "match_minute" in meta.columns:
        minute_of = pl.col("match_minute")
    elif "start_time" in meta.columns:
        minute_of = pl.col("start_time") / 60.0
    else:
        minute_of = pl.lit(None, dtype=pl.Float64)
    minute = (minute_of.floor().cast(pl.Int64).cast(pl.String) + pl.lit("'")).fill_null("?'")
    if "score_state" in meta.columns:
        state = pl.col("score_state")
        goals = state.abs().cast(pl.String)
        score = (
            pl.when(state.is_null())
            .then(pl.lit("score unknown"))
            .when(state == 0)
            .then(pl.lit("level"))
            .when(state > 0)
            .then(pl.lit("leading by ") + goals)
            .otherwise(pl.lit("trailing by ") + goals)
        )
    else:
        score = pl.lit("score unknown")
    text = meta.select(
        pl.concat_str([team, pl.lit(" · "), minute, pl.lit("<br>"), match, pl.lit(" · "), score])
    ).to_series()
    return text.to_numpy().astype(str)


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
        text=hover_text(table.meta[ring_rows.tolist()]),
        mode="markers",
        name=name,
        marker={"size": size, "color": "rgba(0,0,0,0)", "line": {"width": width, "color": colour}},
        hovertemplate=f"<b>{point}</b><br>%{{text}}<extra></extra>",
    )


def drawn_rows(rows: npt.NDArray[np.integer]) -> npt.NDArray[np.int32]:
    """The rows drawn as points: all of them up to ``SCATTER_MAX``, else ``MAP_SAMPLE`` of
    them at random, the same ones for the same rows (a rerun redraws the same picture)."""
    if rows.size <= SCATTER_MAX:
        return rows.astype(np.int32)
    picked = np.random.default_rng(0).choice(rows, size=MAP_SAMPLE, replace=False)
    return np.sort(picked).astype(np.int32)


def density_trace(xy: npt.NDArray[np.floating], bins: int = DENSITY_BINS) -> go.Heatmap:
    """Grey shading of how many segments lie in each cell of a ``bins`` x ``bins`` grid
    (log scale, empty cells blank): every shown segment counts, whatever is drawn."""
    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins)
    with np.errstate(divide="ignore"):
        shade = np.where(counts > 0, np.log10(np.maximum(counts, 1)) + 1.0, np.nan)
    return go.Heatmap(
        x=(xe[:-1] + xe[1:]) / 2,
        y=(ye[:-1] + ye[1:]) / 2,
        z=shade.T,
        colorscale="Greys",
        showscale=False,
        opacity=0.55,
        hoverinfo="skip",
        name="density of all segments",
    )


def map_sample_note(shown: int) -> str | None:
    """The caption saying the map draws a sample, when it does."""
    if shown <= SCATTER_MAX:
        return None
    return (
        f"{shown:,} segments: the grey shading is the density of all of them; "
        f"{MAP_SAMPLE:,} of them, drawn at random, are the points you hover, click and "
        "select. Filter by match or team in the sidebar to draw every point of a subset."
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

    Only rows in ``mask`` are sent, and beyond ``SCATTER_MAX`` of them a density shading of
    all plus a random ``MAP_SAMPLE`` as points (:func:`drawn_rows`); every point carries its table row as ``customdata`` so
    a click or lasso maps back to segments, and its hover (:func:`hover_text`: team,
    minute, match, score) as ``text``. ``highlight`` rings the inspected segment and
    ``neighbours`` its nearest segments. Categories up to ``MAX_LEGEND_CATEGORIES`` (a
    World Cup's 32 teams) each get a legend entry and a colour of their own.
    """
    keep = np.ones(table.n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    keep &= np.isfinite(table.xy).all(axis=1)
    rows = np.flatnonzero(keep).astype(np.int32)
    fig = go.Figure()
    if rows.size > SCATTER_MAX:
        fig.add_trace(density_trace(table.xy[rows]))
        rows = drawn_rows(rows)
    xy = table.xy[rows]
    text = hover_text(table.meta[rows])
    size = marker_size or (3.0 if rows.size > 20_000 else 5.0 if rows.size > 2_000 else 7.0)
    many = color.categorical and len(color.categories or []) > MAX_LEGEND_CATEGORIES
    if color.categorical and not many:
        assert color.categories is not None
        codes = np.asarray(color.values)[rows]
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(color.categories) + 1))
        colours = category_colours(len(color.categories))
        for code, label in enumerate(color.categories):
            part = order[bounds[code] : bounds[code + 1]]
            if part.size == 0:
                continue
            fig.add_trace(
                go.Scattergl(
                    x=xy[part, 0],
                    y=xy[part, 1],
                    customdata=rows[part],
                    text=text[part],
                    mode="markers",
                    name=label,
                    marker={
                        "size": size,
                        "color": colours[code % len(colours)],
                        "opacity": 0.75,
                    },
                    hovertemplate=f"%{{text}}<br>{color.title}: {label}<extra></extra>",
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
            hover = "click to inspect"
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
            hover = f"{color.title}: %{{marker.color:.2f}}"
        fig.add_trace(
            go.Scattergl(
                x=xy[:, 0],
                y=xy[:, 1],
                customdata=rows,
                text=text,
                mode="markers",
                name=color.title,
                marker=marker,
                showlegend=False,
                hovertemplate=f"%{{text}}<br>{hover}<extra></extra>",
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
                size=22,
                width=4,
                colour="#d62728",
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
