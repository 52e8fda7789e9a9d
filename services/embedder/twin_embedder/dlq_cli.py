"""`twin dlq list|replay|purge`: the embedder's dead-letter topic, from the command line.

  twin dlq list [--json]                       every dead letter: where it came from, its key and its error
  twin dlq replay --all | ID [ID ...]          send dead letters back to their source topic (after a fix)
  twin dlq purge --yes [--through ID]          delete dead letters from the topic (all, or up to one)

An ID is the dead letter's own position, PARTITION:OFFSET, as `list` prints it. The topic defaults to the
embedder's (TWIN_DEAD_LETTER_TOPIC, else <TWIN_TOPIC>.dlq); --topic names another.

Replay writes the original key and value to the source partition the message came from, so the embedder applies
it in order with that document's other changes. Applying a change twice is harmless (deterministic ids, skip of
unchanged versions), but applying an OLD version after a newer one would bring it back: a dead letter whose
source partition has a later message with the same key (a newer change of that document) is skipped as
superseded, unless --force. Replayed letters stay listed until purged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from twin_common.events import DeadLetter
from twin_common.settings import KafkaSettings
from twin_common.topics import dead_letter_topic

POLL_MS = 500


@dataclass(frozen=True)
class Letter:
    partition: int  # in the dead-letter topic
    offset: int
    timestamp_ms: int
    event: DeadLetter

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    def summary(self) -> dict:
        e = self.event
        return {
            "id": self.id,
            "timestamp_ms": self.timestamp_ms,
            "source": f"{e.source_topic}[{e.partition}]@{e.offset}",
            "key": e.key,
            "error": e.error,
            "attempts": e.attempts,
            "consumer_group": e.consumer_group,
        }


def _consumer(bootstrap: str):
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)


def _read(consumer, topic: str, start: dict | None = None) -> Iterator:
    """Every record of `topic` (from its first offset, or from `start` {partition: offset}) up to its end now."""
    from kafka import TopicPartition

    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return
    consumer.assign(tps)
    ends = consumer.end_offsets(tps)
    for tp in tps:
        if start and tp.partition in start:
            consumer.seek(tp, start[tp.partition])
        else:
            consumer.seek_to_beginning(tp)
    pending = {tp for tp in tps if consumer.position(tp) < ends[tp]}
    while pending:
        for tp, batch in consumer.poll(timeout_ms=POLL_MS).items():
            for record in batch:
                if record.offset < ends[tp]:
                    yield record
            if consumer.position(tp) >= ends[tp]:
                pending.discard(tp)


def read_letters(bootstrap: str, topic: str) -> list[Letter]:
    consumer = _consumer(bootstrap)
    try:
        letters = []
        for record in _read(consumer, topic):
            try:
                event = DeadLetter.from_bytes(record.value)
            except ValueError:
                continue  # not a DeadLetter: nothing this command can replay
            letters.append(Letter(record.partition, record.offset, record.timestamp, event))
        return letters
    finally:
        consumer.close()


def superseded_by(bootstrap: str, event: DeadLetter) -> int | None:
    """The offset of a later message with the same key in the dead letter's source partition, if any."""
    from kafka import TopicPartition

    key = None if event.key is None else event.key.encode("utf-8")
    consumer = _consumer(bootstrap)
    try:
        tp = TopicPartition(event.source_topic, event.partition)
        if event.partition not in (consumer.partitions_for_topic(event.source_topic) or set()):
            return None
        for record in _read(consumer, event.source_topic, {event.partition: event.offset + 1}):
            if record.partition == tp.partition and record.key == key:
                return record.offset
        return None
    finally:
        consumer.close()


