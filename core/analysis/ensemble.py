"""Which reading axes other seeds find again: the seed ensemble's verdict (pure array maths).

A run trains ``S`` seeds together (:mod:`core.model.ensemble`); each member's codes are put
on its own reading axes the same way (:func:`core.analysis.quality.anchored_varimax`). The
reference member (the run's own seed) is what the pages read; every other member is matched
to it here:

- **alignment**: the member's distinct axes are assigned to the reference's by maximal
  total ``|r|`` of their codes over the same segments (Hungarian assignment,
  :func:`core.analysis.stability.match_dimensions`), the sign recorded;
- **found again**: a reference axis is found again in a member when its matched axis's
  codes correlate ``|r| >= FOUND_R`` with it (the threshold ``shared/tools/latent_truth.py``
  uses to call two dimensions the same);
- **reproduced**: found in at least :data:`core.analysis.quality.MIN_FOUND` of the ``S``
  trainings, the reference counting as one (2 of 3 by default); the others are
  *unconfirmed*;
- **reproducibility**: the mean matched ``|r|`` over the other members, and how many of the
  reference's top-5 features each matched axis keeps;
- **evidence for a name**: the features in the top-5 of the reference *and* of every member
  that found the axis, with the same sign, strongest first. A pattern is named from these
  only (:mod:`core.views.plain`); an axis with none keeps no name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.analysis.quality import DimQuality, min_found
from core.analysis.stability import TOP_K, cross_correlation, top_k_sets

FOUND_R = 0.7
"""A member finds a reference axis again when their codes correlate at least this much."""


@dataclass(frozen=True)
class AxisAgreement:
    """How one reference axis fares in the other members of the ensemble."""

    dim: str
    found_in: int  # trainings that found it, the reference included
    abs_r: list[float]  # matched |r| per other member (0 where it had no axis to match)
    top5_kept: list[int]  # reference top-5 features the matched axis keeps, per member
    evidence: list[str]  # features in every finding member's top-5 with the same sign
    evidence_signs: list[int]  # +1 / -1 per evidence feature (the reference's sign)

    @property
    def mean_abs_r(self) -> float:
        return float(np.mean(self.abs_r)) if self.abs_r else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "found_in": self.found_in,
            "abs_r": [round(float(v), 4) for v in self.abs_r],
            "mean_abs_r": None if not self.abs_r else round(self.mean_abs_r, 4),
            "top5_kept": list(self.top5_kept),
            "evidence": list(self.evidence),
            "evidence_signs": list(self.evidence_signs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AxisAgreement:
        return cls(
            dim=str(data["dim"]),
            found_in=int(data["found_in"]),
            abs_r=[float(v) for v in data.get("abs_r", [])],
            top5_kept=[int(v) for v in data.get("top5_kept", [])],
            evidence=[str(v) for v in data.get("evidence", [])],
            evidence_signs=[int(v) for v in data.get("evidence_signs", [])],
        )


@dataclass(frozen=True)
class EnsembleReport:
    """The ensemble's verdict on the reference's distinct axes (``diagnostics.json``'s
    ``ensemble`` key)."""

    seeds: list[int]
    axes: list[AxisAgreement]  # the reference's distinct axes, in reading order
    member_distinct: list[int] = field(default_factory=list)  # distinct axes per other member
    found_r: float = FOUND_R

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def found_in(self) -> dict[str, int]:
        return {a.dim: a.found_in for a in self.axes}

    @property
    def reproduced(self) -> list[str]:
        if self.n_seeds < 2:
            return []
        need = min_found(self.n_seeds)
        return [a.dim for a in self.axes if a.found_in >= need]

    def axis(self, dim: str) -> AxisAgreement | None:
        return next((a for a in self.axes if a.dim == dim), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "n_seeds": self.n_seeds,
            "found_r": self.found_r,
            "min_found": min_found(self.n_seeds),
            "reproduced": self.reproduced,
            "n_reproduced": len(self.reproduced),
            "n_in_all": sum(a.found_in == self.n_seeds for a in self.axes),
            "member_distinct": list(self.member_distinct),
            "axes": [a.to_dict() for a in self.axes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnsembleReport:
        return cls(
            seeds=[int(s) for s in data.get("seeds", [])],
            axes=[AxisAgreement.from_dict(a) for a in data.get("axes", [])],
            member_distinct=[int(v) for v in data.get("member_distinct", [])],
            found_r=float(data.get("found_r", FOUND_R)),
        )


def feature_correlations(Z: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Pearson r of every code column with every feature column, ``(dims, features)``;
    a constant column correlates 0. Missing feature values are left out pairwise by
    filling them with the column mean (they then add nothing to the covariance)."""
    f = np.asarray(features, dtype=np.float64)
    if np.isnan(f).any():
        f = np.where(np.isnan(f), np.nanmean(np.where(np.isnan(f), np.nan, f), axis=0), f)
        f = np.nan_to_num(f)
    return cross_correlation(np.asarray(Z, dtype=np.float64), f)


