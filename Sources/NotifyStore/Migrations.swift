import Postgres

/// The service's schema, in order. Never edit a released migration: add a new one.
public enum Migrations {
    public static let all: [PGMigration] = first + later

    /// Versions 1 to 12: the inbox, the event pipeline, deliveries and their providers (before tenants).
    static let first: [PGMigration] = [
        PGMigration(
            version: 1, name: "inbox",
            sql: """
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
        PGMigration(
            version: 2, name: "notifications",
            sql: """
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
        PGMigration(
            version: 3, name: "stock and outbox",
            sql: """
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
        PGMigration(
            version: 4, name: "product watches",
            sql: """
                -- Back-in-stock wishes (WatchProduct): spent, i.e. deleted, by the notification they cause.
                CREATE TABLE product_watches (
                    product_id text        NOT NULL,
                    user_id    text        NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (product_id, user_id)
                );
                """),
        PGMigration(
            version: 5, name: "crash journal",
            sql: """
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
        PGMigration(
            version: 6, name: "recipients",
            sql: """
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
        PGMigration(
            version: 7, name: "deliveries",
            sql: """
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
        PGMigration(
            version: 8, name: "delivery pipeline and parked messages",
            sql: """
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
        PGMigration(
            version: 9, name: "outbox rows deleted once published; room for in-place delivery updates",
            sql: """
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
        PGMigration(
            version: 10, name: "shared rate limits",
            sql: """
                -- One GCRA schedule per limited key (a provider, later a recipient or a tenant): its theoretical
                -- arrival time, moved forward by every daemon that reserves slots (`RateLimitStore`). Tiny and hot:
                -- every update is heap-only.
                CREATE TABLE rate_limits (
                    key text        PRIMARY KEY,
                    tat timestamptz NOT NULL
                ) WITH (fillfactor = 50);
                """),
        PGMigration(
            version: 11, name: "delivery receipts",
            sql: """
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
        PGMigration(
            version: 12, name: "webhook endpoints",
            sql: """
                -- A recipient's webhook endpoint: {url, secrets, disabled}. The secrets sign what is posted to it
                -- (Standard Webhooks) and are never shown; disabled says why sending stopped (410 Gone).
                ALTER TABLE recipients ADD COLUMN webhook jsonb;
                """),
    ]
}
