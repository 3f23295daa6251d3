"""Registry text made readable on a page: arrows that never break, markdown escapes removed."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# "A -> B" (the events' wording) as "A → B": one character, which no line break splits.
_ARROW = re.compile(r"\s->\s")
# ClinicalTrials.gov escapes markdown in its text ("\[SGOT\]", "\>= 18"): shown as meant.
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>=~|^])")


def arrows(text: object) -> str:
    return _ARROW.sub("\u00a0→ ", "" if text is None else str(text))


# Tokens a line break may split at a hyphen beside a digit ("2025-|11-02", "LM-|108").
_NUMBERED = re.compile(r"(?<!\S)(\S*(?:\d-|-\d)\S*)(?!\S)")


def readable(text: object) -> Markup:
    """Escaped text with arrows as arrows and dates and codes kept whole on one line."""
    return Markup(_NUMBERED.sub(r'<span class="nowrap">\1</span>', str(escape(arrows(text)))))


def unescape(text: object) -> str:
    return _ESCAPED.sub(r"\1", "" if text is None else str(text))


FILTERS = {"arrows": arrows, "readable": readable, "unescape": unescape}
