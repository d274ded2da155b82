"""The run store: one folder per trained configuration, named by a hash of what it was asked.

A run id is the first 12 hex digits of a SHA-256 over the features file's content, the
preprocessing config, the VAE config and the seed, so asking twice for the same thing finds
the same folder. Every file in it is written atomically, and ``status.json`` says ``done``
only after every artifact is in place, so a half-written run is never shown as done.
Pages read run folders only through :class:`Run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from core.model.config import PreprocessConfig, VAEConfig
from core.infra.io import atomic_write_json, read_json
from core.infra.paths import UnsafePathError, resolve_under, runs_root

if TYPE_CHECKING:
    import torch

    from core.model.preprocessing import PreprocessingPipeline
    from core.model.vae import TacticalVAEModule

logger = logging.getLogger(__name__)

RUN_ID_RE = re.compile(r"^[0-9a-f]{12}$")
RUN_FORMAT_VERSION = 1

RunState = Literal["queued", "running", "done", "failed", "cancelled"]
RUN_STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running"})

# File names inside a run folder (docs/contracts.md).
CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
MODEL_FILE = "model.pt"
PREPROCESSING_FILE = "preprocessing.json"
LATENTS_FILE = "latents.parquet"
CORRELATIONS_FILE = "correlations.npz"
INTERPRETATION_FILE = "interpretation.parquet"
PIVOT_FILE = "interpretation_pivot.csv"
UMAP_FILE = "umap.parquet"
DIAGNOSTICS_FILE = "diagnostics.json"
LOG_FILE = "log.txt"

METRIC_COLUMNS = ("epoch", "total", "recon", "kl", "lr", "seconds")


class RunNotFoundError(LookupError):
    """No run folder with this id exists."""


class InvalidRunIdError(RunNotFoundError, ValueError):
    """The string is not a run id at all (wrong shape, or a path that escapes the store)."""


class ArtifactMissingError(FileNotFoundError):
    """A run exists but one of its files has not been written (yet)."""


class RunBusyError(RuntimeError):
    """The run is being computed by a live process; the operation would corrupt it."""


def utc_now() -> str:
    """ISO-8601 UTC timestamp with seconds, e.g. ``2026-11-26T08:40:12Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- process liveness (shared with core.jobs.manager) --------------------------------------------


def process_start_time(pid: int) -> str | None:
    """Kernel start time of ``pid`` (``/proc/<pid>/stat`` field 22), None if unknown.

    Stored beside a pid so a recycled pid is not mistaken for the original process.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    rest = stat.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else None


def process_alive(pid: int | None, start_time: str | None = None) -> bool:
    """True when ``pid`` runs and is not a zombie (and, if given, started at ``start_time``)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc (not Linux): trust kill(0)
    rest = stat.rsplit(")", 1)[-1].split()
    if rest and rest[0] in ("Z", "X"):
        return False
    return not (start_time is not None and len(rest) > 19 and rest[19] != start_time)


