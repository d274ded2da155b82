"""The run store: one folder per trained configuration, named by a hash of what it was asked.

A run id is the first 12 hex digits of a SHA-256 over the features file's content, the
preprocessing config, the VAE config and the seed, so asking twice for the same thing finds
the same folder. Every file in it is written atomically, and ``status.json`` says ``done``
only after every artifact is in place, so a half-written run is never shown as done.
Pages read run folders only through :class:`Run`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from core.errors import (
    ArtifactMissingError,
    BrokenRunError,
    InvalidRunIdError,
    RunBusyError,
    RunNotFoundError,
    UnsafePathError,
)
from core.infra.io import atomic_write_json, file_sha256, read_json
from core.infra.locks import file_lock, release, try_lock
from core.infra.paths import resolve_under, runs_root
from core.infra.process import process_alive, tail_text, utc_now
from core.model.config import PreprocessConfig, VAEConfig
from core.model.latents import latent_names
from core.runs import artifacts
from core.runs.config import (
    RUN_ID_RE,
    RunConfig,
    check_features_path,
    run_id_from_digest,
)
from core.runs.files import (
    AXES_FILE,
    CONFIG_FILE,
    CORRELATIONS_FILE,
    DIAGNOSTICS_FILE,
    INTERPRETATION_FILE,
    LATENTS_FILE,
    LOG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PIVOT_FILE,
    PREPROCESSING_FILE,
    STATUS_FILE,
    STATUS_LOCK_FILE,
    UMAP_FILE,
    WRITER_LOCK_FILE,
)
from core.runs.records import Correlations
from core.runs.status import RunStatus

if TYPE_CHECKING:
    import torch

    from core.analysis.ensemble import EnsembleReport
    from core.analysis.quality import DimQuality, ReadingAxes
    from core.analysis.traversal import ReadingDecoder
    from core.model.preprocessing import PreprocessingPipeline
    from core.model.vae import TacticalVAEModule

logger = logging.getLogger(__name__)
_CORRELATION_KEYS = ("pearson_r", "pearson_p", "spearman_r", "spearman_p", "feature_names")


# --- the run object -------------------------------------------------------------------------


class Run:
    """A run folder and typed readers for every artifact in it."""

    def __init__(self, run_id: str, path: Path) -> None:
        self.run_id = run_id
        self.path = path

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, {str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.run_id == self.run_id and other.path == self.path

    def __hash__(self) -> int:
        return hash((self.run_id, str(self.path)))

    # -- paths --------------------------------------------------------------------------------
    def artifact_path(self, name: str) -> Path:
        """Path of a file in the run folder (whether or not it exists)."""
        return self.path / name

    def has(self, name: str) -> bool:
        """True when the artifact ``name`` has been written."""
        return (self.path / name).is_file()

    def _require(self, name: str) -> Path:
        p = self.path / name
        if not p.is_file():
            st = self._status_raw()
            where = f" (run state: {st.state}, stage: {st.stage})" if st else ""
            raise ArtifactMissingError(
                f"Run {self.run_id} has no {name} yet{where}. It is written when the run's "
                "job reaches that stage; wait for the job or start the run again."
            )
        return p

    # -- config and status ----------------------------------------------------------------------
    def config(self) -> RunConfig:
        """The run's configuration (``config.json``); ``BrokenRunError`` when the file does not
        hold a valid one (hand-edited, written by an old build, torn by a disk fault)."""
        path = self._require(CONFIG_FILE)
        try:
            return RunConfig.from_dict(read_json(path))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BrokenRunError(
                f"Run {self.run_id} is broken: its config.json does not hold a valid "
                f"configuration ({exc}). Nothing can be shown or computed from it; delete it "
                "on the Runs page and train the configuration again."
            ) from exc

    def problem(self) -> str | None:
        """Why the run folder is broken (config.json or status.json unreadable), or None."""
        try:
            self.config()
        except BrokenRunError as exc:
            return str(exc)
        except ArtifactMissingError:
            return f"Run {self.run_id} has no config.json."
        st = self._status_raw()
        return st.error if st is not None and st.state == "broken" else None

    @property
    def features_path(self) -> Path:
        """The features file the run was trained on."""
        return self.config().features_path

    def _status_raw(self) -> RunStatus | None:
        """``status.json`` read value by value (None when it does not exist yet); a file
        that is not JSON at all reads as a ``broken`` status saying so."""
        p = self.path / STATUS_FILE
        try:
            return RunStatus.from_dict(read_json(p))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, OSError) as exc:
            logger.warning("run %s: unreadable status.json (%s)", self.run_id, exc)
            return RunStatus(
                state="broken",
                stage="broken",
                message="status.json is unreadable",
                error=(
                    f"Run {self.run_id}'s status.json is unreadable ({type(exc).__name__}). "
                    "Start the run again to recompute it, or delete it."
                ),
            )

    def status(self) -> RunStatus:
        """The run's ``status.json`` as written (a pure read; ``core.jobs.run_status``
        also notices a computing process that died). A run whose config.json is invalid
        reads ``broken``, with the reason as its error."""
        st = self._status_raw()
        if st is None:
            st = RunStatus(state="queued", stage="queued", message="no status yet")
        if st.state in ("done", "queued") or st.state == "broken":
            try:
                self.config()
            except BrokenRunError as exc:
                return RunStatus(
                    state="broken", stage="broken", message="invalid config.json", error=str(exc)
                )
            except ArtifactMissingError:
                pass
        return st

    def update_status(self, **changes: Any) -> RunStatus:
        """Merge ``changes`` into ``status.json`` atomically and return the new status.

        Writers in other processes (the worker, a page reconciling a dead worker) are
        serialised by a lock file beside it, so no update is lost.
        """
        with file_lock(self.path / STATUS_LOCK_FILE):
            current = self._status_raw() or RunStatus()
            if current.state == "broken" and "state" not in changes:
                current = RunStatus()  # an unreadable record is replaced, not merged
            data = {**current.to_dict(), **changes, "updated_at": utc_now()}
            new = RunStatus.from_dict(data)
            atomic_write_json(self.path / STATUS_FILE, new.to_dict())
            return new

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Be the one process computing this run for the ``with`` block, or raise
        ``RunBusyError`` naming who is. The CLI, a job and the app all take it (through
        ``core.pipeline.execute.execute_run``); the lock dies with its process."""
        lock = try_lock(self.path / WRITER_LOCK_FILE)
        st = self.status()
        # A record naming another live process computing it (written by a build without
        # this lock) counts as held too.
        foreign = (
            st.state == "running"
            and st.pid not in (None, os.getpid())
            and process_alive(st.pid, st.pid_start)
        )
        if lock is None or foreign:
            if lock is not None:
                release([lock])
            who = f"job {st.job_id}" if st.job_id else f"process {st.pid}" if st.pid else None
            raise RunBusyError(
                f"Run {self.run_id} is already training{' in ' + who if who else ''}. "
                "Follow it on the Train page or with `python -m core jobs`; it is not "
                "started twice."
            )
        try:
            yield
        finally:
            release([lock])

    @property
    def is_done(self) -> bool:
        return self.status().state == "done"

    # -- artifacts ---------------------------------------------------------------------------------
    def metrics(self) -> pl.DataFrame:
        """Per-epoch metrics: ``epoch, total, recon, kl, lr, seconds, kl_z0..kl_z{k-1}``.

        Readable while training runs; a partly written last line is ignored.
        """
        from core.model.metrics import metrics_table

        return metrics_table(self._require(METRICS_FILE), self.config().vae.latent_dim)

    def metrics_warning(self) -> str | None:
        """One line naming the corrupt lines of ``metrics.jsonl`` that readers skip, or None."""
        from core.model.metrics import corrupt_lines

        path = self.path / METRICS_FILE
        if not path.is_file():
            return None
        bad = corrupt_lines(path)
        if not bad:
            return None
        shown = ", ".join(str(n) for n in bad[:5]) + (" ..." if len(bad) > 5 else "")
        return (
            f"Run {self.run_id}: {len(bad)} corrupt line(s) in its loss log were skipped "
            f"(line {shown}); the curves show the other epochs."
        )

    @contextlib.contextmanager
    def _checking(self) -> Iterator[None]:
        """Read an artefact: a damaged one (``BrokenRunError`` from
        :mod:`core.runs.artifacts`) marks a finished run ``broken`` with the file named."""
        try:
            yield
        except BrokenRunError as exc:
            logger.warning("%s", exc)
            st = self._status_raw()
            if st is not None and st.state == "done":
                with contextlib.suppress(OSError):  # a read-only folder still reports
                    self.update_status(
                        state="broken", stage="broken", message="a file is damaged", error=str(exc)
                    )
            raise

    def latents(self) -> pl.DataFrame:
        """``segment_id`` + segment metadata + ``z0..z{k-1}`` (posterior means)."""
        with self._checking():
            frame = artifacts.read_parquet(self.run_id, self._require(LATENTS_FILE), LATENTS_FILE)
            artifacts.check_latents(self.run_id, LATENTS_FILE, frame, self.latent_columns())
        return frame

    def latent_columns(self) -> list[str]:
        """Names of the latent columns (``z0..``)."""
        return latent_names(self.config().vae.latent_dim)

    def latent_matrix(self) -> np.ndarray:
        """Posterior means as an ``(n_segments, latent_dim)`` float64 array."""
        return self.latents().select(self.latent_columns()).to_numpy().astype(np.float64)

    def correlations(self) -> Correlations:
        """Pearson and Spearman r and p of every latent against every model feature."""
        path = self._require(CORRELATIONS_FILE)
        with self._checking():
            arrays = artifacts.read_npz(self.run_id, path, CORRELATIONS_FILE, _CORRELATION_KEYS)
            artifacts.check_correlations(self.run_id, CORRELATIONS_FILE, arrays)
        r = arrays["pearson_r"]
        return Correlations(
            pearson_r=r,
            pearson_p=arrays["pearson_p"],
            spearman_r=arrays["spearman_r"],
            spearman_p=arrays["spearman_p"],
            feature_names=[str(s) for s in arrays["feature_names"]],
            latent_names=latent_names(r.shape[0]),
        )

    def interpretation(self) -> pl.DataFrame:
        """Top-5 table ``latent_dim, rank, feature, pearson_r, abs_r, p_value``."""
        path = self._require(INTERPRETATION_FILE)
        with self._checking():
            frame = artifacts.read_parquet(self.run_id, path, INTERPRETATION_FILE)
            artifacts.check_interpretation(self.run_id, INTERPRETATION_FILE, frame)
        return frame

    def interpretation_pivot(self) -> pl.DataFrame:
        """One row per latent, ``dim, #1..#5`` as ``"feature (+0.123)"``."""
        return pl.read_csv(self._require(PIVOT_FILE))

    def umap(self) -> pl.DataFrame:
        """``segment_id, umap_x, umap_y``."""
        path = self._require(UMAP_FILE)
        rows = artifacts.parquet_rows(self.path / LATENTS_FILE) if self.has(LATENTS_FILE) else None
        with self._checking():
            frame = artifacts.read_parquet(self.run_id, path, UMAP_FILE)
            artifacts.check_umap(self.run_id, UMAP_FILE, frame, rows)
        return frame

    def diagnostics(self) -> dict[str, Any]:
        """VAE health: KL per dim, active units, collapsed dims, warnings."""
        path = self._require(DIAGNOSTICS_FILE)
        with self._checking():
            return artifacts.read_json_object(self.run_id, path, DIAGNOSTICS_FILE)

    def dim_quality(self) -> DimQuality:
        """Which latent dims are distinct, redundant or inactive (``diagnostics.json``).

        Runs written before dimension quality existed get it computed from their latents
        and KL per dimension, by the same rule.
        """
        from core.analysis.quality import DimQuality, dim_quality

        diag = self.diagnostics()
        if "dim_quality" in diag:
            return DimQuality.from_dict(diag["dim_quality"])
        kl = diag.get("kl_per_dim")
        Z = self.latent_matrix()
        usable = kl is not None and len(kl) == Z.shape[1]
        return dim_quality(Z, np.asarray(kl, dtype=np.float64) if usable else None)

    def ensemble(self) -> EnsembleReport | None:
        """Which distinct axes the run's other seeds found again (``diagnostics.json``), or
        None for a run written before seed ensembles."""
        from core.analysis.ensemble import EnsembleReport

        record = self.diagnostics().get("ensemble")
        return EnsembleReport.from_dict(record) if isinstance(record, dict) else None

    def reading_axes(self) -> ReadingAxes | None:
        """The rotation from model codes to the ``latents.parquet`` axes, if the run has one."""
        from core.runs.records import load_reading_axes

        path = self.path / AXES_FILE
        return load_reading_axes(path) if path.is_file() else None

    def preprocessing_info(self) -> dict[str, Any]:
        """The saved preprocessing as a dict (feature columns, dropped columns, statistics)."""
        data: dict[str, Any] = read_json(self._require(PREPROCESSING_FILE))
        return data

    def load_pipeline(self) -> PreprocessingPipeline:
        """The fitted preprocessing (``preprocessing.json``)."""
        path = self._require(PREPROCESSING_FILE)
        with self._checking():
            return artifacts.load_preprocessing(self.run_id, path, PREPROCESSING_FILE)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Model weights, loaded with ``torch.load(weights_only=True)``."""
        path = self._require(MODEL_FILE)
        with self._checking():
            return artifacts.load_weights(self.run_id, path, MODEL_FILE)

    def load_model(self, device: str | torch.device = "cpu") -> TacticalVAEModule:
        """The trained ``TacticalVAEModule`` in eval mode on ``device`` (model codes)."""
        weights = self.state_dict()
        with self._checking():
            module = artifacts.build_module(self.run_id, MODEL_FILE, weights, self.config())
        return module.to(device)

    def load_decoder(self, device: str | torch.device = "cpu") -> ReadingDecoder:
        """A decoder taking codes on the run's reading axes (the ``latents.parquet`` columns)."""
        from core.analysis.traversal import ReadingDecoder

        return ReadingDecoder(self.load_model(device), self.reading_axes())

    def log_tail(self, n: int = 40) -> str:
        """Last ``n`` lines of the run's log (empty when there is none)."""
        return tail_text(self.path / LOG_FILE, n)


