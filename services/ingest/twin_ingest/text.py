"""Turning raw bytes into document text, or a clear reason why not."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from twin_ingest.model import RejectReason

DEFAULT_MAX_BYTES = 1_000_000


class UnusableText(ValueError):
    """The bytes cannot become a document; `reason` says why."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_text(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """UTF-8 text from `data`; raises UnusableText for too large, binary, badly encoded or empty input."""
    if len(data) > max_bytes:
        raise UnusableText(RejectReason.TOO_LARGE, f"{len(data)} bytes is over the limit of {max_bytes}")
    if b"\x00" in data[:8192]:
        raise UnusableText(RejectReason.BINARY, "contains NUL bytes (binary content)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnusableText(RejectReason.BAD_ENCODING, f"not valid UTF-8 at byte {exc.start}") from None
    return check_text(text, max_bytes)


def check_text(text: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Normalise line endings; reject empty, NUL-containing or too large text."""
    if "\x00" in text:
        raise UnusableText(RejectReason.BINARY, "contains NUL characters (binary content)")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise UnusableText(RejectReason.TOO_LARGE, f"{size} bytes is over the limit of {max_bytes}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnusableText(RejectReason.BAD_ENCODING, "contains unpaired surrogates") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UnusableText(RejectReason.EMPTY, "no text after removing whitespace")
    return text


_SKIP_TAGS = {"script", "style", "noscript", "template", "head"}
_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "tr",
    "section",
    "article",
    "blockquote",
    "header",
    "footer",
    "table",
}


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, readable text) of an HTML page: scripts and styles dropped, blocks on their own lines."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return parser.title.strip(), text


def markdown_title(text: str) -> str:
    """The first level-1 heading of a Markdown text, or ''."""
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def split_front_matter(text: str) -> tuple[dict[str, str | list[str]], str]:
    """A leading `---` block of `key: value` lines (lists as `[a, b]`), and the text after it."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end < 0:
        return {}, text
    meta: dict[str, str | list[str]] = {}
    for line in text[4:end].splitlines():
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        if value.startswith("[") and value.endswith("]"):
            meta[key] = [item.strip().strip("'\"") for item in value[1:-1].split(",") if item.strip()]
        else:
            meta[key] = value.strip("'\"")
    body = text[end + 4 :].lstrip("\n")
    return meta, body
