"""The MLflow model-format contract (twin_common.registry) against the local stack's MLflow server."""

from __future__ import annotations

import pytest
from twin_common.registry import (
    RegistryError,
    detect_task,
    download_hf_model,
    log_hf_model,
    resolve_alias,
)


def test_logged_directory_comes_back_byte_for_byte_under_its_alias(tiny_cross_encoder, registered_model_name, tmp_path):
    source = tiny_cross_encoder(seed=1)
    name = registered_model_name("test-registry-ce")

    logged = log_hf_model(source, name, params={"seed": 1}, metrics={"ndcg": 0.5}, tags={"team": "twin"})

    assert logged.name == name and logged.version == "1" and logged.task == "rerank"
    assert logged.run_id and logged.alias == "champion"
    assert resolve_alias(name, "champion") == logged
    local, info = download_hf_model(name, "champion", cache_dir=tmp_path / "cache")
    assert info == logged
    assert sorted(p.name for p in local.iterdir()) == sorted(p.name for p in source.iterdir())
    assert (local / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert detect_task(local) == "rerank"


def test_alias_moves_to_the_newest_version_and_old_versions_stay_downloadable(
    tiny_cross_encoder, registered_model_name, tmp_path
):
    name = registered_model_name("test-registry-move")
    first = log_hf_model(tiny_cross_encoder(seed=1), name)
    second = log_hf_model(tiny_cross_encoder(seed=2), name, alias="champion")
    staged = log_hf_model(tiny_cross_encoder(seed=3), name, alias="challenger")

    assert (first.version, second.version, staged.version) == ("1", "2", "3")
    assert resolve_alias(name, "champion").version == "2"
    assert resolve_alias(name, "challenger").version == "3"
    local, info = download_hf_model(name, "champion", cache_dir=tmp_path / "cache")
    assert info.version == "2" and local.parent.parent.name == "2"


def test_unknown_alias_is_a_registry_error_naming_the_model(registered_model_name):
    name = registered_model_name("test-registry-missing")
    with pytest.raises(RegistryError, match=name):
        resolve_alias(name, "champion")
