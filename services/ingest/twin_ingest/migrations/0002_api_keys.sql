-- API keys of the gateway: each bound to one tenant, with scopes, allowed routes and its own quotas.
-- Only an HMAC-SHA256 of the key (with a pepper kept outside the database) is stored, never the key itself.
-- Not in the CDC publication (Debezium captures only the source tables listed in twin_cdc.connector).

CREATE TABLE api_keys (
    id                  text PRIMARY KEY CHECK (id ~ '^[a-f0-9]{12}$'),  -- public id, shown in lists and logs
    tenant_id           text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                text NOT NULL DEFAULT '',
    key_hash            bytea NOT NULL,
    scopes              text[] NOT NULL,
    routes              text[] NOT NULL DEFAULT '{}',  -- empty: every route
    requests_per_minute integer CHECK (requests_per_minute > 0),  -- NULL: the gateway's default
    tokens_per_minute   integer CHECK (tokens_per_minute > 0),
    max_concurrent      integer CHECK (max_concurrent > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
