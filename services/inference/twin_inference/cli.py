"""`twin inference ...`: run the model server, or register a Hugging Face directory and announce it.

twin inference serve
twin inference register DIR NAME [--alias champion] [--no-event]
"""

from __future__ import annotations

import argparse


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="twin inference", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve twin-embed, twin-rerank and twin-llm (V2 REST + gRPC)")
    register = sub.add_parser("register", help="log a Hugging Face model directory to MLflow under NAME@ALIAS")
    register.add_argument("directory")
    register.add_argument("name")
    register.add_argument("--alias", default="champion")
    register.add_argument("--no-event", action="store_true", help="do not publish ModelRegistered on Kafka")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from twin_inference.__main__ import main as serve

        serve()
        return 0

    from twin_common import topics
    from twin_common.events import ModelRegistered
    from twin_common.registry import log_hf_model
    from twin_common.settings import KafkaSettings

    info = log_hf_model(args.directory, args.name, alias=args.alias)
    print(f"registered {info.name} version {info.version} ({info.task}) as @{args.alias}")
    if not args.no_event:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers)
        event = ModelRegistered(
            model_name=info.name,
            version=info.version,
            alias=args.alias,
            run_id=info.run_id,
            model_uri=f"models:/{info.name}@{args.alias}",
        )
        producer.send(topics.MODELS_REGISTERED, key=info.name.encode(), value=event.to_bytes()).get(timeout=30)
        producer.close()
        print(f"published {event.event_type} on {topics.MODELS_REGISTERED}")
    return 0
