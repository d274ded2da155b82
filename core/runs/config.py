"""What a run was asked for, and its id.

A run id is the first 12 hex digits of a SHA-256 over the features file's content, the
preprocessing config, the VAE config and the seed, so asking twice for the same thing finds
the same folder (:func:`run_id_for`). :class:`RunConfig` is ``config.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.infra.io import file_sha256
from core.infra.paths import display_path
from core.model.config import PreprocessConfig, VAEConfig

RUN_ID_RE = re.compile(r"^[0-9a-f]{12}$")
RUN_FORMAT_VERSION = 2


@dataclass(frozen=True)
class RunConfig:
    """Contents of ``config.json``: exactly what was asked for."""

    run_id: str
    vae: VAEConfig
    preprocess: PreprocessConfig
    features_path: Path
    features_sha256: str
    features_size: int
    created_at: str
    dataset: str = ""  # name of the dataset folder holding the features file
    format_version: int = RUN_FORMAT_VERSION

    @property
    def seed(self) -> int:
        return self.vae.random_state

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "dataset": self.dataset,
            "features_path": str(self.features_path),
            "features_sha256": self.features_sha256,
            "features_size": self.features_size,
            "seed": self.seed,
            "vae": self.vae.to_dict(),
            "preprocess": self.preprocess.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls(
            run_id=str(data["run_id"]),
            vae=VAEConfig.from_dict(data["vae"]),
            preprocess=PreprocessConfig.from_dict(data["preprocess"]),
            features_path=Path(data["features_path"]),
            features_sha256=str(data["features_sha256"]),
            features_size=int(data["features_size"]),
            created_at=str(data["created_at"]),
            dataset=str(data.get("dataset", "")),
            format_version=int(data.get("format_version", RUN_FORMAT_VERSION)),
        )


def check_features_path(features_path: str | os.PathLike[str]) -> Path:
    path = Path(features_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Features file {display_path(path)} does not exist. Extract one first "
            "(`python -m core features ...`) or pick a dataset from the data folder."
        )
    return path.resolve()


def run_id_for(
    features_path: str | os.PathLike[str], vae_cfg: VAEConfig, prep_cfg: PreprocessConfig
) -> str:
    """Deterministic 12-hex run id of (features content, preprocessing, VAE config, seed)."""
    digest = file_sha256(check_features_path(features_path))
    return run_id_from_digest(digest, vae_cfg, prep_cfg)


def run_id_from_digest(features_digest: str, vae_cfg: VAEConfig, prep_cfg: PreprocessConfig) -> str:
    payload = json.dumps(
        {
            "format_version": RUN_FORMAT_VERSION,
            "features_sha256": features_digest,
            "preprocess": prep_cfg.to_dict(),
            "vae": vae_cfg.to_dict(),
            "seed": vae_cfg.random_state,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
