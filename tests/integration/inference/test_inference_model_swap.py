"""A new version registered under the alias reaches a running server without a failed request."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from twin_common.registry import log_hf_model
from twin_inference_client import InferenceClient, ModelUnavailable

QUERY = "how does the twin learn its author's voice?"
PASSAGES = ["LoRA fine-tuning on the author's posts.", "Kafka topic retention settings.", "A recipe for bread."]


def _local_scores(path) -> list[float]:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(path), device="cpu").predict([(QUERY, p) for p in PASSAGES]).tolist()


def test_rerank_is_loaded_on_registration_and_swapped_under_load(
    inference_server, tiny_cross_encoder, poll_until, publish_registered
):
    client = InferenceClient(inference_server.grpc_url, "grpc", timeout_s=30, retries=0)
    name = inference_server.rerank_name

    # nothing registered: the server runs, twin-rerank is not ready and says why
    assert client.is_ready() and not client.is_ready("twin-rerank")
    with pytest.raises(ModelUnavailable, match="not ready"):
        client.rerank(QUERY, PASSAGES)

    # version 1 registered + event: loaded without a restart (alias poll is 10 min: the event did it)
    first_dir = tiny_cross_encoder(seed=1)
    first = log_hf_model(first_dir, name)
    publish_registered(inference_server.topic, first)
    poll_until(lambda: client.is_ready("twin-rerank"), 60, message="twin-rerank to load version 1")
    scores, version = client.rerank_versioned(QUERY, PASSAGES)
    assert version == first.version == "1"
    np.testing.assert_allclose(scores, _local_scores(first_dir), atol=1e-5)

    # version 2 while requests keep flowing on four threads: every request succeeds, version changes
    seen: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def load() -> None:
        own = InferenceClient(inference_server.http_url, "http", timeout_s=30, retries=0)
        while not stop.is_set():
            try:
                seen.append(own.rerank_versioned(QUERY, PASSAGES)[1])
            except BaseException as exc:  # any failure during the swap fails the test
                failures.append(exc)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        second_dir = tiny_cross_encoder(seed=2)
        second = log_hf_model(second_dir, name)
        publish_registered(inference_server.topic, second)
        poll_until(lambda: "2" in seen[-20:] and seen[-1] == "2", 60, message="responses from version 2")
        requests_after_swap = len(seen)
        poll_until(lambda: len(seen) >= requests_after_swap + 20, 30, message="more requests on version 2")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert failures == []
    assert seen[0] == "1" and set(seen) == {"1", "2"}
    assert seen.index("2") > 0 and "1" not in seen[seen.index("2") + 8 :]  # no flapping back
    scores, version = client.rerank_versioned(QUERY, PASSAGES)
    assert version == "2"
    np.testing.assert_allclose(scores, _local_scores(second_dir), atol=1e-5)
    assert not np.allclose(_local_scores(first_dir), _local_scores(second_dir))
