"""A local git repository: every code file committed at HEAD is a `repository` document with its path."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from twin_common.documents import DocumentKind
from twin_ingest.model import RejectReason, Rejection, SourceDocument
from twin_ingest.text import DEFAULT_MAX_BYTES, UnusableText, decode_text

LANGUAGES = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "typescript", ".jsx": "javascript",
    ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".c": "c", ".h": "c", ".cc": "cpp",
    ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".swift": "swift",
    ".scala": "scala", ".sh": "shell", ".bash": "shell", ".sql": "sql", ".r": "r", ".lua": "lua",
    ".md": "markdown", ".rst": "rst", ".txt": "text", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
    ".json": "json", ".html": "html", ".css": "css", ".proto": "protobuf", ".ini": "ini", ".cfg": "ini",
}
NAMED_FILES = {"Makefile": "make", "Dockerfile": "dockerfile", "LICENSE": "text", ".gitignore": "text"}


class NotARepository(ValueError):
    """The path is not a git working tree with at least one commit."""


def _git(repo: Path, *args: str) -> bytes:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise NotARepository(f"{repo}: git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def language_of(path: str) -> str | None:
    pure = PurePosixPath(path)
    return NAMED_FILES.get(pure.name) or LANGUAGES.get(pure.suffix.lower())


def import_repository(
    repo: Path, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[SourceDocument | Rejection]:
    """Files tracked at HEAD, read from the commit (not the working tree), external id `<name>/<path>`."""
    repo = repo.resolve()
    name = name or repo.name
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    entries = []
    for record in _git(repo, "ls-tree", "-r", "-z", "HEAD").split(b"\0"):
        if not record:
            continue
        info, path = record.split(b"\t", 1)
        mode, kind, sha = info.decode().split()
        if kind == "blob":
            entries.append((path.decode("utf-8", errors="replace"), sha, mode))
    for path, sha, mode in entries:
        external_id = f"{name}/{path}"
        language = language_of(path)
        if language is None:
            yield Rejection(external_id, RejectReason.UNSUPPORTED, f"not a code or text file type: {path}")
            continue
        if mode == "120000":
            yield Rejection(external_id, RejectReason.UNSUPPORTED, "symbolic link")
            continue
        size = int(_git(repo, "cat-file", "-s", sha).decode().strip())
        if size > max_bytes:
            yield Rejection(external_id, RejectReason.TOO_LARGE, f"{size} bytes is over the limit of {max_bytes}")
            continue
        try:
            content = decode_text(_git(repo, "cat-file", "blob", sha), max_bytes)
        except UnusableText as exc:
            yield Rejection(external_id, exc.reason, exc.detail)
            continue
        yield SourceDocument(
            kind=DocumentKind.REPOSITORY, external_id=external_id, content=content, title=path,
            language=language, tags=(name,), metadata={"repository": name, "path": path, "commit": commit},
        )
