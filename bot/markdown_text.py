"""Which lines of a GitHub comment a reader sees as plain text, and which parts of them.

Commands are read from comments, and a command nobody can see must not run. GitHub renders
comments as CommonMark (cmark-gfm) and then sanitises the HTML, so text can hide in many
places: code, quotes, HTML comments and raw HTML blocks, link destinations and titles that
span lines, ``<pre>`` and ``<details>`` elements. This is not a Markdown renderer; it marks
what *may* be hidden and errs towards hiding: a visible command it does not read costs a
re-post, a hidden one it reads runs a deploy nobody saw requested.

Rules, on top of the CommonMark block structure (fences, indented code, quotes with their
lazy continuation lines, the seven kinds of HTML block):

- lines end only at ``\\n`` (a trailing ``\\r`` is dropped); U+2028, ``\\x1e``, ``\\x85`` and
  friends are characters inside a line, as they are to the renderer;
- in paragraphs, inline HTML follows the spec (a complete tag, comment or instruction is
  raw HTML, anything else is literal text), except that an unclosed ``<!--`` hides the rest;
- raw HTML (HTML blocks, quotes) is read as a browser would: markup still open when the
  block ends hides everything after it, since the sanitiser's HTML parser does the same;
- elements whose content is not plain text (``pre``, ``details``, ``textarea``, …) hide up to
  their closing tag, and a link or image's destination and title up to its ``)``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_QUOTE = re.compile(r"^ {0,3}>")
_INDENTED = ("    ", "\t", " \t", "  \t", "   \t")
_TO_BLANK = re.compile(r"(?!)")  # marker: the HTML block ends before the next blank line

# CommonMark 4.6: the start of each kind of HTML block, and what ends it.
_BLOCK_TAGS = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|"
    "details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|"
    "h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|"
    "optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|"
    "track|ul"
)
_TAG_NAME = r"[A-Za-z][A-Za-z0-9-]*"
_ATTRIBUTE = (
    r"(?:[ \t\n]+[A-Za-z_:][A-Za-z0-9_.:-]*"
    r"(?:[ \t\n]*=[ \t\n]*(?:[^ \t\n\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)"
)
_OPEN_TAG = rf"<(?P<open>{_TAG_NAME}){_ATTRIBUTE}*[ \t\n]*/?>"
_CLOSING_TAG = rf"</{_TAG_NAME}[ \t\n]*>"
_HTML_BLOCKS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"^ {0,3}<(?:pre|script|style|textarea)(?:[ \t>]|$)", re.IGNORECASE),
        re.compile(r"</(?:pre|script|style|textarea)>", re.IGNORECASE),
    ),
    (re.compile(r"^ {0,3}<!--"), re.compile(r"-->")),
    (re.compile(r"^ {0,3}<\?"), re.compile(r"\?>")),
    (re.compile(r"^ {0,3}<![A-Za-z]"), re.compile(r">")),
    (re.compile(r"^ {0,3}<!\[CDATA\["), re.compile(r"\]\]>")),
    (re.compile(rf"^ {{0,3}}</?(?:{_BLOCK_TAGS})(?:[ \t>]|/>|$)", re.IGNORECASE), _TO_BLANK),
)
# kind 7 cannot interrupt a paragraph, and its tag must stand alone on the line
_HTML_BLOCK_7 = re.compile(rf"^ {{0,3}}(?:{_OPEN_TAG}|{_CLOSING_TAG})[ \t]*$")

# Complete inline HTML in a paragraph (comments are handled apart, more strictly).
_INLINE_TAG = re.compile(rf"{_OPEN_TAG}|{_CLOSING_TAG}")
_DECLARATION = re.compile(r"<![A-Za-z]")
# Raw HTML read as a browser would: a tag runs to its ``>``, quoted values and all.
_LOOSE_TAG = re.compile(rf"</?(?P<open>{_TAG_NAME})(?:[^\"'>]++|\"[^\"]*+\"|'[^']*+')*+>")
_LOOSE_TAG_START = re.compile(rf"</?{_TAG_NAME}")
# Elements whose content a reader does not see as plain text.
_HIDING_ELEMENTS = frozenset(
    {"pre", "script", "style", "textarea", "details", "template", "noscript", "title", "xmp"}
)
_REFERENCE_DEFINITION = re.compile(r" {0,3}\[(?:\\.|[^\\\[\]])+\]:")
_SPECIAL = re.compile(r"[\\`<\]]")

PLAIN, HIDDEN, CODE = 0, 1, 2


def _block_kinds(lines: list[str]) -> list[str]:
    """``code``, ``html``, ``quote``, ``blank`` or ``para`` for every line."""
    kinds: list[str] = []
    fence: str | None = None
    html_end: re.Pattern[str] | None = None
    previous = "blank"
    for line in lines:
        blank = not line.strip(" \t")
        kind = "para"
        if fence is not None:
            kind = "code"
            m = _FENCE.match(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None if not line[m.end() :].strip() else fence
        elif html_end is not None:
            kind = "html"
            if html_end is _TO_BLANK:
                if blank:
                    html_end, kind = None, "blank"
            elif html_end.search(line):
                html_end = None
        elif blank:
            kind = "blank"
        elif m := _FENCE.match(line):
            fence, kind = m.group(1), "code"
        elif (end := _html_block_start(line, after_paragraph=previous == "para")) is not None:
            kind = "html"
            html_end = None if end is not _TO_BLANK and end.search(line) else end
        elif _QUOTE.match(line) or previous == "quote":
            kind = "quote"  # a quote swallows the lines after it up to a blank line
        elif line.startswith(_INDENTED) and previous != "para":
            kind = "code"
        kinds.append(kind)
        previous = kind
    return kinds


def _html_block_start(line: str, *, after_paragraph: bool) -> re.Pattern[str] | None:
    for start, end in _HTML_BLOCKS:
        if start.match(line):
            return end
    if not after_paragraph and _HTML_BLOCK_7.match(line):
        return _TO_BLANK
    return None


class _Finder:
    """``str.find`` that remembers its answers, so scanning stays linear however many
    unclosed openers a comment repeats (starts only grow)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._memo: dict[tuple[str, int], tuple[int, int]] = {}

    def find(self, sub: str, start: int, end: int) -> int:
        searched_from, found = self._memo.get((sub, end), (-1, -1))
        if searched_from != -1 and start >= searched_from and (found == -1 or found >= start):
            return found
        found = self._text.find(sub, start, end)
        self._memo[(sub, end)] = (start, found)
        return found


