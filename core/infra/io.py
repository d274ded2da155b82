"""Atomic file writes: readers see the old file or the whole new one, never half of either.

Every artifact in a run or dataset folder is written through these helpers: the bytes go
to a temporary file in the same folder, are flushed to disk, and ``os.replace`` swaps the
temporary file in (atomic on POSIX and Windows within one file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on clean exit it replaces ``path``.

    For writers that insist on a file name (``np.savez``, ``torch.save``, ``savefig``).
    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if tmp.exists():
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the final path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def to_json(obj: Any, *, indent: int | None = 2) -> str:
    """JSON text for ``obj``; numpy scalars/arrays and paths are converted, NaN becomes null."""
    return json.dumps(_nan_to_none(obj), indent=indent, default=_json_default, allow_nan=False)


def _nan_to_none(obj: Any) -> Any:
    # JSON has no NaN; readers in other languages choke on the non-standard token.
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, np.floating) and not np.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return [_nan_to_none(v) for v in obj.tolist()]
    return obj


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically (NaN/inf stored as null)."""
    return atomic_write_text(path, to_json(obj, indent=indent) + "\n")


def atomic_write_parquet(path: str | os.PathLike[str], df: pl.DataFrame) -> Path:
    """Write a polars frame to parquet atomically."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp)
    return Path(path)


def atomic_write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """Write arrays to an uncompressed ``.npz`` atomically (read with ``allow_pickle=False``)."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return Path(path)


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` and swap the result in atomically (e.g. ``torch.save``)."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line with a single unbuffered ``write`` (O_APPEND), so a reader sees every
    finished line at once and never half of one (a torn line can only be the last)."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


_FINGERPRINT_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (cached per path, size and mtime within this process)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    cached = _FINGERPRINT_CACHE.get(key)
    if cached:
        return cached
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    _FINGERPRINT_CACHE[key] = digest
    return digest
