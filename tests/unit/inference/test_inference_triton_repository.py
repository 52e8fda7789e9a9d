"""The Triton model repository is well-formed and matches the KServe servers' V2 tensor contract."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from google.protobuf import text_format
from twin_common.settings import repo_root
from twin_inference_client.schema import SCHEMAS

REPOSITORY = repo_root() / "services" / "inference" / "triton"
TRITON_TYPES = {"BYTES": "TYPE_STRING", "FP32": "TYPE_FP32", "INT32": "TYPE_INT32"}


def _config(name: str):
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse((REPOSITORY / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def test_repository_holds_exactly_the_served_models():
    assert sorted(p.name for p in REPOSITORY.iterdir() if p.is_dir()) == sorted(SCHEMAS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_config_matches_the_v2_schema(name):
    from tritonclient.grpc import model_config_pb2

    config = _config(name)
    schema = SCHEMAS[name]
    assert config.name == name and config.backend == "python"
    assert config.max_batch_size >= 1  # so the leading -1 of every schema shape is Triton's batch dim
    for is_input, tensors, specs in ((True, config.input, schema.inputs), (False, config.output, schema.outputs)):
        assert [t.name for t in tensors] == [s.name for s in specs]
        for tensor, spec in zip(tensors, specs, strict=True):
            assert model_config_pb2.DataType.Name(tensor.data_type) == TRITON_TYPES[spec.datatype]
            assert list(tensor.dims) == list(spec.shape[1:])
            if is_input:
                assert tensor.optional == spec.optional
    assert all(g.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU for g in config.instance_group)
    assert "MODEL_DIR" in config.parameters


@pytest.mark.parametrize("name", ["twin-embed", "twin-rerank"])
def test_encoders_batch_dynamically(name):
    config = _config(name)
    assert config.HasField("dynamic_batching")
    assert 0 < config.dynamic_batching.max_queue_delay_microseconds <= 10_000
    assert all(size <= config.max_batch_size for size in config.dynamic_batching.preferred_batch_size)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_python_backend_defines_the_model_class_and_only_schema_outputs(name):
    source = (REPOSITORY / name / "1" / "model.py").read_text()
    tree = ast.parse(source)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    assert {"initialize", "execute"} <= {
        f.name for f in classes["TritonPythonModel"].body if isinstance(f, ast.FunctionDef)
    }
    produced = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "Tensor"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert produced == {s.name for s in SCHEMAS[name].outputs}
    assert Path(REPOSITORY / name / "config.pbtxt").exists()
