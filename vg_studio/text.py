"""Showing text that came from outside — layer names, file paths, messages read from a file — as inert text.

Keras accepts any layer name and a path may hold any byte, so a downloaded `.keras` file can carry terminal escape
sequences, a forged line break, a right-to-left override or HTML. Everything such a string shows goes through one
of these functions:

- `inert(text)` for a terminal or a log: control characters (C0, DEL, C1) and the Unicode format characters that
  reorder or hide text (bidi overrides/isolates, zero-width joiners…) are written as visible escapes (`\\x1b`,
  `\\n`, `\\u202e`), so a name never moves the cursor, sets a title, starts a new line or reverses what follows.
- `one_line(text)` for a library's message that may span lines: the lines joined by spaces, each `inert`.
- `inert_html(text)` for a Qt label, tooltip or legend that renders rich text: `inert`, then HTML-escaped.

Plain printable text, non-ASCII letters included, passes unchanged.
"""

from __future__ import annotations

import html
import re
import unicodedata

# C0 controls, DEL, C1 controls; the format characters that reorder or hide text (Unicode category Cf covers
# bidi embeddings/overrides/isolates, zero-width space/joiners, the BOM, soft hyphen…); line and paragraph
# separators (category Zl/Zp), which some terminals and Qt treat as line breaks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return bool(_UNSAFE.match(char)) or unicodedata.category(char) in ("Cf", "Cs", "Co", "Cn")


def inert(text: object) -> str:
    """`text` as a single line that shows exactly what it holds and does nothing to the terminal."""
    value = text if isinstance(text, str) else str(text)
    if value.isprintable() and not any(unicodedata.category(c) == "Cf" for c in value):
        return value  # the common case: nothing to escape
    return "".join(_escape(c) if _unsafe(c) else c for c in value)


def one_line(text: object) -> str:
    """A message that may span several lines (a library's, say) as one inert line: its lines joined by spaces,
    each made inert."""
    value = text if isinstance(text, str) else str(text)
    return " ".join(inert(line.strip()) for line in value.splitlines() if line.strip())


def inert_html(text: object) -> str:
    """`inert(text)` for a widget that renders rich text (labels, tooltips, pyqtgraph legends and titles)."""
    return html.escape(inert(text), quote=True)
