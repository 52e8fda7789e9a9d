"""The MLflow model-format contract: Hugging Face model directories as registered pyfunc models.

A trainer logs a Hugging Face-style directory (tokenizer + weights, a sentence-transformers model, a
CrossEncoder, or any of these with a PEFT LoRA adapter inside) with `log_hf_model`; the directory travels
unchanged inside the pyfunc model's `artifacts` (key `HF_ARTIFACT_KEY`), the version is registered under a
name and an alias is pointed at it. Servers find it again with `resolve_alias` / `download_hf_model`.

The task of the directory (`text-generation`, `embedding`, `rerank`) is detected from its files and kept
as the model-version tag `TASK_TAG`, so a consumer can check it is loading the right kind of model.

mlflow is imported inside the functions: importing this module stays cheap for services that only need
the dataclass.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin_common.settings import MlflowSettings

HF_ARTIFACT_KEY = "hf_model"
MODEL_ARTIFACT_PATH = "model"
TASK_TAG = "twin.task"
TASKS = ("text-generation", "embedding", "rerank")
DEFAULT_PIP_REQUIREMENTS = ["transformers", "torch", "sentence-transformers", "peft"]


class RegistryError(RuntimeError):
    """A registry lookup or download failed (unknown name or alias, malformed model)."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version: what a server loaded and reports in every response."""

    name: str
    version: str
    run_id: str | None
    source: str
    alias: str | None = None
    task: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def default_cache_dir() -> Path:
    """Where downloaded model versions are kept (one copy per name and version on a machine)."""
    return Path(os.environ.get("TWIN_MODEL_CACHE", Path.home() / ".cache" / "twin" / "mlflow"))


def detect_task(local_dir: str | Path) -> str:
    """`text-generation`, `embedding` or `rerank`, from the files of a Hugging Face-style directory."""
    root = Path(local_dir)
    config = _read_json(root / "config.json")
    if config is None and (root / "adapter_config.json").exists():
        return "text-generation"  # a bare LoRA adapter for a causal LM
    if config is None:
        raise RegistryError(f"{root} is not a Hugging Face model directory (no config.json)")
    architectures = config.get("architectures") or []
    if any(a.endswith("ForCausalLM") for a in architectures):
        return "text-generation"
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "rerank"
    if (root / "modules.json").exists() or (root / "config_sentence_transformers.json").exists():
        return "embedding"
    raise RegistryError(f"cannot tell the task of {root}: architectures={architectures}")


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _client(tracking_uri: str | None):
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or MlflowSettings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _info(mv, alias: str | None = None) -> ModelVersionInfo:
    return ModelVersionInfo(
        name=mv.name,
        version=str(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        alias=alias,
        task=(mv.tags or {}).get(TASK_TAG),
    )


def _hf_python_model():
    """The pyfunc wrapper class (defined lazily: mlflow is imported only when a model is logged/loaded)."""
    import mlflow.pyfunc

    class HfDirectoryModel(mlflow.pyfunc.PythonModel):
        """Predicts with the Hugging Face directory in its artifacts, by task.

        embedding: list[str] -> list[list[float]]; rerank: list[[query, passage]] -> list[float];
        text-generation: list[str] -> list[str] (greedy, short). Serving uses twin_inference instead;
        this keeps `mlflow.pyfunc.load_model(...).predict(...)` meaningful for evaluation.
        """

        def load_context(self, context):
            self.path = context.artifacts[HF_ARTIFACT_KEY]
            self.task = (context.model_config or {}).get("task") or detect_task(self.path)
            self._model = None

        def predict(self, context, model_input, params=None):
            rows = model_input.iloc[:, 0].tolist() if hasattr(model_input, "iloc") else list(model_input)
            if self.task == "embedding":
                from sentence_transformers import SentenceTransformer

                self._model = self._model or SentenceTransformer(self.path, device="cpu")
                return self._model.encode(rows).tolist()
            if self.task == "rerank":
                from sentence_transformers import CrossEncoder

                self._model = self._model or CrossEncoder(self.path, device="cpu")
                return self._model.predict([tuple(r) for r in rows]).tolist()
            from transformers import pipeline

            self._model = self._model or pipeline("text-generation", model=self.path, device="cpu")
            max_new = int((params or {}).get("max_new_tokens", 32))
            out = self._model(rows, max_new_tokens=max_new, do_sample=False, return_full_text=False)
            return [o[0]["generated_text"] for o in out]

    return HfDirectoryModel()


def log_hf_model(
    local_dir: str | Path,
    registered_name: str,
    *,
    alias: str | None = "champion",
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    pip_requirements: list[str] | None = None,
    task: str | None = None,
    tracking_uri: str | None = None,
    signature=None,
) -> ModelVersionInfo:
    """Log a Hugging Face-style directory as a pyfunc model, register it, and point `alias` at it.

    Uses the active MLflow run when there is one (the caller's tracking URI), else starts a run on
    `tracking_uri` (default: MlflowSettings). Returns the new version. `alias=None` registers without
    moving any alias. `signature`: the MLflow ModelSignature of the model's inputs and outputs.
    """
    import mlflow

    root = Path(local_dir)
    if not root.is_dir():
        raise RegistryError(f"model directory {root} does not exist")
    task = task or detect_task(root)
    if task not in TASKS:
        raise RegistryError(f"unknown task {task!r}; expected one of {TASKS}")

    started_here = mlflow.active_run() is None
    if started_here:
        uri = tracking_uri or MlflowSettings().tracking_uri
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        run = mlflow.start_run(run_name=f"log-{registered_name}")
    else:
        run = mlflow.active_run()
    try:
        if params:
            mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics(metrics)
        if tags:
            mlflow.set_tags(tags)
        model_info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_PATH,
            python_model=_hf_python_model(),
            artifacts={HF_ARTIFACT_KEY: str(root)},
            pip_requirements=pip_requirements or DEFAULT_PIP_REQUIREMENTS,
            model_config={"task": task},
            registered_model_name=registered_name,
            signature=signature,
        )
    finally:
        if started_here:
            mlflow.end_run()

    client = _client(mlflow.get_registry_uri())
    version = str(model_info.registered_model_version)
    client.set_model_version_tag(registered_name, version, TASK_TAG, task)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(registered_name, version, key, str(value))
    if alias:
        client.set_registered_model_alias(registered_name, alias, version)
    mv = client.get_model_version(registered_name, version)
    if mv.run_id is None and run is not None:
        mv.run_id = run.info.run_id  # pragma: no cover - MLflow always records it; belt and braces
    return _info(mv, alias)


