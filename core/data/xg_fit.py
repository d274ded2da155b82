"""Refit the product's xG model on StatsBomb shots and rewrite ``xg_model.json``.

``python -m core.data.xg_fit PATH`` reads every match of the StatsBomb open-data folder
PATH (its ``events/`` folder is accepted too) plus kloppy's three StatsBomb demo matches,
fits :mod:`core.data.xg_model`'s logistic models with StatsBomb's xG as soft labels (each
shot once as a goal with weight xG and once as a miss with weight 1 - xG), measures them on
held-out matches, and writes the artefact. Only this module needs scikit-learn; applying
the model needs numpy alone.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from core.data.sources import MatchFiles, demo_match_files, open_data_match_files
from core.data.statsbomb import read_events
from core.data.xg_model import (
    ALL_FEATURES,
    ARTEFACT_PATH,
    BODY_PART_FEATURES,
    PENALTY_XG,
    XG_MODEL_VERSION,
    check_artefact,
    predict_shots,
    shot_arrays,
    shot_features,
)
from core.errors import TacticalError, XGModelError
from core.infra.io import atomic_write_json

logger = logging.getLogger(__name__)

# L2 strength on standardised features (sklearn's C); held-out r barely moves from 1 to 100.
REGULARISATION_C: Final = 1.0
CV_FOLDS: Final = 5
# The two competitions of the shared data, by the name StatsBomb's matches files give them.
WORLD_CUP: Final = "FIFA World Cup"
NWSL: Final = "NWSL"
SHOT_FIELDS: Final[tuple[str, ...]] = (
    "match_id",
    "team_id",
    "period",
    "x",
    "y",
    "body_part",
    "set_piece",
    "outcome",
    "xg",
)

Predictor = Callable[[pl.DataFrame], npt.NDArray[np.float64]]


def _open_data_root(path: Path) -> Path:
    """The open-data folder of ``path``: itself, or the parent of an ``events/`` folder."""
    if path.name == "events" and not (path / "events").is_dir():
        return path.parent
    return path


def _match_shots(match: MatchFiles, competition: str, season: str) -> pl.DataFrame:
    events = read_events(match.events, match.match_id).events
    return events.filter((pl.col("type") == "shot") & pl.col("xg").is_not_null()).select(
        *SHOT_FIELDS,
        pl.lit(competition).alias("competition"),
        pl.lit(season).alias("season"),
    )


def load_statsbomb_shots(source: Path | None, *, include_demo: bool = True) -> pl.DataFrame:
    """Every shot with a StatsBomb xG in the open-data folder ``source`` and the demo matches."""
    matches: list[tuple[MatchFiles, str, str]] = []
    if source is not None:
        found = open_data_match_files(_open_data_root(Path(source)))
        for match in found.matches:
            rec = match.record
            matches.append(
                (match, str(rec.get("competition") or "unknown"), str(rec.get("season") or ""))
            )
    if include_demo:
        matches += [
            (m, f"kloppy demo: {m.record.get('competition') or 'StatsBomb'}", "")
            for m in demo_match_files()
        ]
    if not matches:
        raise XGModelError("no StatsBomb matches to fit the xG model on.")
    frames = [
        _match_shots(m, c, s)
        for m, c, s in tqdm(matches, desc="reading shots", unit="match", leave=False)
    ]
    shots = pl.concat(frames)
    if shots.height == 0:
        raise XGModelError("the StatsBomb matches hold no shots with xG to fit on.")
    return shots


def _design(shots: pl.DataFrame) -> npt.NDArray[np.float64]:
    return shot_features(*shot_arrays(shots))


def _trainable(shots: pl.DataFrame) -> pl.DataFrame:
    """Shots the logistic model learns from: located, in play (no shoot-out), no penalty."""
    return shots.filter(
        pl.col("x").is_not_null()
        & pl.col("y").is_not_null()
        & (pl.col("period") <= 4)
        & (pl.col("set_piece").fill_null("") != "penalty")
    )


def fit_logistic(shots: pl.DataFrame, features: Sequence[str]) -> dict[str, Any]:
    """One artefact model fitted on ``shots`` (soft labels from their xG), in raw feature units."""
    train = _trainable(shots)
    if train.height < 2 * len(features):
        raise XGModelError(f"{train.height} shots are too few to fit {len(features)} terms.")
    design = _design(train)[:, [ALL_FEATURES.index(f) for f in features]]
    mean, scale = design.mean(axis=0), design.std(axis=0)
    scale[scale == 0] = 1.0
    z = (design - mean) / scale
    xg = train.get_column("xg").to_numpy().clip(0.0, 1.0)
    model = LogisticRegression(C=REGULARISATION_C, max_iter=5000)
    model.fit(
        np.vstack([z, z]),
        np.r_[np.ones(len(xg)), np.zeros(len(xg))],
        sample_weight=np.r_[xg, 1.0 - xg],
    )
    coefficients = model.coef_[0] / scale
    intercept = float(model.intercept_[0] - (coefficients * mean).sum())
    return {
        "features": list(features),
        "coefficients": [round(float(c), 8) for c in coefficients],
        "intercept": round(intercept, 8),
    }


def fit_models(shots: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """The artefact's two models: with body part, and location and shot type only."""
    return {
        "body_part": fit_logistic(shots, ALL_FEATURES),
        "location_only": fit_logistic(
            shots, [f for f in ALL_FEATURES if f not in BODY_PART_FEATURES]
        ),
    }


