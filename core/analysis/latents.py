"""What the latents mean: correlations with named features, top-k tables, UMAP, VAE health.

Everything here is a pure function of arrays, vectorised over every (latent, feature) pair,
so the notebook's nested ``pearsonr`` loop becomes one matrix product.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import special

from core.errors import InspectError
from core.infra.arrays import FloatArray, IntArray
from core.model.latents import latent_names

logger = logging.getLogger(__name__)


Progress = Callable[[int, int, str], None]

ACTIVE_UNIT_THRESHOLD = 0.01
"""A latent dimension is active when the variance of its posterior mean exceeds this."""

INTERPRETATION_COLUMNS = ("latent_dim", "rank", "feature", "pearson_r", "abs_r", "p_value")


def _as_2d(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (rows x columns) array, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=0).sum())
        raise ValueError(
            f"{name} holds NaN or infinite values in {bad} column(s); impute or drop them "
            "before correlating (PreprocessingPipeline does this)."
        )
    return arr


def pearson_matrix(Z: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and two-sided p-value of every column of ``Z`` against every column of ``X``.

    Returns ``(r, p)`` of shape ``(Z.shape[1], X.shape[1])``, equal to
    ``scipy.stats.pearsonr(Z[:, i], X[:, j])`` for every pair. Columns are centred and
    scaled to unit norm, so ``r`` is one matrix product; ``p`` uses the exact null
    distribution of r (Student's t with n-2 degrees of freedom, written as the regularised
    incomplete beta function as scipy does). A constant column has no correlation: its
    ``r`` and ``p`` are NaN (scipy returns NaN with a ``ConstantInputWarning``).
    """
    z = _as_2d(Z, "Z")
    x = _as_2d(X, "X")
    n = z.shape[0]
    if x.shape[0] != n:
        raise ValueError(
            f"Z has {n} rows but X has {x.shape[0]}; they must describe the same rows."
        )
    if n < 3:
        raise ValueError(f"Pearson p-values need at least 3 rows, got {n}.")
    z_const = (z == z[0]).all(axis=0)
    x_const = (x == x[0]).all(axis=0)
    # Scale by the max before centring, as scipy does, to keep precision on large values.
    zs = z / np.where(z_const, 1.0, np.abs(z).max(axis=0))
    xs = x / np.where(x_const, 1.0, np.abs(x).max(axis=0))
    zc = zs - zs.mean(axis=0)
    xc = xs - xs.mean(axis=0)
    zn = np.linalg.norm(zc, axis=0)
    xn = np.linalg.norm(xc, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (zc / zn).T @ (xc / xn)
    r = np.clip(r, -1.0, 1.0)
    r[z_const, :] = np.nan
    r[:, x_const] = np.nan
    ab = n / 2.0 - 1.0
    # P(|R| >= |r|) under H0: R ~ Beta(n/2-1, n/2-1) on [-1, 1]  (== Student t, n-2 dof).
    p = 2.0 * special.betainc(ab, ab, 0.5 * (1.0 - np.abs(r)))
    p = np.clip(p, 0.0, 1.0)
    p[np.isnan(r)] = np.nan
    if z_const.any() or x_const.any():
        logger.info(
            "pearson_matrix: %d constant latent column(s) and %d constant feature column(s) "
            "have no correlation (NaN)",
            int(z_const.sum()),
            int(x_const.sum()),
        )
    return r, p


def spearman_matrix(Z: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman rank correlation and p-value for every pair (Pearson on average ranks).

    Equal to ``scipy.stats.spearmanr(Z[:, i], X[:, j])`` (its p-value uses the same t
    approximation).
    """
    from scipy import stats  # here: scipy.stats takes a second to import, pages rarely rank

    z = _as_2d(Z, "Z")
    x = _as_2d(X, "X")
    return pearson_matrix(stats.rankdata(z, axis=0), stats.rankdata(x, axis=0))


def interpretation_table(
    r: np.ndarray, p: np.ndarray, feature_names: Sequence[str], k: int = 5
) -> pl.DataFrame:
    """The notebook's top-k table: per latent, the k features with the largest ``|r|``.

    Columns ``latent_dim`` ("z0"...), ``rank`` (1..k), ``feature``, ``pearson_r`` and
    ``abs_r`` (rounded to 4 decimals as the notebook does) and ``p_value``. Features with
    NaN ``r`` (constant columns) rank last.
    """
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    names = np.asarray(list(feature_names), dtype=object)
    if r.ndim != 2 or r.shape != p.shape or r.shape[1] != len(names):
        raise ValueError(
            f"r {r.shape} and p {p.shape} must both be (latents x features) with "
            f"{len(names)} feature names."
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    n_latent, n_feat = r.shape
    k = min(k, n_feat)
    abs_r = np.abs(r)
    # The notebook's ordering (argsort ascending, reversed), with NaN pushed to the end.
    order = np.argsort(np.where(np.isnan(abs_r), -1.0, abs_r), axis=1)[:, ::-1][:, :k]
    rows = np.arange(n_latent)[:, None]
    top_r = r[rows, order]
    return pl.DataFrame(
        {
            "latent_dim": np.repeat(np.array(latent_names(n_latent), dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), n_latent),
            "feature": names[order].ravel(),
            "pearson_r": np.round(top_r, 4).ravel(),
            "abs_r": np.round(np.abs(top_r), 4).ravel(),
            "p_value": p[rows, order].ravel(),
        },
        schema={
            "latent_dim": pl.String,
            "rank": pl.Int64,
            "feature": pl.String,
            "pearson_r": pl.Float64,
            "abs_r": pl.Float64,
            "p_value": pl.Float64,
        },
    )


def interpretation_pivot(table: pl.DataFrame) -> pl.DataFrame:
    """One row per latent (``dim``), columns ``#1..#k`` holding ``"feature (+0.123)"``."""
    missing = set(INTERPRETATION_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"interpretation table lacks column(s) {sorted(missing)}.")
    if table.is_empty():
        return pl.DataFrame(schema={"dim": pl.String})
    r_text = np.char.mod("%+.3f", table["pearson_r"].fill_null(float("nan")).to_numpy())
    cells = table.select(
        pl.col("latent_dim").alias("dim"),
        pl.format("#{}", pl.col("rank")).alias("slot"),
        pl.format("{} ({})", pl.col("feature"), pl.Series(r_text)).alias("cell"),
    )
    return cells.pivot(on="slot", index="dim", values="cell", maintain_order=True)


UMAP_CACHED_PACKAGES = ("umap", "pynndescent")
WARMUP_ROWS = 300  # enough rows for spectral init; small enough to embed in well under 1 s
_umap_ready = False


def umap_class() -> Any:
    """umap-learn's ``UMAP``, imported with numba's compiled code cached across processes.

    The first call in a process points numba's cache at the product's folder
    (:func:`core.infra.numba_cache.setup_numba_cache`) before umap is imported, then turns
    the on-disk cache on for umap's and pynndescent's numba functions, so only the first
    process of an install compiles them.
    """
    global _umap_ready
    from core.infra.numba_cache import enable_numba_caching, setup_numba_cache

    setup_numba_cache()
    from umap import UMAP  # heavy import (numba): only when a projection is asked for

    if not _umap_ready:
        switched = enable_numba_caching(UMAP_CACHED_PACKAGES)
        logger.debug("numba on-disk cache on for %d umap/pynndescent functions", switched)
        _umap_ready = True
    return UMAP


UMAP_FIT_MAX = 50_000
"""Above this many codes UMAP is fitted on a seeded sample of this size and the other codes
are placed from their nearest sampled neighbours (:func:`umap_embedding`): the layout's
optimisation grows with the points it moves, the placement only with a k-d tree query."""


def umap_embedding(
    Z: np.ndarray,
    random_state: int | None = 42,
    progress: Progress | None = None,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    fit_max: int = UMAP_FIT_MAX,
) -> np.ndarray:
    """2-D UMAP of the latent codes (umap-learn), shape ``(n, 2)``.

    Above ``fit_max`` codes UMAP is fitted on a random sample of ``fit_max`` of them
    (seeded by ``random_state``), and every other code is placed at the mean of its
    ``n_neighbors`` nearest sampled codes' positions, weighted by their UMAP membership
    strength (:func:`place_by_neighbours`: how umap-learn's ``transform`` starts, without its
    refinement epochs).

    ``n_neighbors`` is capped at ``n - 1`` so small datasets work; fewer than 4 rows
    cannot be embedded and raise ``ValueError``. A fixed ``random_state`` makes the
    result reproducible (umap then runs single-threaded); ``None`` uses every core.

    The neighbours are exact (:func:`exact_neighbors`, a k-d tree on the few latent
    columns) at every size, handed to umap precomputed: umap's own nearest-neighbour
    descent above 4,096 rows holds numba functions that cannot be cached on disk, so every
    process compiled them again (10-25 s), and it is approximate.
    """
    z = _as_2d(Z, "Z")
    n = z.shape[0]
    if n < 4:
        raise ValueError(f"UMAP needs at least 4 segments to embed, got {n}.")
    if n > fit_max >= 4:
        rng = np.random.default_rng(0 if random_state is None else random_state)
        fitted = np.sort(rng.choice(n, size=fit_max, replace=False))
        rest = np.setdiff1d(np.arange(n), fitted, assume_unique=True)
        emb = np.empty((n, 2), dtype=np.float64)
        emb[fitted] = umap_embedding(
            z[fitted], random_state, progress, n_neighbors=n_neighbors, min_dist=min_dist
        )
        emb[rest] = place_by_neighbours(z[fitted], emb[fitted], z[rest], n_neighbors)
        logger.info("UMAP fitted on %d of %d codes, %d placed", fit_max, n, rest.size)
        return emb
    if progress:
        progress(0, 1, f"UMAP: embedding {n:,} segments")
    started = time.perf_counter()
    k = min(n_neighbors, n - 1)
    knn = exact_neighbors(z, k, n_jobs=1 if random_state is not None else -1)
    umap_cls = umap_class()
    model = umap_cls(
        n_components=2,
        n_neighbors=k,
        min_dist=min_dist,
        random_state=random_state,
        n_jobs=1 if random_state is not None else -1,
        # Spectral init needs a connected, not-too-small graph; tiny sets start at random.
        init="spectral" if n >= 50 else "random",
        precomputed_knn=knn,
    )
    try:
        with warnings.catch_warnings():  # no search index: we never call ``transform``
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
            emb = np.asarray(model.fit_transform(z), dtype=np.float64)
    except Exception as exc:  # umap raises assorted errors on degenerate input
        raise ValueError(f"UMAP failed on {n} latent codes: {exc}") from exc
    logger.info("UMAP of %d x %d latents in %.1fs", n, z.shape[1], time.perf_counter() - started)
    if progress:
        progress(1, 1, "UMAP: done")
    return emb


def exact_neighbors(z: np.ndarray, k: int, *, n_jobs: int = 1) -> tuple[IntArray, FloatArray]:
    """Indices and distances of each row's ``k`` nearest rows, itself first (umap's layout).

    Exact and deterministic (ties by row order), from a k-d tree: on 10 latent columns
    100,000 rows take a few seconds.
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="auto", n_jobs=n_jobs).fit(z)
    dist, idx = nn.kneighbors(z)
    return idx.astype(np.int32), dist.astype(np.float32)


def place_by_neighbours(
    z_fit: np.ndarray, emb_fit: np.ndarray, z_new: np.ndarray, n_neighbors: int = 15
) -> np.ndarray:
    """Positions for ``z_new`` on a layout ``emb_fit`` of ``z_fit``: each new code goes to the
    mean of its ``n_neighbors`` nearest fitted codes' positions, weighted as UMAP weighs a
    neighbour, ``exp(-(d - d_nearest) / sigma)`` with ``sigma`` the mean of those distances
    beyond the nearest (the nearest neighbour weighs most)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(n_neighbors, z_fit.shape[0])
    nn = NearestNeighbors(n_neighbors=k).fit(z_fit)
    dist, idx = nn.kneighbors(_as_2d(z_new, "z_new"))
    excess = dist - dist[:, :1]
    sigma = np.maximum(excess.mean(axis=1, keepdims=True), 1e-12)
    w = np.exp(-excess / sigma)
    w /= w.sum(axis=1, keepdims=True)
    return np.asarray(np.einsum("nk,nkd->nd", w, emb_fit[idx]), dtype=np.float64)


def umap_epochs(n: int) -> int:
    """The optimisation epochs umap-learn runs for ``n`` rows (its own default rule)."""
    return 500 if n <= 10_000 else 200


def pca_layout(Z: np.ndarray) -> np.ndarray:
    """The first two principal components of the codes, shape ``(n, 2)``: a layout in
    milliseconds, shown while UMAP runs. Signs are fixed (largest loading positive), so the
    same codes always give the same picture."""
    z = _as_2d(Z, "Z")
    zc = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(zc, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(comps.shape[0]), np.abs(comps).argmax(axis=1)])
    xy = zc @ (comps * np.where(signs == 0, 1.0, signs)[:, None]).T
    if xy.shape[1] < 2:  # a single latent column: the second axis is flat
        xy = np.column_stack([xy, np.zeros(xy.shape[0])])
    return np.asarray(xy, dtype=np.float64)


def warm_projection() -> dict[str, float]:
    """Compile (or load from numba's cache) every UMAP code path a run uses, on random codes.

    Run at install or server start (``python -m core warmup``, ``make run``) so no person
    waits for numba in a job. Covers single-threaded seeded runs and parallel unseeded
    ones (the neighbours are the same exact ones at every size). Returns the seconds each
    path took.
    """
    rng = np.random.default_rng(0)
    z = rng.normal(size=(WARMUP_ROWS, 4))
    seconds: dict[str, float] = {}
    for name, seed in (("seeded", 0), ("all cores", None)):
        t0 = time.perf_counter()
        umap_embedding(z, random_state=seed)
        seconds[name] = round(time.perf_counter() - t0, 2)
    return seconds


def diagnostics(
    Z: np.ndarray,
    kl_per_dim: Sequence[float] | np.ndarray | None,
    *,
    threshold: float = ACTIVE_UNIT_THRESHOLD,
) -> dict[str, Any]:
    """VAE health: KL per dimension, active units and collapsed dimensions.

    A dimension is *active* when the variance of its posterior mean over the segments
    exceeds ``threshold`` (Burda et al.'s active-unit criterion); the others are flagged
    as collapsed: the encoder ignores the input there and the dimension carries no
    tactical information. ``kl_per_dim`` is the last epoch's mean KL per dimension (nats).
    """
    z = _as_2d(Z, "Z")
    k = z.shape[1]
    var = z.var(axis=0)
    names = latent_names(k)
    kl = (
        np.full(k, np.nan)
        if kl_per_dim is None
        else np.asarray(kl_per_dim, dtype=np.float64).reshape(-1)
    )
    if kl.shape[0] != k:
        raise ValueError(f"kl_per_dim has {kl.shape[0]} values but Z has {k} latent dimensions.")
    active = var > threshold
    collapsed = [names[i] for i in np.flatnonzero(~active)]
    warnings: list[str] = []
    if collapsed:
        warnings.append(
            f"{len(collapsed)} of {k} latent dimensions collapsed ({', '.join(collapsed)}): "
            f"the variance of their posterior mean is <= {threshold}, so they carry no "
            "information. Lower beta, add KL warm-up, or use a smaller latent_dim."
        )
    return {
        "latent_dim": k,
        "n_segments": int(z.shape[0]),
        "active_threshold": threshold,
        "kl_per_dim": kl.tolist(),
        "kl_total": float(np.nansum(kl)) if kl_per_dim is not None else None,
        "posterior_mean_variance": var.tolist(),
        "posterior_mean_mean": z.mean(axis=0).tolist(),
        "active": active.tolist(),
        "active_units": int(active.sum()),
        "active_dims": [names[i] for i in np.flatnonzero(active)],
        "collapsed_dims": collapsed,
        "warnings": warnings,
    }


def dominant_dimension(latents: npt.NDArray[np.floating[Any]]) -> IntArray:
    """Index of the latent with the largest absolute value per segment (the notebook's colouring)."""
    out: IntArray = np.argmax(np.abs(latents), axis=1).astype(np.int64)
    return out


def nearest_segments(
    latents: npt.NDArray[np.floating[Any]], row: int, k: int = 5
) -> tuple[IntArray, FloatArray]:
    """Rows of the ``k`` segments closest to ``row`` in latent space (Euclidean), nearest first.

    The segment itself is excluded; ties break by row order. O(n * latent_dim) per call.
    """
    n = latents.shape[0]
    if not 0 <= row < n:
        raise InspectError(f"Segment row {row} is outside this run's {n} segments.")
    k = min(k, n - 1)
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    diff = latents - latents[row]
    d2 = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
    d2[row] = np.inf
    idx = np.argpartition(d2, k - 1)[:k] if k < n - 1 else np.flatnonzero(np.isfinite(d2))
    order = np.lexsort((idx, d2[idx]))
    idx = idx[order][:k].astype(np.int64)
    return idx, np.sqrt(d2[idx])
