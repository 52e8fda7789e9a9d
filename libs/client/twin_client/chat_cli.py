"""`twin chat`: an interactive session with your twin. Each answer streams in with its numbered citations; earlier
turns go along as the conversation's history. Lines starting with / are commands:

    /good [comment]       rate the last answer as helpful        /bad [comment]   as not helpful
    /correct TEXT         send the corrected answer              /sources         the last answer's sources again
    /route NAME           use another model route                /routes          the routes your key may use
    /reset                forget the conversation                /exit            leave (or Ctrl-D)

Takes the options of `twin ask` (--route, --author, --kind, --tag, --max-tokens, --no-cache, --json). Without a
terminal it reads one line per turn from stdin (scripts, tests); with --json it prints one JSON object per turn.
The typed lines are kept in ~/.cache/twin/chat_history for the arrow keys.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from twin_client.gateway import Answer, GatewayClient, GatewayError
from twin_client.terminal import (
    OK,
    add_options,
    author_ids_or_exit,
    citation_lines,
    collect_answer,
    connect,
    print_json,
    request_body,
    stream_answer,
)

HISTORY_FILE = Path(os.environ.get("TWIN_CACHE_DIR", Path.home() / ".cache" / "twin")) / "chat_history"


def _readline(interactive: bool):
    if not interactive:
        return None
    try:
        import readline
    except ImportError:  # not on every platform
        return None
    try:
        HISTORY_FILE.parent.mkdir(parents=True, exist_ok=True)
        readline.read_history_file(HISTORY_FILE)
    except (FileNotFoundError, OSError):
        pass
    readline.set_history_length(1000)
    return readline


class Session:
    def __init__(self, client: GatewayClient, args, authors: list[str]):
        self.client = client
        self.args = args
        self.authors = authors
        self.turns: list[dict] = []
        self.last: Answer | None = None

    def say(self, text: str) -> None:
        if self.args.json:
            print_json({"notice": text})
        else:
            print(text, flush=True)

    def ask(self, question: str) -> None:
        body = request_body(self.args, question, self.authors, self.turns)
        try:
            if self.args.json:
                answer = collect_answer(self.client, body)
                print_json(answer.as_dict())
            else:
                answer = stream_answer(self.client, body, prefix="twin> ")
        except GatewayError as exc:
            if self.args.json:
                print_json(exc.as_dict())
            else:
                print(f"twin: {exc.explain()}", file=sys.stderr, flush=True)
            return
        self.last = answer
        if not answer.retracted:
            self.turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]

    def command(self, line: str) -> bool:
        """Run a /command; False to leave."""
        name, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        if name in ("exit", "quit", "q"):
            return False
        if name == "reset":
            self.turns, self.last = [], None
            self.say("(conversation forgotten)")
        elif name in ("good", "bad", "correct"):
            self.feedback(name, rest)
        elif name == "sources":
            if self.last and self.last.citations:
                self.say("\n".join(citation_lines(self.last, self.client.base_url)))
            else:
                self.say("(no sources)")
        elif name == "route":
            self.args.route = rest
            self.say(f"(route: {rest or 'the default'})")
        elif name == "routes":
            try:
                routes = self.client.session()["routes"]
            except GatewayError as exc:
                self.say(f"twin: {exc.explain()}")
            else:
                self.say(
                    "\n".join(f"  {r['id']}{' (default)' if r['default'] else ''}  {r['description']}" for r in routes)
                )
        else:
            self.say(__doc__.split("\n\n")[1])
        return True

    def feedback(self, name: str, text: str) -> None:
        if not self.last or not self.last.request_id:
            self.say("(no answer to rate yet)")
            return
        if name == "correct" and not text:
            self.say("(say the corrected answer: /correct TEXT)")
            return
        rating = 1 if name == "good" else -1
        try:
            self.client.feedback(
                self.last.request_id,
                rating,
                comment=text if name != "correct" else "",
                corrected_answer=text if name == "correct" else "",
            )
        except GatewayError as exc:
            self.say(f"twin: {exc.explain()}")
            return
        self.say(f"(feedback sent for request {self.last.request_id})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="twin chat", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_options(parser)
    args = parser.parse_args(argv)
    interactive = sys.stdin.isatty()
    readline = _readline(interactive)
    with connect(args) as client:
        authors = author_ids_or_exit(client, args.author, "twin chat")
        if isinstance(authors, int):
            return authors
        session = Session(client, args, authors)
        if interactive and not args.json:
            print("Chat with your twin. /help lists the commands, /exit or Ctrl-D leaves.")
        try:
            while True:
                try:
                    line = input("you> " if interactive else "")
                except EOFError:
                    break
                line = line.strip()
                if not line:
                    continue
                if line.startswith("/"):
                    if not session.command(line):
                        break
                    continue
                session.ask(line)
        except KeyboardInterrupt:
            print()
        finally:
            if readline is not None:
                try:
                    readline.write_history_file(HISTORY_FILE)
                except OSError:
                    pass
    return OK


if __name__ == "__main__":
    sys.exit(main())
