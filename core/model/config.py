"""Typed, validated configs for preprocessing and the beta-VAE, shared by the engine and the UI.

Both configs are frozen dataclasses so a run's content hash can be computed from
``to_dict()``; ``from_dict()`` is the inverse and rejects unknown keys.
"""

from __future__ import annotations

import dataclasses
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

    def __post_init__(self) -> None:
        # Accept lists (JSON round trips, CLI) but store a tuple so the config stays hashable.
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        _check(
            isinstance(self.latent_dim, int) and self.latent_dim >= 1,
            f"latent_dim must be an integer >= 1, got {self.latent_dim!r}.",
        )
        _check(
            len(self.hidden_dims) >= 1 and all(h >= 1 for h in self.hidden_dims),
            f"hidden_dims must be one or more positive layer widths, got {self.hidden_dims!r}.",
        )
        _check(self.beta >= 0, f"beta must be >= 0, got {self.beta!r}.")
        _check(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate!r}.")
        _check(
            isinstance(self.batch_size, int) and self.batch_size >= 1,
            f"batch_size must be an integer >= 1, got {self.batch_size!r}.",
        )
        _check(
            isinstance(self.n_epochs, int) and self.n_epochs >= 1,
            f"n_epochs must be an integer >= 1, got {self.n_epochs!r}.",
        )
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout!r}.")
        _check(
            isinstance(self.random_state, int),
            f"random_state must be an integer, got {self.random_state!r}.",
        )
        _check(
            self.kl_warmup_epochs >= 0,
            f"kl_warmup_epochs must be >= 0, got {self.kl_warmup_epochs!r}.",
        )
        _check(
            self.early_stopping_patience is None or self.early_stopping_patience >= 1,
            "early_stopping_patience must be None (off) or >= 1, "
            f"got {self.early_stopping_patience!r}.",
        )
        _check(
            self.rotation in ROTATIONS,
            f"rotation must be one of {ROTATIONS}, got {self.rotation!r}.",
        )
        _check(self.lr_patience >= 0, f"lr_patience must be >= 0, got {self.lr_patience!r}.")
        _check(0.0 < self.lr_factor < 1.0, f"lr_factor must be in (0, 1), got {self.lr_factor!r}.")
        _check(
            self.early_stopping_min_delta >= 0,
            f"early_stopping_min_delta must be >= 0, got {self.early_stopping_min_delta!r}.",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``hidden_dims`` as a list)."""
        data = dataclasses.asdict(self)
        data["hidden_dims"] = list(self.hidden_dims)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VAEConfig:
        """Inverse of :meth:`to_dict`; missing keys take the defaults, unknown keys are refused."""
        _unknown_keys(cls, data)
        kwargs = dict(data)
        if "hidden_dims" in kwargs:
            kwargs["hidden_dims"] = tuple(kwargs["hidden_dims"])
        return cls(**kwargs)


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
        _check(
            self.null_strategy in NULL_STRATEGIES,
            f"null_strategy must be one of {NULL_STRATEGIES}, got {self.null_strategy!r}.",
        )
        _check(
            self.pca_variance_threshold is None or 0.0 < self.pca_variance_threshold <= 1.0,
            "pca_variance_threshold must be None (no PCA) or in (0, 1], "
            f"got {self.pca_variance_threshold!r}.",
        )
        _check(
            isinstance(self.max_tier, int) and self.max_tier >= 1,
            f"max_tier must be an integer >= 1, got {self.max_tier!r}.",
        )
        _check(
            self.segment_type in SEGMENT_TYPES,
            f"segment_type must be one of {SEGMENT_TYPES}, got {self.segment_type!r}.",
        )
        _check(
            0.0 <= self.null_column_threshold <= 1.0,
            f"null_column_threshold must be in [0, 1], got {self.null_column_threshold!r}.",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessConfig:
        """Inverse of :meth:`to_dict`; missing keys take the defaults, unknown keys are refused."""
        _unknown_keys(cls, data)
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
