"""Per-epoch training metrics and ``metrics.jsonl``: one writer, two readers (typed records
for code, a table for pages), and no torch import, so pages read curves cheaply."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from core.infra.io import append_line, to_json
from core.model.latents import kl_column

logger = logging.getLogger(__name__)

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


@runtime_checkable
class Callback(Protocol):
    """Receives each epoch's metrics as soon as the epoch ends.

    A callback may also define ``on_train_start(module, n_rows, n_features)``; it is called
    once before the first epoch when present.
    """

    def on_epoch_end(self, metrics: EpochMetrics) -> None: ...


class FunctionCallback:
    """Adapt a plain function ``fn(metrics)`` to the :class:`Callback` protocol."""

    def __init__(self, fn: Callable[[EpochMetrics], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self.fn(metrics)


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


def _records(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[int]]:
    """The complete lines of ``metrics.jsonl`` that hold an epoch record, and the 1-based
    numbers of those that do not (corrupt, torn by a disk fault, edited by hand)."""
    good: list[dict[str, Any]] = []
    bad: list[int] = []
    for n, line in enumerate(_complete_lines(path).decode(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            EpochMetrics.from_dict(record)  # every field present and numeric
        except (ValueError, KeyError, TypeError):
            bad.append(n)
            continue
        good.append(record)
    return good, bad


def read_metrics_jsonl(path: str | os.PathLike[str]) -> list[EpochMetrics]:
    """The epochs :class:`JsonlMetricsWriter` wrote, as :class:`EpochMetrics` (corrupt
    lines skipped; :func:`corrupt_lines` says which)."""
    return [EpochMetrics.from_dict(r) for r in _records(path)[0]]


def corrupt_lines(path: str | os.PathLike[str]) -> list[int]:
    """1-based numbers of the lines of ``metrics.jsonl`` that are not an epoch record."""
    return _records(path)[1]


def metrics_table(path: str | os.PathLike[str], latent_dim: int) -> pl.DataFrame:
    """The epochs :class:`JsonlMetricsWriter` wrote, as a table:
    ``epoch, total, recon, kl, lr, seconds, kl_z0..kl_z{k-1}`` (readable while training).

    Read line by line: a corrupt line is skipped (and logged), never a failed read.
    """
    records, bad = _records(path)
    if bad:
        logger.warning("%s: skipped %d corrupt line(s): %s", path, len(bad), bad[:10])
    kl_cols = [kl_column(i) for i in range(latent_dim)]
    schema: dict[str, Any] = {
        "epoch": pl.Int64,
        **{c: pl.Float64 for c in METRIC_COLUMNS[1:]},
        **{c: pl.Float64 for c in kl_cols},
    }
    rows = []
    for r in records:
        kl = r.get("kl_per_dim") or []
        row: dict[str, Any] = {c: r.get(c) for c in METRIC_COLUMNS}
        for i, c in enumerate(kl_cols):
            row[c] = float(kl[i]) if i < len(kl) and kl[i] is not None else None
        rows.append(row)
    return pl.DataFrame(rows, schema=schema, strict=False)
