import json

from twin_search.eval.beir import load_beir
from twin_search.eval.harness import evaluate


def write_dataset(root, corpus, queries, qrels):
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": "", "text": v}) for k, v in corpus.items())
    )
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in queries.items()))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in qrels.items())
    )


class FirstDocumentReranker:
    name = "prefers-doc-0"

    def score(self, query, passages):
        return [1.0 if "alpha0" in p else 0.0 for p in passages]


def test_harness_scores_every_config_and_reuses_cached_vectors(tmp_path, embedder):
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    corpus = {
        str(i): f"{w}{i} document about {w} and its neighbours {words[(i + 1) % 10]}" for i, w in enumerate(words)
    }
    queries = {f"q{i}": f"{w}{i} {w}" for i, w in enumerate(words)}
    write_dataset(tmp_path / "ds", corpus, queries, {f"q{i}": str(i) for i in range(10)})
    dataset = load_beir(tmp_path / "ds")

    report = evaluate(dataset, embedder, cache_dir=tmp_path / "cache", heldout_fraction=0.5)
    by_name = {c.name: c for c in report.configs}
    assert set(by_name) == {"bm25", "dense", "hybrid"} and not report.embedded_from_cache
    assert by_name["bm25"].scores["all"]["ndcg@10"] == 1.0  # each query names its document's unique token
    assert 0.0 < by_name["dense"].scores["all"]["recall@100"] <= 1.0
    assert report.queries["all"] == 10 and set(by_name["hybrid"].latency_ms) >= {"total", "dense", "sparse"}
    assert "hybrid" in report.table()

    again = evaluate(
        dataset, embedder, reranker=FirstDocumentReranker(), cache_dir=tmp_path / "cache", heldout_fraction=0.5
    )
    assert again.embedded_from_cache
    by_name = {c.name: c for c in again.configs}
    for name in ("hybrid+rerank", "hybrid+rerank-rrf"):
        assert set(by_name[name].scores) == {"heldout"}  # a learned stage is only scored on heldout queries
        assert "rerank" in by_name[name].latency_ms


def test_expansion_is_its_own_config_next_to_plain_hybrid(tmp_path, embedder):
    corpus = {"1": "bees dance to show the way to flowers", "2": "ants follow scent trails to food"}
    write_dataset(tmp_path / "ds", corpus, {"q1": "waggle", "q2": "pheromone"}, {"q1": "1", "q2": "2"})
    dataset = load_beir(tmp_path / "ds")
    synonyms = {"waggle": ["bees dance"], "pheromone": ["ants scent trails"]}
    report = evaluate(dataset, embedder, heldout_fraction=0.5, expander=lambda q, n: synonyms[q][:n], expansions=1)
    by_name = {c.name: c for c in report.configs}
    assert set(by_name) == {"bm25", "dense", "hybrid", "hybrid+expand1"}
    assert by_name["hybrid+expand1"].scores["all"]["mrr@10"] == 1.0  # the variants name each document's words
    assert "expand" in by_name["hybrid+expand1"].latency_ms and "expand" not in by_name["hybrid"].latency_ms


def test_a_split_without_queries_reports_no_scores_rather_than_nan(tmp_path, embedder):
    write_dataset(
        tmp_path / "ds",
        {"1": "bees dance", "2": "ants follow trails"},
        {"q1": "bees", "q2": "ants"},
        {"q1": "1", "q2": "2"},
    )
    report = evaluate(load_beir(tmp_path / "ds"), embedder, heldout_fraction=0.5)  # both ids hash into 'fit'
    assert report.queries == {"heldout": 0, "all": 2}
    assert all("heldout" not in c.scores and "all" in c.scores for c in report.configs)
    assert "no queries fall in this split" in report.table() and "nan" not in report.table()
