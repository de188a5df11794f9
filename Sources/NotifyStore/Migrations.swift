import Postgres

/// The service's schema, in order. Never edit a released migration: add a new one.
public enum Migrations {
    public static let all: [PGMigration] = [
        PGMigration(version: 1, name: "inbox", sql: """
            -- Deduplication of consumed messages (the inbox pattern): one row per (consumer, message key),
            -- written in the same transaction as the message's effect, so a redelivery changes nothing.
            -- (received_at is for a future retention job; it gets its index together with that job.)
            CREATE TABLE inbox (
                consumer    text        NOT NULL,
                message_key text        NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (consumer, message_key)
            );
            """),
        PGMigration(version: 2, name: "notifications", sql: """
            -- In-app notifications. Inbox pages read (user_id, created_at DESC, id DESC): one index for "all",
            -- a partial one for "unread"; details and mark-read go by primary key.
            CREATE TABLE notifications (
                id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
                user_id          text        NOT NULL,
                type             text        NOT NULL,
                priority         text        NOT NULL,
                channels         text[]      NOT NULL,
                title            text        NOT NULL,
                message          text        NOT NULL,
                metadata         jsonb       NOT NULL DEFAULT '{}',
                source_event_key text        NOT NULL,
                created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
                read_at          timestamptz
            );
            CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC, id DESC);
            CREATE INDEX notifications_unread_by_user ON notifications (user_id, created_at DESC, id DESC)
                WHERE read_at IS NULL;
            """),
        PGMigration(version: 3, name: "stock and outbox", sql: """
            -- Stock per product and warehouse ('' when the events name none), as the latest adjustment set it.
            CREATE TABLE stock_levels (
                product_id     text        NOT NULL,
                warehouse_id   text        NOT NULL,
                quantity       bigint      NOT NULL,
                out_of_stock   boolean     NOT NULL,
                as_of          timestamptz NOT NULL,
                last_event_key text        NOT NULL,
                updated_at     timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (product_id, warehouse_id)
            );
            -- Events to publish, written in the same transaction as the change that causes them (transactional
            -- outbox). The relay leases unsent rows, publishes them with confirms, then marks them sent.
            CREATE TABLE outbox (
                id             bigserial   PRIMARY KEY,
                message_id     text        NOT NULL UNIQUE,
                exchange       text        NOT NULL,
                routing_key    text        NOT NULL,
                type           text        NOT NULL,
                version        text        NOT NULL,
                correlation_id text,
                body           text        NOT NULL,
                created_at     timestamptz NOT NULL DEFAULT now(),
                leased_until   timestamptz,
                attempts       integer     NOT NULL DEFAULT 0,
                sent_at        timestamptz
            );
            CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
            """),
        PGMigration(version: 4, name: "product watches", sql: """
            -- Back-in-stock wishes (WatchProduct): spent, i.e. deleted, by the notification they cause.
            CREATE TABLE product_watches (
                product_id text        NOT NULL,
                user_id    text        NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (product_id, user_id)
            );
            """),
        PGMigration(version: 5, name: "crash journal", sql: """
            -- Redelivered events, journaled before they are processed and deleted once they are settled, so that
            -- events a daemon died holding are recognised when they come back; those are tried one at a time, and
            -- one the daemon also died on alone is parked as poison (see CrashJournal).
            CREATE TABLE crash_journal (
                fingerprint    text        PRIMARY KEY,
                attempts       integer     NOT NULL,
                process        text        NOT NULL,
                alone_attempts integer     NOT NULL DEFAULT 0,
                alone_process  text,
                first_tried    timestamptz NOT NULL DEFAULT now(),
                last_tried     timestamptz NOT NULL DEFAULT now()
            );
            """),
        PGMigration(version: 6, name: "recipients", sql: """
            -- The recipient directory (UpsertRecipient): where and how to reach each user. Addresses are validated
            -- before they get here; DeleteRecipient removes the row (erasure).
            CREATE TABLE recipients (
                user_id     text        PRIMARY KEY,
                email       text,
                phone       text,
                push_tokens jsonb       NOT NULL DEFAULT '[]',
                locale      text,
                timezone    text,
                created_at  timestamptz NOT NULL DEFAULT now(),
                updated_at  timestamptz NOT NULL DEFAULT now()
            );
            """),
        PGMigration(version: 7, name: "deliveries", sql: """
            -- One delivery per channel of each notification that leaves the building (an in-app delivery is the
            -- notification row itself), written in the notification's transaction; its status only moves forward
            -- (NotifyCore/Delivery). The history is append-only: one row per state a delivery entered, with the
            -- attempt and the error's code and class. Addresses are never stored here: a send reads them from the
            -- recipient directory, and keeps only a hash.
            CREATE TABLE deliveries (
                id                  uuid        PRIMARY KEY,
                notification_id     uuid        NOT NULL,
                user_id             text        NOT NULL,
                channel             text        NOT NULL,
                status              text        NOT NULL,
                attempts            integer     NOT NULL DEFAULT 0,
                provider_message_id text,
                address_hash        text,
                last_error_code     text,
                last_error_class    text,
                created_at          timestamptz NOT NULL DEFAULT now(),
                updated_at          timestamptz NOT NULL DEFAULT now(),
                UNIQUE (notification_id, channel)
            );
            CREATE TABLE delivery_history (
                delivery_id uuid        NOT NULL,
                at          timestamptz NOT NULL DEFAULT clock_timestamp(),
                status      text        NOT NULL,
                attempt     integer     NOT NULL DEFAULT 0,
                error_code  text,
                error_class text,
                detail      text
            );
            CREATE INDEX delivery_history_by_delivery ON delivery_history (delivery_id, at);
            """),
        PGMigration(version: 8, name: "delivery pipeline and parked messages", sql: """
            -- Who holds a delivery being sent: the backend pid of the claiming connection. A delivery left
            -- 'sending' by a daemon that died (its connections are gone) can be claimed again at once; one a live
            -- daemon is sending cannot, so a duplicate job never makes a second send in parallel.
            ALTER TABLE deliveries ADD COLUMN claimed_by integer, ADD COLUMN last_error_detail text;
            CREATE INDEX deliveries_by_user ON deliveries (user_id, created_at DESC, id DESC);
            CREATE INDEX deliveries_by_time ON deliveries (created_at DESC, id DESC);
            -- Parked messages, archived from the dead-letter queue (ListParked, RedriveParked, PurgeParked), with
            -- what redrive needs: where the message came from, its properties and its body (not always UTF-8).
            CREATE TABLE parked (
                id          bigserial   PRIMARY KEY,
                kind        text        NOT NULL,
                reason      text        NOT NULL,
                detail      text        NOT NULL,
                exchange    text        NOT NULL,
                routing_key text        NOT NULL,
                delivery_id uuid,
                message_id  text,
                properties  jsonb       NOT NULL,
                body        bytea       NOT NULL,
                parked_at   timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX parked_by_reason ON parked (reason, id);
            -- A redriven message goes out through the outbox with its own properties and body. The relay takes
            -- rows by priority (0 high-lane jobs, 1 events and normal, 2 low), then in order.
            ALTER TABLE outbox ADD COLUMN properties jsonb, ADD COLUMN raw_body bytea, ADD COLUMN priority smallint NOT NULL DEFAULT 1;
            DROP INDEX outbox_unsent;
            CREATE INDEX outbox_unsent ON outbox (priority, id) WHERE sent_at IS NULL;
            """),
        PGMigration(version: 9, name: "outbox rows deleted once published; room for in-place delivery updates", sql: """
            -- The relay locks its rows for a round and deletes them once the broker confirmed them: no lease
            -- columns, no sent rows kept. (Daemons older than this migration cannot relay against it.)
            DELETE FROM outbox WHERE sent_at IS NOT NULL;
            DROP INDEX outbox_unsent;
            ALTER TABLE outbox DROP COLUMN leased_until, DROP COLUMN attempts, DROP COLUMN sent_at;
            CREATE INDEX outbox_order ON outbox (priority, id);
            -- A delivery is updated twice after it is written (claimed, then recorded): free room on its page lets
            -- both be heap-only updates, which write no index entry.
            ALTER TABLE deliveries SET (fillfactor = 50);
            """),
        PGMigration(version: 10, name: "shared rate limits", sql: """
            -- One GCRA schedule per limited key (a provider, later a recipient or a tenant): its theoretical
            -- arrival time, moved forward by every daemon that reserves slots (`RateLimitStore`). Tiny and hot:
            -- every update is heap-only.
            CREATE TABLE rate_limits (
                key text        PRIMARY KEY,
                tat timestamptz NOT NULL
            ) WITH (fillfactor = 50);
            """),
        PGMigration(version: 11, name: "delivery receipts", sql: """
            -- Receipts from providers (status callbacks, event webhooks), append-only: each as it came, whether or
            -- not it moved its delivery (a late or repeated callback changes nothing: ReceiptStatus.supersedes).
            -- A receipt that overtakes the record of its send waits here; recording the send applies it.
            CREATE TABLE delivery_receipts (
                delivery_id         uuid        NOT NULL,
                provider            text        NOT NULL,
                provider_message_id text,
                provider_status     text        NOT NULL,
                status              text,
                error_code          text,
                received_at         timestamptz NOT NULL DEFAULT clock_timestamp()
            );
            CREATE INDEX delivery_receipts_by_delivery ON delivery_receipts (delivery_id, received_at);
            """),
        PGMigration(version: 12, name: "webhook endpoints", sql: """
            -- A recipient's webhook endpoint: {url, secrets, disabled}. The secrets sign what is posted to it
            -- (Standard Webhooks) and are never shown; disabled says why sending stopped (410 Gone).
            ALTER TABLE recipients ADD COLUMN webhook jsonb;
            """),
        PGMigration(version: 13, name: "tenants, api keys and the audit trail", sql: """
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
        PGMigration(version: 14, name: "tenants' recipients, send requests, the inbox without tenants", sql: """
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
        PGMigration(version: 15, name: "scheduled sends", sql: """
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
        PGMigration(version: 16, name: "tenants' in-app inboxes", sql: """
            -- A tenant's users read the notifications it sent in-app (GetUserNotifications with its key).
            CREATE INDEX notifications_tenant_inbox ON notifications (product_id, user_id, created_at DESC, id DESC)
                WHERE product_id IS NOT NULL AND 'in-app' = ANY(channels);
            """),
        PGMigration(version: 17, name: "recipients' opt-outs", sql: """
            -- What a user asked not to be sent, [{channel, category}] (OptOut); NULL for none.
            ALTER TABLE recipients ADD COLUMN opt_outs jsonb;
            """),
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
        PGMigration(version: 25, name: "refusals counted", sql: """
            -- Refusals are written a window at a time, one row per caller and kind with how many there were
            -- (RefusalTally); an anonymous caller's row names the address it came from.
            ALTER TABLE audit_events ADD COLUMN count integer NOT NULL DEFAULT 1, ADD COLUMN client_address text;
            """),
    ]
}
