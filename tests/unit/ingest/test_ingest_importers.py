"""Importers: every input becomes a document or a rejection that says why; nothing is dropped silently."""

import json
import subprocess
from pathlib import Path

import pytest
from twin_common.documents import DocumentKind
from twin_ingest.hashing import content_hash
from twin_ingest.importers.files import import_folder
from twin_ingest.importers.git_repo import NotARepository, import_repository
from twin_ingest.importers.jsonl import import_lines
from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.sources import UnknownSource, detect

CORPUS = Path(__file__).resolve().parents[3] / "samples" / "corpus"


def _split(items):
    docs = {i.external_id: i for i in items if isinstance(i, SourceDocument)}
    rejected = {i.external_id: i for i in items if isinstance(i, Rejection)}
    return docs, rejected


def test_folder_with_malformed_files_keeps_the_good_and_explains_the_bad(tmp_path):
    (tmp_path / "good.md").write_text("---\ntitle: Good\ntags: [a]\n---\nbody text\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "note.txt").write_text("a note")
    (tmp_path / "page.html").write_text("<title>P</title><p>para</p>")
    (tmp_path / "empty.md").write_text("   \n")
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9".encode("latin-1"))
    (tmp_path / "nul.md").write_bytes(b"abc\x00def")
    (tmp_path / "big.txt").write_text("x" * 2000)
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "bad-kind.md").write_text("---\nkind: essay\n---\ntext")
    (tmp_path / ".hidden.md").write_text("ignored")

    docs, rejected = _split(list(import_folder(tmp_path, max_bytes=1000)))

    assert set(docs) == {"good.md", "sub/note.txt", "page.html"}
    assert docs["good.md"].title == "Good" and docs["good.md"].tags == ("a",)
    assert docs["good.md"].kind is DocumentKind.ARTICLE and docs["sub/note.txt"].kind is DocumentKind.NOTE
    assert docs["page.html"].content == "para" and docs["page.html"].title == "P"
    assert {key: r.reason for key, r in rejected.items()} == {
        "empty.md": RejectReason.EMPTY,
        "latin1.txt": RejectReason.BAD_ENCODING,
        "nul.md": RejectReason.BINARY,
        "big.txt": RejectReason.TOO_LARGE,
        "image.png": RejectReason.UNSUPPORTED,
        "bad-kind.md": RejectReason.INVALID,
    }


def test_jsonl_lines_each_become_a_post_or_a_reasoned_rejection():
    lines = [
        json.dumps({"id": "p1", "content": "hello", "tags": ["t"]}).encode(),
        b"{not json",
        json.dumps({"id": "p2"}).encode(),
        json.dumps({"id": "p3", "content": "x", "kind": "tweet"}).encode(),
        json.dumps({"id": "p4", "content": "   "}).encode(),
        b"",
        "caf\u00e9".encode("latin-1"),
    ]
    docs, rejected = _split(list(import_lines(lines)))
    assert list(docs) == ["p1"] and docs["p1"].kind is DocumentKind.POST and docs["p1"].tags == ("t",)
    assert {key: r.reason for key, r in rejected.items()} == {
        "line:2": RejectReason.INVALID,
        "p2": RejectReason.INVALID,
        "p3": RejectReason.INVALID,
        "p4": RejectReason.EMPTY,
        "line:7": RejectReason.BAD_ENCODING,
    }
    assert "content" in rejected["p2"].detail and "line 3" in rejected["p2"].detail


def test_sample_corpus_imports_without_rejections():
    docs, rejected = _split([*import_folder(CORPUS / "articles"), *import_folder(CORPUS / "notes")])
    posts, bad_posts = _split(list(import_lines((CORPUS / "posts.jsonl").read_bytes().split(b"\n"))))
    assert not rejected and not bad_posts
    assert len(docs) + len(posts) >= 30


def test_git_repository_reads_committed_code_files_with_paths(tmp_path):
    repo = tmp_path / "kettle"
    subprocess.run(["cp", "-r", str(CORPUS / "repo"), str(repo)], check=True)
    (repo / "logo.png").write_bytes(b"\x89PNG\x00")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (repo / "kettle" / "window.py").write_text("uncommitted edit")  # HEAD is what gets imported

    docs, rejected = _split(list(import_repository(repo)))
    assert "kettle/kettle/window.py" in docs
    window = docs["kettle/kettle/window.py"]
    assert window.kind is DocumentKind.REPOSITORY and window.language == "python"
    assert "class LatencyWindow" in window.content and window.metadata["path"] == "kettle/window.py"
    assert len(window.metadata["commit"]) == 40
    assert docs["kettle/Makefile"].language == "make"
    assert rejected["kettle/logo.png"].reason is RejectReason.UNSUPPORTED


def test_a_folder_without_commits_is_not_a_repository(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(NotARepository):
        list(import_repository(tmp_path))


def test_source_detection(tmp_path):
    (tmp_path / "x.jsonl").write_text("")
    assert detect("https://example.org/a") == "url"
    assert detect(str(tmp_path / "x.jsonl")) == "jsonl"
    assert detect(str(tmp_path)) == "folder"
    with pytest.raises(UnknownSource):
        detect(str(tmp_path / "missing"))


def test_content_hash_changes_with_material_only():
    doc = SourceDocument(DocumentKind.NOTE, "n", "text", title="t", tags=("a",), metadata={"k": 1})
    same = SourceDocument(DocumentKind.NOTE, "n", "text", title="t", tags=("a",), metadata={"k": 1})
    assert content_hash(doc) == content_hash(same)
    for changed in (
        SourceDocument(DocumentKind.NOTE, "n", "text!", title="t", tags=("a",), metadata={"k": 1}),
        SourceDocument(DocumentKind.NOTE, "n", "text", title="T", tags=("a",), metadata={"k": 1}),
        SourceDocument(DocumentKind.NOTE, "n", "text", title="t", tags=("b",), metadata={"k": 1}),
        SourceDocument(DocumentKind.NOTE, "n", "text", title="t", tags=("a",), metadata={"k": 2}),
    ):
        assert content_hash(changed) != content_hash(doc)


def test_git_repository_rejects_oversized_and_binary_code_files(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "big.py").write_text("x = 1\n" * 400)
    (repo / "nul.py").write_bytes(b"a\x00b")
    (repo / "ok.py").write_text("print('ok')\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    docs, rejected = _split(list(import_repository(repo, max_bytes=1000)))
    assert list(docs) == ["r/ok.py"] and docs["r/ok.py"].content == "print('ok')\n"
    assert {key: r.reason for key, r in rejected.items()} == {
        "r/big.py": RejectReason.TOO_LARGE,
        "r/nul.py": RejectReason.BINARY,
    }
