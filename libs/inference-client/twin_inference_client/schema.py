"""The V2 tensor contract of the twin models, shared by the KServe servers, the Triton repository and
the client (no tritonclient / kserve import here).

Every model takes a leading batch dimension (-1), as Triton does with max_batch_size > 0:
- twin-embed:  text BYTES [-1, 1]  ->  embedding FP32 [-1, dim]
- twin-rerank: query BYTES [-1, 1], passage BYTES [-1, 1] (pairwise)  ->  score FP32 [-1, 1]
- twin-llm:    text_input BYTES [-1, 1] (a prompt) or messages BYTES [-1, 1] (JSON chat messages),
               optional sampling_parameters BYTES [-1, 1] (JSON of GenerationParams)
               ->  text_output BYTES [-1, 1], finish_reason BYTES [-1, 1],
                   prompt_tokens INT32 [-1, 1], completion_tokens INT32 [-1, 1]
The loaded model version is the response's `model_version`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

EMBED_MODEL = "twin-embed"
RERANK_MODEL = "twin-rerank"
LLM_MODEL = "twin-llm"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str  # V2 datatype: BYTES, FP32, INT32
    shape: tuple[int, ...]
    optional: bool = False

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class ModelSchema:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


EMBED_DIM = 384  # all-MiniLM-L6-v2; a registered embedder may differ (the server reports its own)

EMBED_SCHEMA = ModelSchema(
    EMBED_MODEL,
    inputs=(TensorSpec("text", "BYTES", (-1, 1)),),
    outputs=(TensorSpec("embedding", "FP32", (-1, -1)),),
)
RERANK_SCHEMA = ModelSchema(
    RERANK_MODEL,
    inputs=(TensorSpec("query", "BYTES", (-1, 1)), TensorSpec("passage", "BYTES", (-1, 1))),
    outputs=(TensorSpec("score", "FP32", (-1, 1)),),
)
LLM_SCHEMA = ModelSchema(
    LLM_MODEL,
    inputs=(
        TensorSpec("text_input", "BYTES", (-1, 1), optional=True),
        TensorSpec("messages", "BYTES", (-1, 1), optional=True),
        TensorSpec("sampling_parameters", "BYTES", (-1, 1), optional=True),
    ),
    outputs=(
        TensorSpec("text_output", "BYTES", (-1, 1)),
        TensorSpec("finish_reason", "BYTES", (-1, 1)),
        TensorSpec("prompt_tokens", "INT32", (-1, 1)),
        TensorSpec("completion_tokens", "INT32", (-1, 1)),
    ),
)
SCHEMAS = {s.name: s for s in (EMBED_SCHEMA, RERANK_SCHEMA, LLM_SCHEMA)}


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters of one generation (sent as the JSON `sampling_parameters` input).

    temperature 0 means greedy decoding.
    """

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return json.dumps(data)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> GenerationParams:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown sampling parameters {sorted(unknown)}")
        values = dict(data)
        if "stop" in values:
            stop = values["stop"]
            values["stop"] = (stop,) if isinstance(stop, str) else tuple(stop or ())
        return cls(**values)


@dataclass(frozen=True)
class Generation:
    """A finished generation."""

    text: str
    finish_reason: str  # "stop" (end of sequence or a stop string) or "length" (max_tokens reached)
    prompt_tokens: int
    completion_tokens: int
    model_version: str | None


@dataclass(frozen=True)
class StreamChunk:
    """One streamed piece of a generation; the last one has a finish_reason and the token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
