"""Hostile local input: links out of the imported folder, oversized JSONL lines, fields PostgreSQL cannot store."""

from __future__ import annotations

import io
import json

import pytest
from twin_common.documents import DocumentKind
from twin_ingest.importers.files import import_folder
from twin_ingest.importers.jsonl import import_jsonl, read_lines
from twin_ingest.model import Rejection, RejectReason, SourceDocument
from twin_ingest.text import UnusableText
from twin_ingest.validation import ItemLimits, check_document, safe_text


def _split(items):
    docs = {i.external_id: i for i in items if isinstance(i, SourceDocument)}
    rejected = {i.external_id: i for i in items if isinstance(i, Rejection)}
    return docs, rejected


def test_folder_import_refuses_links_that_leave_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("a secret from elsewhere on the machine")
    (outside / "dir").mkdir()
    (outside / "dir" / "more.txt").write_text("more secrets")
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "real.md").write_text("# Real\nmine")
    (root / "notes.txt").symlink_to(outside / "secret.txt")  # the attack: a link out of the folder
    (root / "sub" / "up.txt").symlink_to("../../outside/secret.txt")  # the same through a relative path
    (root / "linked-dir").symlink_to(outside / "dir")  # a linked folder is not walked
    (root / "alias.md").symlink_to("real.md")  # a link that stays inside is read
    (root / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")

    docs, rejected = _split(list(import_folder(root)))

    assert set(docs) == {"real.md", "alias.md"}
    assert docs["alias.md"].content == docs["real.md"].content
    assert {key: (r.reason, r.detail) for key, r in rejected.items()} == {
        "notes.txt": (RejectReason.UNSUPPORTED, "symbolic link leading outside the imported folder"),
        "sub/up.txt": (RejectReason.UNSUPPORTED, "symbolic link leading outside the imported folder"),
        "linked-dir": (RejectReason.UNSUPPORTED, "symbolic link leading outside the imported folder"),
        "dangling.txt": (RejectReason.UNSUPPORTED, "symbolic link leading outside the imported folder"),
    }
    assert not any("secret" in d.content for d in docs.values())


class _RecordingFile(io.BytesIO):
    """A binary file that remembers the longest piece any single read returned."""

    longest = 0

    def readline(self, size=-1):
        line = super().readline(size)
        self.longest = max(self.longest, len(line))
        return line

    def read(self, size=-1):
        data = super().read(size)
        self.longest = max(self.longest, len(data))
        return data


def test_jsonl_is_read_line_by_line_and_a_huge_line_is_skipped_not_held():
    huge = json.dumps({"id": "huge", "content": "x" * 3_000_000}).encode()
    data = b"\n".join(
        [
            json.dumps({"id": "a", "content": "first"}).encode(),
            huge,
            json.dumps({"id": "b", "content": "after"}).encode(),
        ]
    )
    handle = _RecordingFile(data)
    lines = list(read_lines(handle, max_line_bytes=8000))
    assert handle.longest <= 1 << 20  # never the whole 3 MB line in one piece
    assert len(lines) == 3 and lines[1] == b""


def test_jsonl_import_rejects_an_overlong_line_and_goes_on(tmp_path):
    path = tmp_path / "posts.jsonl"
    lines = [
        json.dumps({"id": "a", "content": "first"}),
        json.dumps({"id": "huge", "content": "x" * 50_000}),
        json.dumps({"id": "b", "content": "after"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    docs, rejected = _split(list(import_jsonl(path, max_bytes=1000)))
    assert set(docs) == {"a", "b"}
    assert rejected["line:2"].reason is RejectReason.TOO_LARGE


def _doc(**fields) -> SourceDocument:
    return SourceDocument(**{"kind": DocumentKind.POST, "external_id": "d1", "content": "text", **fields})


@pytest.mark.parametrize(
    ("fields", "reason", "names"),
    [
        ({"title": "bad \ud800 title"}, RejectReason.BAD_ENCODING, "title"),
        ({"external_id": "x" * 3000}, RejectReason.TOO_LARGE, "id is 3000 bytes"),
        ({"external_id": "\udfff"}, RejectReason.BAD_ENCODING, "id"),
        ({"url": "https://example.org/" + "p" * 3000}, RejectReason.TOO_LARGE, "url"),
        ({"language": "en" * 40}, RejectReason.TOO_LARGE, "language"),
        ({"tags": tuple(f"t{i}" for i in range(65))}, RejectReason.TOO_LARGE, "65 tags"),
        ({"tags": ("ok", "t" * 101)}, RejectReason.TOO_LARGE, "tags[1]"),
        ({"tags": ("a\x00b",)}, RejectReason.INVALID, "tags[0]"),
        ({"metadata": {f"k{i}": i for i in range(65)}}, RejectReason.TOO_LARGE, "metadata has 65 keys"),
        ({"metadata": {"blob": "m" * 20_000}}, RejectReason.TOO_LARGE, "metadata is"),
        ({"metadata": {"deep": [{"x": "\ud83d"}]}}, RejectReason.BAD_ENCODING, "metadata.deep[0].x"),
        ({"metadata": {"k\x00": 1}}, RejectReason.INVALID, "metadata key"),
        ({"content": "body \udc80"}, RejectReason.BAD_ENCODING, "content"),
    ],
)
def test_each_field_is_checked_and_named(fields, reason, names):
    with pytest.raises(UnusableText) as error:
        check_document(_doc(**fields), ItemLimits())
    assert error.value.reason is reason
    assert names in error.value.detail


def test_a_document_within_every_limit_passes_and_reports_print_anything():
    ok = _doc(title="T", tags=("a",), metadata={"nested": {"list": [1, "two"]}}, language="en-GB")
    assert check_document(ok, ItemLimits()) == ok
    assert safe_text("id \ud800") == "id \\ud800"
    assert safe_text("y" * 500).endswith("…") and len(safe_text("y" * 500)) == 200
