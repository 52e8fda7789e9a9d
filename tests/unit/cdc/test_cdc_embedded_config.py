"""The embedded engine gets the Connect path's connector config, minus what only a Connect worker reads."""

from pathlib import Path

from twin_cdc.connector import connector_config
from twin_cdc.embedded import engine_properties


def test_engine_properties_keep_the_topic_contract(tmp_path: Path):
    names = {"database": "d", "topic_prefix": "p", "slot_name": "s", "publication_name": "pub"}
    props = engine_properties("eng", tmp_path / "offsets.dat", **names)
    connect = connector_config(**names)
    for key in (
        "topic.prefix",
        "slot.name",
        "publication.name",
        "table.include.list",
        "plugin.name",
        "snapshot.mode",
        "tombstones.on.delete",
        "poll.interval.ms",
        "database.dbname",
    ):
        assert props[key] == connect[key]
    assert props["converter.schemas.enable"] == "false"
    assert props["offset.storage.file.filename"] == str(tmp_path / "offsets.dat")
    assert props["name"] == "eng"
    assert not any(key.startswith(("topic.creation.", "producer.override.")) for key in props)
    assert "key.converter" not in props and "tasks.max" not in props