def resolve_alias(name: str, alias: str, *, tracking_uri: str | None = None) -> ModelVersionInfo:
    """The version an alias points at now (raises RegistryError when the name or alias is unknown)."""
    try:
        mv = _client(tracking_uri).get_model_version_by_alias(name, alias)
    except Exception as exc:  # MlflowException(RESOURCE_DOES_NOT_EXIST) or a transport error
        raise RegistryError(f"cannot resolve models:/{name}@{alias}: {exc}") from exc
    return _info(mv, alias)


def download_hf_model(
    name: str,
    alias: str,
    *,
    tracking_uri: str | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[Path, ModelVersionInfo]:
    """Resolve `name@alias` and return (local Hugging Face directory, version).

    Each version is downloaded once into `cache_dir/<name>/<version>` (written to a temporary folder
    and renamed into place, so concurrent processes never see half a model).
    """
    info = resolve_alias(name, alias, tracking_uri=tracking_uri)
    return download_version(info, tracking_uri=tracking_uri, cache_dir=cache_dir), info


def download_version(
    info: ModelVersionInfo, *, tracking_uri: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """The local Hugging Face directory of one registered version (downloaded once, then cached)."""
    import mlflow.artifacts
    from mlflow.models import Model

    uri = tracking_uri or MlflowSettings().tracking_uri
    target = Path(cache_dir or default_cache_dir()) / info.name / info.version
    if not (target / "MLmodel").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{info.version}-{uuid.uuid4().hex[:6]}-", dir=target.parent))
        try:
            # the storage location of the version, so the download needs no process-global registry URI
            location = _client(uri).get_model_version_download_uri(info.name, info.version)
            downloaded = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(staging), tracking_uri=uri)
            )
            if not (downloaded / "MLmodel").exists():
                raise RegistryError(f"{info.uri} has no MLmodel file at {location}")
            try:
                downloaded.rename(target)
            except OSError:  # another process finished first
                if not (target / "MLmodel").exists():
                    raise
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(f"cannot download {info.uri}: {exc}") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    flavor = Model.load(str(target / "MLmodel")).flavors.get("python_function", {})
    artifact = (flavor.get("artifacts") or {}).get(HF_ARTIFACT_KEY)
    if not artifact:
        raise RegistryError(f"{info.uri} is not a twin HF model (no '{HF_ARTIFACT_KEY}' artifact)")
    path = target / artifact["path"]
    if not path.exists():
        raise RegistryError(f"{info.uri}: artifact {artifact['path']} missing from the download")
    return path
