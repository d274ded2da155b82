"""The product's own shot xG, for every provider whose shots carry none (only StatsBomb ships it).

A logistic model on where a shot is taken from (distance and goal-mouth angle, with their
logs), what with (head, foot, other) and how (open play, direct free kick, corner or other
set piece), fitted on StatsBomb shots with StatsBomb's xG as soft labels by
:mod:`core.data.xg_fit`. The fitted coefficients live in ``xg_model.json`` beside this
module (a versioned JSON artefact, never pickle) and are applied here with numpy only.

Penalties are not modelled: they get :data:`PENALTY_XG`, the constant StatsBomb gives
every penalty (0.76, about the share of penalties scored in top-flight football).
A shot whose body part is unknown gets the artefact's location-only model, fitted on the
same shots without the body-part terms, rather than being taken as a foot shot. The
open-data shots hold no shot taken straight from a corner or kick-off, so the
``set_piece_other`` term is fitted as 0: such a shot is valued as from open play.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from core.data.schema import PITCH_LENGTH, PITCH_WIDTH
from core.errors import XGModelError
from core.infra.io import read_json

logger = logging.getLogger(__name__)

ARTEFACT_PATH: Final = Path(__file__).with_name("xg_model.json")
# The artefact layout this module reads; xg_fit writes it. Bump on any change of features.
XG_MODEL_VERSION: Final = 1
PENALTY_XG: Final = 0.76

GOAL_X: Final = PITCH_LENGTH
GOAL_Y: Final = PITCH_WIDTH / 2
GOAL_WIDTH: Final = 8.0  # posts at y 36 and 44
MIN_DISTANCE: Final = 0.5  # a shot on the goal line still has a finite log distance
MIN_ANGLE: Final = 0.01  # radians; a shot from on or behind the goal line

# Every term a model can use, in a fixed order; a model names the ones it uses.
ALL_FEATURES: Final[tuple[str, ...]] = (
    "log_distance",
    "distance",
    "angle",
    "log_angle",
    "head",
    "other",
    "head_x_log_distance",
    "free_kick",
    "free_kick_x_distance",
    "set_piece_other",
)
BODY_PART_FEATURES: Final = frozenset({"head", "other", "head_x_log_distance"})
# The models of the artefact: with the body part, and for shots whose body part is unknown.
MODEL_NAMES: Final[tuple[str, ...]] = ("body_part", "location_only")
# The columns the model cannot do without; ``body_part`` and ``set_piece`` may be absent.
SHOT_COLUMNS: Final[tuple[str, ...]] = ("type", "x", "y")


def shot_geometry(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Distance to the goal centre and the goal-mouth angle (radians) of shots at (x, y).

    The angle is the one the two posts subtend at the shot, ``atan2(w dx, dx² + dy² - w²/4)``
    (pi on the goal line between the posts, near 0 far out wide or behind the line).
    """
    dx = GOAL_X - x
    dy = y - GOAL_Y
    distance = np.maximum(np.hypot(dx, dy), MIN_DISTANCE)
    angle = np.arctan2(GOAL_WIDTH * dx, dx**2 + dy**2 - (GOAL_WIDTH / 2) ** 2)
    return distance, np.clip(angle, MIN_ANGLE, np.pi)


def shot_features(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    body_part: npt.NDArray[np.str_],
    set_piece: npt.NDArray[np.str_],
) -> npt.NDArray[np.float64]:
    """The (n shots, len(ALL_FEATURES)) design matrix.

    ``body_part`` and ``set_piece`` hold the neutral strings, ``""`` where unknown / open play.
    """
    distance, angle = shot_geometry(x, y)
    log_distance = np.log(distance)
    head = (body_part == "head").astype(np.float64)
    free_kick = (set_piece == "free_kick").astype(np.float64)
    other_set_piece = np.isin(set_piece, ["", "free_kick", "penalty"], invert=True)
    columns = {
        "log_distance": log_distance,
        "distance": distance,
        "angle": angle,
        "log_angle": np.log(angle),
        "head": head,
        "other": (body_part == "other").astype(np.float64),
        "head_x_log_distance": head * log_distance,
        "free_kick": free_kick,
        "free_kick_x_distance": free_kick * distance,
        "set_piece_other": other_set_piece.astype(np.float64),
    }
    return np.column_stack([columns[name] for name in ALL_FEATURES])


