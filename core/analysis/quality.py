"""Which latent dimensions mean something: active, redundant or distinct, and reading axes.

A beta-VAE trained on real matches often keeps fewer informative dimensions than it has:
some collapse to the prior (*inactive*: the posterior mean hardly varies over segments),
others copy a more informative one (*redundant*). Only the *distinct* ones are worth an
analyst's time, so every page and analysis asks this module which they are.

- **active**: the variance of the posterior mean over the segments is at least
  :data:`ACTIVE_UNIT_THRESHOLD` (Burda et al. 2016, "active units"); KL per dimension is
  reported beside it and orders the dimensions by how much information they carry.
- **redundant**: an active dimension whose codes correlate ``|r| >= REDUNDANT_R`` with a
  more informative active dimension; it is mapped to that one.
- **distinct**: active and not redundant.

The same rule, applied to a run's ``latents.parquet`` alone, is what
``shared/tools/latent_truth.py`` computes independently.

Reading axes (``rotation="anchored_varimax"``): a VAE's latent space is only identified up
to rotation, so two seeds can split the same information into differently mixed axes.
For reading, the distinct subspace is re-expressed in axes that are the same from seed to
seed: the *anchor* is the direction of the codes that best predicts the features' first
principal component (on real matches the dominant possession/territory axis), and the
rest of the distinct subspace, made orthogonal to it and whitened, is rotated toward
simple structure with varimax (Kaiser 1958) against the axes' correlations with the named
features. The map is linear, invertible and stored (``reading_axes.npz``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.infra.arrays import FloatArray
from core.model.latents import latent_names

ACTIVE_UNIT_THRESHOLD = 0.01
"""A dimension is active when the variance of its posterior mean reaches this."""

REDUNDANT_R = 0.7
"""An active dimension correlating at least this much with a more informative one is redundant."""

MIN_FOUND = 2
"""A pattern is reproduced when found again in at least this many of the ensemble's trainings
(2 of 3 by default; with two trainings, both)."""


def min_found(n_seeds: int) -> int:
    """Trainings a dim must be found in to count as reproduced, for an ensemble of ``n_seeds``."""
    return min(MIN_FOUND, max(n_seeds, 2))


MIN_DISTINCT = 2
"""Below this many distinct dimensions a run is flagged: it found one axis at most."""

STATUSES = ("distinct", "redundant", "inactive")


@dataclass(frozen=True)
class DimQuality:
    """Status of every latent dimension of a run (the columns of ``latents.parquet``)."""

    names: list[str]
    variance: list[float]  # variance of the posterior mean (of the reading axis) per dim
    informativeness: list[float]  # what orders the dims (KL in nats, or explained variance)
    status: dict[str, str]  # name -> distinct | redundant | inactive
    distinct: list[str]  # most informative first
    redundant: dict[str, str]  # redundant name -> the distinct dim it copies
    inactive: list[str]
    informativeness_kind: str = "kl"
    tracks: dict[str, str] = field(default_factory=dict)  # distinct name -> short description
    # The seed ensemble (core.analysis.ensemble): how many trainings were compared and, per
    # distinct dim, in how many of them it was found again (the reference counts as one).
    n_seeds: int = 1
    found_in: dict[str, int] = field(default_factory=dict)

    @property
    def reproduced(self) -> list[str]:
        """Distinct dims found again in at least :data:`MIN_FOUND` of the ensemble's
        trainings (all of them when the ensemble has two), in reading order. Empty for a run
        trained with one seed: nothing could be confirmed."""
        need = min_found(self.n_seeds)
        if self.n_seeds < 2:
            return []
        return [n for n in self.distinct if self.found_in.get(n, 1) >= need]

    @property
    def unconfirmed(self) -> list[str]:
        """Distinct dims not found again across seeds (or never compared)."""
        keep = set(self.reproduced)
        return [n for n in self.distinct if n not in keep]

    def is_reproduced(self, name: str) -> bool:
        return name in self.reproduced

    @property
    def n_distinct(self) -> int:
        return len(self.distinct)

    @property
    def active(self) -> list[str]:
        return [n for n in self.names if self.status[n] != "inactive"]

    @property
    def healthy(self) -> bool:
        """At least :data:`MIN_DISTINCT` distinct dimensions."""
        return self.n_distinct >= MIN_DISTINCT

    def shown(self, show_all: bool = False) -> list[str]:
        """Dimensions a page lists: the distinct ones, reproduced first (in reading order),
        then the unconfirmed; with ``show_all`` the redundant and inactive ones after them."""
        distinct = self.reproduced + self.unconfirmed
        if show_all or not self.distinct:
            return distinct + [n for n in self.names if n not in self.distinct]
        return distinct

    def label(self, name: str) -> str:
        """``"z3"`` for a reproduced dim, ``"z4 (unconfirmed)"``, ``"z3 (redundant: copies
        z1)"`` / ``"z5 (inactive)"``."""
        state = self.status.get(name, "distinct")
        if state == "redundant":
            return f"{name} (redundant: copies {self.redundant.get(name, '?')})"
        if state == "inactive":
            return f"{name} (inactive)"
        if name not in self.reproduced:
            return f"{name} (unconfirmed)"
        return name

    @property
    def verdict(self) -> str:
        """One line for people."""
        k = len(self.names)
        parts = [f"{self.n_distinct} distinct of {k} latent dimensions"]
        if self.n_seeds >= 2:
            n_rep = len(self.reproduced)
            parts[0] = (
                f"{n_rep} pattern{'s' if n_rep != 1 else ''} found again in at least "
                f"{min_found(self.n_seeds)} of {self.n_seeds} trainings, "
                f"{len(self.unconfirmed)} unconfirmed (of {k} latent dimensions)"
            )
        elif self.n_distinct:
            parts[0] += " (unconfirmed: trained with one seed)"
        if self.redundant:
            parts.append(f"{len(self.redundant)} redundant (copies)")
        if self.inactive:
            parts.append(f"{len(self.inactive)} inactive (collapsed)")
        line = ", ".join(parts) + "."
        if self.n_distinct == 0:
            return line + " The model learned nothing usable: retrain with the recommended preset."
        if self.n_distinct < MIN_DISTINCT:
            return (
                line + " The run found a single axis: maps, states and traversals are slices "
                "of it. Retrain with the recommended preset (lower beta, no dropout)."
            )
        if self.tracks:
            lead = self.reproduced if self.n_seeds >= 2 else self.distinct
            shown = [f"{n} {self.tracks[n]}" for n in lead if n in self.tracks]
            line += " " + "; ".join(shown[:4]) + ("; ..." if len(shown) > 4 else "") + "."
        return line

    def warning(self) -> str | None:
        """The banner text every page shows for an unhealthy run, or None."""
        if self.healthy:
            return None
        return self.verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "variance": [float(v) for v in self.variance],
            "informativeness": [float(v) for v in self.informativeness],
            "informativeness_kind": self.informativeness_kind,
            "status": dict(self.status),
            "distinct": list(self.distinct),
            "redundant": dict(self.redundant),
            "inactive": list(self.inactive),
            "tracks": dict(self.tracks),
            "n_distinct": self.n_distinct,
            "n_seeds": self.n_seeds,
            "found_in": dict(self.found_in),
            "reproduced": self.reproduced,
            "verdict": self.verdict,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DimQuality:
        return cls(
            names=[str(n) for n in data["names"]],
            variance=[float(v) for v in data["variance"]],
            informativeness=[float(v) for v in data["informativeness"]],
            status={str(k): str(v) for k, v in data["status"].items()},
            distinct=[str(n) for n in data["distinct"]],
            redundant={str(k): str(v) for k, v in data["redundant"].items()},
            inactive=[str(n) for n in data["inactive"]],
            informativeness_kind=str(data.get("informativeness_kind", "kl")),
            tracks={str(k): str(v) for k, v in data.get("tracks", {}).items()},
            n_seeds=int(data.get("n_seeds", 1)),
            found_in={str(k): int(v) for k, v in data.get("found_in", {}).items()},
        )


