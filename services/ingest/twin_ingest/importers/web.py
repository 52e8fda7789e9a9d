"""Web pages fetched by URL: HTML becomes its readable text, plain text and Markdown are kept as they are.

Fetches go through `url_guard.guarded_client`: internal addresses are refused on every hop, redirects, the time
of each operation and of the whole fetch, and the body size are capped. Rejections say what went wrong in words
that do not echo the network's answers (no errno, no banner), so they cannot be used to map ports.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import httpx
from twin_common.documents import DocumentKind

from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.text import DEFAULT_MAX_BYTES, UnusableText, check_text, decode_text, html_to_text, markdown_title
from twin_ingest.url_guard import AddressPolicy, BlockedAddress, FetchLimits, guarded_client

MAX_URL_BYTES = 2000  # a URL is the document's id too (validation.ItemLimits.max_external_id_bytes)
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


def _failure(exc: Exception, client: httpx.Client) -> UnusableText:
    if isinstance(exc, BlockedAddress):
        return UnusableText(RejectReason.FETCH_FAILED, f"refused: {exc}")
    if isinstance(exc, httpx.TooManyRedirects):
        return UnusableText(RejectReason.FETCH_FAILED, f"more than {client.max_redirects} redirects")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return UnusableText(RejectReason.FETCH_FAILED, "redirected to a URL that is not http(s)")
    if isinstance(exc, httpx.TimeoutException):
        return UnusableText(RejectReason.FETCH_FAILED, "timed out")
    if isinstance(exc, httpx.ConnectError):
        return UnusableText(RejectReason.FETCH_FAILED, "could not connect")
    return UnusableText(RejectReason.FETCH_FAILED, "the fetch failed")


def fetch_page(
    url: str, client: httpx.Client, max_bytes: int = DEFAULT_MAX_BYTES, deadline_s: float | None = None
) -> SourceDocument:
    """GET `url` and make it a document; raises UnusableText when that is not possible."""
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise UnusableText(RejectReason.FETCH_FAILED, f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise UnusableText(RejectReason.TOO_LARGE, f"body is over the limit of {max_bytes} bytes")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise UnusableText(RejectReason.TOO_LARGE, f"body is over the limit of {max_bytes} bytes")
                if deadline is not None and time.monotonic() > deadline:
                    raise UnusableText(RejectReason.FETCH_FAILED, f"took longer than {deadline_s:g} s")
    except httpx.InvalidURL:
        raise UnusableText(RejectReason.INVALID, "not a valid URL") from None
    except (httpx.HTTPError, BlockedAddress) as exc:
        raise _failure(exc, client) from None
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
    urls: Iterable[str],
    client: httpx.Client | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    policy: AddressPolicy | None = None,
    limits: FetchLimits | None = None,
) -> Iterator[SourceDocument | Rejection]:
    """Fetch each URL (through a guarded client made from `policy` and `limits` unless one is given)."""
    limits = limits or FetchLimits()
    own = client is None
    client = client or guarded_client(policy, limits)
    try:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                yield Rejection(url, RejectReason.INVALID, "not an http(s) URL")
                continue
            if len(url.encode("utf-8", errors="surrogatepass")) > MAX_URL_BYTES:
                yield Rejection(url, RejectReason.TOO_LARGE, f"the URL is over the limit of {MAX_URL_BYTES} bytes")
                continue
            try:
                yield fetch_page(url, client, max_bytes, limits.deadline_s)
            except UnusableText as exc:
                yield Rejection(url, exc.reason, exc.detail)
    finally:
        if own:
            client.close()