def _predictor(models: dict[str, dict[str, Any]]) -> Predictor:
    artefact = {"version": XG_MODEL_VERSION, "models": models}

    def predict(shots: pl.DataFrame) -> npt.NDArray[np.float64]:
        return predict_shots(shots, artefact)

    return predict


def _r(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return round(float(np.corrcoef(a, b)[0, 1]), 4)


def _log_loss(p: npt.NDArray[np.float64], goal: npt.NDArray[np.float64]) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return round(float(-(goal * np.log(p) + (1 - goal) * np.log(1 - p)).mean()), 4)


def shot_metrics(shots: pl.DataFrame, modelled: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Modelled xG against StatsBomb's (per shot, per team-match sum) and against goals.

    Shoot-out shots (period 5) and shots without a location are left out.
    """
    frame = shots.with_columns(pl.Series("modelled", modelled)).filter(
        (pl.col("period") <= 4) & pl.col("modelled").is_not_nan()
    )
    open_shots = frame.filter(pl.col("set_piece").fill_null("") != "penalty")
    sums = frame.group_by("match_id", "team_id").agg(pl.col("xg", "modelled").sum())
    open_sums = open_shots.group_by("match_id", "team_id").agg(pl.col("xg", "modelled").sum())
    xg, ours = frame.get_column("xg").to_numpy(), frame.get_column("modelled").to_numpy()
    goal = (frame.get_column("outcome") == "goal").cast(pl.Float64).to_numpy()
    return {
        "shots": frame.height,
        "team_matches": sums.height,
        "r_per_shot": _r(ours, xg),
        "r_per_shot_non_penalty": _r(
            open_shots.get_column("modelled").to_numpy(), open_shots.get_column("xg").to_numpy()
        ),
        "r_per_team_match": _r(sums.get_column("modelled").to_numpy(), sums["xg"].to_numpy()),
        "r_per_team_match_non_penalty": _r(
            open_sums.get_column("modelled").to_numpy(), open_sums.get_column("xg").to_numpy()
        ),
        "goals": int(goal.sum()),
        "modelled_xg_total": round(float(ours.sum()), 2),
        "statsbomb_xg_total": round(float(xg.sum()), 2),
        "log_loss_goals": _log_loss(ours, goal),
        "statsbomb_log_loss_goals": _log_loss(xg, goal),
        "brier_goals": round(float(((ours - goal) ** 2).mean()), 4),
        "statsbomb_brier_goals": round(float(((xg - goal) ** 2).mean()), 4),
    }


def held_out_by_match(shots: pl.DataFrame, folds: int = CV_FOLDS) -> dict[str, Any]:
    """:func:`shot_metrics` of predictions for each match by models fitted without it."""
    groups = shots.get_column("match_id").to_numpy()
    modelled = np.full(shots.height, np.nan)
    for train, test in GroupKFold(n_splits=folds).split(np.zeros(shots.height), groups=groups):
        predict = _predictor(fit_models(shots[train]))
        modelled[test] = predict(shots[test])
    return shot_metrics(shots, modelled)


def held_out_across(shots: pl.DataFrame, fit_on: str, test_on: str) -> dict[str, Any]:
    """:func:`shot_metrics` on competition ``test_on`` of models fitted on ``fit_on`` alone."""
    train = shots.filter(pl.col("competition") == fit_on)
    test = shots.filter(pl.col("competition") == test_on)
    if train.height == 0 or test.height == 0:
        return {"skipped": f"no shots of {fit_on if train.height == 0 else test_on}"}
    return shot_metrics(test, _predictor(fit_models(train))(test))


def _fitted_on(shots: pl.DataFrame, source: Path | None) -> dict[str, Any]:
    per = (
        shots.group_by("competition", "season")
        .agg(pl.col("match_id").n_unique().alias("matches"), pl.len().alias("shots"))
        .sort("competition", "season")
    )
    return {
        "source": "StatsBomb open data" + (f" ({source.name})" if source is not None else ""),
        "competitions": per.to_dicts(),
        "matches": int(shots.get_column("match_id").n_unique()),
        "shots": shots.height,
        "shots_fitted": _trainable(shots).height,
        "labels": "StatsBomb statsbomb_xg as soft labels (goal weight xg, miss weight 1 - xg)",
    }


def fit_xg_model(statsbomb_events_dir: Path | str, *, include_demo: bool = True) -> dict[str, Any]:
    """The xG artefact fitted on every StatsBomb match of the folder (and the demo matches).

    The artefact is a plain dict: version, models (features, coefficients, intercept),
    penalty xG, what it was fitted on, and held-out metrics (by match, pooled; fitted on
    one competition and tested on the other). :func:`write_artefact` stores it.
    """
    source = Path(statsbomb_events_dir).expanduser()
    shots = load_statsbomb_shots(source, include_demo=include_demo)
    logger.info("fitting xG on %d shots of %d matches", shots.height, shots["match_id"].n_unique())
    competitions = set(shots.get_column("competition").unique().to_list())
    metrics: dict[str, Any] = {"held_out_by_match": {"all": held_out_by_match(shots)}}
    for name in sorted(competitions & {WORLD_CUP, NWSL}):
        metrics["held_out_by_match"][name] = held_out_by_match(
            shots.filter(pl.col("competition") == name)
        )
    if {WORLD_CUP, NWSL} <= competitions:
        metrics["across_competitions"] = {
            f"{WORLD_CUP} -> {NWSL}": held_out_across(shots, WORLD_CUP, NWSL),
            f"{NWSL} -> {WORLD_CUP}": held_out_across(shots, NWSL, WORLD_CUP),
        }
    models = fit_models(shots)
    metrics["in_sample"] = shot_metrics(shots, _predictor(models)(shots))
    return check_artefact(
        {
            "version": XG_MODEL_VERSION,
            "kind": "logistic shot xG",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "penalty_xg": PENALTY_XG,
            "regularisation_c": REGULARISATION_C,
            "models": models,
            "fitted_on": _fitted_on(shots, source),
            "metrics": metrics,
        }
    )


def write_artefact(artefact: dict[str, Any], path: Path = ARTEFACT_PATH) -> Path:
    """Store ``artefact`` as JSON (atomically) after checking it reads back."""
    return atomic_write_json(path, check_artefact(artefact))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m core.data.xg_fit PATH [--out FILE] [--no-demo]``: refit and write the artefact."""
    parser = argparse.ArgumentParser(prog="python -m core.data.xg_fit", description=__doc__)
    parser.add_argument("path", type=Path, help="StatsBomb open-data folder (or its events/)")
    parser.add_argument("--out", type=Path, default=ARTEFACT_PATH, help="artefact to write")
    parser.add_argument("--no-demo", action="store_true", help="leave kloppy's demo matches out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        artefact = fit_xg_model(args.path, include_demo=not args.no_demo)
        out = write_artefact(artefact, args.out)
    except (TacticalError, OSError) as exc:
        logger.error("xG model not refitted: %s", exc)
        return 2
    pooled = artefact["metrics"]["held_out_by_match"]["all"]
    logger.info(
        "wrote %s: held-out r per shot %.3f, per team-match %.3f; %d goals, modelled %.1f",
        out,
        pooled["r_per_shot"],
        pooled["r_per_team_match"],
        pooled["goals"],
        pooled["modelled_xg_total"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
