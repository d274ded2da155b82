"""Data: where features come from (demo, an open-data folder, an upload) and what they mean."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from core.data.sources import discover
from core.errors import (
    DatasetImportError,
    JobError,
    SourceError,
    StatsBombFormatError,
    UnsafePathError,
)
from core.features.datasets import (
    MAX_UPLOAD_BYTES,
    Dataset,
    check_dataset_name,
    import_features,
)
from core.features.summary import feature_coverage
from core.infra.paths import data_root, resolve_under
from core.jobs.api import list_jobs, submit_extraction
from pages._ui.errors import show_error
from pages._ui.readers import file_version, registry
from pages._ui.routing import ensure_routed
from pages._ui.widgets import dataset_folders, job_table

MAX_UPLOAD_MB = MAX_UPLOAD_BYTES // (1024 * 1024)
POLL_S = 1.5

ensure_routed()
st.title("Data")
st.caption(
    "A dataset is one folder of features (one row per team segment), match names and the "
    "compact events used for pitch drawings. Build one from match files, or upload a "
    "features table."
)


def _open_data_folders(root: Path) -> list[str]:
    """Folders under the data root that look like StatsBomb open-data copies."""
    found = {
        str(p.parent.relative_to(root))
        for pattern in ("competitions.json", "*/competitions.json", "*/*/competitions.json")
        for p in root.glob(pattern)
    }
    return sorted(f for f in found if not f.startswith("datasets"))


source_kind = st.radio(
    "Source",
    ["demo", "folder", "upload"],
    format_func={
        "demo": "Demo matches (3 StatsBomb matches shipped with kloppy)",
        "folder": "StatsBomb open-data folder under the data root",
        "upload": "Upload a features.parquet",
    }.get,
    key="data_source",
    horizontal=True,
)

if source_kind in ("demo", "folder"):
    with st.form("extract_form"):
        folder = ""
        competitions: list[str] = []
        max_matches = 0
        if source_kind == "folder":
            root = data_root()
            known = _open_data_folders(root)
            st.caption(
                f"Paths are relative to the data root `{root}`; folders outside it are refused. "
                + (
                    f"Found: {', '.join(known)}."
                    if known
                    else "No open-data folder found there yet."
                )
            )
            folder = st.text_input(
                "Folder (holding competitions.json, matches/, events/)",
                value=known[0] if known else "",
                key="data_folder",
            )
            comp_text = st.text_input(
                "Competitions (ids or names, comma separated; empty = all)", key="data_comps"
            )
            competitions = [c.strip() for c in comp_text.split(",") if c.strip()]
            max_matches = int(
                st.number_input("At most this many matches (0 = all)", 0, 5000, 0, key="data_max")
            )
        c1, c2, c3 = st.columns(3)
        name = c1.text_input(
            "Dataset name", "demo" if source_kind == "demo" else "", key="data_name"
        )
        window = c2.number_input("Window length (s)", 60, 1800, 300, 30, key="data_window")
        stride = c3.number_input("Stride (s)", 30, 1800, 150, 30, key="data_stride")
        go = st.form_submit_button("Extract features", type="primary")
    if go:
        try:
            check_dataset_name(name)
        except DatasetImportError as exc:
            st.error(str(exc))
            st.stop()
        source: str | Path = "demo"
        try:
            if source_kind == "folder":
                source = resolve_under(data_root(), folder)
                found = discover(
                    source, competitions=competitions or None, max_matches=max_matches or None
                )
                if not found.matches:
                    raise SourceError(f"{folder} holds no matches for these filters.")
            else:
                source = "demo"
            job = submit_extraction(
                str(source),
                name,
                window_s=float(window),
                stride_s=float(stride),
                competitions=competitions or None,
                max_matches=max_matches or None,
            )
        except UnsafePathError as exc:
            show_error(
                "That folder is outside the data root. Copy or link it under the data root.", exc
            )
        except (SourceError, StatsBombFormatError) as exc:
            show_error(
                "No matches found there. Point at the folder holding competitions.json, "
                "matches/ and events/ (a StatsBomb open-data copy), or relax the filters.",
                exc,
            )
        except JobError as exc:
            show_error("The extraction could not be started.", exc)
        else:
            st.success(f"Extraction job {job.job_id} started; progress below.")
else:
    st.caption(
        f"A parquet file with the metadata columns (match_id, team_id, segment_type, "
        f"start_time, end_time, period, match_minute) and t<tier>_<name> feature columns; "
        f"at most {MAX_UPLOAD_MB} MB."
    )
    upload = st.file_uploader("features.parquet", type=["parquet"], key="data_upload")
    up_name = st.text_input("Dataset name", "uploaded", key="data_upload_name")
    if upload is not None and st.button("Add dataset", key="data_add", type="primary"):
        try:
            added = import_features(upload.getvalue(), up_name)
        except DatasetImportError as exc:
            st.error(f"{upload.name} was not added. {exc}")
        except (UnsafePathError, OSError) as exc:
            show_error("The upload could not be stored.", exc)
        else:
            st.success(
                f"Added dataset {added.name}: {added.segments:,} segments, {added.features} "
                "features. Train on it on the **Train** page."
            )


@st.cache_data(max_entries=4, show_spinner=False)
def _coverage(path: str, version: str) -> pl.DataFrame:
    """Non-null share of every feature in a dataset, read once per file version."""
    return feature_coverage(pl.read_parquet(path))


def _extractions_active() -> bool:
    return any(j.is_active for j in list_jobs("extract")[:12])


polling = _extractions_active()


@st.fragment(run_every=POLL_S if polling else None)
def extraction_jobs() -> None:
    st.subheader("Extraction jobs")
    active = job_table("extract", key_prefix="extract")
    if polling and not active:
        st.rerun()


extraction_jobs()

# --- feature registry ---------------------------------------------------------------------
st.subheader("Feature registry")
st.caption(
    "Every feature the engine computes, with how it is computed. Coverage is the share of "
    "the chosen dataset's segments with a value (tier 3 needs 360 frames)."
)
reg = registry()
folders = dataset_folders()
if reg is None:
    st.info("The feature registry is not available in this installation.")
else:
    shown = reg
    if folders:
        ds = st.selectbox(
            "Coverage in dataset", folders, format_func=lambda p: p.name, key="data_coverage_ds"
        )
        try:
            fpath = Dataset(ds).features_path
            cov = _coverage(str(fpath), file_version(fpath))
        except (OSError, pl.exceptions.ComputeError) as exc:
            show_error(f"Could not read {ds.name}/features.parquet; extract it again.", exc)
        else:
            shown = reg.join(cov, on="name", how="left")
    st.dataframe(
        shown,
        hide_index=True,
        key="registry_table",
        column_config={
            "coverage": st.column_config.ProgressColumn(
                "coverage", min_value=0.0, max_value=1.0, format="percent"
            ),
            "definition": st.column_config.TextColumn("definition", width="large"),
        },
    )
    if not folders:
        st.caption("No dataset yet: coverage appears once one is extracted.")
