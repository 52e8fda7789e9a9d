"""`twin ask "question"`: the answer streamed as it is generated, then its numbered citations.

    twin ask "What did I write about winter hives?" [--route R] [--author NAME] [--kind note] [--tag bees]
             [--max-tokens N] [--no-cache] [--json] [--gateway URL]

The key comes from TWIN_API_KEY or `twin login`'s config file. Exit codes: 0 answered, 1 failed, 2 usage,
3 blocked by a guardrail (or the answer retracted), 4 quota reached.
"""

from __future__ import annotations

import argparse
import sys

from twin_client.gateway import GatewayError
from twin_client.terminal import (
    BLOCKED,
    OK,
    add_options,
    author_ids_or_exit,
    collect_answer,
    connect,
    exit_code,
    print_json,
    request_body,
    stream_answer,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="twin ask", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("question", nargs="+", help="the question (several words need no quotes)")
    add_options(parser)
    args = parser.parse_args(argv)
    question = " ".join(args.question).strip()
    if not question:
        parser.error("the question is empty")
    with connect(args) as client:
        authors = author_ids_or_exit(client, args.author, "twin ask")
        if isinstance(authors, int):
            return authors
        body = request_body(args, question, authors, [])
        try:
            if args.json:
                answer = collect_answer(client, body)
                print_json(answer.as_dict())
            else:
                answer = stream_answer(client, body)
        except GatewayError as exc:
            if args.json:
                print_json(exc.as_dict())
            print(f"twin ask: {exc.explain()}", file=sys.stderr)
            return exit_code(exc)
    return BLOCKED if answer.retracted else OK


if __name__ == "__main__":
    sys.exit(main())
