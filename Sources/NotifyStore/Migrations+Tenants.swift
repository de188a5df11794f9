import Postgres

extension Migrations {
    /// Versions 18 on: products' templates, tenants' recipients, digests, quotas, retention, key lineage, the claim
    /// sweep. Split from `all` only to keep each file readable; `all` is the one ordered list.
    static let laterMigrations: [PGMigration] = [
        PGMigration(version: 18, name: "product templates", sql: """
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
        PGMigration(version: 19, name: "recipients' quiet hours", sql: """
            -- A daily window, {start, end} as "HH:MM" in the recipient's timezone (QuietHours); NULL for none.
            ALTER TABLE recipients ADD COLUMN quiet_hours jsonb;
            """),
        PGMigration(version: 20, name: "digests", sql: """
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
        PGMigration(version: 21, name: "tenants' in-app messages", sql: """
            -- ListMessages pages a tenant's in-app notifications with its deliveries, newest first.
            CREATE INDEX notifications_in_app_by_tenant ON notifications (product_id, created_at DESC, id DESC)
                WHERE product_id IS NOT NULL AND 'in-app' = ANY(channels);
            """),
        PGMigration(version: 22, name: "tenants' own quotas", sql: """
            -- A product's or an organisation's own send quota (SendQuota); NULL for the deployment's.
            ALTER TABLE products ADD COLUMN quota_per_second integer, ADD COLUMN quota_burst integer;
            ALTER TABLE organizations ADD COLUMN quota_per_second integer, ADD COLUMN quota_burst integer;
            """),
        PGMigration(version: 23, name: "retention", sql: """
            -- The retention job finds old deduplication rows by time (RetentionStore); rows arrive in time order, so a
            -- BRIN index is enough and costs ingestion next to nothing.
            CREATE INDEX inbox_by_time ON inbox USING brin (received_at);
            """),
        PGMigration(version: 24, name: "key lineage", sql: """
            -- Which key issued each key (NULL: the admin), and whether it did so in its grace after a rotation: revoking
            -- a key revokes what it minted in its grace, and what those keys minted (TenantStore.revoke).
            ALTER TABLE api_keys ADD COLUMN issued_by text, ADD COLUMN issued_in_grace boolean NOT NULL DEFAULT false;
            CREATE INDEX api_keys_by_issuer ON api_keys (issued_by) WHERE issued_by IS NOT NULL;
            """),
        PGMigration(version: 25, name: "jobs kept for abandoned claims", sql: """
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
    ]
}
