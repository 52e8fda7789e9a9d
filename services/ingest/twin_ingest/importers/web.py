"""Web pages fetched by URL: HTML becomes its readable text, plain text and Markdown are kept as they are."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import httpx
from twin_common.documents import DocumentKind

from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.text import DEFAULT_MAX_BYTES, UnusableText, check_text, decode_text, html_to_text, markdown_title

TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown"}
HTML_TYPES = {"text/html", "application/xhtml+xml"}


def _decode(data: bytes, charset: str | None, max_bytes: int) -> str:
    """The body as text in its declared charset (UTF-8 when none is declared)."""
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii", "ascii"):
        try:
            return check_text(data.decode(charset), max_bytes)
        except (LookupError, UnicodeDecodeError):
            raise UnusableText(RejectReason.BAD_ENCODING, f"body is not valid {charset}") from None
    return decode_text(data, max_bytes)


def fetch_page(url: str, client: httpx.Client, max_bytes: int = DEFAULT_MAX_BYTES) -> SourceDocument:
    """GET `url` and make it a document; raises UnusableText when that is not possible."""
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise UnusableText(RejectReason.FETCH_FAILED, f"HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise UnusableText(RejectReason.TOO_LARGE, f"body is over the limit of {max_bytes} bytes")
    except httpx.HTTPError as exc:
        raise UnusableText(RejectReason.FETCH_FAILED, f"{type(exc).__name__}: {exc}") from None
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    final_url = str(response.url)
    if media_type in HTML_TYPES:
        title, text = html_to_text(_decode(bytes(data), response.charset_encoding, max_bytes))
        text = check_text(text, max_bytes) if text.strip() else ""
        if not text:
            raise UnusableText(RejectReason.EMPTY, "no text in the HTML body")
        fmt = "html"
    elif media_type in TEXT_TYPES:
        text = _decode(bytes(data), response.charset_encoding, max_bytes)
        title = markdown_title(text)
        fmt = "markdown" if "markdown" in media_type else "text"
    else:
        raise UnusableText(
            RejectReason.BINARY if media_type else RejectReason.UNSUPPORTED,
            f"content type {media_type or '(none)'} is not text or HTML",
        )
    return SourceDocument(
        kind=DocumentKind.ARTICLE,
        external_id=url,
        content=text,
        title=title or final_url,
        url=final_url,
        metadata={"format": fmt, "content_type": media_type},
    )


def import_urls(
    urls: Iterable[str], client: httpx.Client | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[SourceDocument | Rejection]:
    own = client is None
    client = client or httpx.Client(timeout=20, follow_redirects=True)
    try:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                yield Rejection(url, RejectReason.INVALID, "not an http(s) URL")
                continue
            try:
                yield fetch_page(url, client, max_bytes)
            except UnusableText as exc:
                yield Rejection(url, exc.reason, exc.detail)
    finally:
        if own:
            client.close()
