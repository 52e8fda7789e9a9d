"""The AsyncAPI document of the platform's topics is generated, up to date, and covers every topic."""

import json
import subprocess
import sys
from pathlib import Path

from twin_common import topics
from twin_common.catalogue import CATALOGUE, RESERVED

ROOT = Path(__file__).resolve().parents[3]


def test_every_topic_is_catalogued_or_reserved():
    names = {
        value
        for name, value in vars(topics).items()
        if name.isupper() and isinstance(value, str) and value.startswith("twin.") and name != "CDC_TOPIC_PREFIX"
    }
    assert names - {e.topic for e in CATALOGUE} - set(RESERVED) == set()


def test_the_committed_document_is_what_the_generator_writes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_asyncapi.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_each_topic_carries_its_event_schema_with_producers_and_consumers():
    document = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    assert document["asyncapi"].startswith("3.")
    channel = document["channels"][f"{topics.REQUESTS}:send"]
    assert channel["address"] == topics.REQUESTS and "gateway" in channel["description"]
    assert "monitor" in document["channels"][f"{topics.REQUESTS}:receive"]["description"]
    schema = document["components"]["schemas"]["RequestLogged"]
    assert {"request_id", "tenant_id", "ttft_ms", "query_embedding"} <= set(schema["properties"])
