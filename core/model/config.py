"""Typed, validated configs for preprocessing and the beta-VAE, shared by the engine and the UI.

Both configs are frozen dataclasses so a run's content hash can be computed from
``to_dict()``; ``from_dict()`` is the inverse and rejects unknown keys.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import ConfigError

NullStrategy = Literal["impute_median", "drop_rows"]
SegmentType = Literal["window", "possession"]

NULL_STRATEGIES: tuple[str, ...] = ("impute_median", "drop_rows")
SEGMENT_TYPES: tuple[str, ...] = ("window", "possession")
ROTATIONS: tuple[str, ...] = ("none", "anchored_varimax")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_int(value: object) -> bool:
    """A whole number (``bool`` is not one, though Python says it is an ``int``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """A finite real number: ``inf``, ``nan``, ``None``, strings and bools are refused."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: object) -> object:
    """numpy scalars as Python's own ``int``/``float`` (JSON and the run id need those)."""
    if isinstance(value, bool) or type(value) in (int, float):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def _normalise(config: object) -> None:
    """Replace numpy scalars in a frozen config's fields by plain Python numbers."""
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        plain = _plain(value)
        if plain is not value:
            object.__setattr__(config, f.name, plain)


LOSS_REDUCTION = (
    "Per-sample sums, averaged over the batch: reconstruction = squared error summed over "
    "features, KL = KL(q(z|x) || N(0, I)) summed over latent dimensions, each then averaged "
    "over the segments in the batch; loss = recon + beta * KL (beta as in Higgins et al.)."
)
"""Human text the UI shows next to beta: how ``vae_loss`` reduces its terms (here, not in
``core.model.vae``, so that the pages show it without importing torch)."""

# Upper bounds a real run never reaches; beyond them a typo (an extra zero) is more likely
# than a wish, and a run would tie up the machine for hours or run out of memory.
MAX_LATENT_DIM = 1024
MAX_ENSEMBLE = 8  # seeds trained together in one process (memory grows with each)
MAX_LAYER_WIDTH = 8192
MAX_LAYERS = 8
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1 << 20
MAX_BETA = 1000.0


def _check_mapping(cls: type, data: object) -> None:
    """A stored or sent config must be a JSON object with known keys only."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"A {cls.__name__} is a JSON object of fields, got {data!r}.")
    _unknown_keys(cls, data)


def _unknown_keys(cls: type, data: Mapping[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(data) - known)
    if extra:
        raise ConfigError(
            f"Unknown {cls.__name__} field(s) {extra}; valid fields are {sorted(known)}."
        )


@dataclass(frozen=True)
class VAEConfig:
    """Hyper-parameters of one beta-VAE training run (defaults are the notebook's)."""

    latent_dim: int = 8  # number of latent dimensions z0..z{k-1}
    hidden_dims: tuple[int, ...] = (256, 128, 64)  # encoder layer widths; decoder mirrors them
    beta: float = 4.0  # weight of the KL term (per-sample sum reduction, see vae.LOSS_REDUCTION)
    learning_rate: float = 1e-3  # Adam's initial learning rate
    batch_size: int = 512  # segments per optimiser step
    n_epochs: int = 150  # maximum passes over the data
    dropout: float = 0.2  # dropout probability after each hidden layer
    random_state: int = 42  # seed for weights init, batch order and dropout
    kl_warmup_epochs: int = 0  # epochs over which beta ramps linearly from 0 (0 = no warm-up)
    early_stopping_patience: int | None = None  # stop after this many epochs without improvement
    lr_patience: int = 10  # ReduceLROnPlateau patience, in epochs
    lr_factor: float = 0.5  # ReduceLROnPlateau factor applied to the learning rate
    early_stopping_min_delta: float = field(default=1e-4)  # improvement needed to reset patience
    rotation: str = "none"  # reading axes: "none" (model dims as learned) or "anchored_varimax"
    # Seeds trained together (core.model.ensemble); a pattern is confirmed when other seeds
    # find it again (core.analysis.ensemble). 1 = a single model, as the notebook.
    ensemble: int = 1
    # The map's UMAP layout exactly reproducible from ``random_state`` (umap then runs on one
    # core); False lays it out on every core, a different layout on every run.
    reproducible_map: bool = True

    def __post_init__(self) -> None:
        _normalise(self)
        # Accept lists (JSON round trips, CLI) but store a tuple so the config stays hashable.
        dims = self.hidden_dims
        _check(
            isinstance(dims, list | tuple) and all(_is_int(_plain(h)) for h in dims),
            f"hidden_dims must be a list of whole layer widths, got {dims!r}.",
        )
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in dims))
        _check(
            _is_int(self.latent_dim) and 1 <= self.latent_dim <= MAX_LATENT_DIM,
            f"latent_dim must be a whole number from 1 to {MAX_LATENT_DIM}, "
            f"got {self.latent_dim!r}.",
        )
        _check(
            1 <= len(self.hidden_dims) <= MAX_LAYERS
            and all(1 <= h <= MAX_LAYER_WIDTH for h in self.hidden_dims),
            f"hidden_dims must be 1 to {MAX_LAYERS} layer widths from 1 to {MAX_LAYER_WIDTH}, "
            f"got {self.hidden_dims!r}.",
        )
        _check(
            _is_real(self.beta) and 0 <= self.beta <= MAX_BETA,
            f"beta must be a finite number from 0 to {MAX_BETA:g}, got {self.beta!r}.",
        )
        _check(
            _is_real(self.learning_rate) and 0 < self.learning_rate <= 1,
            f"learning_rate must be a finite number in (0, 1], got {self.learning_rate!r}.",
        )
        _check(
            _is_int(self.batch_size) and 1 <= self.batch_size <= MAX_BATCH_SIZE,
            f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE}, "
            f"got {self.batch_size!r}.",
        )
        _check(
            _is_int(self.n_epochs) and 1 <= self.n_epochs <= MAX_EPOCHS,
            f"n_epochs must be a whole number from 1 to {MAX_EPOCHS}, got {self.n_epochs!r}.",
        )
        _check(
            _is_real(self.dropout) and 0.0 <= self.dropout < 1.0,
            f"dropout must be a number in [0, 1), got {self.dropout!r}.",
        )
        _check(
            _is_int(self.random_state) and 0 <= self.random_state < 2**32,
            f"random_state must be a whole number from 0 to 2**32 - 1, got {self.random_state!r}.",
        )
        _check(
            _is_int(self.kl_warmup_epochs) and 0 <= self.kl_warmup_epochs <= MAX_EPOCHS,
            f"kl_warmup_epochs must be a whole number from 0 to {MAX_EPOCHS}, "
            f"got {self.kl_warmup_epochs!r}.",
        )
        _check(
            self.early_stopping_patience is None
            or (_is_int(self.early_stopping_patience) and self.early_stopping_patience >= 1),
            "early_stopping_patience must be None (off) or a whole number >= 1, "
            f"got {self.early_stopping_patience!r}.",
        )
        _check(
            self.rotation in ROTATIONS,
            f"rotation must be one of {ROTATIONS}, got {self.rotation!r}.",
        )
        _check(
            _is_int(self.ensemble) and 1 <= self.ensemble <= MAX_ENSEMBLE,
            f"ensemble must be a whole number of seeds from 1 to {MAX_ENSEMBLE}, "
            f"got {self.ensemble!r}.",
        )
        _check(
            isinstance(self.reproducible_map, bool),
            f"reproducible_map must be true or false, got {self.reproducible_map!r}.",
        )
        _check(
            _is_int(self.lr_patience) and self.lr_patience >= 0,
            f"lr_patience must be a whole number >= 0, got {self.lr_patience!r}.",
        )
        _check(
            _is_real(self.lr_factor) and 0.0 < self.lr_factor < 1.0,
            f"lr_factor must be a number in (0, 1), got {self.lr_factor!r}.",
        )
        _check(
            _is_real(self.early_stopping_min_delta) and self.early_stopping_min_delta >= 0,
            "early_stopping_min_delta must be a finite number >= 0, "
            f"got {self.early_stopping_min_delta!r}.",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``hidden_dims`` as a list).

        ``reproducible_map`` appears only when False and ``ensemble`` only above 1, so the run ids (a hash of this dict)
        of every configuration that existed before the option stay what they were.
        """
        data = dataclasses.asdict(self)
        data["hidden_dims"] = list(self.hidden_dims)
        if data["reproducible_map"]:
            del data["reproducible_map"]
        if data["ensemble"] == 1:  # run ids of single-seed configs stay what they were
            del data["ensemble"]
        return data

    @property
    def map_seed(self) -> int | None:
        """The UMAP seed: ``random_state`` when the map must be reproducible, else None."""
        return self.random_state if self.reproducible_map else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VAEConfig:
        """Inverse of :meth:`to_dict`; missing keys take the defaults, unknown keys are refused."""
        _check_mapping(cls, data)
        return cls(**dict(data))


@dataclass(frozen=True)
class PreprocessConfig:
    """Which segments and features feed the model, and how they are cleaned."""

    null_strategy: str = "impute_median"  # "impute_median" or "drop_rows"
    pca_variance_threshold: float | None = (
        None  # keep PCs up to this explained variance; None = no PCA
    )
    max_tier: int = 2  # highest feature tier kept (t1, t2; t3 needs 360 data)
    segment_type: str = "window"  # "window" or "possession" segments
    null_column_threshold: float = 0.5  # drop feature columns with a larger null fraction

    def __post_init__(self) -> None:
        _normalise(self)
        _check(
            self.null_strategy in NULL_STRATEGIES,
            f"null_strategy must be one of {NULL_STRATEGIES}, got {self.null_strategy!r}.",
        )
        _check(
            self.pca_variance_threshold is None
            or (_is_real(self.pca_variance_threshold) and 0.0 < self.pca_variance_threshold <= 1.0),
            "pca_variance_threshold must be None (no PCA) or in (0, 1], "
            f"got {self.pca_variance_threshold!r}.",
        )
        _check(
            _is_int(self.max_tier) and self.max_tier >= 1,
            f"max_tier must be an integer >= 1, got {self.max_tier!r}.",
        )
        _check(
            self.segment_type in SEGMENT_TYPES,
            f"segment_type must be one of {SEGMENT_TYPES}, got {self.segment_type!r}.",
        )
        _check(
            _is_real(self.null_column_threshold) and 0.0 <= self.null_column_threshold <= 1.0,
            f"null_column_threshold must be in [0, 1], got {self.null_column_threshold!r}.",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessConfig:
        """Inverse of :meth:`to_dict`; missing keys take the defaults, unknown keys are refused."""
        _check_mapping(cls, data)
        return cls(**dict(data))


def parse_hidden_dims(text: str) -> tuple[int, ...]:
    """Hidden layer widths from text like ``"256, 128, 64"``; ``ConfigError`` saying the
    expected form for anything else (the CLI flag and the Train page both read it here)."""
    try:
        dims = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise ConfigError(
            f"Hidden layer sizes are whole numbers separated by commas, like 256,128,64; "
            f"got {text!r}."
        ) from None
    if not dims:
        raise ConfigError("Give at least one hidden layer size, like 256,128,64.")
    return dims


def _cores() -> int:
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return int(cores or 1)


def _gpu_count() -> int:
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def device_slots() -> int:
    """Training jobs that run at once without slowing each other: one per GPU, or one on a
    machine without a GPU (two trainings on the same cores only halve each other)."""
    return max(_gpu_count(), 1)


def max_ranks() -> int:
    """The most data-parallel training processes this machine runs: one per CPU core the
    process may use, or one per GPU when it has more GPUs than cores."""
    return max(_cores(), _gpu_count())


def check_world_size(world_size: object) -> int:
    """``world_size`` (``--ddp``) as a whole number from 1 to :func:`max_ranks`, or a
    ``ConfigError`` saying what this machine allows (torch is imported only to count GPUs
    when more ranks than cores are asked)."""
    _check(
        _is_int(world_size) and int(str(world_size)) >= 1,
        "--ddp (the number of training processes) must be a whole number >= 1, "
        f"got {world_size!r}.",
    )
    n = int(str(world_size))
    if n > _cores() and n > (limit := max_ranks()):
        raise ConfigError(
            f"--ddp {n} asks for {n} training processes; this machine runs at most {limit} "
            f"(one per CPU core or GPU). Use --ddp {limit} or fewer."
        )
    return n
