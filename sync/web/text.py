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


# Tokens a line break may split where no reader expects it: at a hyphen beside a digit
# ("2025-|11-02", "LM-|108"), or between signs (">|=").
_WHOLE = re.compile(r"\S*(?:\d-|-\d)\S*|[^\w\s]{2,}")
_SPACES = re.compile(r"(\s+)")


def readable(text: object) -> Markup:
    """Escaped text with arrows as arrows and dates, codes and signs kept whole on a line."""
    out = []
    for part in _SPACES.split(arrows(text)):
        if part and not part.isspace() and _WHOLE.fullmatch(part):
            out.append(f'<span class="nowrap">{escape(part)}</span>')
        else:
            out.append(str(escape(part)))
    return Markup("".join(out))


def unescape(text: object) -> str:
    return _ESCAPED.sub(r"\1", "" if text is None else str(text))


def said_once(summary: object, category: object) -> str:
    """An event's line without its category repeated in front ("status: A -> B" under the label
    "status" reads "A -> B")."""
    text, cat = ("" if summary is None else str(summary)), str(category or "")
    prefix = f"{cat}: "
    return text[len(prefix) :] if cat and text.lower().startswith(prefix.lower()) else text


# --- a version's record in words ----------------------------------------------------------------

_WORDS = {"nct": "NCT", "id": "ID", "ids": "IDs", "url": "URL", "pmid": "PMID", "ipd": "IPD",
          "fda": "FDA", "us": "US", "std": "standard", "org": "organization"}  # fmt: skip
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
PUBMED = "https://pubmed.ncbi.nlm.nih.gov/{}/"
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:)\]]")


def label(key: object) -> str:
    """An API key name in words: "briefSummary" -> "Brief summary", "statusModule" -> "Status",
    "nctId" -> "NCT ID"."""
    parts = _CAMEL.findall(str(key)) or [str(key)]
    if len(parts) > 1 and parts[-1] == "Module":
        parts = parts[:-1]
    words = [_WORDS.get(p.lower(), p.lower()) for p in parts]
    first = words[0]
    return " ".join([first if first.isupper() else first.capitalize(), *words[1:]])


def enum_words(value: str) -> str:
    """A registry code in words ("ACTIVE_NOT_RECRUITING" -> "Active not recruiting"); other
    text as it is."""
    if re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+|[A-Z]{4,}", value):
        return value.replace("_", " ").lower().capitalize()
    return value


def linked(text: object) -> Markup:
    """Escaped text whose http and https addresses are links (no other scheme ever is)."""
    raw = "" if text is None else str(text)
    out, last = [], 0
    for m in _URL.finditer(raw):
        out.append(str(readable(raw[last : m.start()])) if raw[last : m.start()].strip()
                   else str(escape(raw[last : m.start()])))  # fmt: skip
        url = escape(m.group(0))
        out.append(f'<a href="{url}" rel="nofollow noopener">{url}</a>')
        last = m.end()
    rest = raw[last:]
    out.append(str(readable(rest)) if rest.strip() else str(escape(rest)))
    return Markup("".join(out))


def pubmed(pmid: object) -> str | None:
    """The PubMed address of a PMID (digits only), else None."""
    value = str(pmid or "").strip()
    return PUBMED.format(value) if value.isdigit() else None


FILTERS = {
    "arrows": arrows,
    "readable": readable,
    "unescape": unescape,
    "said_once": said_once,
    "label": label,
    "enum_words": enum_words,
    "linked": linked,
    "pubmed": pubmed,
}
