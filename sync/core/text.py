"""Registry text, HTML (history) or Markdown (API v2): to Markdown and to one comparable form."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

# Tags the registry's HTML uses (plus a few it might); anything else is text, e.g. "<1%".
# Every pattern here starts with its literal and checks what precedes it after it (`<(?<!\\<)`,
# not `(?<!\\)<`): a leading lookbehind keeps `re` from skipping ahead to the literal, which made
# these searches 20-50x slower on long texts.
_TAG_RE = re.compile(
    r"<(?<!\\<)/?(?:p|ul|ol|li|br|div|span|mark|em|strong|b|i|u|s|sup|sub|a|code|pre|blockquote"
    r"|h[1-6]|table|thead|tbody|tr|td|th|hr)\b[^<>]*>",
    re.IGNORECASE,
)
_BLOCK_TAG_RE = re.compile(r"<(?:p|ul|ol|li|br|div|h[1-6]|table|tr|blockquote|pre)\b", re.I)
_ENTITY_RE = re.compile(r"&(?<!\\&)(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});")

# What the documented API escapes in its Markdown ("\>=", "10\^9", "\[TPS\]", "SJCARB7H3\_41BBL").
_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>&^])")
# Line starts that Markdown would read as structure ("1. x", "- x", "# x") unless escaped.
_LINE_MARKER_RE = re.compile(r"^(?:(\d{1,9})([.)])|([-+*])|(#{1,6}))(?=\s|$)")

_BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre"})
_SKIP = frozenset({"script", "style"})


def looks_like_html(text: str) -> bool:
    """True when text carries HTML markup: known tags or character references."""
    return ("<" in text and _TAG_RE.search(text) is not None) or (
        "&" in text and _ENTITY_RE.search(text) is not None
    )


def _escape_text(text: str) -> str:
    return _MD_SPECIAL_RE.sub(r"\\\1", text)


def _escape_line_start(line: str) -> str:
    m = _LINE_MARKER_RE.match(line)
    if m is None:
        return line
    if m.group(1):
        return f"{m.group(1)}\\{m.group(2)}{line[m.end():]}"
    return "\\" + line


class _Block:
    def __init__(self, marker: str, indent: int, content_indent: int, first_item: bool) -> None:
        self.marker = marker  # "* ", "3. " or "" for a paragraph
        self.indent = indent
        self.content_indent = content_indent
        self.first_item = first_item
        self.parts: list[str] = []


class _List:
    def __init__(self, ordered: bool, start: int, indent: int) -> None:
        self.ordered = ordered
        self.number = start
        self.indent = indent
        self.has_items = False


class _ToMarkdown(HTMLParser):
    """HTML -> Markdown in the documented API's style: "* " bullets, "1. " numbers, nested
    lists indented under their item's text, soft line breaks kept, blank lines between blocks
    except before the second and later items of a list."""

    def __init__(self, escape: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.escape = escape
        self.out: list[str] = []
        self.lists: list[_List] = []
        self.items: list[int] = []  # the content indent of each open <li>
        self.block: _Block | None = None
        # Open <a> tags: (href, the block, where the link text starts in it, its raw text).
        self.links: list[tuple[str, _Block, int, list[str]]] = []
        self.skipping = 0

    # -- blocks ----------------------------------------------------------------------------

    def _content_indent(self) -> int:
        return self.items[-1] if self.items else 0

    def _open(self, marker: str = "", first_item: bool = False) -> _Block:
        self.flush()
        indent = self.lists[-1].indent if marker and self.lists else self._content_indent()
        self.block = _Block(marker, indent, indent + len(marker), first_item)
        return self.block

    def _current(self) -> _Block:
        return self.block if self.block is not None else self._open()

    def flush(self) -> None:
        block, self.block = self.block, None
        if block is None:
            return
        lines = [ln.strip() for ln in "".join(block.parts).split("\n")]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            if not block.marker:
                return  # an empty paragraph is nothing; an empty list item is still an item
            lines = [""]
        if self.escape:
            lines = [_escape_line_start(ln) for ln in lines]
        body = [" " * block.indent + block.marker + lines[0]]
        body += [" " * block.content_indent + ln if ln else "" for ln in lines[1:]]
        if self.out:
            # Items of one list follow each other line by line, as the API writes them.
            tight = bool(block.marker) and not block.first_item
            self.out.append("\n" if tight else "\n\n")
        self.out.append("\n".join(ln.rstrip() for ln in body))

    # -- parser events ---------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in ("ul", "ol"):
            self.flush()
            start = dict(attrs).get("start") or "1"
            number = int(start) if start.strip().isdigit() else 1
            self.lists.append(_List(tag == "ol", number, self._content_indent()))
        elif tag == "li":
            if not self.lists:  # a stray <li>: an item of an implicit bullet list
                self.lists.append(_List(False, 1, self._content_indent()))
            lst = self.lists[-1]
            marker = f"{lst.number}. " if lst.ordered else "* "
            lst.number += 1
            item = self._open(marker, first_item=not lst.has_items)
            lst.has_items = True
            self.items.append(item.content_indent)
        elif tag in _BLOCKS:
            block = self.block
            # The first <p> of a list item holds the item's own text.
            if block is not None and block.marker and not "".join(block.parts).strip():
                return
            self._open()
        elif tag == "br":
            self._current().parts.append("\n")
        elif tag == "a":
            block = self._current()
            self.links.append((dict(attrs).get("href") or "", block, len(block.parts), []))
        elif tag == "sup":
            self._current().parts.append("\\^" if self.escape else "^")
        elif tag in ("td", "th"):
            self._current().parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._current().parts.append("\n")
        elif tag == "hr":
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in ("ul", "ol"):
            self.flush()
            if self.lists:
                self.lists.pop()
        elif tag == "li":
            self.flush()
            if self.items:
                self.items.pop()
        elif tag in _BLOCKS:
            self.flush()
        elif tag == "a" and self.links:
            href, block, start, raw = self.links.pop()
            href = href.strip()
            if not href or "".join(raw).strip() == href or block is not self.block:
                return  # a bare URL made a link: the text says it all
            if self.escape:
                label = "".join(block.parts[start:])
                block.parts[start:] = [f"[{label}]({href})"]
            else:
                block.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        data = data.replace("\r\n", "\n").replace("\r", "\n")
        for _href, _block, _start, raw in self.links:
            raw.append(data)
        self._current().parts.append(_escape_text(data) if self.escape else data)

    def result(self) -> str:
        self.close()
        self.flush()
        return "".join(self.out)


def html_to_markdown(text: str) -> str:
    """The registry's HTML-format text as the documented API's Markdown.

    Block markup (paragraphs, lists) becomes Markdown with the API's escapes; plain text
    (titles, names, one-paragraph descriptions) only loses its tags and character references,
    as the API sends such fields unescaped. Highlighting (<mark>) and emphasis are dropped.
    """
    if not looks_like_html(text):
        return text
    block = _BLOCK_TAG_RE.search(text) is not None
    parser = _ToMarkdown(escape=block)
    parser.feed(text)
    out = parser.result()
    return out if block else out.strip()


def markdown_record(value: Any, convert: Callable[[str], str] = html_to_markdown) -> Any:
    """A copy of a record (any JSON value) with every HTML-format string as Markdown."""
    if isinstance(value, str):
        return convert(value) if ("<" in value or "&" in value) else value
    if isinstance(value, dict):
        return {k: markdown_record(v, convert) for k, v in value.items()}
    if isinstance(value, list):
        return [markdown_record(v, convert) for v in value]
    return value


# -- the comparable form ---------------------------------------------------------------------

# Underscores only matter at a word's edge (emphasis); NOT_YET_RECRUITING is plain text.
_EDGE_UNDERSCORE_RE = re.compile(r"_(?:(?<![A-Za-z0-9]_)|(?![A-Za-z0-9]))")
_ESCAPED_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_HARD_BREAK_RE = re.compile(r"\\\n")
_ORDERED_PAREN_RE = re.compile(r"^(\s*\d{1,9})\)(?=\s)", re.MULTILINE)
_BULLET_RE = re.compile(r"^(\s*)[-+](?=\s)", re.MULTILINE)
_LINK_RE = re.compile(r"\[(?<!!\[)([^\[\]\n]*)\]\(\s*<?([^()\s<>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK_RE = re.compile(r"<((?:https?|ftp)://[^<>\s]+|[^<>\s@]+@[^<>\s@]+)>")
_STRONG_RE = re.compile(r"\*\*(?<![\\*]\*\*)(?=\S)(.+?)(?<=\S)\*\*(?!\*)")
_UNDER_STRONG_RE = re.compile(r"__(?<!\w__)(?=\S)(.+?)(?<=\S)__(?!\w)")
_EM_RE = re.compile(r"\*(?<![\w*]\*)(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_UNDER_EM_RE = re.compile(r"_(?<!\w_)(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)")
_CODE_RE = re.compile(r"`+([^`\n]*?)`+")
# Escaped characters are parked in the Unicode private use area while markup is removed.
_PARK = 0xF0000
_PARKED_RE = re.compile(f"[{chr(_PARK + 0x21)}-{chr(_PARK + 0x7E)}]")


def _park(m: re.Match[str]) -> str:
    return chr(_PARK + ord(m.group(1)))


def _unpark(m: re.Match[str]) -> str:
    return chr(ord(m.group(0)) - _PARK)


def _needs_work(text: str) -> bool:
    # Plain substring tests run at C speed; most strings of a record (names, cities, enums,
    # dates) have none of these, which keeps canonicalisation fast.
    return (
        "\\" in text
        or "*" in text
        or "`" in text
        or "[" in text
        or "<" in text
        or "&" in text
        or "\n" in text
        or "\r" in text
        or "\t" in text
        or "\u00a0" in text
        or "  " in text
        or ("_" in text and _EDGE_UNDERSCORE_RE.search(text) is not None)
        or text.lstrip().startswith(("-", "+"))
    )


def _link(m: re.Match[str]) -> str:
    label, url = m.group(1).strip(), m.group(2).strip()
    return label if not url or label == url else f"{label} ({url})"


def _markdown_to_comparable(text: str) -> str:
    if "\\" in text:
        text = _HARD_BREAK_RE.sub("\n", text.replace("\r\n", "\n"))
        text = _ESCAPED_RE.sub(_park, text)
        parked = True
    else:
        parked = False
    if ")" in text:
        text = _ORDERED_PAREN_RE.sub(r"\1.", text)
    if "-" in text or "+" in text:
        text = _BULLET_RE.sub(r"\1*", text)  # one bullet for every list marker
    if "[" in text:
        text = _LINK_RE.sub(_link, text)
    if "<" in text:
        text = _AUTOLINK_RE.sub(r"\1", text)
    if "**" in text:
        text = _STRONG_RE.sub(r"\1", text)
    if "*" in text:
        text = _EM_RE.sub(r"\1", text)
    if "_" in text and _EDGE_UNDERSCORE_RE.search(text):
        if "__" in text:
            text = _UNDER_STRONG_RE.sub(r"\1", text)
        text = _UNDER_EM_RE.sub(r"\1", text)
    if "`" in text:
        text = _CODE_RE.sub(r"\1", text)
    if parked:
        text = _PARKED_RE.sub(_unpark, text)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(text.split())


def comparable(text: str) -> str:
    """The form in which two texts are compared and hashed: equal for the same content
    whether it came as the history endpoints' HTML or the documented API's Markdown.

    Markup, escapes and character references are resolved, list items keep a visible marker
    ("* " for every bullet, "2. " for numbers), and all whitespace (line breaks, indentation,
    blank lines) becomes one space: layout is formatting, not content.
    """
    if not _needs_work(text):
        return text.strip()
    if looks_like_html(text):
        text = html_to_markdown(text)
    return _markdown_to_comparable(text)


def comparable_markdown(text: str) -> str:
    """comparable() of text already in Markdown (such as a line of html_to_markdown's output):
    the same form, without asking again whether it is HTML."""
    if not _needs_work(text):
        return text.strip()
    return _markdown_to_comparable(text)
