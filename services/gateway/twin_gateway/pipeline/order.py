"""The order of the stages, per operation: the one place to add a stage.

Adding a stage (e.g. the input rails): write `twin_gateway/stages/input_rails.py` with a `Stage` subclass, and
add one line here at its place. The route stage comes before the cache because the cache key needs the route
and the prompt template's version, which the route stage decides (it calls no model: < 0.1 ms).

    ask:  auth -> quota -> [input rails] -> route -> [cache lookup] -> retrieve -> [retrieval rail]
          -> generate (streamed) -> [output rails] -> [cache fill] -> request log
"""

from __future__ import annotations

from twin_gateway.pipeline.context import Operation
from twin_gateway.pipeline.stage import Stage
from twin_gateway.stages.auth import AuthStage
from twin_gateway.stages.documents import DeleteDocumentStage, IngestStage, ListDocumentsStage
from twin_gateway.stages.embed import EmbedStage
from twin_gateway.stages.feedback import FeedbackStage
from twin_gateway.stages.generate import GenerateStage
from twin_gateway.stages.models import ListModelsStage
from twin_gateway.stages.quota import QuotaStage
from twin_gateway.stages.request_log import RequestLogStage
from twin_gateway.stages.retrieve import RetrieveStage
from twin_gateway.stages.route import RouteStage

ORDER: dict[Operation, tuple[type[Stage], ...]] = {
    Operation.ASK: (
        AuthStage,
        QuotaStage,
        # InputRailsStage,
        RouteStage,
        # CacheLookupStage,
        RetrieveStage,
        # RetrievalRailStage,
        GenerateStage,
        # OutputRailsStage,
        # CacheFillStage,
        RequestLogStage,
    ),
    Operation.SEARCH: (AuthStage, QuotaStage, RetrieveStage),
    Operation.INGEST: (AuthStage, QuotaStage, IngestStage),
    Operation.LIST_DOCUMENTS: (AuthStage, QuotaStage, ListDocumentsStage),
    Operation.DELETE_DOCUMENT: (AuthStage, QuotaStage, DeleteDocumentStage),
    Operation.FEEDBACK: (AuthStage, QuotaStage, FeedbackStage),
    Operation.EMBED: (AuthStage, QuotaStage, EmbedStage),
    Operation.LIST_MODELS: (AuthStage, ListModelsStage),
}
