"""`twin monitor ...`: the monitor's windows, references and reports, straight from PostgreSQL (TWIN_PG_*).

twin monitor segments [--tenant T] [--json]
twin monitor windows [--tenant T] [--segment S] [--limit N] [--json]
twin monitor pin-reference --tenant T [--segment S] [--window W]   # default: the latest closed window
twin monitor reset-reference --tenant T [--segment S]              # the next requests fill a new reference
twin monitor reports [--tenant T] [--limit N] [--json]
twin monitor report --window W                                     # build one now (alerts go out with the
                                                                   # running service's next pass)
twin monitor simulate --tenant T [--profile stable|topic_shift|slow_model] [--requests N] [--seed N]
                                                                   # synthetic RequestLogged/FeedbackGiven
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from twin_monitor.settings import MonitorSettings
from twin_monitor.store import Conflict, MonitorStore, NotFound


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twin monitor", description="Drift monitor: windows, references, reports.")
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN (default: TWIN_PG_* settings)")
    commands = parser.add_subparsers(dest="command", required=True)

    segments = commands.add_parser("segments", help="segments (tenant + route...) with their reference and open window")
    segments.add_argument("--tenant")
    segments.add_argument("--json", action="store_true")

    windows = commands.add_parser("windows", help="windows, newest first")
    windows.add_argument("--tenant")
    windows.add_argument("--segment")
    windows.add_argument("--limit", type=int, default=50)
    windows.add_argument("--json", action="store_true")

    pin = commands.add_parser("pin-reference", help="make a closed window the segment's reference")
    pin.add_argument("--tenant", required=True)
    pin.add_argument("--segment")
    pin.add_argument("--window", help="window id (default: the segment's latest closed window)")
    pin.add_argument("--json", action="store_true")

    reset = commands.add_parser("reset-reference", help="forget the reference: the next requests fill a new one")
    reset.add_argument("--tenant", required=True)
    reset.add_argument("--segment")
    reset.add_argument("--json", action="store_true")

    reports = commands.add_parser("reports", help="reports, newest first")
    reports.add_argument("--tenant")
    reports.add_argument("--limit", type=int, default=20)
    reports.add_argument("--json", action="store_true")

    report = commands.add_parser("report", help="build a report of a window now")
    report.add_argument("--window", required=True)
    report.add_argument("--json", action="store_true")

    simulate = commands.add_parser("simulate", help="produce synthetic request-log traffic to Kafka")
    simulate.add_argument("--tenant", required=True)
    simulate.add_argument("--profile", default="stable", choices=["stable", "topic_shift", "slow_model"])
    simulate.add_argument("--requests", type=int, default=500)
    simulate.add_argument("--seed", type=int, default=0)
    return parser


def _print(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, "") or "-")) for r in rows)) if rows else len(c) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "") if r.get(c) is not None else "-").ljust(widths[c]) for c in columns))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = MonitorSettings()
    dsn = args.dsn or settings.dsn()
    store = MonitorStore(dsn, settings.window)
    try:
        return _run(args, settings, store)
    except (NotFound, Conflict) as exc:
        print(f"twin monitor: {exc}", file=sys.stderr)
        return 1


def _run(args, settings: MonitorSettings, store: MonitorStore) -> int:
    as_json = getattr(args, "json", False)
    if args.command == "segments":
        rows = store.segments(args.tenant)
        if as_json:
            print(json.dumps(rows))
        else:
            _print(rows, ["tenant_id", "segment", "reference_window_id", "open_window_id", "last_model"])
    elif args.command == "windows":
        rows = [w.as_dict() for w in store.list_windows(args.tenant, args.segment, args.limit)]
        if as_json:
            print(json.dumps(rows))
        else:
            _print(
                rows,
                [
                    "id",
                    "tenant_id",
                    "segment",
                    "seq",
                    "kind",
                    "status",
                    "request_count",
                    "reference_id",
                    "report_status",
                ],
            )
    elif args.command == "pin-reference":
        window = store.pin_reference(args.tenant, args.segment, args.window)
        if as_json:
            print(json.dumps(window.as_dict()))
        else:
            print(
                f"reference of {args.tenant}/{window.segment or '-'} is now window {window.id} (seq {window.seq}, "
                f"{window.request_count} requests)"
            )
    elif args.command == "reset-reference":
        segments = store.reset_reference(args.tenant, args.segment)
        if as_json:
            print(json.dumps({"reset": segments}))
        else:
            print(
                f"reset the reference of {args.tenant}: {', '.join(s or '-' for s in segments)}; "
                f"the next {settings.window.reference_size} requests of each fill a new one"
            )
    elif args.command == "reports":
        rows = store.reports(args.tenant, None, args.limit)
        if as_json:
            from twin_monitor.http import report_summary

            print(json.dumps([report_summary(r) for r in rows]))
        else:
            for r in rows:
                drifted = [x["metric"] for x in r["results"] if x.get("drifted")]
                r["drifted"] = ",".join(drifted) or "-"
                r["created"] = r["created_at"].strftime("%Y-%m-%d %H:%M:%S")
            _print(rows, ["id", "created", "tenant_id", "segment", "window_id", "tested_count", "drifted"])
    elif args.command == "report":
        from twin_monitor.reports import ReportService

        outcome = ReportService(settings, store).build(args.window, "demand")
        drifted = [r["metric"] for r in outcome.results if r["drifted"]]
        if as_json:
            print(json.dumps({"report_id": outcome.report_id, "drifted": drifted, "new_alerts": outcome.new_alert_ids}))
        else:
            print(
                f"report {outcome.report_id} of window {outcome.window_id}: drifted {', '.join(drifted) or 'none'}; "
                f"{len(outcome.new_alert_ids)} new alerts ({outcome.build_seconds:.1f} s)"
            )
    elif args.command == "simulate":
        from kafka import KafkaProducer

        from twin_monitor.synthetic import PROFILES, generate

        events = generate(PROFILES[args.profile], args.requests, args.tenant, args.seed)
        producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
        try:
            for g in events:
                producer.send(settings.requests_topic, g.request.to_bytes(), key=args.tenant.encode())
                if g.feedback:
                    producer.send(settings.feedback_topic, g.feedback.to_bytes(), key=args.tenant.encode())
            producer.flush()
        finally:
            producer.close()
        feedback = sum(1 for g in events if g.feedback)
        print(f"sent {len(events)} requests and {feedback} feedback events ({args.profile}) for tenant {args.tenant}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
