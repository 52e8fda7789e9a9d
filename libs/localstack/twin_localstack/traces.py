"""`twin traces`: the traces of the local stack's trace store in the terminal, and a client of its query API.

Jaeger v2 built from Go modules serves the query API (the same one its web UI uses) but not the UI itself (its
assets are not in the module), so this is how a person looks at a trace locally:

    twin traces                         # the latest traces: root span, services, spans, duration
    twin traces --service twin-ingest   # the latest traces that touch one service
    twin traces 4bf92f3577b34da6a3ce929d0e0e4736   # one trace as a tree: service, span, duration, attributes

The query URL is TWIN_OTEL_TRACE_QUERY_URL (default: the local stack's Jaeger at 127.0.0.1:16686 + offset);
the API it speaks is Jaeger's v3 (`/api/v3/traces`), which returns OTLP JSON, so what is shown is what was sent.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from twin_common.settings import TelemetrySettings

KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(value: dict) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", [])]
    return None


def _attributes(items: Iterable[dict] | None) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items or ()}


def _kind(kind: Any) -> str:
    if isinstance(kind, int):
        return KINDS.get(kind, str(kind))
    return str(kind).removeprefix("SPAN_KIND_")


@dataclass(frozen=True)
class StoredSpan:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: tuple[tuple[str, str], ...] = field(default=())  # (trace id, span id)
    start_ns: int = 0
    end_ns: int = 0

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _hex(value: str | None) -> str:
    """Trace and span ids come as hex from Jaeger's v3 API; base64 from a plain OTLP JSON encoder."""
    if not value:
        return ""
    if all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    return base64.b64decode(value).hex()


def parse_otlp(result: dict) -> list[StoredSpan]:
    spans = []
    for resource_spans in result.get("resourceSpans", []):
        resource = _attributes(resource_spans.get("resource", {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                spans.append(
                    StoredSpan(
                        service=resource.get("service.name", ""),
                        name=span["name"],
                        kind=_kind(span.get("kind", 0)),
                        trace_id=_hex(span["traceId"]),
                        span_id=_hex(span["spanId"]),
                        parent_span_id=_hex(span.get("parentSpanId")),
                        attributes=_attributes(span.get("attributes")),
                        resource=resource,
                        links=tuple((_hex(link["traceId"]), _hex(link["spanId"])) for link in span.get("links", [])),
                        start_ns=int(span.get("startTimeUnixNano", 0)),
                        end_ns=int(span.get("endTimeUnixNano", 0)),
                    )
                )
    return spans


class TraceStore:
    """Jaeger's query API (v3: OTLP JSON, so attributes, kinds and links are the emitted ones)."""

    def __init__(self, url: str | None = None):
        self.url = (url or TelemetrySettings().trace_query_url).rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def services(self) -> list[str]:
        return self.http.get("/api/services").json().get("data") or []

    def trace(self, trace_id: str) -> list[StoredSpan]:
        response = self.http.get(f"/api/v3/traces/{trace_id}")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return parse_otlp(response.json().get("result", {}))

    def search(self, service: str, since: float, limit: int = 200) -> list[StoredSpan]:
        """Spans of every trace that holds a span of `service` started after `since` (epoch seconds)."""
        params = {
            "query.service_name": service,
            "query.start_time_min": _rfc3339(since - 1),
            "query.start_time_max": _rfc3339(time.time() + 60),
            "query.num_traces": str(limit),
        }
        response = self.http.get("/api/v3/traces", params=params)
        if response.status_code == 404:  # no trace found yet
            return []
        response.raise_for_status()
        return parse_otlp(response.json().get("result", {}))


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int((epoch % 1) * 1e6):06d}Z"


# --- the terminal view ---------------------------------------------------------------------------------------

SHOWN_ATTRIBUTES = (
    "http.route",
    "http.response.status_code",
    "messaging.destination.name",
    "messaging.batch.message_count",
    "db.operation.batch.size",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "error.type",
)


def _summaries(spans: Iterable[StoredSpan]) -> list[dict[str, Any]]:
    traces: dict[str, list[StoredSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    rows = []
    for trace_id, members in traces.items():
        ids = {s.span_id for s in members}
        roots = [s for s in members if s.parent_span_id not in ids] or members
        root = min(roots, key=lambda s: s.start_ns)
        start, end = min(s.start_ns for s in members), max(s.end_ns for s in members)
        rows.append(
            {
                "trace_id": trace_id,
                "start_ns": start,
                "root": f"{root.service}: {root.name}",
                "services": sorted({s.service for s in members}),
                "spans": len(members),
                "ms": (end - start) / 1e6,
            }
        )
    return sorted(rows, key=lambda r: r["start_ns"], reverse=True)


def render_tree(spans: list[StoredSpan]):
    """A rich Tree of one trace: children under parents, in start order; links noted."""
    from rich.tree import Tree

    by_parent: dict[str, list[StoredSpan]] = {}
    ids = {s.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_ns):
        by_parent.setdefault(span.parent_span_id if span.parent_span_id in ids else "", []).append(span)
    start = min((s.start_ns for s in spans), default=0)
    tree = Tree(f"trace {spans[0].trace_id}" if spans else "empty trace")

    def label(span: StoredSpan) -> str:
        shown = " ".join(f"{k}={span.attributes[k]}" for k in SHOWN_ATTRIBUTES if k in span.attributes)
        links = f" [links: {len(span.links)}]" if span.links else ""
        offset = (span.start_ns - start) / 1e6
        return (
            f"[bold]{span.service}[/bold] {span.name} [dim]{span.kind.lower()}[/dim] "
            f"+{offset:.1f} ms {span.duration_ms:.1f} ms {shown}{links}"
        )

    def add(node, parent_id: str) -> None:
        for span in by_parent.get(parent_id, []):
            add(node.add(label(span)), span.span_id)

    add(tree, "")
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="twin traces", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trace_id", nargs="?", help="show this trace as a tree")
    parser.add_argument("--service", help="list the traces that touch this service (default: all services)")
    parser.add_argument("--minutes", type=float, default=60.0, help="how far back to look (default 60)")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--url", default=None, help="the trace store's query URL")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    console = Console()
    store = TraceStore(args.url)
    try:
        if args.trace_id:
            spans = store.trace(args.trace_id)
            if not spans:
                console.print(f"no trace {args.trace_id} in {store.url}")
                return 1
            console.print(render_tree(spans))
            return 0
        services = [args.service] if args.service else store.services()
        since = time.time() - args.minutes * 60
        spans = [s for service in services for s in store.search(service, since, args.limit)]
    except httpx.TransportError as exc:
        console.print(f"the trace store at {store.url} does not answer ({exc}); is the stack up? `make status`")
        return 2
    table = Table(title=f"traces in {store.url}")
    table.add_column("trace id", no_wrap=True)
    for column in ("root span", "services"):
        table.add_column(column)
    for column in ("spans", "ms"):
        table.add_column(column, justify="right")
    for row in _summaries(spans)[: args.limit]:
        table.add_row(row["trace_id"], row["root"], ", ".join(row["services"]), str(row["spans"]), f"{row['ms']:.1f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
