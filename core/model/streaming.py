"""Where the training loop's rows come from: resident on the device, or streamed from parquet.

A model matrix that fits (:func:`resident_limit_bytes`) is moved to the device once and the
loop indexes it, as it always has (:class:`ResidentRows`, one chunk: the whole matrix).
Beyond that, the matrix is written once to a parquet file of fixed-size row groups
(:func:`write_matrix`) and every epoch reads it back as chunks of a few row groups, in a
seeded order that changes each epoch (:class:`StreamedRows`): the device, and each process
of data-parallel training, then holds one chunk, never the matrix. Within a chunk the loop
shuffles rows as it does over a resident matrix, each ensemble member with its own seed.

The limit is ``TACTICAL_TRAIN_RESIDENT_MB`` when set, else half the free memory of a GPU, or
:data:`CPU_RESIDENT_MB` on a CPU, whose matrix is already in this process's memory and is
shared with torch without a copy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from core.errors import TrainingError
from core.infra.io import atomic_path
from core.model.checks import check_trainable, validate_matrix
from core.model.config import VAEConfig

logger = logging.getLogger(__name__)

RESIDENT_ENV = "TACTICAL_TRAIN_RESIDENT_MB"
CPU_RESIDENT_MB = 4096  # 10M segments of 100 inputs; a five-league season is about 100 MB
GROUP_ROWS = 65_536  # rows per parquet row group (128 batches of 512)
CHUNK_GROUPS = 4  # row groups read per chunk: about 13 MB of a 49-input matrix


class TrainingRows(Protocol):
    """The rows of one training run, served as device tensors, a chunk at a time."""

    @property
    def n_rows(self) -> int: ...

    @property
    def n_cols(self) -> int: ...

    def chunks(self) -> Iterator[torch.Tensor]:
        """One epoch's chunks (float32, on the training device); together every row once."""
        ...


@dataclass
class ResidentRows:
    """The whole matrix on the device: an epoch is one chunk."""

    X_t: torch.Tensor

    @property
    def n_rows(self) -> int:
        return int(self.X_t.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.X_t.shape[1])

    def chunks(self) -> Iterator[torch.Tensor]:
        yield self.X_t


@dataclass(frozen=True)
class MatrixFile:
    """A model matrix written by :func:`write_matrix`, to train from without loading it."""

    path: Path

    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` from the file's footer; a clear error if it is not a matrix."""
        try:
            meta = pq.ParquetFile(self.path).metadata
        except (OSError, pa.ArrowException) as exc:
            raise TrainingError(
                f"Cannot read the model matrix {self.path.name}: {exc}. Retrain the run."
            ) from exc
        return int(meta.num_rows), int(meta.num_columns)


def write_matrix(
    path: str | os.PathLike[str], X: npt.NDArray[np.floating], group_rows: int = GROUP_ROWS
) -> MatrixFile:
    """Write ``X`` (rows x inputs, finite) as float32 columns ``x0..`` in row groups of
    ``group_rows``, atomically; one row group in memory at a time beyond ``X`` itself."""
    if X.ndim != 2 or X.shape[1] < 1:
        raise TrainingError(f"The model matrix must be 2-D with columns, got shape {X.shape}.")
    names = [f"x{j}" for j in range(X.shape[1])]
    schema = pa.schema([(name, pa.float32()) for name in names])
    target = Path(path)
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="none") as w:
        for start in range(0, X.shape[0], group_rows):
            block = np.asarray(X[start : start + group_rows], dtype=np.float32)
            w.write_table(pa.Table.from_arrays(list(block.T), schema=schema))
    return MatrixFile(target)


class StreamedRows:
    """A :class:`MatrixFile`'s rows, read ``chunk_groups`` row groups at a time.

    Each call of :meth:`chunks` is one epoch: the row groups in an order drawn from
    ``(seed, epoch)``, so two runs with the same seed read the same chunks, and each epoch
    mixes the groups differently. At most :attr:`max_chunk_rows` rows are in memory.
    """

    def __init__(
        self,
        matrix: MatrixFile,
        device: torch.device,
        seed: int,
        chunk_groups: int = CHUNK_GROUPS,
    ) -> None:
        self._file = pq.ParquetFile(matrix.path)
        meta = self._file.metadata
        self.n_rows = int(meta.num_rows)
        self.n_cols = int(meta.num_columns)
        self.n_groups = int(meta.num_row_groups)
        self.device = device
        self.seed = int(seed)
        self.chunk_groups = max(1, int(chunk_groups))
        sizes = sorted((meta.row_group(i).num_rows for i in range(self.n_groups)), reverse=True)
        self.max_chunk_rows = int(sum(sizes[: self.chunk_groups]))  # whichever groups it takes
        self.epoch = 0

    def chunks(self) -> Iterator[torch.Tensor]:
        self.epoch += 1
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n_groups)
        for start in range(0, self.n_groups, self.chunk_groups):
            groups = sorted(int(g) for g in order[start : start + self.chunk_groups])
            yield torch.from_numpy(_block(self._file.read_row_groups(groups))).to(self.device)


def _block(table: pa.Table) -> npt.NDArray[np.float32]:
    """Row groups of a matrix file as one (rows x inputs) float32 array."""
    return np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32, copy=False)


def read_matrix(matrix: MatrixFile) -> npt.NDArray[np.float32]:
    """The whole matrix in one array, filled a row group at a time (no second copy)."""
    f = pq.ParquetFile(matrix.path)
    out = np.empty((f.metadata.num_rows, f.metadata.num_columns), dtype=np.float32)
    start = 0
    for g in range(f.num_row_groups):
        block = _block(f.read_row_group(g))
        out[start : start + len(block)] = block
        start += len(block)
    return out


def resident_limit_bytes(device: torch.device) -> int:
    """Largest model matrix trained resident on ``device``; beyond it training streams."""
    if (env := os.environ.get(RESIDENT_ENV)) is not None:
        try:
            return int(float(env) * 2**20)
        except ValueError as exc:
            raise TrainingError(
                f"{RESIDENT_ENV}={env!r} is not a number of megabytes; unset it or give one."
            ) from exc
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free // 2)
    return CPU_RESIDENT_MB * 2**20


def streams(n_bytes: int, device: torch.device) -> bool:
    """Whether a matrix of ``n_bytes`` trains streamed from parquet on ``device``."""
    return n_bytes > resident_limit_bytes(device)


def training_rows(X: npt.ArrayLike | MatrixFile, cfg: VAEConfig, dev: torch.device) -> TrainingRows:
    """The rows a trainer runs over: ``X`` checked and moved to ``dev`` (no copy on a
    CPU), or a :class:`MatrixFile` streamed in chunks (its shape checked from the footer;
    :func:`write_matrix` was given a checked matrix)."""
    if isinstance(X, MatrixFile):
        check_trainable(*X.shape(), cfg)
        return StreamedRows(X, dev, seed=cfg.random_state)
    return ResidentRows(torch.from_numpy(validate_matrix(X, cfg)).to(dev))


def describe_rows(rows: TrainingRows) -> str:
    """How the rows reach the device, in words for the log and the run's diagnostics."""
    if isinstance(rows, StreamedRows):
        return (
            f"streamed from parquet, {rows.n_groups} row groups, at most "
            f"{rows.max_chunk_rows:,} rows on the device at a time"
        )
    return "resident on the device"
