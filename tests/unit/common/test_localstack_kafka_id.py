import uuid

from twin_localstack import components
from twin_localstack.components import Kafka, is_valid_kafka_cluster_id, new_kafka_cluster_id
from twin_localstack.paths import StackPaths

# 0xF8 as the first byte encodes to '-' as the first URL-safe base64 character.
DASH_FIRST = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
PLAIN = uuid.UUID(bytes=bytes(range(16)))


def test_ids_that_would_read_as_a_cli_option_are_drawn_again(monkeypatch):
    draws = iter([DASH_FIRST, DASH_FIRST, PLAIN])
    monkeypatch.setattr(components.uuid, "uuid4", lambda: next(draws))
    cluster_id = new_kafka_cluster_id()
    assert cluster_id == "AAECAwQFBgcICQoLDA0ODw"
    assert next(draws, None) is None  # both dash-first draws were rejected


def test_cluster_id_shape():
    assert is_valid_kafka_cluster_id(new_kafka_cluster_id())
    assert not is_valid_kafka_cluster_id("-BOvaeQoQdGTlhh1wQHENw")
    assert not is_valid_kafka_cluster_id("short")
    assert not is_valid_kafka_cluster_id("AAECAwQFBgcICQoLDA0OD=")


def test_a_stored_dash_first_id_is_replaced(monkeypatch, tmp_path):
    monkeypatch.setenv("TWIN_STACK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path / "cache"))
    paths = StackPaths.default()
    paths.ensure()
    broker = Kafka(paths)
    idfile = paths.conf / "kafka-cluster-id"
    idfile.write_text("-BOvaeQoQdGTlhh1wQHENw\n")
    replaced = broker._cluster_id()
    assert is_valid_kafka_cluster_id(replaced) and idfile.read_text().strip() == replaced
    assert broker._cluster_id() == replaced  # stable once valid
