"""User and data text made safe to show through Markdown: the one escaping rule pages use.

Streamlit renders ``st.markdown``, captions, headers and alert boxes as Markdown (with its
own ``:material/icon:``, ``:red[...]`` and ``$maths$`` on top). A run id from the URL
(``?run=[x](http://...)``) or a team name from a data file (``![x](http://.../x.png)``)
would become a live link or a remote image; escaped, it shows as typed.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character Markdown, GFM autolinks or Streamlit's extensions give
# a meaning to; CommonMark lets a backslash escape each of them.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=&\"'])")


def md_escape(text: object) -> str:
    """``text`` with every Markdown special character escaped and line breaks as spaces,
    so it shows literally in any Markdown element (``None`` shows as an empty string)."""
    if text is None:
        return ""
    flat = " ".join(str(text).splitlines())
    return _SPECIAL.sub(r"\\\1", flat)