# --- status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStatus:
    """Contents of ``status.json``: where a run is and who is computing it."""

    state: str = "queued"  # queued | running | done | failed | cancelled
    stage: str = "queued"  # queued, loading, preprocessing, training, encoding, ... done
    progress: float = 0.0  # 0..1 over the whole run (training + analyses)
    eta_s: float | None = None  # estimated seconds left, None when unknown
    message: str = ""  # one human line on what is happening
    error: str | None = None  # why it failed (names the epoch for a non-finite loss)
    pid: int | None = None  # process computing it
    pid_start: str | None = None  # that process's kernel start time (guards pid reuse)
    heartbeat: float | None = None  # unix time of the last sign of life
    job_id: str | None = None  # background job computing it, if any
    device: str | None = None  # torch device name
    epoch: int | None = None  # last finished epoch
    n_epochs: int | None = None  # epochs planned
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunStatus:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RunConfig:
    """Contents of ``config.json``: exactly what was asked for."""

    run_id: str
    vae: VAEConfig
    preprocess: PreprocessConfig
    features_path: Path
    features_sha256: str
    features_size: int
    created_at: str
    dataset: str = ""  # name of the dataset folder holding the features file
    format_version: int = RUN_FORMAT_VERSION

    @property
    def seed(self) -> int:
        return self.vae.random_state

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "dataset": self.dataset,
            "features_path": str(self.features_path),
            "features_sha256": self.features_sha256,
            "features_size": self.features_size,
            "seed": self.seed,
            "vae": self.vae.to_dict(),
            "preprocess": self.preprocess.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls(
            run_id=str(data["run_id"]),
            vae=VAEConfig.from_dict(data["vae"]),
            preprocess=PreprocessConfig.from_dict(data["preprocess"]),
            features_path=Path(data["features_path"]),
            features_sha256=str(data["features_sha256"]),
            features_size=int(data["features_size"]),
            created_at=str(data["created_at"]),
            dataset=str(data.get("dataset", "")),
            format_version=int(data.get("format_version", RUN_FORMAT_VERSION)),
        )


@dataclass(frozen=True)
class Correlations:
    """Latent-by-feature correlation matrices, shape ``(latent_dim, n_features)``."""

    pearson_r: np.ndarray
    pearson_p: np.ndarray
    spearman_r: np.ndarray
    spearman_p: np.ndarray
    feature_names: list[str]
    latent_names: list[str] = field(default_factory=list)

    def frame(self, method: Literal["pearson", "spearman"] = "pearson") -> pl.DataFrame:
        """Long table ``latent_dim, feature, r, p`` (for heatmaps and filters)."""
        r = self.pearson_r if method == "pearson" else self.spearman_r
        p = self.pearson_p if method == "pearson" else self.spearman_p
        k, m = r.shape
        return pl.DataFrame(
            {
                "latent_dim": np.repeat(np.array(self.latent_names, dtype=object), m),
                "feature": np.tile(np.array(self.feature_names, dtype=object), k),
                "r": r.ravel(),
                "p": p.ravel(),
            },
            schema={
                "latent_dim": pl.String,
                "feature": pl.String,
                "r": pl.Float64,
                "p": pl.Float64,
            },
        )


# --- hashing ------------------------------------------------------------------------------

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


def _check_features_path(features_path: str | os.PathLike[str]) -> Path:
    path = Path(features_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Features file {path} does not exist. Extract one first "
            "(`python -m core features ...`) or pick a dataset from the data folder."
        )
    return path.resolve()


def run_id_for(
    features_path: str | os.PathLike[str], vae_cfg: VAEConfig, prep_cfg: PreprocessConfig
) -> str:
    """Deterministic 12-hex run id of (features content, preprocessing, VAE config, seed)."""
    digest = file_sha256(_check_features_path(features_path))
    return _run_id(digest, vae_cfg, prep_cfg)


