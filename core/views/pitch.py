"""Interactive plotly drawing of a segment's events on a StatsBomb pitch (120 x 80 yards).

Events arrive in the acting team's attacking direction (``core.data.schema``), so every
drawing reads left to right towards the opponent goal. The y axis is reversed to match
StatsBomb's convention (y = 0 is the top touchline). Lines are drawn as one trace per
event kind (``None``-separated segments), so a segment with hundreds of events is still
a handful of traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import polars as pl

from core.data.schema import PITCH_LENGTH, PITCH_WIDTH

PITCH_LINE = "#9aa9a0"
PITCH_GRASS = "#f4f8f5"


@dataclass(frozen=True)
class EventStyle:
    """How one kind of event is drawn."""

    label: str  # legend name
    color: str
    dash: str  # plotly line dash ("solid", "dot", "dash"); unused for point events
    symbol: str  # marker symbol at the event's end (lines) or location (points)


# One colour per kind, shared with the rest of the dashboard's palette.
EVENT_STYLES: dict[str, EventStyle] = {
    "pass_complete": EventStyle("Pass (completed)", "#1f6f50", "solid", "triangle-up"),
    "pass_incomplete": EventStyle("Pass (not completed)", "#c0504d", "solid", "triangle-up"),
    "carry": EventStyle("Carry", "#4c72b0", "dot", "circle"),
    "shot": EventStyle("Shot", "#dd8452", "solid", "star"),
    "goal": EventStyle("Goal", "#8e44ad", "solid", "star"),
    "pressure": EventStyle("Pressure", "#2b2b2b", "solid", "x-thin-open"),
}
DRAWN_TYPES: tuple[str, ...] = ("pass", "carry", "shot", "pressure")
_COMPLETE_PASS = ("complete", "completed", "success", "successful")


def _pitch_shapes() -> list[dict[str, object]]:
    """Lines of a StatsBomb pitch as plotly layout shapes."""
    line = {"color": PITCH_LINE, "width": 1.5}

    def rect(x0: float, y0: float, x1: float, y1: float) -> dict[str, object]:
        return {
            "type": "rect",
            "x0": x0,
            "y0": y0,
            "x1": x1,
            "y1": y1,
            "line": line,
            "layer": "below",
        }

    def circle(cx: float, cy: float, r: float) -> dict[str, object]:
        return {
            "type": "circle",
            "x0": cx - r,
            "y0": cy - r,
            "x1": cx + r,
            "y1": cy + r,
            "line": line,
            "layer": "below",
        }

    half = PITCH_LENGTH / 2
    mid_y = PITCH_WIDTH / 2
    shapes = [
        {**rect(0, 0, PITCH_LENGTH, PITCH_WIDTH), "fillcolor": PITCH_GRASS},
        {
            "type": "line",
            "x0": half,
            "y0": 0,
            "x1": half,
            "y1": PITCH_WIDTH,
            "line": line,
            "layer": "below",
        },
        circle(half, mid_y, 10),
        rect(0, 18, 18, 62),  # penalty areas
        rect(PITCH_LENGTH - 18, 18, PITCH_LENGTH, 62),
        rect(0, 30, 6, 50),  # six-yard boxes
        rect(PITCH_LENGTH - 6, 30, PITCH_LENGTH, 50),
        rect(-2, 36, 0, 44),  # goals
        rect(PITCH_LENGTH, 36, PITCH_LENGTH + 2, 44),
        circle(12, mid_y, 0.4),  # penalty spots
        circle(PITCH_LENGTH - 12, mid_y, 0.4),
        circle(half, mid_y, 0.4),
    ]
    return shapes


def pitch_figure(title: str | None = None, height: int = 460) -> go.Figure:
    """An empty pitch, attacking left to right, with equal x/y scale."""
    fig = go.Figure()
    fig.update_layout(
        shapes=_pitch_shapes(),
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        title={"text": title} if title else None,
        plot_bgcolor="white",
        legend={"orientation": "h", "yanchor": "top", "y": -0.02, "x": 0},
        xaxis={"range": [-4, PITCH_LENGTH + 4], "visible": False, "fixedrange": True},
        yaxis={
            "range": [PITCH_WIDTH + 4, -4],  # reversed: StatsBomb's y = 0 is the top line
            "visible": False,
            "scaleanchor": "x",
            "scaleratio": 1,
            "fixedrange": True,
        },
    )
    fig.add_annotation(
        x=PITCH_LENGTH - 1,
        y=PITCH_WIDTH + 2.5,
        text="attacking direction →",
        showarrow=False,
        font={"size": 11, "color": PITCH_LINE},
        xanchor="right",
    )
    return fig


def event_kind(types: pl.Series, outcomes: pl.Series) -> pl.Series:
    """Drawing kind per event (a key of ``EVENT_STYLES``), null for events that are not drawn."""
    frame = pl.DataFrame({"type": types.str.to_lowercase(), "outcome": outcomes.cast(pl.String)})
    outcome = pl.col("outcome").fill_null("").str.to_lowercase()
    return frame.select(
        pl.when(pl.col("type") == "pass")
        .then(
            pl.when(outcome.is_in(_COMPLETE_PASS) | (outcome == ""))
            .then(pl.lit("pass_complete"))
            .otherwise(pl.lit("pass_incomplete"))
        )
        .when(pl.col("type") == "shot")
        .then(pl.when(outcome == "goal").then(pl.lit("goal")).otherwise(pl.lit("shot")))
        .when(pl.col("type").is_in(["carry", "pressure"]))
        .then(pl.col("type"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("kind")
    ).to_series()


def _segments_xy(
    x0: npt.NDArray[np.float64],
    y0: npt.NDArray[np.float64],
    x1: npt.NDArray[np.float64],
    y1: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Interleave start, end and a NaN gap so many line segments form one trace."""
    gap = np.full_like(x0, np.nan)
    return np.column_stack([x0, x1, gap]).ravel(), np.column_stack([y0, y1, gap]).ravel()


