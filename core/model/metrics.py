"""Per-epoch training metrics and ``metrics.jsonl``: one writer, two readers (typed records
for code, a table for pages), and no torch import, so pages read curves cheaply."""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from core.infra.io import append_line, to_json
from core.model.latents import kl_column

METRIC_COLUMNS = ("epoch", "total", "recon", "kl", "lr", "seconds")


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch did; one line of a run's ``metrics.jsonl``."""

    epoch: int  # 1-based epoch number
    total: float  # mean per-segment loss: recon + beta_used * kl
    recon: float  # mean per-segment squared reconstruction error (summed over features)
    kl: float  # mean per-segment KL divergence (summed over latent dims)
    kl_per_dim: list[float]  # mean per-segment KL of each latent dim (sums to kl)
    lr: float  # learning rate used during this epoch
    seconds: float  # wall time of the epoch
    beta: float = float("nan")  # beta used this epoch (differs from cfg.beta during warm-up)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochMetrics:
        """Inverse of :meth:`to_dict`."""
        return cls(
            epoch=int(data["epoch"]),
            total=float(data["total"]),
            recon=float(data["recon"]),
            kl=float(data["kl"]),
            kl_per_dim=[float(v) for v in data["kl_per_dim"]],
            lr=float(data["lr"]),
            seconds=float(data["seconds"]),
            beta=float("nan") if data.get("beta") is None else float(data["beta"]),
        )


class JsonlMetricsWriter:
    """Append each epoch's metrics as one JSON line (flushed, so readers see it at once).

    The one writer of ``metrics.jsonl``; :func:`read_metrics_jsonl` and
    :func:`metrics_table` are its readers.
    """

    def __init__(self, path: str | os.PathLike[str], *, truncate: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if truncate:
            self.path.write_text("")

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        append_line(self.path, to_json(metrics.to_dict(), indent=None))


def _complete_lines(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes up to its last newline: a line being appended is not read torn."""
    data = Path(path).read_bytes()
    return data[: data.rfind(b"\n") + 1]


def read_metrics_jsonl(path: str | os.PathLike[str]) -> list[EpochMetrics]:
    """The epochs :class:`JsonlMetricsWriter` wrote, as :class:`EpochMetrics`."""
    out: list[EpochMetrics] = []
    for line in _complete_lines(path).decode().splitlines():
        try:
            out.append(EpochMetrics.from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError):
            continue
    return out


def metrics_table(path: str | os.PathLike[str], latent_dim: int) -> pl.DataFrame:
    """The epochs :class:`JsonlMetricsWriter` wrote, as a table:
    ``epoch, total, recon, kl, lr, seconds, kl_z0..kl_z{k-1}`` (readable while training)."""
    data = _complete_lines(path)
    kl_cols = [kl_column(i) for i in range(latent_dim)]
    schema: dict[str, Any] = {
        "epoch": pl.Int64,
        **{c: pl.Float64 for c in METRIC_COLUMNS[1:]},
        **{c: pl.Float64 for c in kl_cols},
    }
    if not data.strip():
        return pl.DataFrame(schema=schema)
    raw = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    if "kl_per_dim" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, dtype=pl.List(pl.Float64)).alias("kl_per_dim"))
    kl = pl.col("kl_per_dim").cast(pl.List(pl.Float64))
    return raw.select(
        *[
            (pl.col(c) if c in raw.columns else pl.lit(None)).cast(schema[c]).alias(c)
            for c in METRIC_COLUMNS
        ],
        *[kl.list.get(i, null_on_oob=True).alias(c) for i, c in enumerate(kl_cols)],
    )