def ensemble_report(
    reference: np.ndarray,
    reference_quality: DimQuality,
    members: Sequence[tuple[np.ndarray, DimQuality]],
    features: np.ndarray,
    feature_names: Sequence[str],
    seeds: Sequence[int],
    *,
    found_r: float = FOUND_R,
    top_k: int = TOP_K,
) -> EnsembleReport:
    """Match every member's distinct reading axes to the reference's (see the module text).

    ``reference`` and each member's codes are ``(segments, dims)`` on their own reading
    axes over the same segments, ``features`` the named features of those segments.
    """
    from scipy.optimize import linear_sum_assignment  # here: the pages import this module

    ref_dims = list(reference_quality.distinct)
    ref_idx = [reference_quality.names.index(d) for d in ref_dims]
    R0 = feature_correlations(np.asarray(reference)[:, ref_idx], features) if ref_idx else None
    top0 = top_k_sets(R0, top_k) if R0 is not None else None
    abs_r: dict[str, list[float]] = {d: [] for d in ref_dims}
    kept: dict[str, list[int]] = {d: [] for d in ref_dims}
    found: dict[str, int] = {d: 1 for d in ref_dims}
    agree = {d: np.ones(np.asarray(features).shape[1], dtype=bool) for d in ref_dims}
    member_distinct: list[int] = []
    for Z, q in members:
        idx = [q.names.index(d) for d in q.distinct]
        member_distinct.append(len(idx))
        if not ref_idx:
            continue
        if not idx:
            for d in ref_dims:
                abs_r[d].append(0.0)
                kept[d].append(0)
            continue
        Zm = np.asarray(Z)[:, idx]
        C = cross_correlation(np.asarray(reference)[:, ref_idx], Zm)
        rows, cols = linear_sum_assignment(-np.abs(C))
        pair = dict(zip(rows.tolist(), cols.tolist(), strict=True))
        Rm = feature_correlations(Zm, features)
        topm = top_k_sets(Rm, top_k)
        for i, d in enumerate(ref_dims):
            if i not in pair:
                abs_r[d].append(0.0)
                kept[d].append(0)
                continue
            j = pair[i]
            r = float(C[i, j])
            abs_r[d].append(round(abs(r), 4))
            assert top0 is not None and R0 is not None
            kept[d].append(int((top0[i] & topm[j]).sum()))
            if abs(r) >= found_r:
                found[d] += 1
                same_sign = np.sign(Rm[j] * np.sign(r)) == np.sign(R0[i])
                agree[d] &= topm[j] & same_sign
    axes: list[AxisAgreement] = []
    for i, d in enumerate(ref_dims):
        assert top0 is not None and R0 is not None
        # No name without reproduction: an axis no other seed found has no evidence.
        named = found[d] >= min_found(len(seeds))
        ev = np.flatnonzero(top0[i] & agree[d]) if named else np.zeros(0, dtype=np.int64)
        ev = ev[np.argsort(-np.abs(R0[i, ev]), kind="stable")]
        axes.append(
            AxisAgreement(
                dim=d,
                found_in=found[d],
                abs_r=abs_r[d],
                top5_kept=kept[d],
                evidence=[str(feature_names[int(j)]) for j in ev],
                evidence_signs=[1 if R0[i, j] >= 0 else -1 for j in ev],
            )
        )
    return EnsembleReport(
        seeds=[int(s) for s in seeds],
        axes=axes,
        member_distinct=member_distinct,
        found_r=found_r,
    )
