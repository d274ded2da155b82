"""Tactical states: Gaussian mixtures on latent codes and on z-scored features, compared.

The notebook's own next step. The math lives in pure functions over numpy/polars
(:func:`select_mixture`, :func:`silhouette_on_sample`, :func:`state_agreement`,
:func:`state_profiles`, :func:`state_labels`); :func:`get_states` runs them for one run and
caches the result in the run folder under ``states/`` (parquet, JSON, npz), computed on the
first request with progress.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from tqdm.auto import tqdm

from core.errors import StatesError
from core.features.registry import FEATURE_PATTERN
from core.infra.io import to_json

if TYPE_CHECKING:
    from core.runs.store import Run

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], object]  # progress(done, total, message)
Space = Literal["latent", "features"]
SPACES: tuple[Space, ...] = ("latent", "features")

STATES_DIR = "states"
STATES_FORMAT = 1
DEFAULT_K_RANGE: tuple[int, int] = (2, 10)
SELECTION_SAMPLE = 10_000  # rows used to fit every K of the BIC curve
SILHOUETTE_SAMPLE = 5_000  # silhouette is O(n^2): scored on a seeded sample
LABEL_FEATURES = 2  # distinctive features named in a state's label
MIN_LABEL_EFFECT = 0.25  # |standardised difference| below this is "typical", not distinctive

_ACRONYMS = {"ppda": "PPDA", "xg": "xG", "xga": "xGA"}


# --- pure math --------------------------------------------------------------------------------


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
    ks = _k_values(k_range)
    n = X.shape[0]
    if n < 2 * ks[0]:
        raise StatesError(
            f"{n} rows are too few for a mixture with K={ks[0]}; need >= {2 * ks[0]}."
        )
    ks = [k for k in ks if k < n]
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


def _k_values(k_range: Sequence[int] | tuple[int, int]) -> list[int]:
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
        strong = [i for i, e in enumerate(effects) if abs(e) >= min_effect]
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
    """Z-scores of raw feature values with a fitted pipeline's statistics (NaN -> median)."""
    V = np.asarray(values, dtype=np.float64)
    V = np.where(np.isfinite(V), V, medians)
    return (V - mean) / np.where(scale > 0, scale, 1.0)


# --- per run, cached --------------------------------------------------------------------------


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
    summary: dict[str, Any]  # per space: best_k, silhouette, seconds, ...; ari; params


def states_dir(run: Run) -> Path:
    """The run's ``states/`` folder (may not exist yet)."""
    return Path(run.path) / STATES_DIR


def _params(k_range: Sequence[int] | tuple[int, int], random_state: int) -> dict[str, Any]:
    return {"k_values": _k_values(k_range), "random_state": int(random_state)}


def _run_seed(run: Run) -> int:
    return int(run.config().seed)


def _registry_directions(features: Sequence[str]) -> dict[str, str | None]:
    try:
        from core.features.registry import feature_info
    except ImportError:  # registry not available: labels fall back to high/low
        return {}
    out: dict[str, str | None] = {}
    for f in features:
        try:
            out[f] = feature_info(f).direction
        except (KeyError, ValueError, LookupError):
            out[f] = None
    return out


