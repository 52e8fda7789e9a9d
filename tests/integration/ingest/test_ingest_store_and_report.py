"""Ingest against the real PostgreSQL: good files stored, bad ones reported, re-imports idempotent, changes updates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
from ingest_support import serve_folder
from twin_ingest.importers.files import import_folder
from twin_ingest.importers.web import import_urls
from twin_ingest.pipeline import run_import
from twin_ingest.store import DocumentStore
from twin_ingest.url_guard import AddressPolicy

REPO = Path(__file__).resolve().parents[3]


def _malformed_folder(root: Path) -> None:
    (root / "good-one.md").write_text("# One\nfirst article")
    (root / "good-two.txt").write_text("a plain note")
    (root / "page.html").write_text("<html><title>Page</title><body><p>html text</p></body></html>")
    (root / "empty.md").write_text("")
    (root / "binary.txt").write_bytes(b"\x00\x01\x02")
    (root / "latin1.md").write_bytes("d\u00e9j\u00e0 vu".encode("latin-1"))
    (root / "huge.txt").write_text("y" * 5000)


def test_folder_with_malformed_files_stores_the_good_and_reports_each_bad(tmp_path, source_dsn):
    _malformed_folder(tmp_path)
    with DocumentStore(source_dsn) as store:
        report = run_import(import_folder(tmp_path, max_bytes=4000), store, "acme", "Ada")
    assert (report.stored, report.updated, report.unchanged) == (3, 0, 0)
    assert {(r.external_id, r.reason.value) for r in report.rejections} == {
        ("empty.md", "empty"),
        ("binary.txt", "binary"),
        ("latin1.md", "bad_encoding"),
        ("huge.txt", "too_large"),
    }
    with psycopg.connect(source_dsn) as conn:
        rows = conn.execute("SELECT external_id, kind, title FROM documents ORDER BY external_id").fetchall()
    assert rows == [
        ("good-one.md", "article", "One"),
        ("good-two.txt", "note", "good-two"),
        ("page.html", "article", "Page"),
    ]


def test_reimport_changes_nothing_and_an_edit_becomes_an_update(tmp_path, source_dsn):
    _malformed_folder(tmp_path)
    with DocumentStore(source_dsn) as store:
        run_import(import_folder(tmp_path, max_bytes=4000), store, "acme", "Ada")
        with psycopg.connect(source_dsn) as conn:
            before = dict(conn.execute("SELECT external_id, xmin::text FROM documents").fetchall())

        again = run_import(import_folder(tmp_path, max_bytes=4000), store, "acme", "Ada")
        assert (again.stored, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 4)
        with psycopg.connect(source_dsn) as conn:
            assert dict(conn.execute("SELECT external_id, xmin::text FROM documents").fetchall()) == before

        (tmp_path / "good-one.md").write_text("# One\nfirst article, revised")
        edited = run_import(import_folder(tmp_path, max_bytes=4000), store, "acme", "Ada")
        assert (edited.stored, edited.updated, edited.unchanged) == (0, 1, 2)

        other = run_import(import_folder(tmp_path, max_bytes=4000), store, "globex", "Ada")
        assert other.stored == 3  # same files, another tenant: its own rows
    with psycopg.connect(source_dsn) as conn:
        content, created, updated = conn.execute(
            "SELECT content, created_at, updated_at FROM documents"
            " WHERE tenant_id = 'acme' AND external_id = 'good-one.md'"
        ).fetchone()
        assert content == "# One\nfirst article, revised" and updated > created
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 6


def test_url_fetcher_against_a_local_http_server(tmp_path, source_dsn):
    (tmp_path / "post.html").write_text("<title>Local</title><p>served over http</p>")
    (tmp_path / "plain.txt").write_text("plain body")
    (tmp_path / "blob.bin").write_bytes(b"\x00" * 10)
    with serve_folder(tmp_path) as base, DocumentStore(source_dsn) as store:
        urls = [f"{base}/post.html", f"{base}/plain.txt", f"{base}/blob.bin", f"{base}/missing.html", "ftp://x/y"]
        local = AddressPolicy(allowed_networks=("127.0.0.1/32",))  # loopback is refused without the allow-list
        report = run_import(import_urls(urls, policy=local), store, "acme", "Ada")
        again = run_import(import_urls(urls[:2], policy=local), store, "acme", "Ada")
    assert report.stored == 2
    assert {r.external_id: r.reason.value for r in report.rejections} == {
        f"{base}/blob.bin": "binary",
        f"{base}/missing.html": "fetch_failed",
        "ftp://x/y": "invalid",
    }
    assert "404" in next(r.detail for r in report.rejections if r.reason.value == "fetch_failed")
    assert again.unchanged == 2
    with psycopg.connect(source_dsn) as conn:
        title, content, url = conn.execute(
            "SELECT title, content, url FROM documents WHERE external_id = %s", (f"{base}/post.html",)
        ).fetchone()
    assert (title, content, url) == ("Local", "served over http", f"{base}/post.html")


def test_cli_imports_the_sample_corpus_and_reports_counts(source_dsn):
    def ingest(source: str, *extra: str) -> dict:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "twin_cli.main",
                "ingest",
                source,
                "--author",
                "Maren Holt",
                "--tenant",
                "demo",
                "--dsn",
                source_dsn,
                "--json",
                *extra,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        return json.loads(result.stdout)

    first = ingest("samples/corpus/posts.jsonl")
    assert (first["stored"], first["rejected"]) == (16, 0)
    assert ingest("samples/corpus/posts.jsonl")["unchanged"] == 16
    assert ingest("samples/corpus/notes", "--kind", "post")["stored"] == 6
    with psycopg.connect(source_dsn) as conn:
        kinds = conn.execute("SELECT DISTINCT kind FROM documents WHERE external_id LIKE '%.txt'").fetchall()
    assert kinds == [("post",)]
    missing = subprocess.run(
        [sys.executable, "-m", "twin_cli.main", "ingest", "no/such/dir", "--author", "a", "--dsn", source_dsn],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
