-- Source of truth for the platform: tenants, authors and their documents.
-- The documents columns are the row contract of libs/common/twin_common/documents.py (DocumentRow).
-- REPLICA IDENTITY FULL: Debezium's update and delete events carry the complete `before` image.

CREATE TABLE tenants (
    id          text PRIMARY KEY CHECK (id <> ''),
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE authors (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name <> ''),
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE documents (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    author_id    uuid NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('article', 'post', 'repository', 'note')),
    external_id  text NOT NULL CHECK (external_id <> ''),
    title        text NOT NULL DEFAULT '',
    url          text,
    content      text NOT NULL DEFAULT '',
    language     text,
    tags         text[] NOT NULL DEFAULT '{}',
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    content_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, author_id, external_id)
);

CREATE INDEX documents_tenant_kind ON documents (tenant_id, kind);

ALTER TABLE tenants REPLICA IDENTITY FULL;
ALTER TABLE authors REPLICA IDENTITY FULL;
ALTER TABLE documents REPLICA IDENTITY FULL;
