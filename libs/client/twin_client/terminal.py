"""What `twin ask` and `twin chat` share: their options, the request they build, and how an answer is printed
(streamed to stdout as it is generated, then its numbered citations; notices on stderr)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from twin_client.config import ClientConfig
from twin_client.gateway import Answer, GatewayClient, GatewayError

KINDS = ("article", "post", "note", "repository")
HISTORY_TURNS = 8

# exit codes
OK, FAILED, USAGE, BLOCKED, QUOTA = 0, 1, 2, 3, 4


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--route", default="", help="the model route (`twin chat` lists them with /routes)")
    parser.add_argument("--author", action="append", default=[], help="only this author's material (name or id)")
    parser.add_argument("--kind", action="append", default=[], choices=KINDS, help="only documents of this kind")
    parser.add_argument("--tag", action="append", default=[], help="only documents with this tag")
    parser.add_argument("--max-tokens", type=int, default=0, help="length of the answer (0: the route's default)")
    parser.add_argument("--no-cache", action="store_true", help="a fresh answer, not one from the answer cache")
    parser.add_argument("--json", action="store_true", help="print JSON instead of streamed text")
    parser.add_argument("--gateway", default=None, help="the gateway's address (default: TWIN_GATEWAY_URL, twin login)")


def connect(args) -> GatewayClient:
    config = ClientConfig.load(args.gateway)
    if not config.api_key:
        raise SystemExit(
            "twin: no API key: set TWIN_API_KEY or run `twin login` (keys come from `twin keys create --tenant T`)"
        )
    return GatewayClient(config.gateway_url, config.api_key)


def author_ids_or_exit(client: GatewayClient, names: list[str], prog: str) -> list[str] | int:
    """The --author values as ids, or the exit code after saying why not (an unknown name, a refusal)."""
    try:
        return client.author_ids(names)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    except GatewayError as exc:
        print(f"{prog}: {exc.explain()}", file=sys.stderr)
        return exit_code(exc)


def request_body(args, question: str, author_ids: list[str], history: list[dict]) -> dict:
    filters = {}
    if author_ids:
        filters["author_ids"] = author_ids
    if args.kind:
        filters["kinds"] = list(args.kind)
    if args.tag:
        filters["tags"] = list(args.tag)
    return {
        "question": question,
        "filters": filters,
        "generation": {"max_tokens": args.max_tokens, "model": args.route},
        "bypass_cache": bool(args.no_cache),
        "history": history[-2 * HISTORY_TURNS :],
    }


def citation_lines(answer: Answer, base_url: str) -> list[str]:
    lines = []
    for c in answer.citations:
        where = c.get("url") or f"{base_url}/app/passage?document={c['document_id']}&position={c['position']}"
        lines.append(f"  [{c['number']}] {c.get('title') or 'untitled'} (passage {c['position'] + 1}) {where}")
    return lines


def meta_line(answer: Answer) -> str:
    final = answer.final
    parts = []
    if final.get("model"):
        parts.append(f"model {final['model']}" + (f" v{final['model_version']}" if final.get("model_version") else ""))
    if final.get("route"):
        parts.append(f"route {final['route']}")
    if final.get("cache_hit"):
        parts.append(f"cached answer ({final.get('cache_kind')})")
    parts.append(f"request {answer.request_id}")
    return " · ".join(parts)


def stream_answer(
    client: GatewayClient, body: dict, out: TextIO = sys.stdout, err: TextIO = sys.stderr, prefix: str = ""
) -> Answer:
    """Print the answer as it streams, then its citations; raises GatewayError on a refusal."""
    answer = Answer(body["question"])
    out.write(prefix)
    out.flush()
    for kind, chunk in client.ask_stream(body):
        if kind == "delta":
            answer.text += chunk["delta"]
            out.write(chunk["delta"])
            out.flush()
        else:
            answer.final = chunk
    out.write("\n")
    if answer.retracted:
        rails = ", ".join(g["rail"] for g in answer.final.get("guardrails", []) if g.get("decision") == "retract")
        err.write(f"twin: the answer above was withdrawn by a guardrail ({rails or 'output rail'}): do not use it\n")
    elif answer.citations:
        out.write("Sources:\n" + "\n".join(citation_lines(answer, client.base_url)) + "\n")
    err.write(meta_line(answer) + "\n")
    out.flush()
    err.flush()
    return answer


def collect_answer(client: GatewayClient, body: dict) -> Answer:
    answer = Answer(body["question"])
    for kind, chunk in client.ask_stream(body):
        if kind == "delta":
            answer.text += chunk["delta"]
        else:
            answer.final = chunk
    return answer


def exit_code(error: GatewayError) -> int:
    if error.blocked:
        return BLOCKED
    if error.status == 429:
        return QUOTA
    return FAILED


def print_json(value, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(value, ensure_ascii=False) + "\n")
    out.flush()
