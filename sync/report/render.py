"""Render a digest (sync.report.digest) as Markdown, self-contained HTML, JSON or Atom."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

# The digest's change helpers live with its events (below this module, never above it).
from sync.report.digest_events import criterion, word_diff
from sync.report.digest_events import lines as event_lines

if TYPE_CHECKING:
    import jinja2

FORMATS = ("md", "html", "json", "atom")
TEMPLATES = Path(__file__).resolve().parent / "templates"

STATUS_COLOURS = {
    "RECRUITING": "#2e7d32",
    "ENROLLING_BY_INVITATION": "#558b2f",
    "NOT_YET_RECRUITING": "#78909c",
    "ACTIVE_NOT_RECRUITING": "#1565c0",
    "COMPLETED": "#37474f",
    "SUSPENDED": "#ef6c00",
    "TERMINATED": "#c62828",
    "WITHDRAWN": "#8e24aa",
}
_OTHER_COLOUR = "#9e9e9e"
# Characters that carry meaning in Markdown (and the HTML a Markdown renderer lets through).
# An underscore inside a word (NOT_YET_RECRUITING) is never emphasis: left as it is, readably.
_MD_SPECIAL = re.compile(r"([\\`*\[\]~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_MD_LIMIT = 400
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _autoescape(name: str | None) -> bool:
    # Registry text is untrusted: every template but the Markdown one escapes HTML/XML.
    return not (name or "").endswith(".md")


def md_escape(value: Any) -> str:
    """Text that a Markdown renderer shows as itself (no markup, no raw HTML), on one line."""
    text = " ".join(str(value).split())
    # "<" as an entity, not a backslash escape: Python-Markdown (what apprise uses to turn a
    # digest into e-mail HTML) does not honour "\\<" and would pass registry markup through as
    # live HTML. Only "<" can open a tag; "->" in summaries stays readable in a terminal.
    text = text.replace("<", "&lt;")
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def fmt_value(value: Any) -> str:
    """An old or new value as one line of plain text."""
    if value is None or value == "" or value == [] or value == {}:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else str(value)
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return ", ".join(fmt_value(v) for v in value)
        return "; ".join(fmt_value(v) for v in value)
    if isinstance(value, dict) and set(value) in ({"count", "type"}, {"date", "type"}):
        main = value.get("count", value.get("date"))
        kind = value.get("type")
        return f"{fmt_value(main)} ({str(kind).lower()})" if kind else fmt_value(main)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fmt_value(v)}" for k, v in value.items() if v not in (None, ""))
    return str(value)


def shorten(text: str, limit: int = _MD_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def md_word_diff(segments: list[tuple[str, str]]) -> str:
    """Deleted words struck through, inserted words in bold."""
    out = []
    for op, text in segments:
        esc = md_escape(text)
        out.append(f"~~{esc}~~" if op == "delete" else f"**{esc}**" if op == "insert" else esc)
    return " ".join(out)


def _parse_day(text: str | None) -> date | None:
    if not text:
        return None
    m = re.match(r"^(\d{4})-(\d{2})(?:-(\d{2}))?", text)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3] or 1))
    except ValueError:
        return None


def status_label(status: str | None) -> str:
    return (status or "unknown").replace("_", " ").lower().capitalize()


def timeline_svg(points: list[dict[str, Any]], end: str | None = None) -> dict[str, Any] | None:
    """Geometry of a small timeline: status periods as bars, enrollment as a step line.

    Versions are placed by their date; when they all share one day, evenly by version.
    """
    if not points:
        return None
    width, left, right = 640.0, 8.0, 56.0
    days = [_parse_day(p.get("date")) for p in points]
    end_day = _parse_day(end) or max((d for d in days if d), default=None)
    usable = all(d is not None for d in days) and end_day is not None
    span = (end_day - min(days)).days if usable else 0  # type: ignore[operator,type-var]
    inner = width - left - right
    if usable and span > 0:
        start = min(days)  # type: ignore[type-var]
        xs = [left + inner * (d - start).days / span for d in days]  # type: ignore[operator]
    else:
        n = len(points)
        xs = [left + inner * i / n for i in range(n)]
    x_end = left + inner
    bars = []
    for i, p in enumerate(points):
        x0 = xs[i]
        x1 = xs[i + 1] if i + 1 < len(points) else x_end
        w = max(x1 - x0, 2.0)
        label = status_label(p.get("status"))
        bars.append(
            {
                "x": round(x0, 1),
                "w": round(w, 1),
                "colour": STATUS_COLOURS.get(p.get("status") or "", _OTHER_COLOUR),
                "label": label if w >= 9 * len(label) else "",
                "title": f"v{p['version']} {p.get('date') or ''}: {label}",
            }
        )
    counts = [p.get("enrollment") for p in points]
    known = [c for c in counts if isinstance(c, int | float)]
    line = ""
    dots = []
    last_label = None
    if known:
        lo, hi = min(known), max(known)
        top, bottom = 32.0, 52.0

        def y_of(c: float) -> float:
            if hi == lo:
                return (top + bottom) / 2
            return bottom - (bottom - top) * (c - lo) / (hi - lo)

        path: list[tuple[float, float]] = []
        for i, c in enumerate(counts):
            if not isinstance(c, int | float):
                continue
            y = y_of(c)
            x1 = xs[i + 1] if i + 1 < len(points) else x_end
            if path:
                path.append((xs[i], path[-1][1]))
            path.extend([(xs[i], y), (x1, y)])
            kind = points[i].get("enrollment_type") or ""
            dots.append(
                {
                    "x": round(xs[i], 1),
                    "y": round(y, 1),
                    "title": f"v{points[i]['version']} {points[i].get('date') or ''}: "
                    f"enrollment {c:,}{f' ({kind.lower()})' if kind else ''}",
                }
            )
            last_label = {"x": round(x_end + 4, 1), "y": round(y + 4, 1), "text": f"{c:,}"}
        line = " ".join(f"{round(x, 1)},{round(y, 1)}" for x, y in path)
    first, last = points[0].get("date") or "", end or points[-1].get("date") or ""
    return {
        "width": int(width),
        "height": 72,
        "bars": bars,
        "line": line,
        "dots": dots,
        "last_count": last_label,
        "axis": [
            {"x": left, "text": first, "anchor": "start"},
            {"x": round(x_end, 1), "text": last, "anchor": "end"},
        ],
    }


def short_time(value: str | None) -> str:
    """An ISO time as `2026-11-20 09:00 UTC`."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _env() -> jinja2.Environment:
    import jinja2  # the templates only: the terminal's rendering needs none of it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=md_escape,
        value=fmt_value,
        shorten=shorten,
        when=short_time,
        status_label=status_label,
        status_colour=lambda s: STATUS_COLOURS.get(s or "", _OTHER_COLOUR),
        md_word_diff=md_word_diff,
    )
    env.globals.update(
        event_lines=event_lines,
        word_diff=word_diff,
        criterion=criterion,
        timeline_svg=timeline_svg,
    )
    return env