# --- the store ----------------------------------------------------------------------------


def run_path(run_id: str) -> Path:
    """Folder of ``run_id`` under ``runs_root()``; refuses anything that is not a run id."""
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise InvalidRunIdError(
            f"{run_id!r} is not a run id: run ids are 12 lowercase hex characters "
            "(e.g. '3f9a0c1b2d4e'). Pick one from the runs list."
        )
    try:
        return resolve_under(runs_root(), run_id)
    except UnsafePathError as exc:  # e.g. a symlinked run folder pointing elsewhere
        raise InvalidRunIdError(str(exc)) from exc


def create_run(
    features_path: str | os.PathLike[str], vae_cfg: VAEConfig, prep_cfg: PreprocessConfig
) -> tuple[Run, bool]:
    """The run for this configuration, creating its folder if new: ``(run, existed)``.

    A new run gets ``config.json`` and a ``queued`` ``status.json``. An existing run is
    returned untouched, whatever its state.
    """
    features = check_features_path(features_path)
    digest = file_sha256(features)
    run_id = run_id_from_digest(digest, vae_cfg, prep_cfg)
    path = run_path(run_id)
    run = Run(run_id, path)
    if (path / CONFIG_FILE).is_file():
        return run, True
    path.mkdir(parents=True, exist_ok=True)
    cfg = RunConfig(
        run_id=run_id,
        vae=vae_cfg,
        preprocess=prep_cfg,
        features_path=features,
        features_sha256=digest,
        features_size=features.stat().st_size,
        created_at=utc_now(),
        dataset=features.parent.name,
    )
    # Status first, config last: a folder with config.json is a complete (queued) run.
    if not (path / STATUS_FILE).exists():
        run.update_status(state="queued", stage="queued", progress=0.0, n_epochs=vae_cfg.n_epochs)
    atomic_write_json(path / CONFIG_FILE, cfg.to_dict())
    logger.info("Created run %s for %s", run_id, features)
    return run, False


