"""Training curves as plotly figures: loss per epoch for one or several runs, and KL per
latent dimension (a flat line near 0 is a collapsed dimension)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from core.model.latents import LATENT_PATTERN
from core.views.palettes import QUALITATIVE


def loss_figure(curves: dict[str, pl.DataFrame], *, height: int = 320) -> go.Figure:
    """Total, reconstruction and KL loss per epoch, one line per run in ``curves``."""
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("Total loss", "Reconstruction", "KL divergence")
    )
    for i, (label, metrics) in enumerate(curves.items()):
        color = QUALITATIVE[i % len(QUALITATIVE)]
        for col, name in enumerate(("total", "recon", "kl"), start=1):
            fig.add_trace(
                go.Scatter(
                    x=metrics["epoch"].to_list(),
                    y=metrics[name].to_list(),
                    mode="lines+markers" if metrics.height < 60 else "lines",
                    marker={"size": 4},
                    line={"color": color, "width": 1.8},
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1 and len(curves) > 1,
                    hovertemplate=f"{label}<br>epoch %{{x}}<br>{name} %{{y:.4g}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def kl_per_dim_figure(metrics: pl.DataFrame, *, height: int = 300) -> go.Figure:
    """KL divergence of each latent dimension per epoch (a flat line near 0 = collapsed)."""
    fig = go.Figure()
    kl_cols = [c for c in metrics.columns if LATENT_PATTERN.match(c.removeprefix("kl_"))]
    for i, col in enumerate(kl_cols):
        fig.add_trace(
            go.Scatter(
                x=metrics["epoch"].to_list(),
                y=metrics[col].to_list(),
                mode="lines",
                name=col.removeprefix("kl_"),
                line={"color": QUALITATIVE[i % len(QUALITATIVE)], "width": 1.5},
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": "KL per latent dimension (nats)"},
        xaxis={"title": {"text": "epoch"}},
    )
    return fig
