"""The demos as end-to-end tests.

`make demo` (scripts/demo.py): the sample corpus goes in through the gateway, becomes searchable, and comes back
as streamed, cited answers over REST and through the openai SDK; an edit is cited, a delete no longer is, a
revoked key is refused.

`make demo-cdc` (scripts/demo_cdc.py): sample documents go in through `twin ingest`, travel through Debezium and
Kafka, are indexed, and come back as cited search hits; an edit and a delete propagate.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_product_demo_through_the_gateway(platform_stack):
    result = _run("demo.py")
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-3000:]
    sent = int(re.search(r"(\d+) documents sent", out).group(1))
    assert sent >= 30  # 10 articles, 16 posts, 6 notes, 5 code files
    assert re.search(r"\d+ documents searchable", out)
    rest, sdk = out.split("== 4.")[1].split("== 5.")
    assert re.search(r"\n  \[1\] ", rest) and "first token after" in rest  # a streamed, cited answer
    assert "chat.completions.create" in sdk and re.search(r"\n  \[1\] ", sdk)
    assert "cites the edited note with the new sentence: True" in out
    assert "cites the deleted note: False" in out
    assert "with the revoked key: HTTP 401" in out
    assert re.fullmatch(r"the web app: http://127\.0\.0\.1:\d+/app/", out.strip().splitlines()[-1])  # its last word


def test_cdc_walkthrough_documents_in_through_ingest_come_back_as_cited_hits(local_stack):
    result = _run("demo_cdc.py")
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    searchable = int(re.search(r"(\d+) chunks searchable", out).group(1))
    assert searchable >= 30  # 10 articles, 16 posts, 6 notes, 5 code files, each at least one chunk
    answers = out.split("Q: ")[1:]
    # each question's best hit is the document written about it
    assert "[1] A quiet winter hive check (article" in answers[1]
    assert re.search(r"\[1\] (test_window\.py|kettle/window\.py) \(repository", answers[2])
    # the update is searchable, the deleted post left no chunk behind
    updated_title = re.search(r"applied [1-9]\d* changes \(update of '([^']+)'", out).group(1)
    assert f"[1] {updated_title} (note" in answers[3]  # only the edited note mentions quokkas
    assert "chunks left for the deleted post: 0" in out