def marker_angles(dx: npt.ArrayLike, dy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Plotly marker angles (degrees clockwise from up) pointing along (dx, dy) on the drawn pitch.

    The y axis is reversed, so a positive data ``dy`` points down the screen.
    """
    angles: npt.NDArray[np.float64] = np.degrees(
        np.arctan2(np.asarray(dx, dtype=float), -np.asarray(dy, dtype=float))
    )
    return angles


def _hover(events: pl.DataFrame) -> list[str]:
    minutes = (events["time_s"].fill_null(0) // 60).cast(pl.Int64)
    seconds = (events["time_s"].fill_null(0) % 60).cast(pl.Int64)
    frame = pl.DataFrame(
        {
            "who": events["player_name"].cast(pl.String).fill_null("unknown player"),
            "what": events["type"].cast(pl.String).str.replace_all("_", " "),
            "outcome": events["outcome"].cast(pl.String).fill_null(""),
            "t": minutes.cast(pl.String) + ":" + seconds.cast(pl.String).str.zfill(2),
        }
    )
    return (
        frame.select(pl.format("{} · {} {} · {} into the period", "who", "what", "outcome", "t"))
        .to_series()
        .to_list()
    )


def draw_events(
    fig: go.Figure, events: pl.DataFrame, *, kinds: Sequence[str] | None = None
) -> go.Figure:
    """Add passes, carries and shots (lines with an end marker) and pressures (points) to ``fig``.

    ``events`` has the ``events.parquet`` columns (``type``, ``outcome``, ``x``, ``y``,
    ``end_x``, ``end_y``, ``time_s``, ``player_name``). Events without a location are skipped;
    a line event without an end is drawn as a point.
    """
    if events.is_empty():
        return fig
    kind = event_kind(events["type"], events["outcome"])
    frame = events.with_columns(kind.alias("_kind")).filter(
        pl.col("_kind").is_not_null() & pl.col("x").is_not_null() & pl.col("y").is_not_null()
    )
    wanted = list(kinds) if kinds is not None else list(EVENT_STYLES)
    for name in wanted:
        part = frame.filter(pl.col("_kind") == name)
        if part.is_empty():
            continue
        style = EVENT_STYLES[name]
        hover = _hover(part)
        x = part["x"].to_numpy().astype(float)
        y = part["y"].to_numpy().astype(float)
        end_x = part["end_x"].fill_null(float("nan")).to_numpy().astype(float)
        end_y = part["end_y"].fill_null(float("nan")).to_numpy().astype(float)
        has_end = np.isfinite(end_x) & np.isfinite(end_y)
        if name != "pressure" and has_end.any():
            lx, ly = _segments_xy(x[has_end], y[has_end], end_x[has_end], end_y[has_end])
            fig.add_trace(
                go.Scatter(
                    x=lx,
                    y=ly,
                    mode="lines",
                    name=style.label,
                    legendgroup=name,
                    line={"color": style.color, "width": 1.6, "dash": style.dash},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
        # The marker sits at the end of a line event (pointing along it), else at the event.
        mx = np.where(has_end, end_x, x) if name != "pressure" else x
        my = np.where(has_end, end_y, y) if name != "pressure" else y
        angle = (
            marker_angles(np.where(has_end, end_x - x, 0.0), np.where(has_end, end_y - y, 0.0))
            if style.symbol.startswith("triangle")
            else np.zeros_like(x)
        )
        fig.add_trace(
            go.Scatter(
                x=mx,
                y=my,
                mode="markers",
                name=style.label,
                legendgroup=name,
                marker={
                    "color": style.color,
                    "symbol": style.symbol,
                    "angle": angle,
                    "size": 12 if name in ("shot", "goal") else 8,
                    "line": {"width": 1.5, "color": style.color},
                },
                text=hover,
                hovertemplate="%{text}<extra></extra>",
            )
        )
    return fig


def segment_pitch_figure(
    events: pl.DataFrame, title: str | None = None, height: int = 460
) -> go.Figure:
    """A pitch with one segment's events drawn on it (the segment inspector's drawing)."""
    fig = pitch_figure(title=title, height=height)
    return draw_events(fig, events)
