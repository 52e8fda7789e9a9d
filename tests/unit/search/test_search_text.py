from twin_common.documents import DocumentKind
from twin_search.chunking import Chunker, ChunkingSettings, KindLimits, point_id
from twin_search.cleaning import clean_text


def test_html_markup_scripts_and_boilerplate_are_removed():
    raw = (
        "<html><script>var x=1;</script><h1>Log&nbsp;based CDC</h1><p>Debezium reads the <b>WAL</b>.</p>"
        "<p>Share this post</p><footer>© all rights</footer></html>"
    )
    assert clean_text(raw, "article") == "Log based CDC\n\nDebezium reads the WAL."


def test_markdown_is_flattened_to_text():
    raw = "# Title\n\nSee [the docs](https://x.io) and **bold** `code`.\n\n- item one\n> quoted\n\n\n\nend"
    assert clean_text(raw, DocumentKind.POST) == "Title\n\nSee the docs and bold code.\n\nitem one\nquoted\n\nend"


def test_unicode_is_normalised_and_control_characters_dropped():
    assert clean_text("ﬁle\u200b ｗｉｄｅ\x07 text", "note") == "file wide text"


def test_code_keeps_its_layout():
    code = "def f(x):\n    return x  \n\n\nclass A:\n    pass\n"
    assert clean_text(code, "repository") == "def f(x):\n    return x\n\n\nclass A:\n    pass"


def _chunker(embedder, **limits):
    settings = ChunkingSettings(limits={**ChunkingSettings().limits, **limits}) if limits else ChunkingSettings()
    return Chunker(embedder.count_tokens, embedder.model_name, embedder.model_version, settings)


def test_post_chunks_respect_size_and_overlap(embedder, make_doc):
    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(80)]
    doc = make_doc("p1", " ".join(sentences), kind="post")
    chunks = _chunker(embedder).chunk(doc)
    assert len(chunks) > 3
    assert all(c.token_count <= 250 for c in chunks)
    for previous, current in zip(chunks, chunks[1:]):
        # the overlap repeats the tail of the previous chunk: its last sentence, and what leads up to it
        assert previous.text.rsplit(". ", 1)[-1] in current.text
        assert current.text.split(". ")[0] + "." in previous.text
    assert [c.position for c in chunks] == list(range(len(chunks)))
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)  # nothing lost


def test_article_chunks_end_on_sentence_boundaries_within_character_limit(embedder, make_doc):
    text = " ".join(f"Claim {i} is supported by evidence." for i in range(300))
    chunks = _chunker(embedder).chunk(make_doc("a1", text, title="Evidence"))
    assert chunks[0].text.startswith("Evidence\n") or chunks[0].text.startswith("Evidence Claim")
    assert all(len(c.text) <= 2000 for c in chunks)
    assert all(c.text.rstrip().endswith(".") for c in chunks)


def test_code_chunks_split_on_definitions(embedder, make_doc):
    code = "\n".join(f"def function_{i}(a, b):\n    total = a + b * {i}\n    return total\n" for i in range(60))
    chunks = _chunker(embedder).chunk(make_doc("c1", code, kind="repository"))
    assert len(chunks) > 1
    assert all(c.text.lstrip().startswith("def function_") for c in chunks)
    assert all(len(c.text) <= 1500 for c in chunks)


def test_no_chunk_exceeds_the_model_limit_even_for_one_giant_sentence(embedder, make_doc):
    text = "word " * 2000 + "x" * 5000
    chunker = _chunker(embedder, article=KindLimits(max_tokens=400, overlap_tokens=10))  # asks above the limit
    chunks = chunker.chunk(make_doc("g1", text))
    assert chunks and all(c.token_count <= 254 for c in chunks)


def test_point_ids_are_deterministic_and_model_specific(embedder, make_doc):
    doc = make_doc("d1", "One sentence. Another sentence.")
    first, again = _chunker(embedder).chunk(doc), _chunker(embedder).chunk(doc)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert point_id("d1", 0, "m1") != point_id("d1", 0, "m2") != point_id("d1", 1, "m1")


def test_chunks_carry_identity_for_filters_and_citations(embedder, make_doc):
    doc = make_doc("d9", "Some text here.", tenant="t9", kind="note", title="T", tags=["cdc"])
    (chunk,) = _chunker(embedder).chunk(doc)
    assert (chunk.tenant_id, chunk.document_id, chunk.kind, chunk.tags, chunk.embedding_model) == (
        "t9",
        "d9",
        DocumentKind.NOTE,
        ["cdc"],
        "hashing-test",
    )
    assert chunk.content_hash == doc.content_hash


def test_empty_content_yields_only_the_title(embedder, make_doc):
    assert [c.text for c in _chunker(embedder).chunk(make_doc("e", "", title="Just a title"))] == ["Just a title"]
    assert _chunker(embedder).chunk(make_doc("e2", "   ")) == []


def test_snake_case_identifiers_in_prose_survive_emphasis_stripping():
    assert (
        clean_text("call point_id and chunk_id, then _really_ stop", "note")
        == "call point_id and chunk_id, then really stop"
    )