def _element_end(text: str, name: str, start: int) -> int:
    """Where the element opened before ``start`` ends: after its closing tag, else the end."""
    m = re.compile(rf"</{re.escape(name)}[ \t\n]*>", re.IGNORECASE).search(text, start)
    return m.end() if m else len(text)


def _backtick_run(text: str, i: int, end: int) -> int:
    j = i
    while j < end and text[j] == "`":
        j += 1
    return j - i


def _other_html_end(text: str, i: int, end: int, finder: _Finder) -> int | None:
    """End of the processing instruction, CDATA section or declaration at ``i``, if complete."""
    for opener, closer in (("<?", "?>"), ("<![CDATA[", "]]>")):
        if text.startswith(opener, i):
            close = finder.find(closer, i + len(opener), end)
            return close + len(closer) if close != -1 else None
    if _DECLARATION.match(text, i, end):
        close = finder.find(">", i + 2, end)
        return close + 1 if close != -1 else None
    return None


def _link_end(text: str, i: int, end: int) -> int:
    """After ``](``: the end of the destination, title and ``)``; ``end`` when malformed."""
    n = end
    while i < n and text[i] in " \t\n":
        i += 1
    if i < n and text[i] == "<":
        close = text.find(">", i, n)
        if close == -1:
            return end
        i = close + 1
    else:
        depth = 0
        while i < n and text[i] not in " \t\n":
            c = text[i]
            if c == "\\":
                i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
    while i < n and text[i] in " \t\n":
        i += 1
    if i < n and text[i] in "\"'(":
        closer = ")" if text[i] == "(" else text[i]
        i += 1
        while i < n and text[i] != closer:
            i += 2 if text[i] == "\\" else 1
        i += 1
        while i < n and text[i] in " \t\n":
            i += 1
    return i + 1 if i < n and text[i] == ")" else end


