"""A local git repository: every code file committed at HEAD is a `repository` document with its path."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from twin_common.documents import DocumentKind

from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.text import DEFAULT_MAX_BYTES, UnusableText, decode_text

LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".jsx": "javascript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".scala": "scala",
    ".sh": "shell",
    ".bash": "shell",
    ".sql": "sql",
    ".r": "r",
    ".lua": "lua",
    ".md": "markdown",
    ".rst": "rst",
    ".txt": "text",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".html": "html",
    ".css": "css",
    ".proto": "protobuf",
    ".ini": "ini",
    ".cfg": "ini",
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


def _read_blobs(repo: Path, shas: list[str]) -> Iterator[bytes]:
    """The contents of `shas`, in order, from one `git cat-file --batch` process."""
    if not shas:
        return
    process = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        for sha in shas:
            process.stdin.write(f"{sha}\n".encode())
            process.stdin.flush()
            header = process.stdout.readline().split()
            if len(header) != 3:
                raise NotARepository(f"{repo}: git cat-file could not read {sha}")
            data = process.stdout.read(int(header[2]))
            process.stdout.read(1)  # the newline after each object
            yield data
    finally:
        process.stdin.close()
        process.wait(10)


def import_repository(
    repo: Path, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[SourceDocument | Rejection]:
    """Files tracked at HEAD, read from the commit (not the working tree), external id `<name>/<path>`."""
    repo = repo.resolve()
    name = name or repo.name
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    wanted: list[tuple[str, str, str]] = []  # (external id, path, sha) of the files to read
    for record in _git(repo, "ls-tree", "-r", "-l", "-z", "HEAD").split(b"\0"):
        if not record:
            continue
        info, raw_path = record.split(b"\t", 1)
        mode, kind, sha, size = info.decode().split()
        path = raw_path.decode("utf-8", errors="replace")
        external_id = f"{name}/{path}"
        if kind != "blob":
            continue  # submodules are other repositories
        if mode == "120000":
            yield Rejection(external_id, RejectReason.UNSUPPORTED, "symbolic link")
        elif language_of(path) is None:
            yield Rejection(external_id, RejectReason.UNSUPPORTED, f"not a code or text file type: {path}")
        elif int(size) > max_bytes:
            yield Rejection(external_id, RejectReason.TOO_LARGE, f"{size} bytes is over the limit of {max_bytes}")
        else:
            wanted.append((external_id, path, sha))
    for (external_id, path, _), data in zip(wanted, _read_blobs(repo, [sha for *_, sha in wanted]), strict=True):
        try:
            content = decode_text(data, max_bytes)
        except UnusableText as exc:
            yield Rejection(external_id, exc.reason, exc.detail)
            continue
        yield SourceDocument(
            kind=DocumentKind.REPOSITORY,
            external_id=external_id,
            content=content,
            title=path,
            language=language_of(path),
            tags=(name,),
            metadata={"repository": name, "path": path, "commit": commit},
        )
