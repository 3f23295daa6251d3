"""What a page's layout does at a width, measured in Chromium: how wide the page is, which
elements stick out of the viewport or out of their own box, and which words the browser broke
across lines (one syllable per line, "COMPLETE/D", an NCT ID over three lines)."""

from __future__ import annotations

from typing import Any

# The two widths every page must read well at: a phone and a desktop.
WIDTHS = (390, 1280)
# Longer unbroken runs (URLs, e-mail addresses, JSON keys joined by dots) may wrap where the
# browser must: no page can keep them whole on a phone. Words are shorter.
LONGEST_WORD = 30

MEASURE = r"""(longest) => {
  const vw = document.documentElement.clientWidth;
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    if (el.classList.length) s += '.' + [...el.classList].join('.');
    const p = el.parentElement;
    return (p && p !== document.body ? name(p) + ' > ' : '') + s;
  };
  const visible = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === 'none' || cs.visibility === 'hidden') return false;
      if (e.tagName === 'DETAILS' && !e.open && e !== el) {
        // Only a closed <details>'s summary is laid out.
        const sum = e.querySelector(':scope > summary');
        if (!sum || !sum.contains(el)) return false;
      }
    }
    return true;
  };
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!visible(el) || el.closest('.skip')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const cs = getComputedStyle(el);
    const outside = r.right > vw + 1 || r.left < -1;
    // Content wider than its box: spills out, or scrolls sideways inside it.
    // (An SVG's own parts have no CSS box: the figure around them is measured instead.)
    const spills = el.scrollWidth > el.clientWidth + 1 && cs.display !== 'inline'
      && el.clientWidth > 0 && !el.closest('svg');
    if (outside || spills) {
      overflowing.push({el: name(el), left: Math.round(r.left), right: Math.round(r.right),
                        scroll: el.scrollWidth, client: el.clientWidth});
    }
  }
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || !visible(parent) || parent.closest('.skip, svg, option, select')) continue;
    const text = node.textContent;
    const re = /\S+/g;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m[0].length < 2 || m[0].length > longest) continue;
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                           .map(r => Math.round(r.top / 4)));
      if (tops.size < 2) continue;
      // Where the lines break: only after a hyphen or a slash before a letter is a break a
      // reader expects ("anti-/cancer"); "202/6-", "->" and "NCT0/4514484" are not.
      let last = null;
      for (let i = 0; i < m[0].length; i++) {
        range.setStart(node, m.index + i);
        range.setEnd(node, m.index + i + 1);
        const r = range.getBoundingClientRect();
        if (r.width === 0) continue;
        const top = Math.round(r.top / 4);
        if (last !== null && top !== last) {
          const before = m[0][i - 1], after = m[0][i];
          if (!('-/'.includes(before) && /\p{L}/u.test(after))) {
            broken.push(m[0].slice(0, i) + '|' + m[0].slice(i));
            break;
          }
        }
        last = top;
      }
    }
  }
  return {
    viewport: vw,
    width: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    height: document.documentElement.scrollHeight,
    overflowing: overflowing,
    broken: broken,
  };
}"""


def measure(page: Any) -> dict[str, Any]:
    """The page's width and height, its overflowing elements and its words broken inside."""
    result: dict[str, Any] = page.evaluate(MEASURE, LONGEST_WORD)
    return result


def problems(m: dict[str, Any]) -> list[str]:
    """What is wrong with a measured layout, in words (empty when it reads well)."""
    out = []
    if m["width"] > m["viewport"]:
        out.append(f"page is {m['width']} px wide in a {m['viewport']} px viewport")
    for o in m["overflowing"][:5]:
        out.append(f"{o['el']} overflows ({o['left']}..{o['right']}, content {o['scroll']} "
                   f"in {o['client']})")  # fmt: skip
    if len(m["overflowing"]) > 5:
        out.append(f"... {len(m['overflowing']) - 5} more overflowing elements")
    if m["broken"]:
        out.append(f"{len(m['broken'])} words broken inside: {m['broken'][:8]}")
    return out
