"""Write the Federalist essays as ingest JSONL, one file per author, so they go in like any author's material:

    .venv/bin/python scripts/federalist_jsonl.py --out ~/.cache/twin/federalist
    twin ingest ~/.cache/twin/federalist/alexander-hamilton.jsonl --author "Alexander Hamilton" --tenant federalist
    twin ingest ~/.cache/twin/federalist/james-madison.jsonl --author "James Madison" --tenant federalist

Source: ../shared/data/federalist/papers.jsonl (see its README). Each essay becomes one article document with the
record shape of twin_ingest.importers.jsonl (id, kind, title, content, language, tags, metadata). The three essays
of Madison with Hamilton (Nos. 18-20) get their own file and author so neither twin's data holds them.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

DEFAULT_SOURCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "federalist" / "papers.jsonl"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def convert(source: Path, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    by_author: dict[str, list[dict]] = {}
    for line in source.read_text().splitlines():
        if not line.strip():
            continue
        paper = json.loads(line)
        by_author.setdefault(paper["author"], []).append(
            {
                "id": paper["id"],
                "kind": "article",
                "title": f"Federalist No. {paper['number']}: {paper['title']}",
                "content": paper["text"],
                "language": "en",
                "tags": ["federalist", "disputed" if paper["disputed_authorship"] else "attributed"],
                "metadata": {"number": paper["number"], "published": paper["published"]},
            }
        )
    for author, records in by_author.items():
        (out / f"{slug(author)}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return {author: len(records) for author, records in by_author.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "twin" / "federalist")
    args = parser.parse_args()
    for author, n in convert(args.source, args.out).items():
        print(f"{n:3d} essays  {args.out / (slug(author) + '.jsonl')}  ({author})")


if __name__ == "__main__":
    main()
