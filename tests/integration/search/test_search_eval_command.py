"""`twin eval retrieval` as a user runs it: the installed `twin` command, the entry point registered by
twin-search, the real MiniLM embedder and the embedded Qdrant engine, on a small BEIR folder."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

TWIN = Path(sys.executable).with_name("twin")


def run_twin(*args, cache):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TWIN_CACHE_DIR": str(cache)}
    return subprocess.run([str(TWIN), *args], capture_output=True, text=True, env=env, timeout=300)


def write_beir(root: Path) -> None:
    topics = [
        "kafka consumer offsets",
        "qdrant payload indexes",
        "postgres logical replication",
        "redis online features",
        "mlflow model aliases",
        "debezium change events",
    ]
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as f:
        for i, topic in enumerate(topics):
            f.write(
                json.dumps(
                    {
                        "_id": f"d{i}",
                        "title": topic.title(),
                        "text": f"A note about {topic}. Term{i} explains {topic} in depth.",
                    }
                )
                + "\n"
            )
    with (root / "queries.jsonl").open("w") as f:
        for i, topic in enumerate(topics):
            f.write(json.dumps({"_id": f"q{i}", "text": f"how do {topic} work term{i}"}) + "\n")
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(len(topics)))
    )


def test_twin_eval_retrieval_prints_every_config_and_reports_rerank_skipped(tmp_path):
    write_beir(tmp_path / "ds")
    out = tmp_path / "report.json"
    first = run_twin(
        "eval", "retrieval", "--dataset", str(tmp_path / "ds"), "--json", str(out), cache=tmp_path / "cache"
    )
    assert first.returncode == 0, first.stderr
    assert re.search(r"hybrid\+rerank +skipped: no reranker given", first.stdout)
    report = json.loads(out.read_text())
    assert report["documents"] == 6 and report["queries"]["all"] == 6
    assert set(report["configs"]) == {"bm25", "dense", "hybrid"}
    assert report["rerank_skipped"] and not report["embedded_from_cache"]
    # six distinct topics, each query names its document's unique term: every config ranks it first
    for name, scores in report["configs"].items():
        assert scores["all"]["mrr@10"] == 1.0, (name, scores)
    assert report["latency_ms"]["hybrid"]["total"]["p95"] > 0
    assert list((tmp_path / "cache" / "eval").glob("ds-*.npy")), "chunk vectors were not cached"
    # not a terminal: plain progress lines on stderr, the report alone on stdout
    assert "embedding chunks: started, 6 chunks" in first.stderr
    assert re.search(r"embedding chunks: done, 6 chunks in \d+s \([\d.]+ chunks/s\)", first.stderr)
    assert re.search(r"queries hybrid: done, 6 queries in ", first.stderr)
    assert "embedding chunks" not in first.stdout and "\x1b[" not in first.stderr


def test_twin_eval_retrieval_refuses_a_folder_that_is_not_beir(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_twin("eval", "retrieval", "--dataset", str(tmp_path / "empty"), cache=tmp_path / "cache")
    assert result.returncode == 2
    assert "twin eval:" in result.stderr and "Traceback" not in result.stderr
