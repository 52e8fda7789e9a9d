"""What ingest does is what the CDC topic says: new files are inserts, an unchanged re-import is silence,
an edit is one update with the old and new text, a delete is a delete and a tombstone."""

from __future__ import annotations

from cdc_support import consume
from twin_cdc import connector
from twin_ingest.importers.files import import_folder
from twin_ingest.pipeline import run_import
from twin_ingest.store import DocumentStore


def test_ingest_runs_map_to_debezium_operations(cdc_rig, tmp_path):
    connector.register(cdc_rig.connect_url, cdc_rig.name, cdc_rig.config())
    connector.wait_running(cdc_rig.connect_url, cdc_rig.name)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\nfirst")
    (folder / "b.md").write_text("# B\nsecond")
    topic = cdc_rig.topic("documents")

    with DocumentStore(cdc_rig.dsn) as store:
        assert run_import(import_folder(folder), store, "acme", "Ada").stored == 2
        assert run_import(import_folder(folder), store, "acme", "Ada").unchanged == 2  # must emit nothing
        (folder / "a.md").write_text("# A\nfirst, edited")
        assert run_import(import_folder(folder), store, "acme", "Ada").updated == 1
        doc_b = next(d for d in store.list_documents("acme") if d["external_id"] == "b.md")
        assert store.delete_document("acme", doc_b["id"])

    records = consume(topic, lambda r: len(r) >= 5)
    changes = sorted((v["op"], (v["after"] or v["before"])["external_id"]) for _, v, *_ in records if v)
    tombstones = [key for key, v, *_ in records if v is None]
    # 2 inserts, 1 update, 1 delete and its tombstone: the unchanged re-import added nothing
    assert changes == [("c", "a.md"), ("c", "b.md"), ("d", "b.md"), ("u", "a.md")]
    assert tombstones == [{"id": doc_b["id"]}]
    update = next(v for _, v, *_ in records if v and v["op"] == "u")
    assert update["before"]["content"] == "# A\nfirst" and update["after"]["content"] == "# A\nfirst, edited"
    assert update["before"]["content_hash"] != update["after"]["content_hash"]
