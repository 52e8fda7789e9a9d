"""The demo as an end-to-end test: sample documents go in through `twin ingest`, travel through Debezium and
Kafka, are indexed, and come back as cited search hits; an edit and a delete propagate."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_documents_in_through_ingest_come_back_as_cited_hits_and_changes_propagate():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
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