def _check_model(name: str, model: Any) -> None:
    if not isinstance(model, dict):
        raise XGModelError(f"xG artefact: model {name!r} is not an object.")
    features, coefficients = model.get("features"), model.get("coefficients")
    if not isinstance(features, list) or not set(features) <= set(ALL_FEATURES):
        raise XGModelError(
            f"xG artefact: model {name!r} names unknown features {features}; "
            f"known: {list(ALL_FEATURES)}. Refit with python -m core.data.xg_fit."
        )
    if not isinstance(coefficients, list) or len(coefficients) != len(features):
        raise XGModelError(f"xG artefact: model {name!r} needs one coefficient per feature.")
    if not isinstance(model.get("intercept"), int | float):
        raise XGModelError(f"xG artefact: model {name!r} has no numeric intercept.")


def check_artefact(artefact: Any) -> dict[str, Any]:
    """``artefact`` if it is a readable xG artefact of :data:`XG_MODEL_VERSION`, else an error."""
    if not isinstance(artefact, dict):
        raise XGModelError("xG artefact is not a JSON object.")
    if artefact.get("version") != XG_MODEL_VERSION:
        raise XGModelError(
            f"xG artefact has version {artefact.get('version')!r}, this code reads "
            f"{XG_MODEL_VERSION}; refit it with python -m core.data.xg_fit PATH."
        )
    models = artefact.get("models")
    if not isinstance(models, dict) or set(models) != set(MODEL_NAMES):
        raise XGModelError(f"xG artefact must hold the models {list(MODEL_NAMES)}.")
    for name, model in models.items():
        _check_model(name, model)
    return artefact


def load_artefact(path: Path = ARTEFACT_PATH) -> dict[str, Any]:
    """The xG artefact at ``path`` (plain JSON), checked."""
    try:
        artefact = read_json(path)
    except FileNotFoundError as exc:
        raise XGModelError(
            f"no xG model at {path.name}; fit one with python -m core.data.xg_fit PATH."
        ) from exc
    except (OSError, ValueError) as exc:
        raise XGModelError(f"{path.name} is not a readable xG artefact ({exc}).") from exc
    return check_artefact(artefact)


@cache
def default_artefact() -> dict[str, Any]:
    """The artefact shipped beside this module, read once per process."""
    return load_artefact(ARTEFACT_PATH)