def get_run(run_id: str) -> Run:
    """The run ``run_id``; ``InvalidRunIdError`` for a malformed id, ``RunNotFoundError``
    when no such run exists."""
    path = run_path(run_id)
    if not (path / CONFIG_FILE).is_file():
        raise RunNotFoundError(
            f"No run {run_id}. It may have been deleted; pick one from the "
            "runs list or start training."
        )
    return Run(run_id, path)


def list_runs() -> list[Run]:
    """Every run in the store, newest first (folders that are not runs are skipped)."""
    root = runs_root()
    found: list[tuple[str, Run]] = []
    for entry in root.iterdir():
        if not RUN_ID_RE.match(entry.name) or not entry.is_dir():
            continue
        try:
            resolve_under(root, entry.name)  # a symlink leaving the store is listed nowhere
        except UnsafePathError:
            continue
        cfg_path = entry / CONFIG_FILE
        if not cfg_path.is_file():
            continue  # a folder being created (status first, config last) or not a run
        try:
            created = str(read_json(cfg_path).get("created_at", ""))
        except (ValueError, AttributeError, OSError):
            created = ""  # broken: listed (last) so it can be seen and deleted
        found.append((created, Run(entry.name, entry)))
    found.sort(key=lambda t: (t[0], t[1].run_id), reverse=True)
    return [r for _, r in found]


def remove_run(run_id: str) -> None:
    """Delete a run folder, whatever its state (``core.jobs.delete_run`` first refuses a
    run that a live process is computing)."""
    run = get_run(run_id)
    # Rename first so the store never lists a half-deleted run.
    trash = run.path.with_name(f".deleted-{run_id}-{uuid.uuid4().hex[:6]}")
    run.path.replace(trash)
    shutil.rmtree(trash, ignore_errors=True)
    logger.info("Deleted run %s", run_id)
