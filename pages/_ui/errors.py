"""One way to show errors: typed engine errors become guidance, never a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from core.errors import (
    ArtifactMissingError,
    BrokenRunError,
    RunNotFoundError,
)
from core.views.text import md_escape

# Error types a page turns into guidance instead of a traceback.
RUN_ERRORS: tuple[type[BaseException], ...] = (
    RunNotFoundError,
    ArtifactMissingError,
    BrokenRunError,
)


@contextlib.contextmanager
def friendly_errors(what: str = "this page") -> Iterator[None]:
    """Turn our typed errors into a message that says what happened and what to do."""
    try:
        yield
    except RunNotFoundError as exc:
        st.error(
            f"The run shown on {what} no longer exists ({exc}). It was probably deleted; "
            "pick another run in the sidebar."
        )
        st.stop()
    except ArtifactMissingError as exc:
        st.warning(f"{exc}")
        st.stop()
    except BrokenRunError as exc:  # a damaged file: the run is marked broken, the file named
        st.error(f"{md_escape(exc)} Pick another run in the sidebar.")
        st.stop()
    except FileNotFoundError as exc:
        st.error(
            f"A file {what} needs is missing: {exc}. If the dataset folder was moved or "
            "deleted, extract it again on the **Data** page."
        )
        st.stop()


def show_error(message: str, exc: BaseException | None = None) -> None:
    """One consistent error box: what happened (``message``) plus the error's own text."""
    detail = f"\n\n`{type(exc).__name__}`: {exc}" if exc is not None else ""
    st.error(f"{message}{detail}")