def _mask(text: str, regions: list[tuple[int, int, str]]) -> bytearray:
    """Per character: PLAIN, HIDDEN (not rendered as text) or CODE (a code span)."""
    mask = bytearray(len(text))
    starts = [start for start, _, _ in regions]
    finder = _Finder(text)
    n = len(text)

    def hide(a: int, b: int) -> int:
        mask[a:b] = b"\x01" * (b - a)
        return b

    for start, end, kind in regions:
        if kind == "para" and _REFERENCE_DEFINITION.match(text, start, end):
            hide(start, end)  # a link reference definition renders nothing
    i = 0
    while (m := _SPECIAL.search(text, i)) is not None:
        i = m.start()
        start, end, kind = regions[bisect.bisect_right(starts, i) - 1]
        c = text[i]
        if mask[i] or kind == "other":
            i += 1
        elif kind != "para":  # raw HTML: whatever is left open hides the rest
            if text.startswith("<!--", i):
                close = finder.find("-->", i + 2, end)
                i = hide(i, close + 3 if close != -1 else n)
            elif tag := _LOOSE_TAG.match(text, i, end):
                stop = tag.end()
                if tag["open"] and tag["open"].lower() in _HIDING_ELEMENTS:
                    stop = _element_end(text, tag["open"], stop)
                i = hide(i, stop)
            elif _LOOSE_TAG_START.match(text, i):
                i = hide(i, n)
            else:
                i += 1
        elif c == "\\":
            i += 2  # an escaped character is literal text
        elif c == "`":
            run = _backtick_run(text, i, end)
            span = re.compile(rf"(?<!`)`{{{run}}}(?!`)").search(text, i + run, end)
            if span:
                mask[i : span.end()] = b"\x02" * (span.end() - i)
                i = span.end()
            else:
                i += run
        elif c == "]":
            i = hide(i + 1, _link_end(text, i + 2, end)) if text.startswith("](", i) else i + 1
        elif text.startswith("<!--", i):
            close = finder.find("-->", i + 2, n)
            i = hide(i, close + 3 if close != -1 else n)
        elif tag := _INLINE_TAG.match(text, i, end):
            stop = tag.end()
            if tag["open"] and tag["open"].lower() in _HIDING_ELEMENTS:
                stop = _element_end(text, tag["open"], stop)
            i = hide(i, stop)
        else:
            other = _other_html_end(text, i, end, finder)
            i = hide(i, other) if other is not None else i + 1
    return mask


def plain_lines(body: str) -> Iterator[tuple[str, bytes]]:
    """Each paragraph line as rendered: its text without hidden parts, and per character
    whether it is code (non-zero) rather than plain text."""
    lines = [line.removesuffix("\r") for line in body.split("\n")]
    kinds = _block_kinds(lines)
    # code is blanked: markup inside it neither opens nor closes anything
    text = "\n".join(
        " " * len(line) if kind == "code" else line for line, kind in zip(lines, kinds, strict=True)
    )
    offsets: list[int] = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    regions: list[tuple[int, int, str]] = []
    for offset, line, kind in zip(offsets, lines, kinds, strict=True):
        group = kind if kind in ("para", "html", "quote") else "other"
        if regions and regions[-1][2] == group:
            regions[-1] = (regions[-1][0], offset + len(line), group)
        else:
            regions.append((offset, offset + len(line), group))
    mask = _mask(text, regions)
    for offset, line, kind in zip(offsets, lines, kinds, strict=True):
        if kind != "para":
            continue
        flags = mask[offset : offset + len(line)]
        kept = [(ch, flag) for ch, flag in zip(line, flags, strict=True) if flag != HIDDEN]
        yield "".join(ch for ch, _ in kept), bytes(flag for _, flag in kept)
