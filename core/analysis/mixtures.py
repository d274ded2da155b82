"""The math of tactical states: Gaussian mixtures chosen by BIC, silhouette on a sample,
agreement between two state assignments, state profiles and plain-word labels.

Pure functions over numpy/polars arrays; :mod:`core.services.states` runs them for a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from core.errors import StatesError
from core.features.names import concept
from core.features.registry import FEATURE_PATTERN
from core.model.imputation import impute_missing

if TYPE_CHECKING:
    from sklearn.mixture import GaussianMixture


Progress = Callable[[int, int, str], object]  # progress(done, total, message)
DEFAULT_K_RANGE: tuple[int, int] = (2, 10)
SELECTION_SAMPLE = 10_000  # rows used to fit every K of the BIC curve
SILHOUETTE_SAMPLE = 5_000  # silhouette is O(n^2): scored on a seeded sample
# Above this many columns the mixture runs on principal components. With one BLAS thread a
# full-covariance curve K=2..10 on World Cup 2018's 4,966 x 49 features takes 5-12 s, and
# identical states to before, so every feature catalogue so far (<= 64) fits unreduced.
MAX_FULL_DIMS = 64
REDUCED_VARIANCE = 0.95  # variance the principal components keep
# EM on matrices this small is slower with threads: on a busy 2-core machine two BLAS
# threads made a 49-D full-covariance fit 30x slower (12 s instead of 0.35 s for K=6).
BLAS_THREADS = 1
LABEL_FEATURES = 2  # distinctive features named in a state's label
MIN_LABEL_EFFECT = 0.25  # |standardised difference| below this is "typical", not distinctive

_ACRONYMS = {"ppda": "PPDA", "xg": "xG", "xga": "xGA"}


@dataclass(frozen=True)
class MixtureFit:
    """A Gaussian mixture chosen by BIC, and the hard state of every row.

    ``k_values``/``bic`` is the BIC curve (fitted on a seeded sample of ``sample_size``
    rows); the chosen K is then refitted on every row, warm-started from the sample fit.
    States are renumbered by decreasing size, so state 0 is the most common.
    """

    k_values: np.ndarray  # (m,) candidate K
    bic: np.ndarray  # (m,) BIC of each K on the sample (lower is better)
    best_k: int
    labels: np.ndarray  # (n,) int state of each row
    probabilities: np.ndarray  # (n,) posterior probability of the assigned state
    means: np.ndarray  # (best_k, d)
    covariances: np.ndarray  # (best_k, d, d) for "full", (best_k, d) for "diag"
    weights: np.ndarray  # (best_k,)
    covariance_type: str
    sample_size: int


def _check_matrix(X: np.ndarray, what: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise StatesError(f"{what} must be a 2-D array (rows x columns), got shape {X.shape}.")
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise StatesError(
            f"{what} has {bad} rows with NaN or infinite values; impute or drop them first."
        )
    return X


def _seeded_sample(n: int, size: int, random_state: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=size, replace=False))


def select_mixture(
    X: np.ndarray,
    k_range: Sequence[int] | tuple[int, int] = DEFAULT_K_RANGE,
    *,
    random_state: int = 0,
    sample_size: int = SELECTION_SAMPLE,
    covariance_type: str = "full",
    progress: Progress | None = None,
) -> MixtureFit:
    """Fit Gaussian mixtures for every K in ``k_range`` and keep the one with the lowest BIC.

    ``k_range`` is either ``(k_min, k_max)`` (inclusive) or an explicit list of K. The curve
    is fitted on a seeded sample (fast on 100,000 rows); the chosen K is refitted on all rows
    starting from the sample's solution, so the final fit costs a few EM steps.
    """
    X = _check_matrix(X, "X")
    ks = k_values(k_range)
    n = X.shape[0]
    if n < 2 * ks[0]:
        raise StatesError(
            f"{n} rows are too few for a mixture with K={ks[0]}; need >= {2 * ks[0]}."
        )
    ks = [k for k in ks if k < n]
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        return _select_mixture(X, ks, random_state, sample_size, covariance_type, progress)


def _select_mixture(
    X: np.ndarray,
    ks: list[int],
    random_state: int,
    sample_size: int,
    covariance_type: str,
    progress: Progress | None,
) -> MixtureFit:
    from sklearn.mixture import GaussianMixture  # here: the pages import this module, never fit

    n = X.shape[0]
    idx = _seeded_sample(n, sample_size, random_state)
    Xs = X[idx]
    fits: list[GaussianMixture] = []
    bics: list[float] = []
    total = len(ks) + 1
    for i, k in enumerate(ks):
        gm = GaussianMixture(
            n_components=k,
            covariance_type=covariance_type,
            reg_covar=1e-4,
            max_iter=200,
            random_state=random_state,
        ).fit(Xs)
        fits.append(gm)
        bics.append(float(gm.bic(Xs)))
        if progress is not None:
            progress(i + 1, total, f"BIC for K={k}")
    best = int(np.argmin(bics))
    chosen = fits[best]
    if len(idx) < n:
        chosen = GaussianMixture(
            n_components=ks[best],
            covariance_type=covariance_type,
            reg_covar=1e-4,
            max_iter=100,
            random_state=random_state,
            weights_init=chosen.weights_,
            means_init=chosen.means_,
            precisions_init=chosen.precisions_,
        ).fit(X)
    if progress is not None:
        progress(total, total, f"fitted K={ks[best]} on {n:,} rows")
    post = chosen.predict_proba(X)
    raw = post.argmax(axis=1)
    order = np.argsort(-np.bincount(raw, minlength=ks[best]), kind="stable")
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return MixtureFit(
        k_values=np.asarray(ks, dtype=np.int64),
        bic=np.asarray(bics, dtype=np.float64),
        best_k=int(ks[best]),
        labels=remap[raw].astype(np.int64),
        probabilities=post[np.arange(n), raw],
        means=np.asarray(chosen.means_)[order],
        covariances=np.asarray(chosen.covariances_)[order],
        weights=np.asarray(chosen.weights_)[order],
        covariance_type=covariance_type,
        sample_size=len(idx),
    )


@dataclass(frozen=True)
class SpacePlan:
    """How a mixture is fitted in one space, chosen from its size and recorded in the run.

    ``components`` is None when the mixture sees every column; else the number of
    principal components kept (``variance`` of the z-scored columns). BIC is computed in
    the space the mixture sees; silhouette and ARI are always computed on the full columns,
    so they compare across runs and methods.
    """

    columns: int
    rows: int
    covariance_type: str
    sample_size: int
    components: int | None = None
    variance: float | None = None

    @property
    def method(self) -> str:
        """Plain words: ``"full covariance on 49 columns; BIC curve on 4,966 rows"``."""
        space = (
            f"{self.columns} columns"
            if self.components is None
            else f"{self.components} principal components of {self.columns} columns "
            f"({self.variance:.0%} of the variance)"
        )
        rows = (
            f"BIC curve on {self.sample_size:,} rows"
            if self.sample_size >= self.rows
            else f"BIC curve on a seeded sample of {self.sample_size:,} of {self.rows:,} rows, "
            "chosen K refitted on all"
        )
        return f"{self.covariance_type} covariance on {space}; {rows}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "covariance_type": self.covariance_type,
            "columns": self.columns,
            "components": self.components,
            "variance_kept": None if self.variance is None else round(self.variance, 4),
            "selection_sample": self.sample_size,
        }


def plan_space(
    X: np.ndarray,
    *,
    max_full_dims: int = MAX_FULL_DIMS,
    variance: float = REDUCED_VARIANCE,
    sample_size: int = SELECTION_SAMPLE,
) -> tuple[np.ndarray, SpacePlan]:
    """The matrix a mixture should see for ``X`` and the plan that says why.

    Up to ``max_full_dims`` columns the mixture uses full covariances on every column (the
    cost of EM grows with the square of the columns). Above, it runs on the principal
    components keeping ``variance`` of the variance (at most ``max_full_dims`` of them),
    with full covariances still, so states may be tilted ellipsoids as before.
    """
    X = _check_matrix(X, "X")
    n, d = X.shape
    plan = SpacePlan(columns=d, rows=n, covariance_type="full", sample_size=min(n, sample_size))
    if d <= max_full_dims:
        return X, plan
    centred = X - X.mean(axis=0)
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        _, sv, vt = np.linalg.svd(centred[_seeded_sample(n, sample_size, 0)], full_matrices=False)
    share = np.cumsum(sv**2) / max(float((sv**2).sum()), np.finfo(float).tiny)
    k = min(int(np.searchsorted(share, variance) + 1), max_full_dims, d)
    reduced = centred @ vt[:k].T
    return reduced, SpacePlan(
        columns=d,
        rows=n,
        covariance_type="full",
        sample_size=min(n, sample_size),
        components=k,
        variance=float(share[k - 1]),
    )


def k_values(k_range: Sequence[int] | tuple[int, int]) -> list[int]:
    values = [int(k) for k in k_range]
    if isinstance(k_range, tuple) and len(values) == 2:
        values = list(range(values[0], values[1] + 1))
    if not values or min(values) < 1:
        raise StatesError(
            f"k_range must be (k_min, k_max) with 1 <= k_min <= k_max, or a list of K; "
            f"got {k_range!r}."
        )
    return sorted(set(values))


def silhouette_on_sample(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    sample_size: int = SILHOUETTE_SAMPLE,
    random_state: int = 0,
) -> float:
    """Silhouette of ``labels`` in ``X`` (Euclidean), on a seeded sample when ``X`` is large.

    Returns NaN when fewer than two states are present in the sample.
    """
    X = _check_matrix(X, "X")
    labels = np.asarray(labels)
    idx = _seeded_sample(X.shape[0], sample_size, random_state)
    n_labels = len(np.unique(labels[idx]))
    if n_labels < 2 or n_labels >= len(idx):
        return float("nan")
    from sklearn.metrics import silhouette_score

    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        return float(silhouette_score(X[idx], labels[idx]))


def state_agreement(labels_a: np.ndarray, labels_b: np.ndarray) -> tuple[float, np.ndarray]:
    """Adjusted Rand index of two assignments and their contingency table (rows: ``a``).

    Unlike sklearn's ``contingency_matrix`` the table keeps empty states, so row ``i`` is
    always state ``i`` of ``a`` and column ``j`` state ``j`` of ``b``.
    """
    a = np.asarray(labels_a, dtype=np.int64)
    b = np.asarray(labels_b, dtype=np.int64)
    if a.shape != b.shape:
        raise StatesError(f"assignments differ in length: {a.shape} vs {b.shape}.")
    table = np.zeros((int(a.max()) + 1, int(b.max()) + 1), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b)), table


def state_profiles(
    values: np.ndarray,
    labels: np.ndarray,
    feature_names: Sequence[str],
    n_states: int | None = None,
) -> pl.DataFrame:
    """Each state's mean of every feature against the population, in the features' own units.

    ``values`` are raw feature values (NaN where missing; ignored per feature). Returns one
    row per (state, feature): ``state, feature, state_mean, population_mean, population_std,
    effect`` (standardised difference ``(state_mean - population_mean) / population_std``),
    ``n`` (segments in the state) and ``share`` (of all segments).
    """
    V = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if V.ndim != 2 or V.shape[0] != labels.shape[0] or V.shape[1] != len(feature_names):
        raise StatesError(
            f"values {V.shape} must be (rows, features) with {labels.shape[0]} rows and "
            f"{len(feature_names)} features."
        )
    k = int(labels.max()) + 1 if n_states is None else int(n_states)
    present = np.isfinite(V)
    V0 = np.where(present, V, 0.0)
    onehot = np.zeros((k, V.shape[0]), dtype=np.float64)
    onehot[labels, np.arange(V.shape[0])] = 1.0
    sums = onehot @ V0
    counts = onehot @ present.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        state_mean = sums / counts
        pop_count = present.sum(axis=0)
        pop_mean = V0.sum(axis=0) / pop_count
        pop_var = (np.where(present, V - pop_mean, 0.0) ** 2).sum(axis=0) / (pop_count - 1)
        pop_std = np.sqrt(pop_var)
        effect = np.where(pop_std > 0, (state_mean - pop_mean) / pop_std, 0.0)
    n_per_state = onehot.sum(axis=1)
    f = len(feature_names)
    return pl.DataFrame(
        {
            "state": np.repeat(np.arange(k), f),
            "feature": np.tile(np.asarray(feature_names, dtype=object), k).astype(str),
            "state_mean": state_mean.ravel(),
            "population_mean": np.tile(pop_mean, k),
            "population_std": np.tile(pop_std, k),
            "effect": effect.ravel(),
            "n": np.repeat(n_per_state.astype(np.int64), f),
            "share": np.repeat(n_per_state / max(V.shape[0], 1), f),
        }
    ).with_columns(pl.col("state").cast(pl.Int64), pl.col("effect").fill_nan(0.0))


def feature_short_name(feature: str) -> str:
    """Readable name of a ``t<tier>_<name>`` column: ``t2_ppda`` -> ``PPDA``.

    A ``_per_min`` suffix is dropped (every rate is per minute of the segment).
    """
    words = FEATURE_PATTERN.sub("", feature).removesuffix("_per_min").split("_")
    return " ".join(_ACRONYMS.get(w.lower(), w) for w in words)


def direction_words(direction: str | None) -> tuple[str, str]:
    """(phrase for high values, phrase for low values) of a feature, from its registry direction.

    ``"higher = more pressing"`` gives ``("more pressing", "less pressing")``; ``"lower =
    more intense pressing"`` (PPDA) gives ``("less intense pressing", "more intense
    pressing")``; only the part before a comma is kept. Any other wording falls back to
    ``("high", "low")``, which the label puts before the feature's name.
    """
    if direction:
        m = re.match(r"\s*(higher|lower)\s*=\s*more\s+([^,.;]+)", direction, re.I)
        if m:
            what = m.group(2).strip()
            more, less = f"more {what}", f"less {what}"
            return (more, less) if m.group(1).lower() == "higher" else (less, more)
    return "high", "low"


def state_labels(
    profiles: pl.DataFrame,
    *,
    directions: Mapping[str, str | None] | None = None,
    n_features: int = LABEL_FEATURES,
    min_effect: float = MIN_LABEL_EFFECT,
) -> pl.DataFrame:
    """A short label per state from its most distinctive features (largest ``|effect|``).

    Returns ``state, label, n, share, top_features`` (the features named in the label, most
    distinctive first). Labels read like ``"high PPDA, low field tilt"``; a state that
    differs from the population by less than ``min_effect`` everywhere is ``"typical"``.
    Duplicate labels get the next distinctive feature appended, then a ``#state`` suffix.
    A label names one feature per concept (:func:`core.features.names.concept`), so it never
    pairs a count with its own success rate ("more dribbling, less successful dribbling").
    """
    directions = directions or {}
    ranked = (
        profiles.with_columns(pl.col("effect").abs().alias("_abs"))
        .sort(["state", "_abs"], descending=[False, True])
        .with_columns(pl.int_range(pl.len()).over("state").alias("_rank"))
    )

    def phrase(feature: str, effect: float) -> str:
        high, low = direction_words(directions.get(feature))
        name = feature_short_name(feature)
        if high == "high":
            return f"{'high' if effect > 0 else 'low'} {name}"
        return high if effect > 0 else low

    rows: list[dict[str, Any]] = []
    for (state,), grp in ranked.group_by(["state"], maintain_order=True):
        feats = grp["feature"].to_list()
        effects = grp["effect"].to_list()
        strong, seen = [], set()
        for i, e in enumerate(effects):  # one feature per concept (core.features.names)
            if abs(e) >= min_effect and concept(feats[i]) not in seen:
                strong.append(i)
                seen.add(concept(feats[i]))
        rows.append(
            {
                "state": int(state),
                "_candidates": [phrase(feats[i], effects[i]) for i in strong],
                "_features": [feats[i] for i in strong],
                "n": int(grp["n"][0]),
                "share": float(grp["share"][0]),
            }
        )
    used: dict[str, int] = {}
    labels: list[str] = []
    tops: list[list[str]] = []
    for row in rows:
        cands: list[str] = row["_candidates"]
        m = n_features
        label = ", ".join(cands[:m]) if cands else "typical"
        while label in used and m < len(cands):
            m += 1
            label = ", ".join(cands[:m])
        if label in used:
            label = f"{label} #{row['state']}"
        used[label] = row["state"]
        labels.append(label)
        tops.append(row["_features"][:m])
    return pl.DataFrame(
        {
            "state": [r["state"] for r in rows],
            "label": labels,
            "n": [r["n"] for r in rows],
            "share": [r["share"] for r in rows],
            "top_features": tops,
        },
        schema={
            "state": pl.Int64,
            "label": pl.String,
            "n": pl.Int64,
            "share": pl.Float64,
            "top_features": pl.List(pl.String),
        },
    ).sort("state")


def zscore_columns(values: np.ndarray) -> np.ndarray:
    """Z-score each column with NaN-aware statistics; missing values become 0 (the mean)."""
    V = np.asarray(values, dtype=np.float64)
    mean = np.nanmean(V, axis=0)
    std = np.nanstd(V, axis=0)
    std = np.where(std > 0, std, 1.0)
    Z = (V - mean) / std
    return np.where(np.isfinite(Z), Z, 0.0)


def feature_zscores(
    values: np.ndarray, medians: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Z-scores of raw feature values with a fitted pipeline's statistics (a missing value
    filled by :func:`core.model.imputation.impute_missing` with the training median)."""
    V = impute_missing(values, medians)
    z: np.ndarray = (V - mean) / np.where(scale > 0, scale, 1.0)
    return z
