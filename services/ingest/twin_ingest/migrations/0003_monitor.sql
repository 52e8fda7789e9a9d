-- The monitor's state (services/monitor): request-log rows grouped into windows per tenant and segment, feedback,
-- the Evidently reports made of them, and the drift alerts they raised. Everything the monitor needs after a restart
-- is here (report files live on the monitor's volume; their paths are recorded below).
-- Not in the CDC publication (Debezium captures only the source tables listed in twin_cdc.connector).

-- A segment is what one reference is kept for: a tenant plus the request fields named by TWIN_SEGMENT_BY
-- (default: the route), e.g. "route=twin". `reference_window_id` is the window current windows are compared with.
CREATE TABLE monitor_segments (
    tenant_id            text NOT NULL CHECK (tenant_id <> ''),
    segment              text NOT NULL,
    reference_window_id  text,
    last_model           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, segment)
);

-- A window: a reference (filled after a reset, or pinned from a closed window) or a current window, which closes
-- when it holds `size_limit` requests or `duration_s` after its first request, whichever comes first.
CREATE TABLE monitor_windows (
    id                   text PRIMARY KEY,
    tenant_id            text NOT NULL,
    segment              text NOT NULL,
    seq                  integer NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('reference', 'current')),
    status               text NOT NULL CHECK (status IN ('open', 'closed')),
    size_limit           integer NOT NULL CHECK (size_limit > 0),
    duration_s           double precision,
    request_count        integer NOT NULL DEFAULT 0,
    opened_at            timestamptz NOT NULL DEFAULT now(),
    first_event_at       timestamptz,
    last_event_at        timestamptz,
    closed_at            timestamptz,
    close_reason         text,  -- count | time | reset | pinned
    reference_id         text REFERENCES monitor_windows (id),  -- what a current window is compared with
    report_status        text NOT NULL DEFAULT 'none'
                         CHECK (report_status IN ('none', 'pending', 'done', 'skipped', 'failed')),
    report_attempts      integer NOT NULL DEFAULT 0,
    report_error         text,
    report_lease_until   timestamptz,  -- a replica building the report holds it until then
    FOREIGN KEY (tenant_id, segment) REFERENCES monitor_segments (tenant_id, segment) ON DELETE CASCADE,
    UNIQUE (tenant_id, segment, seq)
);

-- At most one open window per segment.
CREATE UNIQUE INDEX monitor_windows_one_open ON monitor_windows (tenant_id, segment) WHERE status = 'open';
CREATE INDEX monitor_windows_pending ON monitor_windows (report_status) WHERE report_status = 'pending';

ALTER TABLE monitor_segments
    ADD FOREIGN KEY (reference_window_id) REFERENCES monitor_windows (id) DEFERRABLE INITIALLY DEFERRED;

-- One row per RequestLogged event (idempotent on event_id), in exactly one window.
CREATE TABLE monitor_requests (
    event_id           text PRIMARY KEY,
    request_id         text NOT NULL,
    tenant_id          text NOT NULL,
    segment            text NOT NULL,
    window_id          text NOT NULL REFERENCES monitor_windows (id) ON DELETE CASCADE,
    occurred_at        timestamptz NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    route              text NOT NULL,
    surface            text,
    intent             text,
    model              text,
    model_version      text,
    status             text NOT NULL,
    prompt             text NOT NULL,
    response           text,
    latency_ms         double precision,
    ttft_ms            double precision,
    tpot_ms            double precision,
    prompt_tokens      integer NOT NULL,
    completion_tokens  integer NOT NULL,
    cache_hit          text NOT NULL,
    fallbacks          integer NOT NULL,
    guardrail_outcome  text NOT NULL,  -- the most severe decision of any rail ('none' when no rail ran)
    retrieved_count    integer NOT NULL,
    cited_count        integer NOT NULL,
    query_embedding    bytea,  -- float32 little-endian, dimension = length / 4
    embedding_model    text
);

CREATE INDEX monitor_requests_window ON monitor_requests (window_id);
CREATE INDEX monitor_requests_request ON monitor_requests (tenant_id, request_id);

-- One row per FeedbackGiven event (idempotent on event_id); joined with requests on (tenant_id, request_id).
CREATE TABLE monitor_feedback (
    event_id        text PRIMARY KEY,
    request_id      text NOT NULL,
    tenant_id       text NOT NULL,
    rating          smallint NOT NULL CHECK (rating BETWEEN -1 AND 1),
    has_correction  boolean NOT NULL DEFAULT false,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX monitor_feedback_request ON monitor_feedback (tenant_id, request_id);

-- A report: one Evidently run of a window against its reference (on schedule when the window closes, or on demand).
CREATE TABLE monitor_reports (
    id                   text PRIMARY KEY,
    tenant_id            text NOT NULL,
    segment              text NOT NULL,
    window_id            text NOT NULL REFERENCES monitor_windows (id) ON DELETE CASCADE,
    reference_window_id  text NOT NULL REFERENCES monitor_windows (id) ON DELETE CASCADE,
    trigger              text NOT NULL CHECK (trigger IN ('schedule', 'demand')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    current_rows         integer NOT NULL,
    reference_rows       integer NOT NULL,
    html_path            text NOT NULL,
    json_path            text NOT NULL,
    results              jsonb NOT NULL,  -- [{metric, method, score, threshold, drifted, ...}]
    drifted_count        integer NOT NULL,
    tested_count         integer NOT NULL,
    build_seconds        double precision NOT NULL
);

CREATE INDEX monitor_reports_tenant ON monitor_reports (tenant_id, created_at DESC);

-- Drift alerts: one per metric per window (alert_id is deterministic); an outbox, published to Kafka after commit.
CREATE TABLE monitor_alerts (
    alert_id      text PRIMARY KEY,
    tenant_id     text NOT NULL,
    segment       text NOT NULL,
    window_id     text NOT NULL REFERENCES monitor_windows (id) ON DELETE CASCADE,
    report_id     text NOT NULL REFERENCES monitor_reports (id) ON DELETE CASCADE,
    metric        text NOT NULL,
    event         jsonb NOT NULL,  -- the DriftAlert as published
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE INDEX monitor_alerts_unpublished ON monitor_alerts (created_at) WHERE published_at IS NULL;

-- ModelRegistered events already acted on (a replayed event does not reset the references again).
CREATE TABLE monitor_model_events (
    event_id     text PRIMARY KEY,
    model_name   text NOT NULL,
    version      text NOT NULL,
    alias        text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
