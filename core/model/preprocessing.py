"""Feature matrix preparation: pick the ``t<tier>_`` columns, handle nulls, z-score, optional PCA.

Follows scikit-learn conventions: ``__init__`` only stores settings, ``fit`` learns the
statistics (attributes ending in ``_``), ``transform`` reuses them. Saved as JSON or npz,
never pickle.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from core.errors import (
    MissingColumnsError,
    NoFeatureColumnsError,
    NotFittedError,
    NoUsableFeaturesError,
    PreprocessingError,
    TooFewRowsError,
)
from core.features.support import PROVIDER_NAMES, unavailable_features
from core.infra.arrays import FloatArray
from core.infra.io import atomic_write_npz, atomic_write_text
from core.model.config import NULL_STRATEGIES, PreprocessConfig
from core.model.imputation import impute_missing

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MIN_ROWS = 2


def feature_pattern(prefix: str = "t") -> re.Pattern[str]:
    """Regex for feature column names: ``<prefix><tier digits>_`` (so never ``team_id``)."""
    return re.compile(rf"^{re.escape(prefix)}(\d+)_")


def _as_polars(df: Any) -> pl.DataFrame:
    if isinstance(df, pl.DataFrame):
        return df
    if hasattr(df, "iloc"):  # pandas
        return pl.from_pandas(df)
    raise PreprocessingError(
        f"Expected a polars (or pandas) DataFrame of segments, got {type(df).__name__}."
    )


def unavailable_columns(
    frame: pl.DataFrame, columns: Sequence[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """``{column: providers that cannot supply it}`` among ``columns``, and the providers.

    The providers are those of the table's ``provider`` column (none without one, as in
    tables extracted before providers were recorded or uploaded without it).
    """
    if "provider" not in frame.columns:
        return {}, []
    providers = sorted(str(p) for p in frame.get_column("provider").drop_nulls().unique())
    wanted = set(columns)
    lacking: dict[str, list[str]] = {}
    for provider in providers:
        if provider not in PROVIDER_NAMES:
            continue
        for name in unavailable_features(provider):
            if name in wanted:
                lacking.setdefault(name, []).append(provider)
    return {c: lacking[c] for c in columns if c in lacking}, providers


class PreprocessingPipeline:
    """Select ``t<digit>_`` features, impute or drop nulls, z-score, optionally PCA.

    Features a provider of the table (its ``provider`` column) cannot supply are dropped
    first and listed in ``dropped_unavailable_`` (with the providers lacking each); with
    several providers only the features all of them supply remain. ``notes_`` says so in
    words. Columns whose null fraction exceeds ``null_column_threshold`` (and all-null columns,
    always) are dropped and listed in ``dropped_null_``; columns that are constant after
    null handling are dropped and listed in ``dropped_constant_``. ``feature_columns_``
    (alias ``_feature_columns``, the notebook's name) are the columns the model sees, in
    order. Without PCA the output column ``i`` is the z-score of ``feature_columns_[i]``.
    """

    def __init__(
        self,
        feature_prefix: str = "t",
        null_strategy: str = "impute_median",
        pca_variance_threshold: float | None = None,
        null_column_threshold: float = 0.5,
    ) -> None:
        self.feature_prefix = feature_prefix
        self.null_strategy = null_strategy
        self.pca_variance_threshold = pca_variance_threshold
        self.null_column_threshold = null_column_threshold

    # -- construction helpers -------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: PreprocessConfig, feature_prefix: str = "t") -> PreprocessingPipeline:
        """Pipeline with the settings of a :class:`~core.model.config.PreprocessConfig`."""
        return cls(
            feature_prefix=feature_prefix,
            null_strategy=cfg.null_strategy,
            pca_variance_threshold=cfg.pca_variance_threshold,
            null_column_threshold=cfg.null_column_threshold,
        )

    def _validate_settings(self) -> None:
        if self.null_strategy not in NULL_STRATEGIES:
            raise PreprocessingError(
                f"null_strategy must be one of {NULL_STRATEGIES}, got {self.null_strategy!r}."
            )
        t = self.pca_variance_threshold
        if t is not None and not 0.0 < t <= 1.0:
            raise PreprocessingError(
                f"pca_variance_threshold must be None or in (0, 1], got {t!r}."
            )
        if not 0.0 <= self.null_column_threshold <= 1.0:
            raise PreprocessingError(
                f"null_column_threshold must be in [0, 1], got {self.null_column_threshold!r}."
            )

    # -- column handling --------------------------------------------------------------------
    def candidate_columns(self, df: Any) -> list[str]:
        """Columns of ``df`` matching the feature pattern, in table order."""
        frame = _as_polars(df)
        pattern = feature_pattern(self.feature_prefix)
        return [c for c in frame.columns if pattern.match(c)]

    @staticmethod
    def _matrix(frame: pl.DataFrame, columns: Sequence[str]) -> FloatArray:
        """Float64 matrix of ``columns`` with nulls (and NaN) as NaN; refuses infinities."""
        bad_types = [
            c for c in columns if not (frame.schema[c].is_numeric() or frame.schema[c] == pl.Null)
        ]
        if bad_types:
            raise PreprocessingError(
                f"Feature columns must be numeric; {bad_types} are not "
                f"({[str(frame.schema[c]) for c in bad_types]}). Fix the features file."
            )
        mat = (
            frame.select([pl.col(c).cast(pl.Float64) for c in columns])
            .to_numpy()
            .astype(np.float64, copy=False)
        )
        inf_cols = np.isinf(mat).any(axis=0)
        if inf_cols.any():
            names = [c for c, bad in zip(columns, inf_cols, strict=True) if bad]
            raise PreprocessingError(
                f"Feature columns {names} contain infinite values; features must be finite "
                "or null. Fix the feature computation (e.g. a ratio with a zero denominator)."
            )
        return mat

    def _require_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise NotFittedError("This PreprocessingPipeline is not fitted yet; call fit() first.")

    # -- fit / transform ----------------------------------------------------------------------
    def fit(self, df: Any) -> PreprocessingPipeline:
        """Learn which columns to keep, their medians, means, scales and optional PCA basis."""
        self._validate_settings()
        frame = _as_polars(df)
        candidates = self.candidate_columns(frame)
        if not candidates:
            raise NoFeatureColumnsError(
                f"No feature columns: none of the {len(frame.columns)} columns matches "
                f"'{feature_pattern(self.feature_prefix).pattern}' (e.g. t1_passes). "
                "Pass a features.parquet produced by `python -m core features`."
            )
        if frame.height < MIN_ROWS:
            raise TooFewRowsError(
                f"Need at least {MIN_ROWS} segments to fit the preprocessing, got {frame.height}."
            )
        self._drop_unavailable(frame, candidates)
        candidates = [c for c in candidates if c not in self.dropped_unavailable_]
        if not candidates:
            raise NoUsableFeaturesError(
                f"None of the feature columns is supplied by every provider in the table "
                f"({', '.join(self.providers_)}); train on one provider's matches."
            )
        mat = self._matrix(frame, candidates)
        null_frac = np.isnan(mat).mean(axis=0)
        too_null = (null_frac > self.null_column_threshold) | (null_frac >= 1.0)
        self.dropped_null_: list[str] = [c for c, d in zip(candidates, too_null, strict=True) if d]
        self.null_fractions_: dict[str, float] = {
            c: float(f) for c, f in zip(candidates, null_frac, strict=True)
        }
        keep = ~too_null
        cols = [c for c, k in zip(candidates, keep, strict=True) if k]
        mat = mat[:, keep]
        if not cols:
            raise NoUsableFeaturesError(
                f"All {len(candidates)} feature columns are null in more than "
                f"{self.null_column_threshold:.0%} of rows: {self.dropped_null_}. "
                "Raise null_column_threshold or use a dataset with these features."
            )

        if self.null_strategy == "drop_rows":
            rows = ~np.isnan(mat).any(axis=1)
            mat = mat[rows]
            medians = np.nanmedian(mat, axis=0) if mat.shape[0] else np.zeros(mat.shape[1])
        else:
            medians = np.nanmedian(mat, axis=0)
            mat = impute_missing(mat, medians)
        if mat.shape[0] < MIN_ROWS:
            raise TooFewRowsError(
                f"Only {mat.shape[0]} of {frame.height} segments have no nulls in the kept "
                f"features, need at least {MIN_ROWS}. Use null_strategy='impute_median'."
            )

        constant = np.ptp(mat, axis=0) == 0
        self.dropped_constant_: list[str] = [c for c, d in zip(cols, constant, strict=True) if d]
        if constant.all():
            raise NoUsableFeaturesError(
                f"Every remaining feature column is constant over the {mat.shape[0]} segments "
                f"({self.dropped_constant_}); there is nothing to learn. Use more matches."
            )
        mat = mat[:, ~constant]
        self.feature_columns_: list[str] = [c for c, d in zip(cols, constant, strict=True) if not d]
        self.medians_: FloatArray = medians[~constant]
        self.mean_: FloatArray = mat.mean(axis=0)
        self.scale_: FloatArray = mat.std(axis=0)
        self.n_rows_in_: int = frame.height
        self.n_rows_retained_: int = int(mat.shape[0])

        self.components_: FloatArray | None = None
        self.explained_variance_ratio_: FloatArray | None = None
        if self.pca_variance_threshold is not None:
            z = (mat - self.mean_) / self.scale_
            _, s, vt = np.linalg.svd(z, full_matrices=False)
            ratio = s**2 / np.sum(s**2)
            k = int(np.searchsorted(np.cumsum(ratio), self.pca_variance_threshold - 1e-12) + 1)
            k = min(k, vt.shape[0])
            vt = vt[:k]
            # Deterministic signs: largest |loading| of each component is positive.
            signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
            self.components_ = vt * signs[:, None]
            self.explained_variance_ratio_ = ratio[:k]
        if self.dropped_null_ or self.dropped_constant_:
            logger.info(
                "Preprocessing dropped %d mostly-null column(s) %s and %d constant column(s) %s",
                len(self.dropped_null_),
                self.dropped_null_,
                len(self.dropped_constant_),
                self.dropped_constant_,
            )
        logger.info(
            "Preprocessing fitted: %d of %d rows, %d features%s",
            self.n_rows_retained_,
            self.n_rows_in_,
            len(self.feature_columns_),
            "" if self.components_ is None else f" -> {self.components_.shape[0]} PCs",
        )
        return self

    def _drop_unavailable(self, frame: pl.DataFrame, candidates: list[str]) -> None:
        """Set ``dropped_unavailable_``, ``providers_`` and ``notes_`` for ``frame``."""
        self.dropped_unavailable_, self.providers_ = unavailable_columns(frame, candidates)
        self.notes_: list[str] = []
        if len(self.providers_) > 1:
            kept = len(candidates) - len(self.dropped_unavailable_)
            self.notes_.append(
                f"The table mixes providers ({', '.join(self.providers_)}): only the {kept} "
                "features all of them supply are used."
            )
        if self.dropped_unavailable_:
            by_provider: dict[str, list[str]] = {}
            for name, providers in self.dropped_unavailable_.items():
                for provider in providers:
                    by_provider.setdefault(provider, []).append(name)
            self.notes_ += [
                f"{len(names)} feature(s) dropped because {provider} data cannot supply "
                f"them: {', '.join(names)}."
                for provider, names in sorted(by_provider.items())
            ]
        for note in self.notes_:
            logger.warning("Preprocessing: %s", note)

    @property
    def _feature_columns(self) -> list[str]:
        """The notebook's name for :attr:`feature_columns_`."""
        self._require_fitted()
        return self.feature_columns_

    @property
    def n_output_dims(self) -> int:
        """Width of the matrix ``transform`` returns."""
        self._require_fitted()
        if self.components_ is not None:
            return int(self.components_.shape[0])
        return len(self.feature_columns_)

    def _fitted_matrix(self, df: Any) -> FloatArray:
        self._require_fitted()
        frame = _as_polars(df)
        missing = [c for c in self.feature_columns_ if c not in frame.columns]
        if missing:
            raise MissingColumnsError(
                f"The table lacks {len(missing)} feature column(s) the pipeline was fitted on: "
                f"{missing[:10]}{' ...' if len(missing) > 10 else ''}. Extract the features "
                "with the same feature set as the training data."
            )
        return self._matrix(frame, self.feature_columns_)

    def get_retained_row_mask(self, df: Any) -> npt.NDArray[np.bool_]:
        """Boolean mask of the rows of ``df`` that ``transform`` keeps (all, unless drop_rows)."""
        mat = self._fitted_matrix(df)
        if self.null_strategy == "drop_rows":
            return np.asarray(~np.isnan(mat).any(axis=1), dtype=bool)
        return np.ones(mat.shape[0], dtype=bool)

    def transform(self, df: Any) -> npt.NDArray[np.float32]:
        """Model matrix (float32) of ``df`` with the fitted medians, means, scales and PCA."""
        mat = self._fitted_matrix(df)
        if self.null_strategy == "drop_rows":
            mat = mat[~np.isnan(mat).any(axis=1)]
        else:
            mat = impute_missing(mat, self.medians_)
        z = (mat - self.mean_) / self.scale_
        if self.components_ is not None:
            z = z @ self.components_.T
        return z.astype(np.float32)

    def fit_transform(self, df: Any) -> npt.NDArray[np.float32]:
        """``fit(df)`` then ``transform(df)``."""
        return self.fit(df).transform(df)

    def to_feature_units(self, z_scores: npt.ArrayLike) -> FloatArray:
        """Map z-scores of ``feature_columns_`` (shape ``(..., n_features)``) to feature units."""
        self._require_fitted()
        z = np.asarray(z_scores, dtype=np.float64)
        if z.shape[-1] != len(self.feature_columns_):
            raise PreprocessingError(
                f"Expected {len(self.feature_columns_)} z-score columns (one per feature), "
                f"got {z.shape[-1]}."
            )
        out: FloatArray = z * self.scale_ + self.mean_
        return out

    def inverse_transform(self, x: npt.ArrayLike) -> FloatArray:
        """Map ``transform`` output (PCA scores if PCA is on) back to feature units."""
        self._require_fitted()
        arr = np.asarray(x, dtype=np.float64)
        if self.components_ is not None:
            if arr.shape[-1] != self.components_.shape[0]:
                raise PreprocessingError(
                    f"Expected {self.components_.shape[0]} PCA columns, got {arr.shape[-1]}."
                )
            arr = arr @ self.components_
        return self.to_feature_units(arr)

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of settings and fitted state."""
        self._require_fitted()
        return {
            "format_version": FORMAT_VERSION,
            "feature_prefix": self.feature_prefix,
            "null_strategy": self.null_strategy,
            "pca_variance_threshold": self.pca_variance_threshold,
            "null_column_threshold": self.null_column_threshold,
            "feature_columns": list(self.feature_columns_),
            "dropped_null": list(self.dropped_null_),
            "dropped_constant": list(self.dropped_constant_),
            "dropped_unavailable": dict(getattr(self, "dropped_unavailable_", {})),
            "providers": list(getattr(self, "providers_", [])),
            "notes": list(getattr(self, "notes_", [])),
            "null_fractions": dict(self.null_fractions_),
            "medians": self.medians_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "n_rows_in": self.n_rows_in_,
            "n_rows_retained": self.n_rows_retained_,
            "components": None if self.components_ is None else self.components_.tolist(),
            "explained_variance_ratio": (
                None
                if self.explained_variance_ratio_ is None
                else self.explained_variance_ratio_.tolist()
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessingPipeline:
        """Rebuild a fitted pipeline from :meth:`to_dict` output."""
        try:
            version = int(data.get("format_version", 0))
            if version != FORMAT_VERSION:
                raise PreprocessingError(
                    f"Preprocessing file has format_version {version}, expected {FORMAT_VERSION}."
                )
            pipe = cls(
                feature_prefix=str(data["feature_prefix"]),
                null_strategy=str(data["null_strategy"]),
                pca_variance_threshold=data["pca_variance_threshold"],
                null_column_threshold=float(data["null_column_threshold"]),
            )
            pipe.feature_columns_ = [str(c) for c in data["feature_columns"]]
            pipe.dropped_null_ = [str(c) for c in data["dropped_null"]]
            pipe.dropped_constant_ = [str(c) for c in data["dropped_constant"]]
            pipe.dropped_unavailable_ = {
                str(k): [str(p) for p in v]
                for k, v in (data.get("dropped_unavailable") or {}).items()
            }
            pipe.providers_ = [str(p) for p in data.get("providers") or []]
            pipe.notes_ = [str(n) for n in data.get("notes") or []]
            pipe.null_fractions_ = {str(k): float(v) for k, v in data["null_fractions"].items()}
            pipe.medians_ = np.asarray(data["medians"], dtype=np.float64)
            pipe.mean_ = np.asarray(data["mean"], dtype=np.float64)
            pipe.scale_ = np.asarray(data["scale"], dtype=np.float64)
            pipe.n_rows_in_ = int(data["n_rows_in"])
            pipe.n_rows_retained_ = int(data["n_rows_retained"])
            comp = data["components"]
            pipe.components_ = None if comp is None else np.asarray(comp, dtype=np.float64)
            evr = data["explained_variance_ratio"]
            pipe.explained_variance_ratio_ = None if evr is None else np.asarray(evr, np.float64)
        except (KeyError, TypeError, AttributeError) as exc:
            raise PreprocessingError(
                f"Not a saved PreprocessingPipeline (missing or malformed field: {exc})."
            ) from exc
        n = len(pipe.feature_columns_)
        if not (len(pipe.mean_) == len(pipe.scale_) == len(pipe.medians_) == n):
            raise PreprocessingError("Saved preprocessing statistics disagree in length.")
        return pipe

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically: npz when ``path`` ends in ``.npz``, JSON otherwise (never pickle)."""
        target = Path(path)
        data = self.to_dict()
        if target.suffix == ".npz":
            atomic_write_npz(target, state_json=np.array(json.dumps(data)))
        else:
            atomic_write_text(target, json.dumps(data, indent=1))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PreprocessingPipeline:
        """Read a pipeline written by :meth:`save` (JSON or npz; pickle is refused)."""
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"No saved preprocessing at {source}.")
        if source.suffix == ".npz":
            with np.load(source, allow_pickle=False) as npz:
                data = json.loads(str(npz["state_json"]))
        else:
            try:
                data = json.loads(source.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise PreprocessingError(
                    f"{source} is not a JSON preprocessing file ({exc}); pickles are not loaded."
                ) from exc
        if not isinstance(data, dict):
            raise PreprocessingError(f"{source} does not hold a preprocessing object.")
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return (
            f"PreprocessingPipeline(feature_prefix={self.feature_prefix!r}, "
            f"null_strategy={self.null_strategy!r}, "
            f"pca_variance_threshold={self.pca_variance_threshold!r}, "
            f"null_column_threshold={self.null_column_threshold!r})"
        )
