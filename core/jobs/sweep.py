"""Choosing beta and latent_dim with evidence: a grid of ordinary runs, compared.

A sweep trains the recommended preset (:mod:`core.model.presets`) once per cell of a
``beta x latent_dim`` grid, on one features file with one preprocessing. Every cell is a
normal run started through :func:`core.jobs.api.start_training`, so it is a background
job, content-addressed (the same configuration is the same run id) and shared: a cell
trained before, by a sweep, the Train page or the command line, is reused, not retrained.

The sweep itself is only its definition, ``<runs_root>/sweeps/<sweep_id>.json`` (features
file, grid, base configuration, preprocessing, the run id of every cell), written
atomically; the sweep id is a hash of the features content, the grid and the configs, so
asking for the same sweep twice finds the same file. What the cells learned, and the
cell to pick, are :mod:`core.jobs.sweep_results`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import (
    ConfigError,
    SweepNotFoundError,
)
from core.features.datasets import count_segments
from core.infra.io import atomic_write_json, file_sha256, read_json
from core.infra.paths import runs_root
from core.infra.process import utc_now
from core.jobs.api import start_training
from core.model.config import PreprocessConfig, VAEConfig, device_slots
from core.model.presets import DEFAULT_PRESET, batch_size_for, preset
from core.runs.config import run_id_for
from core.runs.side import mark_side_run

logger = logging.getLogger(__name__)

SWEEPS_DIR = "sweeps"
SWEEP_ID_RE = re.compile(r"^[0-9a-f]{12}$")
SWEEP_FORMAT_VERSION = 1

DEFAULT_BETAS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_LATENT_DIMS: tuple[int, ...] = (4, 8, 10, 12)
MAX_CELLS = 64
"""A grid larger than this is refused: each cell is a full training job."""

"""Reconstruction errors within this fraction of the best are treated as equal: a
smaller model that is this close is preferred (differences this small are seed noise)."""

"""Columns of :func:`sweep_table`, in order."""


# --- the sweep definition ------------------------------------------------------------------


@dataclass(frozen=True)
class SweepCell:
    """One grid cell and the run that trains it."""

    beta: float
    latent_dim: int
    run_id: str


@dataclass(frozen=True)
class Sweep:
    """A sweep's definition: what was asked for and which run answers each cell."""

    sweep_id: str
    features_path: Path
    features_sha256: str
    betas: tuple[float, ...]
    latent_dims: tuple[int, ...]
    base: VAEConfig  # every cell is this config with its own beta and latent_dim
    prep: PreprocessConfig
    cells: tuple[SweepCell, ...]
    created_at: str = ""
    dataset: str = ""  # name of the folder holding the features file

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def run_ids(self) -> list[str]:
        return [c.run_id for c in self.cells]

    @property
    def path(self) -> Path:
        """Where the definition is stored."""
        return sweep_path(self.sweep_id)

    def cell_config(self, beta: float, latent_dim: int) -> VAEConfig:
        """The VAE config of cell ``(beta, latent_dim)``."""
        return dataclasses.replace(self.base, beta=float(beta), latent_dim=int(latent_dim))

    def label(self) -> str:
        """``"a1b2c3d4e5f6 · demo · 5 betas x 3 sizes · 2026-11-26 08:40"`` for pickers."""
        when = self.created_at.replace("T", " ")[:16]
        return (
            f"{self.sweep_id} · {self.dataset or 'features'} · {len(self.betas)} beta(s) x "
            f"{len(self.latent_dims)} size(s) · {when}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": SWEEP_FORMAT_VERSION,
            "sweep_id": self.sweep_id,
            "created_at": self.created_at,
            "dataset": self.dataset,
            "features_path": str(self.features_path),
            "features_sha256": self.features_sha256,
            "betas": list(self.betas),
            "latent_dims": list(self.latent_dims),
            "base": self.base.to_dict(),
            "preprocess": self.prep.to_dict(),
            "cells": [dataclasses.asdict(c) for c in self.cells],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sweep:
        return cls(
            sweep_id=str(data["sweep_id"]),
            features_path=Path(data["features_path"]),
            features_sha256=str(data["features_sha256"]),
            betas=tuple(float(b) for b in data["betas"]),
            latent_dims=tuple(int(k) for k in data["latent_dims"]),
            base=VAEConfig.from_dict(data["base"]),
            prep=PreprocessConfig.from_dict(data["preprocess"]),
            cells=tuple(
                SweepCell(float(c["beta"]), int(c["latent_dim"]), str(c["run_id"]))
                for c in data["cells"]
            ),
            created_at=str(data.get("created_at", "")),
            dataset=str(data.get("dataset", "")),
        )


def sweeps_dir() -> Path:
    """``<runs_root>/sweeps`` (created on demand)."""
    path = runs_root() / SWEEPS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def sweep_path(sweep_id: str) -> Path:
    """File of ``sweep_id``; refuses anything that is not a sweep id."""
    if not isinstance(sweep_id, str) or not SWEEP_ID_RE.match(sweep_id):
        raise SweepNotFoundError(
            f"{sweep_id!r} is not a sweep id: sweep ids are 12 lowercase hex characters. "
            "Pick one from the list of sweeps."
        )
    return sweeps_dir() / f"{sweep_id}.json"


def check_grid(
    betas: Iterable[float], latent_dims: Iterable[int]
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The grid sorted and without duplicates; ``ConfigError`` for an empty or bad one."""
    try:
        b = tuple(sorted({float(x) for x in betas}))
        k = tuple(sorted({int(x) for x in latent_dims}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"betas must be numbers and latent_dims whole numbers ({exc}).") from None
    if not b or not k:
        raise ConfigError("Pick at least one beta and one latent size for the sweep.")
    if any(not math.isfinite(x) or x < 0 for x in b):
        raise ConfigError(f"every beta must be a finite number >= 0, got {list(b)}.")
    if any(x < 1 for x in k):
        raise ConfigError(f"every latent size must be >= 1, got {list(k)}.")
    if len(b) * len(k) > MAX_CELLS:
        raise ConfigError(
            f"{len(b)} betas x {len(k)} latent sizes = {len(b) * len(k)} runs; a sweep trains "
            f"at most {MAX_CELLS}. Drop some values."
        )
    return b, k


def default_base(features_path: str | os.PathLike[str], prep: PreprocessConfig) -> VAEConfig:
    """The recommended preset, its batch shrunk on small data exactly as the demo and the
    ``train`` command do, so a sweep cell and a run trained there are the same run."""
    base = preset(DEFAULT_PRESET)
    n_rows = count_segments(Path(features_path), prep.segment_type)
    if n_rows > 0:
        base = dataclasses.replace(base, batch_size=batch_size_for(n_rows, base))
    return base


def _sweep_id(
    features_digest: str,
    betas: Sequence[float],
    latent_dims: Sequence[int],
    base: VAEConfig,
    prep: PreprocessConfig,
) -> str:
    grid_free = {k: v for k, v in base.to_dict().items() if k not in ("beta", "latent_dim")}
    payload = json.dumps(
        {
            "format_version": SWEEP_FORMAT_VERSION,
            "features_sha256": features_digest,
            "betas": list(betas),
            "latent_dims": list(latent_dims),
            "base": grid_free,
            "preprocess": prep.to_dict(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def plan_sweep(
    features_path: str | os.PathLike[str],
    betas: Iterable[float] = DEFAULT_BETAS,
    latent_dims: Iterable[int] = DEFAULT_LATENT_DIMS,
    prep: PreprocessConfig | None = None,
    base: VAEConfig | None = None,
) -> Sweep:
    """The sweep these arguments define, with every cell's run id; writes and starts nothing.

    ``base`` defaults to :func:`default_base`; a given ``base`` is used as is, only its
    ``beta`` and ``latent_dim`` change from cell to cell.
    """
    b, k = check_grid(betas, latent_dims)
    path = Path(features_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Features file {path} does not exist. Extract a dataset on the Data page first."
        )
    path = path.resolve()
    prep = prep or PreprocessConfig()
    base = default_base(path, prep) if base is None else base
    base = dataclasses.replace(base, beta=b[0], latent_dim=k[0])  # canonical base
    digest = file_sha256(path)
    cells = tuple(
        SweepCell(
            beta, dim, run_id_for(path, dataclasses.replace(base, beta=beta, latent_dim=dim), prep)
        )
        for beta in b
        for dim in k
    )
    return Sweep(
        sweep_id=_sweep_id(digest, b, k, base, prep),
        features_path=path,
        features_sha256=digest,
        betas=b,
        latent_dims=k,
        base=base,
        prep=prep,
        cells=cells,
        created_at=utc_now(),
        dataset=path.parent.name,
    )


def start_sweep(
    features_path: str | os.PathLike[str],
    betas: Iterable[float] = DEFAULT_BETAS,
    latent_dims: Iterable[int] = DEFAULT_LATENT_DIMS,
    prep: PreprocessConfig | None = None,
    base: VAEConfig | None = None,
    slots: int | None = None,
) -> Sweep:
    """Define the sweep, store it, and queue a training job for every cell not yet done;
    at most ``slots`` cells train at once (default: the machine's device slots, one per
    GPU or one on a CPU), the others wait as records, never as processes
    (:mod:`core.jobs.queue`).

    Cells already done are reused as they are, cells being trained are attached to (never
    trained twice), failed or cancelled ones are retried: calling this again for the same
    sweep resumes it. The input is checked once, for the largest latent size, before
    anything is written (``FeaturesFileError``, ``PreprocessingError``, ``TrainingError``).
    """
    from core.pipeline.prepare import check_training_input

    sweep = plan_sweep(features_path, betas, latent_dims, prep, base)
    check_training_input(
        sweep.features_path, sweep.cell_config(sweep.betas[0], max(sweep.latent_dims)), sweep.prep
    )
    target = sweep.path
    if target.is_file():  # the same sweep asked again: keep when it was first asked
        try:
            first = str(read_json(target).get("created_at") or sweep.created_at)
            sweep = dataclasses.replace(sweep, created_at=first)
        except (json.JSONDecodeError, AttributeError, OSError):
            pass
    atomic_write_json(target, sweep.to_dict())
    bound = device_slots() if slots is None else slots
    for cell in sweep.cells:
        request = start_training(
            sweep.features_path,
            sweep.cell_config(cell.beta, cell.latent_dim),
            sweep.prep,
            slots=bound,
        )
        if request.run.run_id != cell.run_id:  # the store's hash changed under us
            raise RuntimeError(
                f"cell beta {cell.beta:g}, latent {cell.latent_dim} became run "
                f"{request.run.run_id}, planned {cell.run_id}"
            )
        if not request.existed:  # a cell trained for this sweep only: never a default run
            mark_side_run(request.run, "sweep", sweep.sweep_id)
    logger.info("Sweep %s: %d cell(s) requested", sweep.sweep_id, sweep.n_cells)
    return sweep


def get_sweep(sweep_id: str) -> Sweep:
    """The stored sweep ``sweep_id`` (``SweepNotFoundError`` when there is none)."""
    path = sweep_path(sweep_id)
    try:
        return Sweep.from_dict(read_json(path))
    except FileNotFoundError:
        raise SweepNotFoundError(
            f"No sweep {sweep_id} in {path.parent}. It may have been deleted; start it again."
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SweepNotFoundError(f"Sweep file {path} is unreadable ({exc}).") from None


def list_sweeps() -> list[Sweep]:
    """Every stored sweep, newest first (unreadable files are skipped)."""
    found: list[Sweep] = []
    for entry in sweeps_dir().glob("*.json"):
        if not SWEEP_ID_RE.match(entry.stem):
            continue
        try:
            found.append(get_sweep(entry.stem))
        except SweepNotFoundError as exc:
            logger.warning("%s", exc)
    found.sort(key=lambda s: (s.created_at, s.sweep_id), reverse=True)
    return found


# --- what the cells learned ------------------------------------------------------------------


# --- the recommendation --------------------------------------------------------------------
