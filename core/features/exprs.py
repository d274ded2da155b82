"""Polars shorthands shared by the feature modules: the columns every definition reads, and
counting a condition over a segment's rows."""

from __future__ import annotations

from typing import Final

import polars as pl

TYPE = pl.col("type")  # the neutral event type
OWN = pl.col("own")  # the row is the segment's team's own action
OPP = ~pl.col("own")  # the row is the opponent's action
X = pl.col("x")  # pitch x in the acting team's attacking direction

ON_BALL: Final = ("pass", "carry", "dribble", "shot")


def count_if(cond: pl.Expr) -> pl.Expr:
    """Count of rows where ``cond`` holds (nulls count as false)."""
    return cond.fill_null(False).sum().cast(pl.Float64)