_ENV: jinja2.Environment | None = None


def env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _env()
    return _ENV


def feed_id(digest: dict[str, Any]) -> str:
    """A feed ID that stays the same for the same filters, so readers keep one feed."""
    f = digest.get("filters") or {}
    key = orjson.dumps(
        {"trials": sorted(f.get("trials") or []), "watch": f.get("watch")},
        option=orjson.OPT_SORT_KEYS,
    )
    return f"urn:trialwatch:digest:{hashlib.sha256(key).hexdigest()[:16]}"


def entry_id(trial: dict[str, Any]) -> str:
    ids = sorted(c["id"] for c in trial["changes"])
    return f"urn:trialwatch:{trial['nct_id']}:changes:{','.join(map(str, ids))}"


def _ids_key(ids: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]


def rest_entry_id(digest: dict[str, Any]) -> str:
    """The Atom entry counting the trials beyond the cap: it depends on the changes it
    counts, as a trial's entry does, so a regenerated feed does not show it again."""
    ids = [c["id"] for t in digest["trials"] if not t["shown"] for c in t["changes"]]
    return f"urn:trialwatch:more-trials:{_ids_key(ids)}"


def watch_rest_entry_id(digest: dict[str, Any], group: dict[str, Any]) -> str:
    ids = [e["id"] for e in digest["watch_events"] if e["watch"] == group["watch"]]
    return f"urn:trialwatch:watch-events:{_ids_key(ids)}"


def render(digest: dict[str, Any], fmt: str) -> str:
    """The digest in one format: md, html, json or atom."""
    from sync.report.digest import headline, with_view

    if fmt == "json":
        return orjson.dumps(digest, option=orjson.OPT_INDENT_2).decode() + "\n"
    names = {"md": "digest.md", "html": "digest.html", "atom": "digest.atom"}
    if fmt not in names:
        raise ValueError(f"unknown digest format {fmt!r}; expected one of {', '.join(FORMATS)}")
    template = env().get_template(names[fmt])
    digest = with_view(digest)
    text = template.render(
        d=digest,
        headline=headline(digest),
        feed_id=feed_id(digest),
        entry_id=entry_id,
        rest_id=rest_entry_id(digest) if digest["view"]["trials_summarised"] else "",
        watch_rest_id=lambda group: watch_rest_entry_id(digest, group),
        until_day=(digest["window"]["until"] or "")[:10],
    )
    # Control characters are invalid in XML even when escaped; registry text may carry them.
    return _CONTROL_RE.sub("", text)
