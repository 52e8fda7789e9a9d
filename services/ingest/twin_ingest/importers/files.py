"""A folder of Markdown, HTML and plain-text files; one document per file, identified by its relative path.

Symbolic links are followed only when they stay inside the folder: a link that points outside it (`notes.txt ->
/etc/passwd`) is rejected, like the git importer rejects every link. Linked folders are not descended into.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from twin_common.documents import DocumentKind

from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.text import (
    DEFAULT_MAX_BYTES,
    UnusableText,
    decode_text,
    html_to_text,
    markdown_title,
    split_front_matter,
)

MARKDOWN = {".md", ".markdown"}
HTML = {".html", ".htm"}
TEXT = {".txt"}
SUPPORTED = MARKDOWN | HTML | TEXT


class LeavesFolder(ValueError):
    """A symbolic link whose target is outside the imported folder."""


def _visible_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):  # rglob does not descend into linked folders
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # .git, editor droppings and other hidden files are not material
        if path.is_symlink() or path.is_file():
            yield path


def _inside(root: Path, path: Path) -> Path:
    """`path` with its links resolved, when that stays under `root` (itself resolved); else LeavesFolder."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise LeavesFolder("symbolic link leading outside the imported folder")
    return resolved


def _kind(value: str | list[str] | None, default: DocumentKind) -> DocumentKind:
    if isinstance(value, str) and value in DocumentKind._value2member_map_:
        return DocumentKind(value)
    if value is not None:
        raise UnusableText(
            RejectReason.INVALID,
            f"front matter kind {value!r} is not one of {', '.join(k.value for k in DocumentKind)}",
        )
    return default


def read_file(path: Path, external_id: str, max_bytes: int = DEFAULT_MAX_BYTES) -> SourceDocument:
    """One file as a document; raises UnusableText when it cannot be one."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise UnusableText(
            RejectReason.UNSUPPORTED, f"file type {suffix or '(none)'} is not one of {', '.join(sorted(SUPPORTED))}"
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise UnusableText(RejectReason.TOO_LARGE, f"{size} bytes is over the limit of {max_bytes}")
    text = decode_text(path.read_bytes(), max_bytes)
    if suffix in HTML:
        title, body = html_to_text(text)
        if not body.strip():
            raise UnusableText(RejectReason.EMPTY, "no text in the HTML body")
        return SourceDocument(
            DocumentKind.ARTICLE,
            external_id,
            body,
            title=title or path.stem,
            metadata={"path": external_id, "format": "html"},
        )
    meta, body = split_front_matter(text)
    if not body.strip():
        raise UnusableText(RejectReason.EMPTY, "no text after the front matter")
    default_kind = DocumentKind.ARTICLE if suffix in MARKDOWN else DocumentKind.NOTE
    tags = meta.get("tags", [])
    tags = [tags] if isinstance(tags, str) else tags
    title = meta.get("title") or (markdown_title(body) if suffix in MARKDOWN else "") or path.stem
    return SourceDocument(
        kind=_kind(meta.get("kind"), default_kind),
        external_id=external_id,
        content=body,
        title=str(title),
        url=str(meta["url"]) if meta.get("url") else None,
        language=str(meta["language"]) if meta.get("language") else None,
        tags=tuple(tags),
        metadata={"path": external_id, "format": "markdown" if suffix in MARKDOWN else "text"},
    )


def import_folder(root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[SourceDocument | Rejection]:
    """Every visible file under `root`, in path order."""
    for path in _visible_files(root):
        external_id = path.relative_to(root).as_posix()
        try:
            target = _inside(root, path)
            if not target.is_file():
                continue  # a link to a folder (or to nothing): no document
            yield read_file(target, external_id, max_bytes)
        except LeavesFolder as exc:
            yield Rejection(external_id, RejectReason.UNSUPPORTED, str(exc))
        except UnusableText as exc:
            yield Rejection(external_id, exc.reason, exc.detail)
        except OSError as exc:
            yield Rejection(external_id, RejectReason.INVALID, f"cannot read: {exc.strerror or exc}")
