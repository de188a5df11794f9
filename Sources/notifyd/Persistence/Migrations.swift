import Postgres

/// The service's schema, in order. Never edit a released migration: add a new one.
enum Migrations {
    static let all: [PGMigration] = [
        PGMigration(version: 1, name: "inbox", sql: """
            -- Deduplication of consumed messages (the inbox pattern): one row per (consumer, message key),
            -- written in the same transaction as the message's effect, so a redelivery changes nothing.
            CREATE TABLE inbox (
                consumer    text        NOT NULL,
                message_key text        NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (consumer, message_key)
            );
            CREATE INDEX inbox_received_at ON inbox (received_at);
            """),
    ]
}