def model_logit(model: dict[str, Any], design: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The linear predictor of one artefact model over a :func:`shot_features` matrix."""
    index = [ALL_FEATURES.index(name) for name in model["features"]]
    coefficients = np.asarray(model["coefficients"], dtype=np.float64)
    logit: npt.NDArray[np.float64] = design[:, index] @ coefficients + float(model["intercept"])
    return logit


def predict_xg(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    body_part: npt.NDArray[np.str_],
    set_piece: npt.NDArray[np.str_],
    artefact: dict[str, Any] | None = None,
) -> npt.NDArray[np.float64]:
    """Modelled xG of shots (NaN where x or y is missing, :data:`PENALTY_XG` for penalties).

    ``body_part`` and ``set_piece`` as for :func:`shot_features`; a shot of unknown body
    part gets the location-only model.
    """
    artefact = default_artefact() if artefact is None else artefact
    models = artefact["models"]
    located = np.isfinite(x) & np.isfinite(y)
    design = shot_features(
        np.where(located, x, 0.0), np.where(located, y, 0.0), body_part, set_piece
    )
    logit = np.where(
        body_part != "",
        model_logit(models["body_part"], design),
        model_logit(models["location_only"], design),
    )
    xg = np.where(located, 1.0 / (1.0 + np.exp(-logit)), np.nan)
    return np.where(set_piece == "penalty", PENALTY_XG, xg)


def shot_arrays(
    shots: pl.DataFrame,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.str_], npt.NDArray[np.str_]
]:
    """x, y (NaN when missing), body part and set piece (``""`` when null) of a shot table."""

    def text(name: str) -> npt.NDArray[np.str_]:
        if name not in shots.columns:
            return np.full(shots.height, "", dtype=np.str_)
        return shots.get_column(name).cast(pl.String).fill_null("").to_numpy().astype(np.str_)

    def coordinate(name: str) -> npt.NDArray[np.float64]:
        column = shots.get_column(name).cast(pl.Float64).fill_null(np.nan)
        return column.to_numpy().astype(np.float64)

    return coordinate("x"), coordinate("y"), text("body_part"), text("set_piece")


def predict_shots(
    shots: pl.DataFrame, artefact: dict[str, Any] | None = None
) -> npt.NDArray[np.float64]:
    """:func:`predict_xg` over the rows of a shot table (neutral columns ``x``, ``y``, ...)."""
    _check_columns(shots, ("x", "y"))
    return predict_xg(*shot_arrays(shots), artefact=artefact)


def _check_columns(events: pl.DataFrame, required: tuple[str, ...] = SHOT_COLUMNS) -> None:
    if not isinstance(events, pl.DataFrame):
        raise XGModelError(f"modelled xG needs a polars DataFrame, got {type(events).__name__}.")
    missing = [c for c in required if c not in events.columns]
    if missing:
        raise XGModelError(
            f"the event table lacks the column(s) {missing} that modelled xG needs "
            f"(shot type and x, y in the acting team's attacking direction); it has "
            f"{events.columns}."
        )
    numeric = [c for c in ("x", "y") if not events.schema[c].is_numeric()]
    if numeric:
        raise XGModelError(
            f"event columns {numeric} must hold numeric coordinates (x 0-120, y 0-80), "
            f"not {[str(events.schema[c]) for c in numeric]}."
        )


def fill_modelled_xg(events: pl.DataFrame, artefact: dict[str, Any] | None = None) -> pl.DataFrame:
    """``events`` with ``xg`` filled for shots that have none, and ``xg_modelled`` set.

    Shots with a provider xG keep it; a shot without one gets :func:`predict_xg` (a shot
    without a location stays null unless it is a penalty). ``xg_modelled`` is true where
    this or an earlier call filled the xG. ``body_part`` and ``set_piece`` are optional
    (absent means unknown / open play); a table without ``type``, ``x`` or ``y`` raises
    :class:`XGModelError`. The artefact is read only when some shot needs it.
    """
    _check_columns(events)
    if "xg" not in events.columns:
        events = events.with_columns(pl.lit(None, dtype=pl.Float64()).alias("xg"))
    prior = (
        pl.col("xg_modelled").fill_null(False) if "xg_modelled" in events.columns else pl.lit(False)
    )
    needed = ((pl.col("type") == "shot") & pl.col("xg").is_null()).fill_null(False)
    mask = events.select(needed).to_series().to_numpy()
    if not mask.any():
        return events.with_columns(prior.alias("xg_modelled"))
    modelled = np.full(events.height, np.nan)
    modelled[mask] = predict_xg(*shot_arrays(events.filter(pl.Series(mask))), artefact=artefact)
    n_filled = int(np.isfinite(modelled).sum())
    logger.debug("modelled xG for %d of %d shots without one", n_filled, int(mask.sum()))
    fill = pl.Series("_xg_fill", modelled, dtype=pl.Float64).fill_nan(None)
    return (
        events.with_columns(fill)
        .with_columns(
            pl.coalesce("xg", "_xg_fill").alias("xg"),
            (prior | pl.col("_xg_fill").is_not_null()).alias("xg_modelled"),
        )
        .drop("_xg_fill")
    )
