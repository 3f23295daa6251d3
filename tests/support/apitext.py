"""A test oracle: HTML as the documented API writes it, built apart from sync.core.text."""

from __future__ import annotations

import html
import re
from typing import Any

_TOKEN_RE = re.compile(r"<(/?)([A-Za-z0-9]+)[^>]*>")
_API_ESCAPE_RE = re.compile(r"([\\*_\[\]<>&^`])")


def api_markdown(text: str) -> str:
    """The registry's HTML-format text as API v2 sends it, by the rules seen in real records:
    "* " bullets, "1. " numbers, nested lists three spaces in, blank lines between all blocks,
    `\\>`-style escapes in block text, plain fields (titles, names) unescaped and untagged.
    Deliberately laid out unlike sync.core.text's output (indentation, blank lines)."""
    text = re.sub(r"</?mark\b[^>]*>", "", text)
    if not re.search(r"<(?:p|ul|ol|li|br)\b", text):
        return html.unescape(text)
    blocks: list[str] = []
    lists: list[list[Any]] = []  # [ordered, next number]
    current: list[Any] | None = None  # [marker, indent, text]

    def close() -> None:
        nonlocal current
        if current is not None and (current[2].strip() or current[0]):
            lines = [ln.strip() for ln in current[2].strip().split("\n")]
            lines[0] = re.sub(r"^(\d+)\. ", r"\1\\. ", lines[0])
            pad = " " * current[1]
            cont = " " * (current[1] + len(current[0]))
            blocks.append(pad + current[0] + lines[0] + "".join("\n" + cont + x for x in lines[1:]))
        current = None

    pos = 0
    for m in _TOKEN_RE.finditer(text + "<end>"):
        data = text[pos : m.start()] if m.start() <= len(text) else text[pos:]
        pos = m.end()
        if data:
            if current is None:
                current = ["", 3 * len(lists), ""]
            current[2] += _API_ESCAPE_RE.sub(r"\\\1", html.unescape(data))
        closing, tag = m.group(1), m.group(2).lower()
        if tag in ("ul", "ol"):
            close()
            if closing:
                lists.pop()
            else:
                lists.append([tag == "ol", 1])
        elif tag == "li" and not closing:
            close()
            marker = f"{lists[-1][1]}. " if lists[-1][0] else "* "
            lists[-1][1] += 1
            current = [marker, 3 * (len(lists) - 1), ""]
        elif tag == "p" and not closing:
            if current is not None and current[0] and not current[2].strip():
                continue  # the item's own text
            close()
            current = ["", 3 * len(lists), ""]
        elif closing or tag == "end":
            close()
    return "\n\n".join(blocks)