def _run_id(features_digest: str, vae_cfg: VAEConfig, prep_cfg: PreprocessConfig) -> str:
    payload = json.dumps(
        {
            "format_version": RUN_FORMAT_VERSION,
            "features_sha256": features_digest,
            "preprocess": prep_cfg.to_dict(),
            "vae": vae_cfg.to_dict(),
            "seed": vae_cfg.random_state,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


# --- the run object -------------------------------------------------------------------------

_STATUS_LOCK = threading.Lock()


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
        """The run's configuration (``config.json``)."""
        return RunConfig.from_dict(read_json(self._require(CONFIG_FILE)))

    @property
    def features_path(self) -> Path:
        """The features file the run was trained on."""
        return self.config().features_path

    def _status_raw(self) -> RunStatus | None:
        p = self.path / STATUS_FILE
        try:
            return RunStatus.from_dict(read_json(p))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def status(self) -> RunStatus:
        """Current ``status.json``; a run whose computing process died reads as failed."""
        st = self._status_raw()
        if st is None:
            return RunStatus(state="queued", stage="queued", message="no status yet")
        if st.is_active and st.job_id:
            # A background job computes it: the job layer notices a dead worker (and keeps
            # its log tail), then mirrors the final state here.
            from core.jobs.manager import JobNotFoundError, get_job

            try:
                if get_job(st.job_id).is_final:
                    return self._status_raw() or st
            except JobNotFoundError:
                pass
            return st
        if st.state == "running" and st.pid and not process_alive(st.pid, st.pid_start):
            # The job layer usually records the death first (with its log tail); this is the
            # fallback for in-process runs (CLI `train`) whose process was killed.
            time.sleep(0.05)
            again = self._status_raw() or st
            if again.state == "running" and not process_alive(again.pid, again.pid_start):
                return self.update_status(
                    state="failed",
                    stage=again.stage,
                    error=(
                        f"The process computing this run (pid {again.pid}) died during stage "
                        f"'{again.stage}' without reporting an error (killed?)."
                    ),
                    finished_at=utc_now(),
                )
            return again
        return st

    def update_status(self, **changes: Any) -> RunStatus:
        """Merge ``changes`` into ``status.json`` atomically and return the new status."""
        with _STATUS_LOCK:
            current = self._status_raw() or RunStatus()
            data = {**current.to_dict(), **changes, "updated_at": utc_now()}
            new = RunStatus.from_dict(data)
            atomic_write_json(self.path / STATUS_FILE, new.to_dict())
            return new

    @property
    def is_done(self) -> bool:
        return self.status().state == "done"

    # -- artifacts ---------------------------------------------------------------------------------
    def metrics(self) -> pl.DataFrame:
        """Per-epoch metrics: ``epoch, total, recon, kl, lr, seconds, kl_z0..kl_z{k-1}``.

        Readable while training runs; a partly written last line is ignored.
        """
        p = self._require(METRICS_FILE)
        data = p.read_bytes()
        # Lines are appended with one write each; drop a trailing partial line if any.
        data = data[: data.rfind(b"\n") + 1]
        k = self.config().vae.latent_dim
        kl_cols = [f"kl_z{i}" for i in range(k)]
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

    def latents(self) -> pl.DataFrame:
        """``segment_id`` + segment metadata + ``z0..z{k-1}`` (posterior means)."""
        return pl.read_parquet(self._require(LATENTS_FILE))

    def latent_columns(self) -> list[str]:
        """Names of the latent columns (``z0..``)."""
        return [f"z{i}" for i in range(self.config().vae.latent_dim)]

    def latent_matrix(self) -> np.ndarray:
        """Posterior means as an ``(n_segments, latent_dim)`` float64 array."""
        return self.latents().select(self.latent_columns()).to_numpy().astype(np.float64)

    def correlations(self) -> Correlations:
        """Pearson and Spearman r and p of every latent against every model feature."""
        with np.load(self._require(CORRELATIONS_FILE), allow_pickle=False) as npz:
            r = np.asarray(npz["pearson_r"])
            return Correlations(
                pearson_r=r,
                pearson_p=np.asarray(npz["pearson_p"]),
                spearman_r=np.asarray(npz["spearman_r"]),
                spearman_p=np.asarray(npz["spearman_p"]),
                feature_names=[str(s) for s in npz["feature_names"]],
                latent_names=[f"z{i}" for i in range(r.shape[0])],
            )

    def interpretation(self) -> pl.DataFrame:
        """Top-5 table ``latent_dim, rank, feature, pearson_r, abs_r, p_value``."""
        return pl.read_parquet(self._require(INTERPRETATION_FILE))

    def interpretation_pivot(self) -> pl.DataFrame:
        """One row per latent, ``dim, #1..#5`` as ``"feature (+0.123)"``."""
        return pl.read_csv(self._require(PIVOT_FILE))

    def umap(self) -> pl.DataFrame:
        """``segment_id, umap_x, umap_y``."""
        return pl.read_parquet(self._require(UMAP_FILE))

    def diagnostics(self) -> dict[str, Any]:
        """VAE health: KL per dim, active units, collapsed dims, warnings."""
        data: dict[str, Any] = read_json(self._require(DIAGNOSTICS_FILE))
        return data

    def preprocessing_info(self) -> dict[str, Any]:
        """The saved preprocessing as a dict (feature columns, dropped columns, statistics)."""
        data: dict[str, Any] = read_json(self._require(PREPROCESSING_FILE))
        return data

    def load_pipeline(self) -> PreprocessingPipeline:
        """The fitted preprocessing (``preprocessing.json``)."""
        from core.model.preprocessing import PreprocessingPipeline

        return PreprocessingPipeline.load(self._require(PREPROCESSING_FILE))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Model weights, loaded with ``torch.load(weights_only=True)``."""
        import torch

        sd: dict[str, torch.Tensor] = torch.load(
            self._require(MODEL_FILE), map_location="cpu", weights_only=True
        )
        return sd

    def load_model(self, device: str | torch.device = "cpu") -> TacticalVAEModule:
        """The trained ``TacticalVAEModule`` in eval mode on ``device``."""
        from core.model.vae import TacticalVAEModule

        cfg = self.config().vae
        sd = self.state_dict()
        module = TacticalVAEModule(
            input_dim=model_input_dim(sd),
            latent_dim=cfg.latent_dim,
            hidden_dims=cfg.hidden_dims,
            dropout=cfg.dropout,
        )
        module.load_state_dict(sd)
        module.to(device)
        module.eval()
        return module

    def log_tail(self, n: int = 40) -> str:
        """Last ``n`` lines of the run's log (empty when there is none)."""
        return tail_text(self.path / LOG_FILE, n)


def model_input_dim(sd: dict[str, Any]) -> int:
    """Model input width from the first encoder layer's weight (``(out, in)``)."""
    for key in sorted(sd):
        if key.startswith("encoder.") and key.endswith(".weight"):
            return int(sd[key].shape[1])
    raise ArtifactMissingError("model.pt holds no encoder weights; the file is not ours.")


def tail_text(path: Path, n: int = 40, max_bytes: int = 64_000) -> str:
    """Last ``n`` lines of a text file, reading at most ``max_bytes`` from its end."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-n:])


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
    features = _check_features_path(features_path)
    digest = file_sha256(features)
    run_id = _run_id(digest, vae_cfg, prep_cfg)
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
            f"No run {run_id} in {runs_root()}. It may have been deleted; pick one from the "
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
        cfg_path = entry / CONFIG_FILE
        try:
            created = str(read_json(cfg_path).get("created_at", ""))
        except (FileNotFoundError, json.JSONDecodeError, AttributeError):
            continue
        found.append((created, Run(entry.name, entry)))
    found.sort(key=lambda t: (t[0], t[1].run_id), reverse=True)
    return [r for _, r in found]


def delete_run(run_id: str, *, force: bool = False) -> None:
    """Delete a run folder. Refuses a run a live process is computing unless ``force``."""
    run = get_run(run_id)
    st = run.status()  # reconciles a dead worker first
    if not force and st.is_active:
        live = st.state == "running" and process_alive(st.pid, st.pid_start)
        if st.job_id:
            from core.jobs.manager import JobNotFoundError, get_job

            with contextlib.suppress(JobNotFoundError):
                live = live or get_job(st.job_id).is_active
        if live:
            raise RunBusyError(
                f"Run {run_id} is {st.state}"
                f"{' in job ' + st.job_id if st.job_id else ' in process ' + str(st.pid)}; "
                "cancel it first."
            )
    # Rename first so the store never lists a half-deleted run.
    trash = run.path.with_name(f".deleted-{run_id}-{uuid.uuid4().hex[:6]}")
    run.path.replace(trash)
    shutil.rmtree(trash, ignore_errors=True)
    logger.info("Deleted run %s", run_id)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on ``path`` (``fcntl.flock``; released on exit or death)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
