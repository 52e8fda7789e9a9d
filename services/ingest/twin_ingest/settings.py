"""Settings of the ingest service (environment variables TWIN_*; defaults fit the local stack)."""

from pydantic import Field
from twin_common.settings import LOCAL_INGEST_PORT, InternalAuthSettings, PostgresSettings, ServiceSettings

from twin_ingest.url_guard import AddressPolicy, FetchLimits
from twin_ingest.validation import ItemLimits


class IngestSettings(ServiceSettings):
    service_name: str = "twin-ingest"
    http_port: int = LOCAL_INGEST_PORT
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    auth: InternalAuthSettings = Field(default_factory=InternalAuthSettings)  # TWIN_SERVICE_TOKEN
    max_document_bytes: int = 1_000_000
    max_request_bytes: int = 10 * 1024 * 1024  # a larger request body gets 413
    migrate_on_start: bool = True

    # URL ingest: each network operation, the whole fetch of one URL, redirects followed
    fetch_timeout_s: float = 20.0
    fetch_deadline_s: float = 60.0
    fetch_max_redirects: int = 5
    # networks URL ingest may fetch from although they are not public (JSON list of CIDRs, e.g.
    # TWIN_FETCH_ALLOWED_NETWORKS='["10.20.0.0/16"]' for an intranet); loopback, private, link-local and
    # multicast addresses are refused otherwise
    fetch_allowed_networks: list[str] = Field(default_factory=list)

    def dsn(self) -> str:
        return self.postgres.dsn()

    def fetch_policy(self) -> AddressPolicy:
        return AddressPolicy(tuple(self.fetch_allowed_networks))

    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(self.fetch_timeout_s, self.fetch_deadline_s, self.fetch_max_redirects)

    def item_limits(self) -> ItemLimits:
        return ItemLimits()
