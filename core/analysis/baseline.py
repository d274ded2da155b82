"""A linear baseline for every VAE run: PCA with as many components as the VAE has latents.

PCA is fitted on the same preprocessed model matrix ``X`` the VAE trains on (segments x
inputs, z-scored). Its reconstruction error uses the VAE's reduction (squared error summed
over the inputs, averaged over the segments), so the two numbers compare directly: a VAE
that does not beat ``pca_recon_mse`` with the same number of dimensions has learned
nothing a rotation of the data would not give. ``alignment`` says, per latent dimension,
which principal component it follows and how linear (PCA-like) it is.

Pure numpy (``np.linalg.svd``); everything is computed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from core.infra.arrays import FloatArray

ALIGNMENT_KEYS = ("latent", "component", "abs_r", "r", "r2_all_components")
"""Keys of each ``PCABaseline.alignment`` entry, in order."""


def component_name(i: int) -> str:
    """Name of principal component ``i`` (0-based), 1-based as usual: ``PC1``, ``PC2``..."""
    return f"PC{i + 1}"


@dataclass(frozen=True)
class PCABaseline:
    """PCA on the VAE's model matrix, with as many components as the VAE has latents.

    Attributes
    ----------
    n_components
        Number of principal components ``k`` (the VAE's ``latent_dim``).
    explained_variance_ratio
        Share of the total variance of ``X`` each component explains, largest first.
    cumulative_variance
        Running sum of ``explained_variance_ratio``.
    pca_recon_mse
        Mean over segments of the squared error summed over inputs when ``X`` is
        reconstructed from its mean and ``k`` components (the VAE's recon reduction).
    vae_recon_mse
        The VAE's reconstruction error with the same reduction, if given.
    total_variance
        Mean over segments of the summed squared centred ``X``: the error of predicting
        every segment by the mean (the reconstruction error of 0 components).
    alignment
        One entry per latent dimension: ``{"latent": "z0", "component": "PC1",
        "abs_r": 0.93, "r": -0.93, "r2_all_components": 0.97}``: the component whose
        scores correlate most with the latent (largest ``|r|``, Pearson), that ``r``, and
        the R² of regressing the latent on all ``k`` component scores. A constant latent
        has ``abs_r``, ``r`` and ``r2_all_components`` 0.0 (it correlates with nothing).
    """

    n_components: int
    explained_variance_ratio: list[float]
    cumulative_variance: list[float]
    pca_recon_mse: float
    vae_recon_mse: float | None
    total_variance: float
    alignment: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (plain ints, floats, strings and lists; no NaN)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PCABaseline:
        """Inverse of :meth:`to_dict`; ``vae_recon_mse`` may be absent, unknown keys are refused."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"Unknown PCA baseline key(s) {unknown}; expected {names}.")
        missing = [n for n in names if n not in d and n != "vae_recon_mse"]
        if missing:
            raise ValueError(f"PCA baseline dict lacks key(s) {missing}.")
        vae = d.get("vae_recon_mse")
        return cls(
            n_components=int(d["n_components"]),
            explained_variance_ratio=[float(v) for v in d["explained_variance_ratio"]],
            cumulative_variance=[float(v) for v in d["cumulative_variance"]],
            pca_recon_mse=float(d["pca_recon_mse"]),
            vae_recon_mse=None if vae is None else float(vae),
            total_variance=float(d["total_variance"]),
            alignment=[_alignment_entry(a) for a in d["alignment"]],
        )


def _alignment_entry(a: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in ALIGNMENT_KEYS if k not in a]
    if missing:
        raise ValueError(f"PCA baseline alignment entry {dict(a)!r} lacks key(s) {missing}.")
    return {
        "latent": str(a["latent"]),
        "component": str(a["component"]),
        "abs_r": float(a["abs_r"]),
        "r": float(a["r"]),
        "r2_all_components": float(a["r2_all_components"]),
    }


@dataclass(frozen=True)
class _PCAFit:
    mean: FloatArray  # (d,)
    components: FloatArray  # (k, d), orthonormal rows, sign-fixed
    scores: FloatArray  # (n, k), centred X projected on the components
    explained_variance_ratio: FloatArray  # (k,)
    total_sq: float  # sum of squared centred X


def _check_matrix(X: np.ndarray, name: str = "X") -> FloatArray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (segments x inputs) array, got shape {arr.shape}.")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(
            f"{name} needs at least 2 segments and 1 input for PCA, got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=0).sum())
        raise ValueError(
            f"{name} holds NaN or infinite values in {bad} column(s); PCA needs the "
            "preprocessed model matrix (PreprocessingPipeline imputes them)."
        )
    return arr


def _check_n_components(n_components: int, shape: tuple[int, ...]) -> int:
    n, d = shape
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise ValueError(f"n_components must be an integer, got {n_components!r}.")
    k = int(n_components)
    if not 1 <= k <= min(n, d):
        raise ValueError(
            f"n_components must be between 1 and min(segments, inputs) = {min(n, d)} "
            f"for X of shape {shape}, got {k}."
        )
    return k


def _fit(X: np.ndarray, n_components: int) -> _PCAFit:
    """Centre ``X``, SVD it, keep ``n_components`` with the sign convention applied."""
    x = _check_matrix(X)
    k = _check_n_components(n_components, x.shape)
    mean = x.mean(axis=0)
    xc = x - mean
    # A tall matrix is reduced to its d x d R factor first: Xc = QR has the singular values
    # and right singular vectors of R, and the SVD of R is cheaper than that of Xc.
    core = np.linalg.qr(xc, mode="r") if xc.shape[0] > xc.shape[1] else xc
    s, vt = np.linalg.svd(core, full_matrices=False)[1:]
    comps = vt[:k]
    # Deterministic signs: each component's largest |loading| is positive (first on ties).
    pivot = comps[np.arange(k), np.argmax(np.abs(comps), axis=1)]
    comps = comps * np.where(pivot < 0, -1.0, 1.0)[:, None]
    sq = s**2
    total_sq = float(sq.sum())
    evr = sq[:k] / total_sq if total_sq > 0 else np.zeros(k)
    return _PCAFit(
        mean=mean,
        components=comps,
        scores=xc @ comps.T,
        explained_variance_ratio=evr,
        total_sq=total_sq,
    )


def pca_scores(X: np.ndarray, n_components: int) -> tuple[FloatArray, FloatArray]:
    """Principal component scores of ``X`` and their explained variance ratios.

    Parameters
    ----------
    X
        Model matrix, segments x inputs (any float dtype; computed in float64).
    n_components
        Number of components ``k``, ``1 <= k <= min(n, d)``.

    Returns
    -------
    scores
        ``(n, k)``: centred ``X`` projected on the first ``k`` principal axes. Each axis
        is signed so its largest absolute loading is positive.
    explained_variance_ratio
        ``(k,)``: share of the total variance per component, non-increasing. All zeros
        when ``X`` has no variance at all.

    Raises
    ------
    ValueError
        ``X`` is not 2-D, has fewer than 2 rows, holds NaN/inf, or ``n_components`` is
        out of range.
    """
    fit = _fit(X, n_components)
    return fit.scores, fit.explained_variance_ratio


def _corr_with_scores(z: FloatArray, scores: FloatArray) -> FloatArray:
    """Pearson r of every latent column against every score column, ``(L, k)``; 0 where
    either column is constant."""
    zc = z - z.mean(axis=0)
    sc = scores - scores.mean(axis=0)
    zn = np.linalg.norm(zc, axis=0)
    sn = np.linalg.norm(sc, axis=0)
    z_const = (z == z[0]).all(axis=0) | (zn == 0)
    # A component with (numerically) no variance: its direction is arbitrary, so no r.
    s_const = sn <= 1e-12 * max(float(sn.max(initial=0.0)), 1.0)
    zu = zc / np.where(z_const, 1.0, zn)
    su = sc / np.where(s_const, 1.0, sn)
    r = np.clip(zu.T @ su, -1.0, 1.0)
    r[z_const, :] = 0.0
    r[:, s_const] = 0.0
    out: FloatArray = r
    return out


def _r2_on_scores(z: FloatArray, scores: FloatArray) -> FloatArray:
    """R² of the least-squares fit (with intercept) of each latent column on all scores."""
    zc = z - z.mean(axis=0)
    sc = scores - scores.mean(axis=0)
    coef, *_ = np.linalg.lstsq(sc, zc, rcond=None)
    ss_res = ((zc - sc @ coef) ** 2).sum(axis=0)
    ss_tot = (zc**2).sum(axis=0)
    z_const = (z == z[0]).all(axis=0) | (ss_tot == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / np.where(z_const, 1.0, ss_tot)
    r2 = np.clip(r2, 0.0, 1.0)
    r2[z_const] = 0.0
    out: FloatArray = r2
    return out


def _check_latents(latents: np.ndarray, latent_names: Sequence[str], n: int) -> FloatArray:
    z = np.asarray(latents, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise ValueError(
            f"latents must be a 2-D (segments x latent dims) array, got shape {z.shape}."
        )
    if z.shape[0] != n:
        raise ValueError(
            f"latents has {z.shape[0]} rows but X has {n}; they must describe the same segments."
        )
    if len(latent_names) != z.shape[1]:
        raise ValueError(
            f"{len(latent_names)} latent name(s) given for {z.shape[1]} latent column(s)."
        )
    if not np.isfinite(z).all():
        bad = int((~np.isfinite(z)).any(axis=0).sum())
        raise ValueError(f"latents hold NaN or infinite values in {bad} column(s).")
    return z


def pca_baseline(
    X: np.ndarray,
    latents: np.ndarray,
    latent_names: Sequence[str],
    *,
    n_components: int,
    vae_recon_mse: float | None = None,
) -> PCABaseline:
    """PCA baseline of a VAE run: variance explained, reconstruction error and alignment.

    Parameters
    ----------
    X
        The preprocessed model matrix the VAE trains on, segments x inputs.
    latents
        The VAE's posterior means for the same segments, ``(n, L)`` (a 1-D array is one
        latent). ``L`` need not equal ``n_components``.
    latent_names
        One name per latent column (``z0``, ``z1``...).
    n_components
        Number of principal components, normally the VAE's ``latent_dim``.
    vae_recon_mse
        The VAE's reconstruction error on ``X`` (squared error summed over inputs, mean
        over segments), stored alongside for comparison.

    Returns
    -------
    PCABaseline

    Raises
    ------
    ValueError
        NaN/inf in ``X`` or ``latents``, mismatched rows or names, ``n_components`` out of
        ``[1, min(n, d)]``, or a negative or non-finite ``vae_recon_mse``.
    """
    fit = _fit(X, n_components)
    x = np.asarray(X, dtype=np.float64)
    n = x.shape[0]
    z = _check_latents(latents, latent_names, n)
    vae: float | None = None
    if vae_recon_mse is not None:
        vae = float(vae_recon_mse)
        if not math.isfinite(vae) or vae < 0:
            raise ValueError(f"vae_recon_mse must be a finite number >= 0, got {vae_recon_mse!r}.")

    recon = fit.mean + fit.scores @ fit.components
    pca_mse = float(((x - recon) ** 2).sum(axis=1).mean())
    evr = fit.explained_variance_ratio

    r = _corr_with_scores(z, fit.scores)
    r2 = _r2_on_scores(z, fit.scores)
    alignment: list[dict[str, Any]] = []
    for j, name in enumerate(latent_names):
        best = int(np.argmax(np.abs(r[j]))) if r.shape[1] else 0
        rj = float(r[j, best])
        alignment.append(
            {
                "latent": str(name),
                "component": component_name(best),
                "abs_r": abs(rj),
                "r": rj,
                "r2_all_components": float(r2[j]),
            }
        )
    return PCABaseline(
        n_components=int(fit.components.shape[0]),
        explained_variance_ratio=[float(v) for v in evr],
        cumulative_variance=[float(v) for v in np.cumsum(evr)],
        pca_recon_mse=pca_mse,
        vae_recon_mse=vae,
        total_variance=fit.total_sq / n,
        alignment=alignment,
    )