def _corr(a: np.ndarray, b: np.ndarray) -> FloatArray:
    """Pearson r of every column of ``a`` with every column of ``b`` (constant columns: 0)."""
    ac = a - a.mean(axis=0)
    bc = b - b.mean(axis=0)
    an = np.linalg.norm(ac, axis=0)
    bn = np.linalg.norm(bc, axis=0)
    out = (ac / np.where(an > 0, an, 1.0)).T @ (bc / np.where(bn > 0, bn, 1.0))
    return np.asarray(np.clip(out, -1.0, 1.0), dtype=np.float64)


def dim_quality(
    Z: np.ndarray,
    informativeness: Sequence[float] | np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    informativeness_kind: str = "kl",
    threshold: float = ACTIVE_UNIT_THRESHOLD,
    redundant_r: float = REDUNDANT_R,
) -> DimQuality:
    """Classify the columns of ``Z`` (segments x dims, posterior means) as distinct,
    redundant or inactive.

    ``informativeness`` orders the active dims (KL per dimension in nats; without it the
    variance of the posterior mean); a dim is redundant when it correlates
    ``|r| >= redundant_r`` with a more informative dim already kept as distinct.
    """
    z = np.asarray(Z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"Z must be a 2-D (segments x dims) array, got shape {z.shape}.")
    k = z.shape[1]
    dims = list(names) if names is not None else latent_names(k)
    if len(dims) != k:
        raise ValueError(f"{len(dims)} names for {k} latent dimensions.")
    var = z.var(axis=0) if z.shape[0] else np.zeros(k)
    var = np.where(np.isfinite(var), var, 0.0)
    info = var.copy() if informativeness is None else np.asarray(informativeness, np.float64)
    if info.shape != (k,):
        raise ValueError(f"informativeness has {info.size} values for {k} latent dimensions.")
    info = np.where(np.isfinite(info), info, 0.0)
    kind = "variance" if informativeness is None else informativeness_kind
    active = [j for j in range(k) if var[j] >= threshold]
    order = sorted(active, key=lambda j: (-info[j], -var[j], j))
    r = _corr(z, z) if active else np.zeros((k, k))
    distinct: list[int] = []
    redundant: dict[str, str] = {}
    for j in order:
        copies = [d for d in distinct if abs(r[j, d]) >= redundant_r]
        if copies:
            redundant[dims[j]] = dims[max(copies, key=lambda d: abs(r[j, d]))]
        else:
            distinct.append(j)
    status = {
        n: ("distinct" if j in distinct else "redundant" if n in redundant else "inactive")
        for j, n in enumerate(dims)
    }
    return DimQuality(
        names=dims,
        variance=var.tolist(),
        informativeness=info.tolist(),
        status=status,
        distinct=[dims[j] for j in distinct],
        redundant=redundant,
        inactive=[n for n in dims if status[n] == "inactive"],
        informativeness_kind=kind,
    )


