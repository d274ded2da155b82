"""Which latent dimensions a page lists: the sidebar's "Show all dimensions" toggle, the
cached quality record, and the captions and banners drawn from ``core.views.dims``.

The view-models (:class:`core.views.dims.DimView`, the per-dimension tables, the latent
map's colouring) are ``core.views.dims``'s; this module only caches, reads the toggle and
draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.analysis.quality import DimQuality
from core.errors import ArtifactMissingError, RunNotFoundError
from core.runs.files import DIAGNOSTICS_FILE
from core.runs.store import Run, get_run
from core.views import dims as views
from pages._ui.readers import run_version

SHOW_ALL_KEY = "show_all_dims"  # the sidebar toggle; drawn on every page, so it persists


@st.cache_data(max_entries=64, show_spinner=False)
def _quality(run_id: str, diagnostics_version: str, latents_version: str) -> DimQuality:
    return get_run(run_id).dim_quality()


def run_quality(run: Run) -> DimQuality | None:
    """The run's dimension quality (cached per file version), ``None`` when it has none yet."""
    try:
        return _quality(run.run_id, run_version(run, DIAGNOSTICS_FILE), run_version(run))
    except (ArtifactMissingError, RunNotFoundError, ValueError, KeyError, OSError):
        return None


def show_all() -> bool:
    """Whether the sidebar asks for every dimension (not only the distinct ones)."""
    return bool(st.session_state.get(SHOW_ALL_KEY, False))


def show_all_toggle() -> None:
    """The one "Show all dimensions" widget (the sidebar draws it on every page)."""
    st.toggle(
        "Show all dimensions",
        key=SHOW_ALL_KEY,
        help="Pages list the run's distinct dimensions (active and not a copy of another), "
        "most informative first. Turn this on to list the redundant and inactive ones too, "
        "marked as such.",
    )


class DimView(views.DimView):
    """:class:`core.views.dims.DimView` that can draw its note."""

    def caption(self) -> None:
        """Draw :meth:`note` as a caption when something is hidden."""
        if (text := self.note()) is not None:
            st.caption(text)


def dim_view(run: Run, names: Sequence[str] | None = None) -> DimView:
    """The dimensions to list for ``run`` (``names``: the page's latent names, default the
    quality record's own)."""
    quality = run_quality(run)
    if names is None:
        names = quality.names if quality is not None else run.latent_columns()
    return DimView(names=list(names), quality=quality, all_shown=show_all())


def quality_warning(run: Run) -> None:
    """The banner of a run with fewer than two distinct dimensions (nothing otherwise)."""
    quality = run_quality(run)
    if quality is not None and (text := quality.warning()) is not None:
        st.warning(text, icon=":material/warning:")
