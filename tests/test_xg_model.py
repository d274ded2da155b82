"""The product's own shot xG: the artefact, its shape, and how close it comes to StatsBomb's xG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest

from core.data.schema import BODY_PARTS, EVENT_SCHEMA
from core.data.sources import demo_match_files, open_data_match_files
from core.data.statsbomb import read_events
from core.data.xg_model import (
    ALL_FEATURES,
    ARTEFACT_PATH,
    MODEL_NAMES,
    PENALTY_XG,
    XG_MODEL_VERSION,
    XGModelError,
    check_artefact,
    default_artefact,
    fill_modelled_xg,
    load_artefact,
    predict_xg,
    shot_geometry,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "statsbomb"
needs_shared = pytest.mark.skipif(
    not (SHARED / "events").is_dir(), reason="shared StatsBomb open data not present"
)
DEMO_360 = 3788741  # Italy v Turkey, Euro 2020 (kloppy's wheel)
YARDS_PER_METRE = 1.0936


def _xg(x: float, y: float, body_part: str = "foot", set_piece: str = "") -> float:
    value = predict_xg(np.array([x]), np.array([y]), np.array([body_part]), np.array([set_piece]))[
        0
    ]
    return float(value)


def _team_match_r(shots: pl.DataFrame, modelled: str, reference: str) -> float:
    sums = shots.group_by("match_id", "team_id").agg(pl.col(modelled, reference).sum())
    return float(np.corrcoef(sums[modelled].to_numpy(), sums[reference].to_numpy())[0, 1])


@pytest.fixture(scope="module")
def italy() -> pl.DataFrame:
    files = {m.match_id: m for m in demo_match_files()}[DEMO_360]
    return read_events(files.events, files.match_id).events


@pytest.fixture(scope="module")
def shared_shots() -> pl.DataFrame:
    """Every in-play shot of the shared World Cup 2018 and NWSL 2018 matches."""
    frames = []
    for match in open_data_match_files(SHARED).matches:
        events = read_events(match.events, match.match_id).events
        frames.append(
            events.filter((pl.col("type") == "shot") & (pl.col("period") <= 4)).with_columns(
                pl.lit(match.record["competition"]).alias("competition")
            )
        )
    return pl.concat(frames)


class TestArtefact:
    def test_is_plain_json_with_version_models_and_metrics(self) -> None:
        raw = json.loads(ARTEFACT_PATH.read_text(encoding="utf-8"))
        assert raw == load_artefact() == default_artefact()
        assert raw["version"] == XG_MODEL_VERSION
        assert raw["penalty_xg"] == PENALTY_XG
        assert set(raw["models"]) == set(MODEL_NAMES)
        full = raw["models"]["body_part"]
        assert full["features"] == list(ALL_FEATURES)
        assert len(full["coefficients"]) == len(ALL_FEATURES)
        assert "head" not in raw["models"]["location_only"]["features"]
        fitted = {c["competition"]: c for c in raw["fitted_on"]["competitions"]}
        assert fitted["FIFA World Cup"]["matches"] == 64 and fitted["NWSL"]["matches"] == 34
        assert raw["fitted_on"]["shots"] > 2500
        pooled = raw["metrics"]["held_out_by_match"]["all"]
        assert pooled["r_per_team_match"] >= 0.85 and pooled["r_per_shot"] >= 0.8
        for key in ("log_loss_goals", "brier_goals", "goals", "modelled_xg_total"):
            assert key in pooled
        assert set(raw["metrics"]["across_competitions"]) == {
            "FIFA World Cup -> NWSL",
            "NWSL -> FIFA World Cup",
        }

    def test_other_versions_and_damaged_files_are_refused(self, tmp_path: Path) -> None:
        artefact = load_artefact()
        with pytest.raises(XGModelError, match=r"version 0.*refit"):
            check_artefact({**artefact, "version": 0})
        broken = {**artefact, "models": {**artefact["models"], "location_only": {"features": []}}}
        with pytest.raises(XGModelError, match="coefficient"):
            check_artefact(broken)
        unknown = json.loads(json.dumps(artefact))
        unknown["models"]["body_part"]["features"][0] = "shot_speed"
        with pytest.raises(XGModelError, match="unknown features"):
            check_artefact(unknown)
        with pytest.raises(XGModelError, match="xg_fit"):
            load_artefact(tmp_path / "missing.json")
        (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
        with pytest.raises(XGModelError, match="not a readable"):
            load_artefact(tmp_path / "bad.json")


class TestShape:
    def test_geometry(self) -> None:
        distance, angle = shot_geometry(
            np.array([120.0, 108.0, 108.0]), np.array([40.0, 40.0, 4.0])
        )
        assert distance[1] == pytest.approx(12.0)
        assert angle[0] == pytest.approx(np.pi)  # between the posts on the goal line
        assert angle[1] == pytest.approx(2 * np.arctan(4 / 12))
        assert angle[2] < angle[1] / 4  # same depth, out wide

    def test_close_central_beats_far(self) -> None:
        six_yard_centre = _xg(114.0, 40.0)
        thirty_metres = _xg(120.0 - 30 * YARDS_PER_METRE, 40.0)
        assert six_yard_centre > 0.25 > 0.05 > thirty_metres
        along = [_xg(120.0 - d, 40.0) for d in (3, 6, 12, 18, 25, 35)]
        assert along == sorted(along, reverse=True)
        assert _xg(108.0, 40.0) > _xg(108.0, 20.0)  # same depth, worse angle

    def test_header_below_foot_from_the_same_spot(self) -> None:
        for x, y in [(114.0, 40.0), (110.0, 36.0), (104.0, 44.0)]:
            assert _xg(x, y, "head") < _xg(x, y, "foot")

    def test_penalty_and_free_kick(self) -> None:
        assert 0.7 <= _xg(108.0, 40.0, "foot", "penalty") <= 0.8
        assert _xg(float("nan"), float("nan"), "", "penalty") == PENALTY_XG
        free_kick = _xg(98.0, 40.0, "foot", "free_kick")
        assert 0.02 < free_kick < 0.2

    def test_unknown_body_part_uses_the_location_model(self) -> None:
        spot = (112.0, 40.0)
        unknown = _xg(*spot, "")
        assert 0.0 < unknown < 1.0
        assert unknown != _xg(*spot, "foot")


class TestFill:
    def test_statsbomb_xg_is_kept_and_not_modelled(self, italy: pl.DataFrame) -> None:
        assert italy.schema == EVENT_SCHEMA
        assert not italy["xg_modelled"].any()
        again = fill_modelled_xg(italy)
        assert again.equals(italy)

    def test_blanked_xg_is_modelled_for_shots_only(self, italy: pl.DataFrame) -> None:
        blank = italy.with_columns(pl.lit(None, dtype=pl.Float64).alias("xg"))
        filled = fill_modelled_xg(blank)
        assert filled.schema == EVENT_SCHEMA and filled.height == italy.height
        shot = filled["type"] == "shot"
        assert filled.filter(shot)["xg"].null_count() == 0
        assert filled.filter(~shot)["xg"].null_count() == filled.height - shot.sum()
        assert filled["xg_modelled"].to_list() == shot.to_list()
        assert fill_modelled_xg(filled).equals(filled)  # idempotent; the flag stays set
        ours, theirs = filled.filter(shot)["xg"].to_numpy(), italy.filter(shot)["xg"].to_numpy()
        # One match of 27 shots, in StatsBomb's newer data: looser than over many matches.
        assert np.corrcoef(ours, theirs)[0, 1] > 0.6
        assert ours.sum() == pytest.approx(theirs.sum(), rel=0.3)

    def test_without_body_part_or_set_piece_columns(self, italy: pl.DataFrame) -> None:
        bare = italy.select("type", "x", "y").with_columns(pl.lit(None, pl.Float64).alias("xg"))
        filled = fill_modelled_xg(bare)
        assert filled.columns == ["type", "x", "y", "xg", "xg_modelled"]
        assert filled["xg_modelled"].sum() == (italy["type"] == "shot").sum()

    def test_shot_without_location_stays_null(self) -> None:
        events = pl.DataFrame(
            {
                "type": ["shot", "shot", "pass"],
                "x": [None, 110.0, 60.0],
                "y": [None, 40.0, 30.0],
                "set_piece": [None, None, None],
            },
            schema_overrides={"x": pl.Float64, "y": pl.Float64, "set_piece": pl.String},
        )
        filled = fill_modelled_xg(events)
        assert filled["xg"][0] is None and filled["xg"][1] > 0.1 and filled["xg"][2] is None
        assert filled["xg_modelled"].to_list() == [False, True, False]

    def test_missing_coordinates_are_a_clear_error(self, italy: pl.DataFrame) -> None:
        with pytest.raises(XGModelError, match=r"lacks the column\(s\) \['x', 'y'\]"):
            fill_modelled_xg(italy.drop("x", "y"))
        with pytest.raises(XGModelError, match="numeric coordinates"):
            fill_modelled_xg(italy.with_columns(pl.col("x").cast(pl.String)))
        with pytest.raises(XGModelError, match="polars DataFrame"):
            fill_modelled_xg(italy.to_dicts())  # type: ignore[arg-type]


class TestSchema:
    def test_new_columns(self) -> None:
        assert EVENT_SCHEMA["body_part"] == pl.String
        assert EVENT_SCHEMA["xg_modelled"] == pl.Boolean
        assert BODY_PARTS == ("head", "foot", "other")
        row: dict[str, Any] = dict.fromkeys(EVENT_SCHEMA.names())
        row.update(type="shot", x=110.0, y=40.0, body_part="head", xg_modelled=True)
        frame = pl.DataFrame([row], schema=EVENT_SCHEMA)
        assert frame.row(0, named=True)["body_part"] == "head"

    def test_statsbomb_body_parts_from_raw(self, italy: pl.DataFrame) -> None:
        files = {m.match_id: m for m in demo_match_files()}[DEMO_360]
        raw = orjson.loads(files.events.read_bytes())
        names = {"Head": "head", "Left Foot": "foot", "Right Foot": "foot", "Other": "other"}
        expected = [names[e["shot"]["body_part"]["name"]] for e in raw if "shot" in e]
        shots = italy.filter(pl.col("type") == "shot").sort("index")
        assert shots["body_part"].to_list() == expected
        assert "head" in expected
        assert italy.filter(pl.col("type") != "shot")["body_part"].null_count() == (
            italy.height - shots.height
        )


@needs_shared
class TestOnSharedData:
    def test_blanked_shared_shots_match_statsbomb_per_team_match(
        self, shared_shots: pl.DataFrame
    ) -> None:
        blank = shared_shots.with_columns(
            pl.col("xg").alias("statsbomb_xg"), pl.lit(None, pl.Float64).alias("xg")
        )
        filled = fill_modelled_xg(blank)
        assert filled["xg_modelled"].all()
        for competition in ("FIFA World Cup", "NWSL"):
            one = filled.filter(pl.col("competition") == competition)
            assert _team_match_r(one, "xg", "statsbomb_xg") >= 0.85, competition
            assert np.corrcoef(one["xg"], one["statsbomb_xg"])[0, 1] >= 0.75
        goals = (filled["outcome"] == "goal").sum()
        assert filled["xg"].sum() == pytest.approx(goals, rel=0.1)

    def test_fitted_on_one_competition_holds_on_the_other(self, shared_shots: pl.DataFrame) -> None:
        from core.data.xg_fit import fit_models  # scikit-learn, only for fitting

        nwsl = shared_shots.filter(pl.col("competition") == "NWSL")
        world_cup = shared_shots.filter(pl.col("competition") == "FIFA World Cup")
        models = fit_models(nwsl)
        artefact = {"version": XG_MODEL_VERSION, "models": models}
        modelled = fill_modelled_xg(
            world_cup.with_columns(
                pl.col("xg").alias("statsbomb_xg"), pl.lit(None, pl.Float64).alias("xg")
            ),
            artefact,
        )
        assert _team_match_r(modelled, "xg", "statsbomb_xg") >= 0.85

    def test_refit_command_writes_a_loadable_artefact(self, tmp_path: Path) -> None:
        from core.data.xg_fit import main

        out = tmp_path / "xg_model.json"
        assert main([str(SHARED / "events"), "--out", str(out), "--no-demo"]) == 0
        artefact = load_artefact(out)
        assert artefact["fitted_on"]["matches"] == 98
        shipped = load_artefact()
        ours = np.array(artefact["models"]["body_part"]["coefficients"])
        theirs = np.array(shipped["models"]["body_part"]["coefficients"])
        assert np.allclose(ours, theirs, atol=0.15)  # three demo matches move it little
        assert main([str(tmp_path / "nowhere")]) == 2