def with_tracks(
    quality: DimQuality, r: np.ndarray, feature_names: Sequence[str], *, top: int = 2
) -> DimQuality:
    """``quality`` with a short "tracks" description of each distinct dim from its top features.

    ``r`` is the (dims x features) Pearson matrix of the same columns as ``quality.names``.
    """
    from core.analysis.mixtures import feature_short_name

    rr = np.nan_to_num(np.asarray(r, dtype=np.float64))
    tracks: dict[str, str] = {}
    for n in quality.distinct:
        i = quality.names.index(n)
        best = np.argsort(-np.abs(rr[i]))[:top]
        tracks[n] = (
            "("
            + ", ".join(
                f"{'+' if rr[i, j] >= 0 else '-'}{feature_short_name(feature_names[j])} "
                f"{abs(rr[i, j]):.2f}"
                for j in best
            )
            + ")"
        )
    return dataclasses.replace(quality, tracks=tracks)


# --- reading axes ---------------------------------------------------------------------------


def varimax(loadings: np.ndarray, *, max_iter: int = 200, tol: float = 1e-9) -> FloatArray:
    """Orthogonal rotation ``R`` maximising the varimax criterion of ``loadings @ R``.

    Kaiser's criterion by the SVD iteration (as in R's ``stats::varimax`` without
    normalisation); ``loadings`` is features x factors.
    """
    L = np.asarray(loadings, dtype=np.float64)
    p, k = L.shape
    R = np.eye(k)
    crit = 0.0
    for _ in range(max_iter):
        lam = L @ R
        u, s, vt = np.linalg.svd(L.T @ (lam**3 - lam @ np.diag((lam**2).sum(axis=0)) / p))
        R = u @ vt
        previous, crit = crit, float(s.sum())
        if previous and crit < previous * (1 + tol):
            break
    return R


