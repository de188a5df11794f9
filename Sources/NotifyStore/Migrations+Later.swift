import Postgres

/// Versions 13 on: tenants, their keys and sends, templates, digests, quotas, retention and everything since
/// (`Migrations.all` runs them after `first`). Never edit a released migration: add a new one at the end of this list.
extension Migrations {
    static let later: [PGMigration] = [
        PGMigration(
            version: 13, name: "tenants, api keys and the audit trail",
            sql: """
                -- Products and their organisations (the send API's tenants). Deactivating a product deactivates its
                -- organisations in the same transaction.
                CREATE TABLE products (
                    id         uuid        PRIMARY KEY,
                    name       text        NOT NULL,
                    active     boolean     NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE TABLE organizations (
                    id         uuid        PRIMARY KEY,
                    product_id uuid        NOT NULL REFERENCES products (id),
                    name       text        NOT NULL,
                    active     boolean     NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX organizations_by_product ON organizations (product_id, created_at);
                -- API keys: the public id and the SHA-256 of the whole key, never the key. A product's key has no
                -- organization_id; a service key (FlowMart's own services) has neither. A rotated key works until
                -- expires_at; a revoked one not at all. Rows are kept (the audit trail names them).
                CREATE TABLE api_keys (
                    id              text        PRIMARY KEY,
                    key_hash        text        NOT NULL,
                    scopes          text[]      NOT NULL,
                    product_id      uuid        REFERENCES products (id),
                    organization_id uuid        REFERENCES organizations (id),
                    name            text,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    expires_at      timestamptz,
                    revoked_at      timestamptz,
                    replaced_by     text
                );
                CREATE INDEX api_keys_by_product ON api_keys (product_id);
                -- The audit trail: append-only (a trigger refuses updates; rows leave only by the retention job), written
                -- in the transaction of what it records. Never a secret or a message body.
                CREATE TABLE audit_events (
                    id              bigserial   PRIMARY KEY,
                    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
                    actor           text        NOT NULL,
                    product_id      uuid,
                    organization_id uuid,
                    entity          text        NOT NULL,
                    action          text        NOT NULL,
                    outcome         text        NOT NULL,
                    request_id      text,
                    detail          text
                );
                CREATE INDEX audit_events_by_entity ON audit_events (entity, id);
                CREATE INDEX audit_events_by_actor ON audit_events (actor, id);
                CREATE INDEX audit_events_by_product ON audit_events (product_id, id);
                CREATE INDEX audit_events_by_time ON audit_events (at);
                CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;
                CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
                    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
                -- Whose a notification and its deliveries are: NULL for FlowMart's own events, a product (and an
                -- organisation) for the send API. Tracking by a tenant's key reads only its own.
                ALTER TABLE notifications ADD COLUMN product_id uuid, ADD COLUMN organization_id uuid;
                ALTER TABLE deliveries ADD COLUMN product_id uuid, ADD COLUMN organization_id uuid;
                """),
        PGMigration(
            version: 14, name: "tenants' recipients, send requests, the inbox without tenants",
            sql: """
                -- Each tenant has a recipient directory of its own: a product's "u-1" is not FlowMart's "u-1". FlowMart's
                -- users are in the all-zero namespace (Tenant.flowMart); a tenant's in its organisation's id, else its
                -- product's.
                ALTER TABLE recipients ADD COLUMN namespace uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
                ALTER TABLE recipients DROP CONSTRAINT recipients_pkey;
                ALTER TABLE recipients ADD PRIMARY KEY (namespace, user_id);
                -- Accepted send requests (SendNotification, SendBatch): the idempotency key and a hash of the request
                -- that used it (same body: 208 with the first request's id; another body: 409), kept for the
                -- configured window (send.idempotencyHours).
                CREATE TABLE send_requests (
                    id              uuid        PRIMARY KEY,
                    namespace       uuid        NOT NULL,
                    product_id      uuid        NOT NULL,
                    organization_id uuid,
                    sender          text        NOT NULL,
                    idempotency_key text,
                    body_hash       text        NOT NULL,
                    category        text        NOT NULL,
                    lane            text        NOT NULL,
                    notifications   integer     NOT NULL,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    cancelled_at    timestamptz
                );
                CREATE UNIQUE INDEX send_requests_by_key ON send_requests (namespace, idempotency_key);
                ALTER TABLE notifications ADD COLUMN request_id uuid;
                CREATE INDEX notifications_by_request ON notifications (request_id) WHERE request_id IS NOT NULL;
                -- ListMessages: a tenant's deliveries, newest first (FlowMart's own are those of no product).
                CREATE INDEX deliveries_by_tenant ON deliveries (product_id, created_at DESC, id DESC);
                -- The inbox (GetUserNotifications and friends) is FlowMart's users': tenants' notifications are not in it,
                -- and not in its indexes.
                DROP INDEX notifications_by_user;
                DROP INDEX notifications_unread_by_user;
                CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC, id DESC) WHERE product_id IS NULL;
                CREATE INDEX notifications_unread_by_user ON notifications (user_id, created_at DESC, id DESC)
                    WHERE read_at IS NULL AND product_id IS NULL;
                """),
        PGMigration(
            version: 15, name: "scheduled sends",
            sql: """
                -- The delivery jobs of sends with a scheduledAt, held out of the outbox until they are due (the relay's
                -- rounds never scan them); released into the outbox by any daemon, each once (OutboxStore.releaseDue).
                CREATE TABLE scheduled_jobs (
                    delivery_id    uuid        PRIMARY KEY,
                    due_at         timestamptz NOT NULL,
                    message_id     text        NOT NULL,
                    exchange       text        NOT NULL,
                    routing_key    text        NOT NULL,
                    type           text        NOT NULL,
                    version        text        NOT NULL,
                    correlation_id text,
                    body           text        NOT NULL,
                    priority       smallint    NOT NULL
                );
                CREATE INDEX scheduled_jobs_due ON scheduled_jobs (due_at);
                """),
        PGMigration(
            version: 16, name: "tenants' in-app inboxes",
            sql: """
                -- A tenant's users read the notifications it sent in-app (GetUserNotifications with its key).
                CREATE INDEX notifications_tenant_inbox ON notifications (product_id, user_id, created_at DESC, id DESC)
                    WHERE product_id IS NOT NULL AND 'in-app' = ANY(channels);
                """),
        PGMigration(
            version: 17, name: "recipients' opt-outs",
            sql: """
                -- What a user asked not to be sent, [{channel, category}] (OptOut); NULL for none.
                ALTER TABLE recipients ADD COLUMN opt_outs jsonb;
                """),
        PGMigration(
            version: 18, name: "product templates",
            sql: """
                -- Every version of a product's templates (PublishTemplate), as their owner wrote them (ProductTemplate's
                -- JSON); never changed or deleted, so a rollback has what it returns to.
                CREATE TABLE template_versions (
                    product_id uuid        NOT NULL REFERENCES products (id),
                    name       text        NOT NULL,
                    version    integer     NOT NULL,
                    definition text        NOT NULL,
                    hash       text        NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    created_by text        NOT NULL,
                    PRIMARY KEY (product_id, name, version)
                );
                -- Which version of each template sends use. Daemons cache compiled templates and ask for live_version
                -- again once a second, so a publish or a rollback reaches every daemon within a second.
                CREATE TABLE templates (
                    product_id   uuid        NOT NULL,
                    name         text        NOT NULL,
                    live_version integer     NOT NULL,
                    updated_at   timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (product_id, name),
                    FOREIGN KEY (product_id, name, live_version) REFERENCES template_versions (product_id, name, version)
                );
                """),
        PGMigration(
            version: 19, name: "recipients' quiet hours",
            sql: """
                -- A daily window, {start, end} as "HH:MM" in the recipient's timezone (QuietHours); NULL for none.
                ALTER TABLE recipients ADD COLUMN quiet_hours jsonb;
                """),
        PGMigration(
            version: 20, name: "digests",
            sql: """
                -- A recipient's notifications of one kind batched into one message per channel (DigestPolicy). A digest
                -- takes items while closed_at is NULL (one open per key); its delivery (notification_id = the digest's
                -- id) waits in scheduled_jobs until due_at, or until max_items are in. The claim that sends it closes
                -- it, and keeps what it said (title, body) for the tracking queries.
                CREATE TABLE digests (
                    id              uuid        PRIMARY KEY,
                    delivery_id     uuid        NOT NULL UNIQUE,
                    namespace       uuid        NOT NULL,
                    product_id      uuid,
                    organization_id uuid,
                    user_id         text        NOT NULL,
                    channel         text        NOT NULL,
                    kind            text        NOT NULL,
                    max_items       integer     NOT NULL,
                    items           integer     NOT NULL DEFAULT 0,
                    opened_at       timestamptz NOT NULL DEFAULT now(),
                    due_at          timestamptz NOT NULL,
                    closed_at       timestamptz,
                    title           text,
                    body            text
                );
                CREATE UNIQUE INDEX digests_open ON digests (namespace, user_id, channel, kind) WHERE closed_at IS NULL;
                -- The digest a batched delivery waits in.
                ALTER TABLE deliveries ADD COLUMN digest_id uuid;
                CREATE INDEX deliveries_by_digest ON deliveries (digest_id) WHERE digest_id IS NOT NULL;
                """),
        PGMigration(
            version: 21, name: "tenants' in-app messages",
            sql: """
                -- ListMessages pages a tenant's in-app notifications with its deliveries, newest first.
                CREATE INDEX notifications_in_app_by_tenant ON notifications (product_id, created_at DESC, id DESC)
                    WHERE product_id IS NOT NULL AND 'in-app' = ANY(channels);
                """),
        PGMigration(
            version: 22, name: "tenants' own quotas",
            sql: """
                -- A product's or an organisation's own send quota (SendQuota); NULL for the deployment's.
                ALTER TABLE products ADD COLUMN quota_per_second integer, ADD COLUMN quota_burst integer;
                ALTER TABLE organizations ADD COLUMN quota_per_second integer, ADD COLUMN quota_burst integer;
                """),
        PGMigration(
            version: 23, name: "retention",
            sql: """
                -- The retention job finds old deduplication rows by time (RetentionStore); rows arrive in time order, so a
                -- BRIN index is enough and costs ingestion next to nothing.
                CREATE INDEX inbox_by_time ON inbox USING brin (received_at);
                """),
        PGMigration(
            version: 24, name: "key lineage",
            sql: """
                -- Which key issued each key (NULL: the admin), and whether it did so in its grace after a rotation: revoking
                -- a key revokes what it minted in its grace, and what those keys minted (TenantStore.revoke).
                ALTER TABLE api_keys ADD COLUMN issued_by text, ADD COLUMN issued_in_grace boolean NOT NULL DEFAULT false;
                CREATE INDEX api_keys_by_issuer ON api_keys (issued_by) WHERE issued_by IS NOT NULL;
                """),
        PGMigration(
            version: 25, name: "jobs kept for abandoned claims",
            sql: """
                -- A delivery job that came back while its delivery was 'sending' under a live claim: acked, but kept here
                -- (the delivery's first such job), so that if the claim was abandoned unreleased the sweeper publishes
                -- it again through the outbox (DeliveryStore.sweep); dropped once the delivery has moved on.
                CREATE TABLE redelivered_jobs (
                    delivery_id    uuid        PRIMARY KEY,
                    message_id     text        NOT NULL,
                    exchange       text        NOT NULL,
                    routing_key    text        NOT NULL,
                    type           text        NOT NULL,
                    version        text        NOT NULL,
                    correlation_id text,
                    body           text        NOT NULL,
                    priority       smallint    NOT NULL,
                    kept_at        timestamptz NOT NULL DEFAULT now()
                );
                """),
        PGMigration(
            version: 26, name: "organisations' messages",
            sql: """
                -- ListMessages for one organisation reads only its own rows, newest first, however many its product has
                -- (the tenant indexes of versions 14 and 21 would read every row of the product to find them). IF NOT EXISTS:
                -- on a large database an operator may build them beforehand with CREATE INDEX CONCURRENTLY, so the
                -- migration does not hold writes to these tables while it builds them.
                CREATE INDEX IF NOT EXISTS deliveries_by_organization ON deliveries (product_id, organization_id, created_at DESC, id DESC)
                    WHERE organization_id IS NOT NULL;
                CREATE INDEX IF NOT EXISTS notifications_in_app_by_organization
                    ON notifications (product_id, organization_id, created_at DESC, id DESC)
                    WHERE product_id IS NOT NULL AND organization_id IS NOT NULL AND 'in-app' = ANY(channels);
                """),
        PGMigration(
            version: 27, name: "refusals counted",
            sql: """
                -- Refusals are written a window at a time, one row per caller and kind with how many there were
                -- (RefusalTally); an anonymous caller's row names the address it came from.
                ALTER TABLE audit_events ADD COLUMN count integer NOT NULL DEFAULT 1, ADD COLUMN client_address text;
                """),
    ]
}
