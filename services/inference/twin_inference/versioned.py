"""A kserve.Model whose weights come from the MLflow registry by alias and can be swapped while serving.

The loaded backend and its version live in one `Loaded` value that is replaced in a single assignment:
requests already running finish on the old one, new requests use the new one, so a swap never fails
a request. `ready` is false only while nothing is loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kserve
from kserve.errors import ModelNotReady
from twin_common.registry import ModelVersionInfo, RegistryError, download_version, resolve_alias
from twin_inference_client.schema import ModelSchema

log = logging.getLogger(__name__)

BackendLoader = Callable[[Path], Any]
# a local model used while the registry has no version under the alias (None: serve nothing until then)
Fallback = Callable[[], tuple[Path, ModelVersionInfo]] | None


class NotLoaded(ModelNotReady):
    """No version loaded yet (HTTP 503 / gRPC UNAVAILABLE). Adds the `reason` that KServe's gRPC
    interceptor reads (its ModelNotReady lacks it, which turns the answer into an internal error)."""

    @property
    def reason(self) -> str:
        return self.error_msg


@dataclass(frozen=True)
class Loaded:
    backend: Any
    info: ModelVersionInfo


class VersionedModel(kserve.Model):
    schema: ModelSchema

    def __init__(
        self,
        schema: ModelSchema,
        *,
        registered_name: str,
        alias: str,
        load_backend: BackendLoader,
        fallback: Fallback = None,
        tracking_uri: str | None = None,
        cache_dir: Path | None = None,
    ):
        super().__init__(schema.name)
        self.schema = schema
        self.registered_name = registered_name
        self.alias = alias
        self._load_backend = load_backend
        self._fallback = fallback
        self._tracking_uri = tracking_uri
        self._cache_dir = cache_dir
        self._current: Loaded | None = None
        self._refresh_lock = asyncio.Lock()
        self.ready = False

    # --- state --------------------------------------------------------------------------------

    @property
    def current(self) -> Loaded:
        loaded = self._current
        if loaded is None:
            raise NotLoaded(self.name, f"no version of {self.registered_name}@{self.alias} is loaded yet")
        return loaded

    @property
    def version(self) -> str | None:
        return self._current.info.version if self._current else None

    def load(self) -> bool:
        """Called by KServe for a model that is not ready: never blocks (loading happens in refresh)."""
        return self.ready

    def start(self) -> None:
        """KServe's default marks every model ready at server start; ready here means a version is loaded."""
        self.ready = self._current is not None

    def _swap(self, loaded: Loaded) -> None:
        previous = self._current
        self._current = loaded
        self.ready = True
        log.info(
            "serving %s version %s (was %s)",
            self.name,
            loaded.info.version,
            previous.info.version if previous else None,
        )

    # --- loading ------------------------------------------------------------------------------

    def resolve(self) -> ModelVersionInfo | None:
        try:
            return resolve_alias(self.registered_name, self.alias, tracking_uri=self._tracking_uri)
        except RegistryError as exc:
            missing = "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower()
            log.log(logging.INFO if missing else logging.WARNING, "%s: %s", self.name, exc)
            return None

    def load_version(self, info: ModelVersionInfo) -> Loaded:
        path = download_version(info, tracking_uri=self._tracking_uri, cache_dir=self._cache_dir)
        return Loaded(self._load_backend(path), info)

    def initial_load(self, use_registry: bool = True) -> bool:
        """At start: the registry's version under the alias, else the fallback, else nothing. `use_registry=False`
        (the registry did not answer) goes straight to the fallback."""
        info = self.resolve() if use_registry else None
        if info is not None:
            try:
                self._swap(self.load_version(info))
                return True
            except Exception:
                log.exception("%s: cannot load %s; trying the fallback", self.name, info.uri)
        if self._fallback is not None:
            path, fallback_info = self._fallback()
            self._swap(Loaded(self._load_backend(path), fallback_info))
            if not use_registry:
                log.warning(
                    "%s: serving the bundled fallback %s (registry unreachable)", self.name, fallback_info.source
                )
            return True
        log.info("%s: nothing registered under %s@%s; not serving it yet", self.name, self.registered_name, self.alias)
        return False

    async def refresh(self) -> bool:
        """Load the alias's version if it differs from the loaded one; True when a swap happened."""
        async with self._refresh_lock:
            info = await asyncio.to_thread(self.resolve)
            if info is None or (
                self._current is not None
                and self._current.info.version == info.version
                and self._current.info.name == info.name
            ):
                return False
            try:
                loaded = await asyncio.to_thread(self.load_version, info)
            except Exception:
                log.exception("%s: cannot load %s; keeping version %s", self.name, info.uri, self.version)
                return False
            self._swap(loaded)
            return True

    # --- metadata -----------------------------------------------------------------------------

    def get_input_types(self) -> list[dict]:
        return [spec.metadata() for spec in self.schema.inputs]

    def get_output_types(self) -> list[dict]:
        return [spec.metadata() for spec in self.schema.outputs]
