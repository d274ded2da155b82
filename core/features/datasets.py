"""Feature datasets: one folder per dataset, the files in it, reading its features table
safely, and adding an uploaded table.

A dataset folder (``datasets_root()/<name>/`` or any extraction ``--out``) holds
``features.parquet``, ``matches.parquet``, ``events.parquet`` and ``summary.json``;
:class:`Dataset` is the one place those names are spelled.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import polars as pl

from core.data.schema import REQUIRED_METADATA_COLUMNS
from core.errors import DatasetImportError, FeaturesFileError, UnsafePathError
from core.features.registry import feature_tier
from core.infra.paths import datasets_root, display_path, resolve_under

logger = logging.getLogger(__name__)

# The one upload limit: the server's maxUploadSize (.streamlit/config.toml, in MB of 2**20
# bytes, checked by a test), the Data page and the errors all say this number.
MAX_UPLOAD_MB = 100
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
UPLOAD_CHUNK_BYTES = 1024 * 1024
# What an upload may decode to before it is read whole: a small file can hold billions of
# run-length encoded values (1.7 MB that decode to 3 GiB).
MAX_DECODED_BYTES = 1024 * 1024 * 1024
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DATASET_NAME_RULE = (
    "use letters, digits, '_', '-' or '.', starting with a letter or digit (at most 64 characters)"
)
FEATURES_FILE = "features.parquet"
MATCHES_FILE = "matches.parquet"
EVENTS_FILE = "events.parquet"
SUMMARY_FILE = "summary.json"


def check_dataset_name(name: str) -> str:
    """``name`` when it is a valid dataset name; ``DatasetImportError`` saying the rule if not."""
    if not DATASET_NAME_RE.match(name or ""):
        raise DatasetImportError(f"Dataset name {name!r} is not allowed: {DATASET_NAME_RULE}.")
    return name


@dataclass(frozen=True)
class Dataset:
    """A dataset folder and the paths of the files in it (whether or not they exist yet)."""

    path: Path

    @classmethod
    def named(cls, name: str) -> Dataset:
        """Dataset ``name`` under ``datasets_root()``; the name is checked, and the folder
        may not escape the root."""
        check_dataset_name(name)
        try:
            return cls(resolve_under(datasets_root(), name))
        except UnsafePathError as exc:
            raise DatasetImportError(str(exc)) from exc

    @classmethod
    def of_features(cls, features_path: str | os.PathLike[str]) -> Dataset:
        """The dataset a features file belongs to (its folder)."""
        return cls(Path(features_path).parent)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def features_path(self) -> Path:
        return self.path / FEATURES_FILE

    @property
    def matches_path(self) -> Path:
        return self.path / MATCHES_FILE

    @property
    def events_path(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    def exists(self) -> bool:
        """True when the folder holds a features table."""
        return self.features_path.is_file()

    def matches(self) -> pl.DataFrame | None:
        """The matches table, None when the dataset has none (an uploaded table)."""
        return pl.read_parquet(self.matches_path) if self.matches_path.is_file() else None

    def events(self) -> pl.DataFrame | None:
        """The compact events table, None when the dataset has none."""
        return pl.read_parquet(self.events_path) if self.events_path.is_file() else None

    def scan_events(self) -> pl.LazyFrame | None:
        """The events table as a lazy scan, None when the dataset has none: a query reads
        only the columns and row groups it needs (a season's events are millions of rows)."""
        return pl.scan_parquet(self.events_path) if self.events_path.is_file() else None


def list_datasets() -> list[Dataset]:
    """Every dataset under ``datasets_root()`` that holds a features table, newest first."""
    root = datasets_root()
    if not root.is_dir():
        return []
    found = [
        Dataset(p)
        for p in root.iterdir()
        if p.is_dir() and Dataset(p).exists() and _inside(root, p.name, FEATURES_FILE)
    ]
    return sorted(found, key=lambda d: d.features_path.stat().st_mtime, reverse=True)


def _inside(root: Path, *parts: str) -> bool:
    """True when ``root/parts...`` resolves inside ``root``: a dataset folder or features
    file that is a symlink leading out of the data root is listed nowhere."""
    try:
        resolve_under(root, Path(*parts))
    except UnsafePathError:
        return False
    return True


def load_features(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read and check a features table: metadata columns present, some ``t<digit>_`` columns."""
    p = Path(path)
    shown = display_path(p)
    if not p.is_file():
        raise FeaturesFileError(
            f"Features file {shown} does not exist; extract it again (`python -m core features`)."
        )
    try:
        df = pl.read_parquet(p)
    except Exception as exc:  # polars raises several error types for a non-parquet file
        raise FeaturesFileError(
            f"{shown} is not a readable parquet features file ({type(exc).__name__}: {exc})."
        ) from exc
    missing = [c for c in REQUIRED_METADATA_COLUMNS if c not in df.columns]
    if missing:
        raise FeaturesFileError(
            f"{shown} lacks the metadata column(s) {missing}; a features file needs "
            f"{list(REQUIRED_METADATA_COLUMNS)} plus t<tier>_<name> feature columns. Produce it with "
            "`python -m core features`."
        )
    if not any(feature_tier(c) is not None for c in df.columns):
        raise FeaturesFileError(
            f"{shown} has no feature columns (names like t1_passes, t2_ppda); found only "
            f"{df.columns[:12]}. Produce it with `python -m core features`."
        )
    if "segment_id" not in df.columns:
        df = df.with_columns(
            pl.format(
                "{}-{}-{}-{}-{}",
                "match_id",
                "team_id",
                "segment_type",
                "period",
                pl.col("start_time").round(1),
            ).alias("segment_id")
        )
    if df["segment_id"].is_duplicated().any():
        raise FeaturesFileError(
            f"{shown} has duplicate segment_id values; each segment needs a unique id."
        )
    return df


@dataclass(frozen=True)
class ImportedDataset:
    name: str
    path: Path  # the dataset folder
    segments: int
    features: int


def import_features(
    data: bytes, name: str, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> ImportedDataset:
    """:func:`import_features_stream` over bytes already in memory."""
    return import_features_stream(io.BytesIO(data), name, max_bytes=max_bytes)


def _size(n: int) -> str:
    """Bytes in the units the limit is set in (MB of 2**20 bytes; KB below one MB)."""
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def _too_big(size: int, max_bytes: int) -> DatasetImportError:
    return DatasetImportError(
        f"The file is larger than the upload limit of {_size(max_bytes)} (stopped reading at "
        f"{_size(size)}). Extract large datasets with `python -m core features` instead."
    )


def import_features_stream(
    stream: BinaryIO, name: str, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> ImportedDataset:
    """Validate an uploaded features table read from ``stream`` and store it as ``name``.

    The name is checked first (no path tricks, no existing dataset: runs refer to a
    dataset's features file, so it is never overwritten). The upload is copied in chunks
    of ``UPLOAD_CHUNK_BYTES`` to a temporary file inside the datasets root, with the size
    checked while copying (never read whole into memory); only a table that passes the
    schema check is moved into place, atomically. Nothing is left behind on refusal.
    """
    dataset = Dataset.named(name)
    root = datasets_root()
    folder = dataset.path
    if folder.exists():
        raise DatasetImportError(
            f"A dataset named {name!r} already exists and runs may use it; choose another name."
        )
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".parquet", dir=root)
    tmp = Path(tmp_name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as fh:
            while chunk := stream.read(UPLOAD_CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise _too_big(size, max_bytes)
                fh.write(chunk)
        if size == 0:
            raise DatasetImportError("The uploaded file is empty; choose a features .parquet file.")
        try:
            check_decoded_size(tmp)
            frame = load_features(tmp)
        except FeaturesFileError as exc:
            raise DatasetImportError(
                f"Not a features table we can use: {str(exc).replace(display_path(tmp), 'the upload')} "
                "Export it with `python -m core features`, or add the missing columns."
            ) from exc
        folder.mkdir(parents=True)
        tmp.replace(dataset.features_path)
    finally:
        tmp.unlink(missing_ok=True)
    n_features = sum(1 for c in frame.columns if feature_tier(c) is not None)
    logger.info("Imported dataset %s: %d segments, %d features", name, frame.height, n_features)
    return ImportedDataset(name=name, path=folder, segments=frame.height, features=n_features)


def decoded_size(path: Path) -> tuple[int, int]:
    """``(rows, bytes)`` a parquet file decodes to, from its footer alone: at least 8
    bytes per value, or the pages' own uncompressed size when larger."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise FeaturesFileError(
            f"{display_path(path)} is not a readable parquet features file ({exc})."
        ) from exc
    pages = sum(
        meta.row_group(i).column(j).total_uncompressed_size
        for i in range(meta.num_row_groups)
        for j in range(meta.num_columns)
    )
    return meta.num_rows, max(pages, meta.num_rows * meta.num_columns * 8)


def check_decoded_size(path: Path, max_bytes: int = MAX_DECODED_BYTES) -> None:
    """Refuse a parquet file that decodes to more than ``max_bytes`` before reading it."""
    rows, size = decoded_size(path)
    if size > max_bytes:
        raise FeaturesFileError(
            f"{display_path(path)} decodes to about {size / 2**30:.1f} GiB ({rows:,} rows), "
            f"more than the {max_bytes / 2**30:.0f} GiB a features table may take here."
        )


def count_segments(features: Path, segment_type: str) -> int:
    """Segments of ``segment_type`` (``window``/``possession``) in a features file (read
    lazily, one column); ``FeaturesFileError`` for a file that is empty, not parquet or
    has no ``segment_type`` column."""
    shown = display_path(features)
    if features.is_file() and features.stat().st_size == 0:
        raise FeaturesFileError(f"{shown} is empty; extract it again (`python -m core features`).")
    try:
        if "segment_type" not in pl.read_parquet_schema(features):
            raise FeaturesFileError(
                f"{shown} has no segment_type column; a features file needs "
                f"{list(REQUIRED_METADATA_COLUMNS)}. Produce it with `python -m core features`."
            )
        return int(
            pl.scan_parquet(features)
            .filter(pl.col("segment_type") == segment_type)
            .select(pl.len())
            .collect()
            .item()
        )
    except FeaturesFileError:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise FeaturesFileError(
            f"{shown} is not a readable parquet features file ({type(exc).__name__}: {exc})."
        ) from exc