@dataclass(frozen=True)
class ReadingAxes:
    """Linear, invertible map from the model's latent codes to the run's reading axes.

    ``reading = (raw - center) @ matrix``; ``source[i]`` says what reading column ``i`` is:
    ``"anchor:z3"`` (model dim z3, standardised), ``"rotated"`` (a varimax axis of the rest
    of the distinct subspace) or ``"model:z5"`` (model dim z5 passed through unchanged).
    """

    method: str
    center: FloatArray  # (K,)
    matrix: FloatArray  # (K, K)
    source: list[str]

    @property
    def latent_dim(self) -> int:
        return int(self.matrix.shape[0])

    def to_reading(self, raw: np.ndarray) -> FloatArray:
        return np.asarray((np.asarray(raw, np.float64) - self.center) @ self.matrix)

    def to_raw(self, reading: np.ndarray) -> FloatArray:
        inv = np.linalg.pinv(self.matrix)
        return np.asarray(np.asarray(reading, np.float64) @ inv + self.center)


DOMINANCE = 1.5
"""The features have a dominant axis when their first principal component's variance is at
least this multiple of the second's (on real matches it is 2-3: possession and territory)."""


def dominant_axis(features: np.ndarray) -> FloatArray | None:
    """Scores of the features' first principal component (z-scored features), or None when
    no component dominates (``DOMINANCE``)."""
    f = np.asarray(features, dtype=np.float64)
    sd = f.std(axis=0)
    keep = sd > 0
    if keep.sum() < 2:
        return None
    fz = (f[:, keep] - f[:, keep].mean(axis=0)) / sd[keep]
    u, s, _ = np.linalg.svd(fz, full_matrices=False)
    if s.size < 2 or s[0] ** 2 < DOMINANCE * s[1] ** 2:
        return None
    return np.asarray(u[:, 0] * s[0])


ROTATE_SHARE = 0.5
"""Varimax rotates the leading directions that explain at least this share of the feature
variance the strongest one explains; weaker directions differ from seed to seed and are
kept in principal order instead (rotating them too mixes seed noise into every axis)."""


def n_rotated(explained: np.ndarray) -> int:
    """How many leading directions to rotate, given the feature variance each explains
    (descending): those reaching ``ROTATE_SHARE`` of the first, and at least two."""
    ev = np.asarray(explained, dtype=np.float64)
    if ev.size <= 2:
        return int(ev.size)
    return max(2, int(np.count_nonzero(ev >= ROTATE_SHARE * ev[0])))


def _whiten(x: np.ndarray, rank: int) -> FloatArray:
    """Matrix ``W`` (cols of ``x`` -> ``rank`` uncorrelated unit-variance scores)."""
    d = x.shape[1]
    w, v = np.linalg.eigh(np.cov(x, rowvar=False).reshape(d, d))
    top = np.argsort(-w)[:rank]
    return np.asarray(v[:, top] / np.sqrt(np.maximum(w[top], 1e-12)))


ANCHOR_SOURCE = "anchor:dominant"
"""``ReadingAxes.source`` of the anchor: the read-out of the features' dominant axis."""


def anchor_direction(zc: np.ndarray, pc1: np.ndarray) -> FloatArray | None:
    """The direction of the (centred) distinct codes ``zc`` whose scores best predict the
    features' dominant axis ``pc1`` (least squares), scaled to unit-variance scores; None
    when the codes carry none of it."""
    y = np.asarray(pc1, dtype=np.float64)
    coef, *_ = np.linalg.lstsq(zc, y - y.mean(), rcond=None)
    scores = zc @ coef
    sd = float(scores.std())
    return None if sd <= 1e-12 else np.asarray(coef / sd)


