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
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


MAX_STOP_SEQUENCES = 8
MAX_SEED = 2**63 - 1


class InvalidGenerationParams(ValueError):
    """Sampling parameters that are not acceptable; the message names each field (`sampling_parameters.<field>`)."""


class GenerationParams(BaseModel):
    """Sampling parameters of one generation (sent as the JSON `sampling_parameters` input).

    One typed model for the client, the KServe server and the Triton model: strict types (no "5" for 5, no
    1.5 for an integer, no null for a number), finite numbers and bounds that hold for every model; the
    server adds its own limit on max_tokens. temperature 0 means greedy decoding.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0, allow_inf_nan=False)
    top_p: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    top_k: int = Field(0, ge=0)
    stop: tuple[str, ...] = Field((), max_length=MAX_STOP_SEQUENCES)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_sequences(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            return tuple(value)
        return () if value is None else value

    @field_validator("stop")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s for s in value):
            raise ValueError("stop sequences must be non-empty strings")
        return value

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidGenerationParams(describe(exc)) from None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> GenerationParams:
        if not isinstance(data, dict):
            raise InvalidGenerationParams("sampling_parameters must be a JSON object")
        unknown = set(data) - set(cls.model_fields)
        if unknown:
            raise InvalidGenerationParams(f"unknown sampling parameters {sorted(unknown)}")
        return cls(**data)


def describe(error: ValidationError, prefix: str = "sampling_parameters") -> str:
    """One line per problem, each naming its field: `sampling_parameters.top_k: Input should be a valid integer`."""
    parts = []
    for e in error.errors(include_url=False):
        field = ".".join(str(p) for p in (prefix, *e["loc"]))
        parts.append(f"{field}: {e['msg']}")
    return "; ".join(parts)


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
