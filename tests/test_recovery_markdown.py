"""User and data text is escaped before Markdown (issue 24): a ``?run=`` link or a team
name with an image tag shows as typed, never as a live link or a remote image.

The escaping rule (:func:`core.views.text.md_escape`) on real hostile strings, and the real
sidebar rendered by Streamlit's AppTest with the hostile URL.
"""

from __future__ import annotations

import re

import pytest

from core.runs.store import Run
from core.views.text import md_escape
from tests.helpers import healthy, new_app

HOSTILE = [
    "[x](http://evil.example)",
    "![team](http://evil.example/pixel.png)",
    "Team <img src=http://evil.example/x.png>",
    "https://evil.example/autolink and www.evil.example",
    ":red[alarm] :material/warning: $x^2$",
    "**bold** _it_ `code` # heading\n- list",
]


def _unescaped(text: str) -> str:
    """``text`` with every backslash-escaped character removed: what Markdown could still
    read as syntax."""
    return re.sub(r"\\.", "", text)


@pytest.mark.parametrize("text", HOSTILE)
def test_md_escape_leaves_no_markdown_syntax(text: str) -> None:
    escaped = md_escape(text)
    left = _unescaped(escaped)
    for syntax in ("[", "]", "(", ")", "<", ">", "!", ":", "*", "_", "`", "#", "$", "\n"):
        assert syntax not in left, (text, escaped)
    # Every character of the original is still shown, in order.
    assert re.sub(r"\\(.)", r"\1", escaped) == " ".join(text.splitlines())


def test_a_run_link_in_the_url_is_shown_as_text_in_the_sidebar(demo_run: Run) -> None:
    at = new_app()
    at.query_params["run"] = "[x](http://evil.example)"
    at.run()
    healthy(at, "overview with a hostile ?run=")
    warnings = [w.value for w in at.sidebar.warning]
    assert warnings, "the sidebar says the asked run does not exist"
    shown = warnings[0]
    assert "\\[x\\]\\(http\\://evil\\.example\\)" in shown
    assert "](http" not in _unescaped(shown)