def anchored_varimax(Z: np.ndarray, features: np.ndarray, quality: DimQuality) -> ReadingAxes:
    """Reading axes of ``Z`` (segments x model dims) against the named ``features``.

    When the features have a dominant axis (:func:`dominant_axis`), the *anchor* is the
    direction of the distinct subspace that best predicts it (:func:`anchor_direction`):
    on real matches possession and territory, read out the same way at every seed and
    from every provider, where one model dim mixes in whatever its training folded into it
    (docs/latent_truth.md). The rest of the distinct subspace, made
    orthogonal to the anchor and whitened, is split into principal directions by the
    feature variance they explain; the leading ones (:func:`n_rotated`) are rotated by
    varimax against the features' correlations, the weaker ones follow in principal order.
    Without a dominant axis there is no anchor and the whole distinct subspace is treated
    so. Axes are signed so their strongest feature correlates positively; the redundant and
    inactive model dims follow unchanged.

    Needs at least two distinct dims (with fewer there is nothing to rotate).
    """
    z = np.asarray(Z, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64)
    if quality.n_distinct < MIN_DISTINCT:
        raise ValueError("anchored_varimax needs at least 2 distinct dimensions.")
    if f.shape[0] != z.shape[0]:
        raise ValueError(f"features has {f.shape[0]} rows but Z has {z.shape[0]}.")
    k = z.shape[1]
    idx = [quality.names.index(n) for n in quality.distinct]
    d = len(idx)
    center = np.zeros(k)
    center[idx] = z[:, idx].mean(axis=0)
    zc = z[:, idx] - center[idx]  # (n, d)
    pc1 = dominant_axis(f)
    a = None if pc1 is None else anchor_direction(zc, pc1)
    if a is None:
        whiten = _whiten(zc, d)
        lead = np.zeros((d, 0))
    else:
        t = zc @ a
        proj = np.eye(d) - np.outer(a, (t @ zc) / len(t))  # remove the anchor's share
        whiten = proj @ _whiten(zc @ proj, d - 1)
        lead = a[:, None]
    # principal directions of the rest, by the feature variance they explain
    _, sv, vt = np.linalg.svd(_corr(f, zc @ whiten), full_matrices=True)
    principal = whiten @ vt.T
    m = n_rotated(sv**2)
    rotated = (
        principal[:, :m] @ varimax(_corr(f, zc @ principal[:, :m])) if m > 1 else principal[:, :m]
    )
    explained = (_corr(zc @ rotated, f) ** 2).sum(axis=1)
    block = np.column_stack([lead, rotated[:, np.argsort(-explained)], principal[:, m:]])
    loadings = _corr(zc @ block, f)
    signs = np.where(loadings[np.arange(d), np.abs(loadings).argmax(axis=1)] >= 0, 1.0, -1.0)
    block = block * signs
    matrix = np.zeros((k, k))
    matrix[np.ix_(idx, range(d))] = block
    rest = [n for n in quality.names if n not in quality.distinct]
    rest.sort(key=lambda n: (quality.status[n] != "redundant", quality.names.index(n)))
    for col, n in enumerate(rest, start=d):
        matrix[quality.names.index(n), col] = 1.0
    head = [] if a is None else [ANCHOR_SOURCE]
    tail = d - len(head) - m
    source = head + ["rotated"] * m + ["principal"] * tail + [f"model:{n}" for n in rest]
    return ReadingAxes(method="anchored_varimax", center=center, matrix=matrix, source=source)


def reading_quality(axes: ReadingAxes, model: DimQuality, reading: np.ndarray) -> DimQuality:
    """Quality of the reading axes: the rotated ones are the distinct dims (ordered as
    built), the passed-through model dims keep their model status; a redundant one maps
    to the reading axis its codes correlate with most."""
    names = latent_names(axes.latent_dim)
    d = model.n_distinct
    r = _corr(np.asarray(reading, np.float64), np.asarray(reading, np.float64))
    status: dict[str, str] = {}
    redundant: dict[str, str] = {}
    for i, n in enumerate(names):
        if i < d:
            status[n] = "distinct"
            continue
        src = axes.source[i].split(":", 1)[1]
        status[n] = model.status[src]
        if status[n] == "redundant":
            redundant[n] = names[int(np.argmax(np.abs(r[i, :d])))]
    var = np.asarray(reading, np.float64).var(axis=0)
    info_model = dict(zip(model.names, model.informativeness, strict=True))
    info = [
        float(var[i]) if i < d else float(info_model[axes.source[i].split(":", 1)[1]])
        for i in range(len(names))
    ]
    return DimQuality(
        names=names,
        variance=var.tolist(),
        informativeness=info,
        status=status,
        distinct=names[:d],
        redundant=redundant,
        inactive=[n for n in names if status[n] == "inactive"],
        informativeness_kind="reading order",
    )
