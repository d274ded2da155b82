"""The cached states of a run (``<run>/states/``): the record and its reader and writer.

:mod:`core.services.states` fits the mixtures and decides when the cache is stale; this
module only knows the folder's layout. The folder is written whole into a temporary
sibling and swapped in (``summary.json`` last marks it complete), so a reader never sees a
half-written cache.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from core.infra.io import to_json

if TYPE_CHECKING:
    from core.runs.store import Run


Space = Literal["latent", "features"]


SPACES: tuple[Space, ...] = ("latent", "features")


STATES_DIR = "states"


STATES_FORMAT = 2  # 2: the latent mixture is fitted on the distinct dims only (``dims_used``)


@dataclass(frozen=True)
class StatesResult:
    """Everything the states analysis of one run produced (what ``states/`` holds)."""

    assignments: (
        pl.DataFrame
    )  # segment_id, latent_state, latent_prob, features_state, features_prob
    bic: pl.DataFrame  # space, k, bic
    profiles: pl.DataFrame  # space, state, feature, state_mean, population_mean, ..., effect
    labels: pl.DataFrame  # space, state, label, n, share, top_features
    contingency: np.ndarray  # (latent K, features K) segment counts
    mixtures: dict[str, dict[str, np.ndarray]]  # space -> means, covariances, weights
    summary: dict[str, Any]  # per space: best_k, silhouette, seconds, ...; ari; params; dims

    @property
    def dims_used(self) -> list[str]:
        """The latent columns the latent mixture was fitted on (the run's distinct dims)."""
        return [str(d) for d in self.summary.get("dims_used", [])]

    @property
    def one_axis(self) -> bool:
        """True when the latent states are slices of a single distinct dimension."""
        return bool(self.summary.get("one_axis", False))

    @property
    def one_axis_message(self) -> str | None:
        """``"the states are slices of one axis (z0)"`` for a one-axis run, else None."""
        msg = self.summary.get("one_axis_message")
        return None if msg is None else str(msg)


def states_dir(run: Run) -> Path:
    """The run's ``states/`` folder (may not exist yet)."""
    return Path(run.path) / STATES_DIR


def write_states(target: Path, result: StatesResult) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        result.assignments.write_parquet(tmp / "assignments.parquet")
        result.bic.write_parquet(tmp / "bic.parquet")
        result.profiles.write_parquet(tmp / "profiles.parquet")
        result.labels.write_parquet(tmp / "labels.parquet")
        arrays = {"contingency": result.contingency}
        for space, parts in result.mixtures.items():
            arrays |= {f"{space}_{name}": arr for name, arr in parts.items()}
        np.savez(tmp / "mixtures.npz", **arrays)  # type: ignore[arg-type]
        # summary.json last: its presence marks a complete folder.
        (tmp / "summary.json").write_text(to_json(result.summary) + "\n")
        if target.exists():
            old = target.with_name(f".{target.name}-old-{os.getpid()}-{time.time_ns()}")
            target.replace(old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.replace(target)
        except OSError:  # another process put a complete folder there first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_states(run: Run) -> StatesResult | None:
    """The cached states of ``run``, or ``None`` when they have not been computed."""
    folder = states_dir(run)
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        return None
    summary = json.loads(summary_path.read_text())
    if summary.get("format") != STATES_FORMAT:
        return None
    with np.load(folder / "mixtures.npz", allow_pickle=False) as npz:
        arrays = {k: np.asarray(npz[k]) for k in npz.files}
    mixtures: dict[str, dict[str, np.ndarray]] = {
        space: {name: arrays[f"{space}_{name}"] for name in ("means", "covariances", "weights")}
        for space in SPACES
    }
    return StatesResult(
        assignments=pl.read_parquet(folder / "assignments.parquet"),
        bic=pl.read_parquet(folder / "bic.parquet"),
        profiles=pl.read_parquet(folder / "profiles.parquet"),
        labels=pl.read_parquet(folder / "labels.parquet"),
        contingency=arrays["contingency"],
        mixtures=mixtures,
        summary=summary,
    )