def run_feature_values(run: Run, segment_ids: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Raw values (NaN where missing) of the run's model features for ``segment_ids``, in order."""
    pipeline = run.load_pipeline()
    columns = list(pipeline.feature_columns_)
    feats = pl.read_parquet(run.features_path, columns=["segment_id", *columns])
    joined = pl.DataFrame({"segment_id": segment_ids}).join(
        feats, on="segment_id", how="left", maintain_order="left"
    )
    values = joined.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()
    return np.asarray(values, dtype=np.float64), columns


def compute_states(
    run: Run,
    *,
    k_range: Sequence[int] | tuple[int, int] = DEFAULT_K_RANGE,
    random_state: int | None = None,
    progress: Progress | None = None,
) -> StatesResult:
    """Fit both mixtures for ``run``, compare them, profile and label the states; cache them.

    Writes ``states/`` in the run folder atomically (a temporary folder renamed into place)
    and returns what it wrote.
    """
    seed = _run_seed(run) if random_state is None else int(random_state)
    params = _params(k_range, seed)
    latents = run.latents()
    ks = [k for k in params["k_values"] if k < latents.height]  # as select_mixture does
    total = 2 * (len(ks) + 1) + 3
    done = 0
    bar = tqdm(total=total, desc="tactical states", disable=None, leave=False)

    def step(message: str) -> None:
        nonlocal done
        done += 1
        bar.update(1)
        bar.set_postfix_str(message)
        if progress is not None:
            progress(min(done, total), total, message)

    zcols = [c for c in latents.columns if re.fullmatch(r"z\d+", c)]
    Z = latents.select(zcols).to_numpy().astype(np.float64)
    pipeline = run.load_pipeline()
    raw, features = run_feature_values(run, latents["segment_id"])
    Xf = feature_zscores(raw, pipeline.medians_, pipeline.mean_, pipeline.scale_)

    summary: dict[str, Any] = {
        "format": STATES_FORMAT,
        "params": params,
        "n_segments": int(latents.height),
        "n_features": len(features),
        "latent_dim": len(zcols),
    }
    fits: dict[str, MixtureFit] = {}
    try:
        for space, X in (("latent", Z), ("features", Xf)):
            t0 = time.perf_counter()

            def sub(_d: int, _t: int, msg: str, space: str = space) -> None:
                step(f"{space}: {msg}")

            fit = select_mixture(X, ks or params["k_values"], random_state=seed, progress=sub)
            t1 = time.perf_counter()
            sil = silhouette_on_sample(X, fit.labels, random_state=seed)
            step(f"{space}: silhouette")
            fits[space] = fit
            summary[space] = {
                "best_k": fit.best_k,
                "silhouette": None if np.isnan(sil) else sil,
                "selection_sample": fit.sample_size,
                "silhouette_sample": min(SILHOUETTE_SAMPLE, X.shape[0]),
                "covariance_type": fit.covariance_type,
                "dims": int(X.shape[1]),
                "fit_seconds": round(t1 - t0, 3),
                "silhouette_seconds": round(time.perf_counter() - t1, 3),
            }
        ari, table = state_agreement(fits["latent"].labels, fits["features"].labels)
        summary["ari"] = ari
        directions = _registry_directions(features)
        profile_parts = []
        label_parts = []
        for space, fit in fits.items():
            prof = state_profiles(raw, fit.labels, features, fit.best_k)
            lab = state_labels(prof, directions=directions)
            profile_parts.append(prof.with_columns(pl.lit(space).alias("space")))
            label_parts.append(lab.with_columns(pl.lit(space).alias("space")))
        step("profiles and labels")
    finally:
        bar.close()

    result = StatesResult(
        assignments=pl.DataFrame(
            {
                "segment_id": latents["segment_id"],
                "latent_state": fits["latent"].labels,
                "latent_prob": fits["latent"].probabilities,
                "features_state": fits["features"].labels,
                "features_prob": fits["features"].probabilities,
            }
        ),
        bic=pl.concat(
            [
                pl.DataFrame({"space": space, "k": f.k_values, "bic": f.bic})
                for space, f in fits.items()
            ]
        ),
        profiles=pl.concat(profile_parts).select("space", pl.exclude("space")),
        labels=pl.concat(label_parts).select("space", pl.exclude("space")),
        contingency=table,
        mixtures={
            space: {"means": f.means, "covariances": f.covariances, "weights": f.weights}
            for space, f in fits.items()
        },
        summary=summary,
    )
    _write_states(states_dir(run), result)
    logger.info(
        "States for run %s: latent K=%d, features K=%d, ARI %.3f",
        getattr(run, "run_id", "?"),
        fits["latent"].best_k,
        fits["features"].best_k,
        ari,
    )
    return result


def _write_states(target: Path, result: StatesResult) -> None:
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


def get_states(
    run: Run,
    *,
    k_range: Sequence[int] | tuple[int, int] | None = None,
    random_state: int | None = None,
    progress: Progress | None = None,
    recompute: bool = False,
) -> StatesResult:
    """The run's states: from ``states/`` when cached, else computed (and cached).

    With ``k_range=None`` any cached result is accepted (pages that only read states do
    not undo a K range chosen on the States page); when nothing is cached the default
    range ``DEFAULT_K_RANGE`` is computed. With an explicit ``k_range`` (or seed) the cache
    must match it, else the states are recomputed.
    """
    from core.infra.locks import file_lock

    seed = _run_seed(run) if random_state is None else int(random_state)
    wanted = (
        None
        if k_range is None and random_state is None
        else _params(DEFAULT_K_RANGE if k_range is None else k_range, seed)
    )

    def cached() -> StatesResult | None:
        found = load_states(run)
        if found is None or (wanted is not None and found.summary.get("params") != wanted):
            return None
        return found

    if not recompute and (hit := cached()) is not None:
        return hit
    # One computation per run at a time: a second session waits, then reads the cache.
    with file_lock(Path(run.path) / ".states.lock"):
        if not recompute and (hit := cached()) is not None:
            return hit
        return compute_states(
            run,
            k_range=DEFAULT_K_RANGE if k_range is None else k_range,
            random_state=seed,
            progress=progress,
        )


def states_cached(run: Run, *, k_range: Sequence[int] | tuple[int, int] | None = None) -> bool:
    """True when :func:`get_states` with ``k_range`` would read the cache (no computing)."""
    found = load_states(run)
    if found is None:
        return False
    return k_range is None or found.summary.get("params") == _params(k_range, _run_seed(run))


def states_frame(run: Run, result: StatesResult, *, space: str = "latent") -> pl.DataFrame:
    """The run's latents with ``state``, ``state_prob`` and ``state_label`` of one space."""
    if space not in SPACES:
        raise StatesError(f"space must be one of {SPACES}, got {space!r}.")
    labels = result.labels.filter(pl.col("space") == space).select(
        "state", pl.col("label").alias("state_label")
    )
    assign = result.assignments.select(
        "segment_id",
        pl.col(f"{space}_state").alias("state"),
        pl.col(f"{space}_prob").alias("state_prob"),
    )
    return (
        run.latents()
        .join(assign, on="segment_id", how="inner", maintain_order="left")
        .join(labels, on="state", how="left", maintain_order="left")
    )
