"""Bytes become document text, or a rejection with the right reason."""

import pytest
from twin_ingest.model import RejectReason
from twin_ingest.text import UnusableText, decode_text, html_to_text, markdown_title, split_front_matter


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", RejectReason.EMPTY),
        (b"  \n\t\n", RejectReason.EMPTY),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", RejectReason.BINARY),
        ("caf\u00e9".encode("latin-1"), RejectReason.BAD_ENCODING),
        (b"x" * 101, RejectReason.TOO_LARGE),
    ],
)
def test_unusable_bytes_are_rejected_with_their_reason(data, reason):
    with pytest.raises(UnusableText) as caught:
        decode_text(data, max_bytes=100)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_utf8_text_is_kept_with_normalised_line_endings():
    assert decode_text("\ufeffcaf\u00e9\r\nline".encode()) == "caf\u00e9\nline"


def test_html_keeps_title_and_readable_text_without_scripts():
    title, text = html_to_text(
        "<html><head><title> Hive </title><style>p{}</style></head>"
        "<body><h1>Winter</h1><p>Lift the &amp; back.</p><script>var x;</script><p>Listen.</p></body></html>"
    )
    assert title == "Hive"
    assert text == "Winter\n\nLift the & back.\n\nListen."


def test_front_matter_and_markdown_title():
    meta, body = split_front_matter("---\ntitle: 'A'\ntags: [x, y]\nkind: note\n---\n# Heading\nbody\n")
    assert meta == {"title": "A", "tags": ["x", "y"], "kind": "note"}
    assert body == "# Heading\nbody\n"
    assert markdown_title(body) == "Heading"
    assert split_front_matter("no front matter") == ({}, "no front matter")
