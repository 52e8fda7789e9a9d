"""Model routes as configuration: a YAML file (TWIN_ROUTES_FILE), else one route on the local inference server.

default_route: twin
endpoints:
  local-twin:                 # a name, used in metrics, logs and the breaker
    kind: kserve-grpc         # kserve-grpc (streams) | kserve-http (one piece) | openai (any compatible API)
    url: 127.0.0.1:8106
    model: twin-llm           # the model name at that endpoint
    timeout_s: 30             # the wait for the first token, and for each next one
    breaker: {failures: 5, reset_s: 30}
  hosted:
    kind: openai
    url: https://api.example.com/v1
    model: some-model
    api_key_env: HOSTED_API_KEY   # the environment variable holding its key
routes:
  twin:
    description: the twin, grounded in your writing
    endpoints: [local-twin, hosted]   # primary first, then fallbacks in order
    timeout_s: 120            # the whole answer
    retries: 2                # per endpoint, retryable errors only (unavailable, timeout), with backoff
    max_tokens: 256           # default and ceiling of a request's max_tokens
    temperature: 0.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: int = Field(default=5, ge=1)  # consecutive failures that open the breaker
    reset_s: float = Field(default=30.0, gt=0)  # open this long, then one probe decides (half-open)


class EndpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["kserve-grpc", "kserve-http", "openai"] = "kserve-grpc"
    url: str
    model: str = "twin-llm"
    timeout_s: float = Field(default=30.0, gt=0)
    api_key_env: str | None = None
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)


class RouteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    endpoints: list[str] = Field(min_length=1)
    timeout_s: float = Field(default=120.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=0.1, ge=0)
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0, le=2)


class RoutesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_route: str
    endpoints: dict[str, EndpointConfig]
    routes: dict[str, RouteConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> RoutesConfig:
        if self.default_route not in self.routes:
            raise ValueError(f"default_route {self.default_route!r} is not one of the routes {sorted(self.routes)}")
        for name, route in self.routes.items():
            unknown = [e for e in route.endpoints if e not in self.endpoints]
            if unknown:
                raise ValueError(f"route {name!r} names unknown endpoints {unknown}")
        return self

    @classmethod
    def load(cls, path: Path) -> RoutesConfig:
        return cls.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def single(cls, inference_url: str, route: str = "twin") -> RoutesConfig:
        """The default: one route on the local inference server's twin-llm (V2 gRPC, streamed)."""
        return cls(
            default_route=route,
            endpoints={"local-twin-llm": EndpointConfig(kind="kserve-grpc", url=inference_url, model="twin-llm")},
            routes={route: RouteConfig(description="the twin, grounded in your writing", endpoints=["local-twin-llm"])},
        )
