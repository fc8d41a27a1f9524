"""What people type, made safe to show on any page or in any email."""

import re

# Explicit bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): inside a
# subject, a name or a file name they turn the rest of the line around ("invoice\u202egnp.exe"
# reads "invoiceexe.png"), on the desk's pages and in mail clients alike. Right-to-left text
# needs none of them; the marks U+200E/U+200F stay.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def bidi_controls_removed(text: str) -> str:
    return BIDI_CONTROLS.sub("", text)


def text_given(value) -> str:
    """A person's text as a use case keeps it: without bidi controls, stripped; "" for
    anything that is not a string."""
    return bidi_controls_removed(value).strip() if isinstance(value, str) else ""