def replay(bootstrap: str, letters: list[Letter], force: bool, out) -> int:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    replayed = 0
    try:
        for letter in letters:
            e = letter.event
            later = None if force else superseded_by(bootstrap, e)
            if later is not None:
                print(f"{letter.id}: skipped, superseded by {e.source_topic}[{e.partition}]@{later}", file=out)
                continue
            producer.send(
                e.source_topic,
                key=None if e.key is None else e.key.encode("utf-8"),
                value=None if e.value is None else e.value.encode("utf-8"),
                partition=e.partition,
                headers=[("twin-replayed-from", f"{letter.id}".encode())],
            ).get(timeout=30)
            replayed += 1
            print(f"{letter.id}: replayed to {e.source_topic}[{e.partition}]", file=out)
    finally:
        producer.close()
    return replayed


def purge(bootstrap: str, topic: str, through: tuple[int, int] | None) -> int:
    """Delete the topic's records (every one, or those of one partition up to and including `through`)."""
    from kafka import KafkaAdminClient, TopicPartition

    consumer = _consumer(bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        starts, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
    finally:
        consumer.close()
    if through is not None:
        partition, offset = through
        tps = [tp for tp in tps if tp.partition == partition]
        ends = {tp: min(ends[tp], offset + 1) for tp in tps}
    targets = {tp: ends[tp] for tp in tps if ends[tp] > starts[tp]}
    if not targets:
        return 0
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_records(targets)
    finally:
        admin.close()
    return sum(ends[tp] - starts[tp] for tp in targets)


def _letter_id(value: str) -> tuple[int, int]:
    try:
        partition, offset = value.split(":")
        return int(partition), int(offset)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not PARTITION:OFFSET (as `twin dlq list` prints)") from None


def main(argv: list[str] | None = None) -> int:
    from twin_embedder.settings import EmbedderSettings

    settings = EmbedderSettings()
    parser = argparse.ArgumentParser(
        prog="twin dlq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--topic", default=settings.dead_letter_topic or dead_letter_topic(settings.topic))
    parser.add_argument("--bootstrap-servers", default=KafkaSettings().bootstrap_servers)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="print every dead letter with its error")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    again = sub.add_parser("replay", help="send dead letters back to their source topic")
    again.add_argument("ids", nargs="*", type=_letter_id, metavar="ID", help="PARTITION:OFFSET of a dead letter")
    again.add_argument("--all", action="store_true", help="every dead letter in the topic")
    again.add_argument("--force", action="store_true", help="replay even when a newer change of the key follows")
    drop = sub.add_parser("purge", help="delete dead letters from the topic")
    drop.add_argument("--yes", action="store_true", help="required: purging cannot be undone")
    drop.add_argument("--through", type=_letter_id, metavar="ID", help="only up to this one, in its partition")
    args = parser.parse_args(argv)

    if args.command == "purge":
        if not args.yes:
            parser.error("purge deletes dead letters for good: add --yes")
        count = purge(args.bootstrap_servers, args.topic, args.through)
        print(f"purged {count} dead letter(s) from {args.topic}")
        return 0
    letters = read_letters(args.bootstrap_servers, args.topic)
    if args.command == "list":
        for letter in letters:
            row = letter.summary()
            if args.json:
                print(json.dumps(row))
            else:
                error = row["error"].splitlines()[0][:160] if row["error"] else ""
                print(f"{row['id']:>8}  {row['source']}  key={row['key']}  {error}")
        if not args.json:
            print(f"{len(letters)} dead letter(s) in {args.topic}")
        return 0
    if args.all == bool(args.ids):
        parser.error("give the IDs to replay, or --all")
    wanted = {f"{p}:{o}" for p, o in args.ids}
    chosen = letters if args.all else [letter for letter in letters if letter.id in wanted]
    missing = wanted - {letter.id for letter in chosen}
    if missing:
        print(f"twin dlq: no dead letter {', '.join(sorted(missing))} in {args.topic}", file=sys.stderr)
        return 2
    count = replay(args.bootstrap_servers, chosen, args.force, sys.stdout)
    print(f"replayed {count} of {len(chosen)} dead letter(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
