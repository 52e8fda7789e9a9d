"""Text cleaning before chunking: markup out, unicode and whitespace normalised, boilerplate dropped."""

from __future__ import annotations

import html
import re
import unicodedata

from twin_common.documents import DocumentKind

_SCRIPT_STYLE = re.compile(r"<(script|style|nav|footer|header)\b[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)
_BLOCK_TAGS = re.compile(
    r"</?(p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|blockquote|pre)\b[^>]*>", re.IGNORECASE
)
_TAGS = re.compile(r"<[^>]+>")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(?<!\w)(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1(?!\w)")
_MD_INLINE_CODE = re.compile(r"`([^`]+)`")
_MD_FENCE = re.compile(r"^[ \t]*```[^\n]*$", re.MULTILINE)
_MD_LIST = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+", re.MULTILINE)
_MD_QUOTE = re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)
_BARE_URL = re.compile(r"https?://\S+")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Lines that carry no content of the author's own: share prompts, cookie banners, navigation crumbs.
_BOILERPLATE = re.compile(
    r"^(share (this|on)\b.*|subscribe\b.*|sign up\b.*|follow (me|us)\b.*|all rights reserved.*|"
    r"this (site|website) uses cookies.*|accept (all )?cookies.*|read more\W*|click here\W*|advertisement)$",
    re.IGNORECASE,
)


def _strip_html(text: str) -> str:
    text = _SCRIPT_STYLE.sub(" ", text)
    text = _BLOCK_TAGS.sub("\n", text)
    return html.unescape(_TAGS.sub("", text))


def _strip_markdown(text: str) -> str:
    text = _MD_FENCE.sub("", text)
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    text = _MD_INLINE_CODE.sub(r"\1", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    text = _MD_LIST.sub("", text)
    return _MD_QUOTE.sub("", text)


def clean_text(text: str, kind: DocumentKind | str) -> str:
    """Cleaned text for chunking and embedding. Code keeps its layout (only trailing spaces go)."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    if DocumentKind(kind) is DocumentKind.REPOSITORY:
        return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    if "<" in text and _TAGS.search(text):
        text = _strip_html(text)
    text = _strip_markdown(text)
    text = _BARE_URL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    lines = [line for line in lines if not _BOILERPLATE.match(line)]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
