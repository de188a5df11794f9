import Foundation
import NotifyCore
import Postgres

/// The recipient directory: one per namespace (FlowMart's users, and each tenant's: `Tenant.namespace`). Runs on the
/// query pool's threads, like every RPC handler.
public enum RecipientStore {
    /// A user's entry in `namespace` (`Tenant.flowMart` for FlowMart's users) and when it last changed (RFC 3339);
    /// nil when there is none.
    public static func get(_ userID: String, in namespace: UUID, on db: PGConnection) throws -> (recipient: Recipient, updatedAt: String)? {
        guard
            let row = try db.query(
                """
                SELECT email, phone, push_tokens::text, locale, timezone, updated_at::text, webhook::text, opt_outs::text, quiet_hours::text
                FROM recipients
                WHERE namespace = \(namespace) AND user_id = \(userID)
                """, prepared: true
            ).first
        else { return nil }
        let recipient = Recipient(
            userID: userID, email: try row.decodeIfPresent(0, as: String.self), phone: try row.decodeIfPresent(1, as: String.self),
            pushTokens: PushToken.list(json: try row.decode(2, as: String.self)),
            webhook: try row.decodeIfPresent(6, as: String.self).flatMap(WebhookEndpoint.parse(stored:)),
            locale: try row.decodeIfPresent(3, as: String.self),
            timezone: try row.decodeIfPresent(4, as: String.self),
            optOuts: try row.decodeIfPresent(7, as: String.self).map(OptOut.list(json:)) ?? [],
            quietHours: try row.decodeIfPresent(8, as: String.self).flatMap(QuietHours.parse(stored:)))
        return (recipient, NotificationStore.rfc3339(try row.decode(5, as: String.self)))
    }

    /// Adds `optOut` to the user's opt-outs (a one-click unsubscribe), under the user's lock, with `audit`, in one
    /// transaction. Nothing is created for a user with no entry (nothing is sent to them), and an opt-out already
    /// covered (the same one, or `*` of the channel) writes nothing. Returns whether the entry exists.
    public static func addOptOut(_ optOut: OptOut, userID: String, in namespace: UUID, audit: AuditEntry, on db: PGConnection) throws
        -> Bool
    {
        try db.transaction { db in
            try lock(userID, in: namespace, on: db)
            guard let current = try get(userID, in: namespace, on: db)?.recipient else { return false }
            let covered = current.optOuts.contains { $0.channel == optOut.channel && ($0.category == OptOut.everyCategory || $0 == optOut) }
            guard !covered else { return true }
            let optOuts = String(decoding: JSONValue.array((current.optOuts + [optOut]).map(\.body)).bytes, as: UTF8.self)
            _ = try db.execute(
                """
                UPDATE recipients SET opt_outs = \(optOuts)::jsonb, updated_at = now() WHERE namespace = \(namespace) AND user_id = \(userID)
                """)
            try AuditStore.append([audit], on: db)
            return true
        }
    }

    /// The languages of the users of `userIDs` in `namespace` that have one, by user id: what a templated send renders
    /// in for a recipient who names none.
    public static func locales(of userIDs: [String], in namespace: UUID, on db: PGConnection) throws -> [String: String] {
        guard !userIDs.isEmpty else { return [:] }
        var locales: [String: String] = [:]
        for row in try db.query(
            """
            SELECT user_id, locale FROM recipients
            WHERE namespace = \(namespace) AND user_id = ANY(\(PGTextArray(userIDs))::text[]) AND locale IS NOT NULL
            """, prepared: true)
        {
            locales[try row.decode(0, as: String.self)] = try row.decode(1, as: String.self)
        }
        return locales
    }

    /// Applies `change` to the user's entry in one transaction, under a lock on the user, so two updates of
    /// different fields at once both take effect; `audit` (a preference change) in the same transaction. Returns the
    /// entry as stored.
    public static func upsert(
        _ change: UpsertRecipient, in namespace: UUID, audit: AuditEntry? = nil,
        on db: PGConnection
    ) throws -> (recipient: Recipient, updatedAt: String) {
        try db.transaction { db in
            if let audit { try AuditStore.append([audit], on: db) }
            try lock(change.userID, in: namespace, on: db)
            let recipient = change.applied(to: try get(change.userID, in: namespace, on: db)?.recipient)
            let tokens = String(decoding: JSONValue.array(recipient.pushTokens.map(\.body)).bytes, as: UTF8.self)
            let webhook = recipient.webhook.map { String(decoding: $0.stored.bytes, as: UTF8.self) }
            // None is NULL, not `[]`: the claim looks up a delivery's category only for a user with opt-outs.
            let optOuts =
                recipient.optOuts.isEmpty ? nil : String(decoding: JSONValue.array(recipient.optOuts.map(\.body)).bytes, as: UTF8.self)
            let quietHours = recipient.quietHours.map { String(decoding: $0.body.bytes, as: UTF8.self) }
            let row = try db.query(
                """
                INSERT INTO recipients (namespace, user_id, email, phone, push_tokens, webhook, locale, timezone, opt_outs, quiet_hours)
                VALUES (\(namespace), \(recipient.userID), \(recipient.email), \(recipient.phone), \(tokens)::jsonb, \(webhook)::jsonb,
                        \(recipient.locale), \(recipient.timezone), \(optOuts)::jsonb, \(quietHours)::jsonb)
                ON CONFLICT (namespace, user_id) DO UPDATE SET email = excluded.email, phone = excluded.phone,
                    push_tokens = excluded.push_tokens, webhook = excluded.webhook, locale = excluded.locale,
                    timezone = excluded.timezone, opt_outs = excluded.opt_outs, quiet_hours = excluded.quiet_hours, updated_at = now()
                RETURNING updated_at::text
                """)
            return (recipient, NotificationStore.rfc3339(try row[0].decode(0, as: String.self)))
        }
    }

    /// Writes the addresses sends named into their users' entries (creating them), keeping the other fields; inside
    /// the caller's transaction, under each user's lock, taken in one order so two commits never deadlock. A user
    /// named by several sends of one commit gets the last address each gave. The lock key is `lock`'s (the namespace
    /// as `uuidString` spells it).
    static func writeAddresses(_ recipients: [(namespace: UUID, recipient: SendRequest.Recipient)], on db: PGConnection) throws {
        guard !recipients.isEmpty else { return }
        var merged: [String: (namespace: UUID, userID: String, email: String?, phone: String?, tokens: [PushToken])] = [:]
        var order: [String] = []
        for (namespace, recipient) in recipients {
            let key = "\(namespace.uuidString)\u{0}\(recipient.userID)"
            let token = recipient.pushToken.map { [$0] } ?? []
            if let known = merged[key] {
                let tokens = known.tokens + token.filter { !known.tokens.contains($0) }
                merged[key] = (namespace, recipient.userID, recipient.email ?? known.email, recipient.phone ?? known.phone, tokens)
            } else {
                merged[key] = (namespace, recipient.userID, recipient.email, recipient.phone, token)
                order.append(key)
            }
        }
        let rows = order.compactMap { merged[$0] }
        let namespaces = PGTextArray(rows.map(\.namespace.uuidString))
        let users = PGTextArray(rows.map(\.userID))
        _ = try db.query(
            """
            SELECT pg_advisory_xact_lock(h) FROM (
                SELECT DISTINCT hashtextextended('recipient' || n || u, 0) AS h
                FROM unnest(\(namespaces)::text[], \(users)::text[]) AS a(n, u) ORDER BY h) l
            """, prepared: true)
        // A device token given with a send joins the entry's tokens (once each; the oldest go past the entry's limit).
        let tokens = rows.map { row in String(decoding: JSONValue.array(row.tokens.map(\.body)).bytes, as: UTF8.self) }
        _ = try db.query(
            """
            INSERT INTO recipients (namespace, user_id, email, phone, push_tokens)
            SELECT n::uuid, u, e, p, t::jsonb FROM unnest(\(namespaces)::text[], \(users)::text[], \(PGTextArray(rows.map(\.email)))::text[],
                                                         \(PGTextArray(rows.map(\.phone)))::text[], \(PGTextArray(tokens))::text[]) AS a(n, u, e, p, t)
            ON CONFLICT (namespace, user_id) DO UPDATE SET email = COALESCE(excluded.email, recipients.email),
                phone = COALESCE(excluded.phone, recipients.phone),
                push_tokens = CASE WHEN recipients.push_tokens @> excluded.push_tokens THEN recipients.push_tokens
                                   ELSE (SELECT coalesce(jsonb_agg(e ORDER BY i), '[]') FROM (
                                             SELECT e, max(i) AS i FROM jsonb_array_elements(recipients.push_tokens || excluded.push_tokens)
                                                                        WITH ORDINALITY AS x(e, i)
                                             GROUP BY e ORDER BY max(i) DESC LIMIT \(Recipient.maxPushTokens)) kept) END,
                updated_at = now()
            """, prepared: true)
    }

    /// The transaction-scoped lock every change of one user's entry takes first.
    private static func lock(_ userID: String, in namespace: UUID, on db: PGConnection) throws {
        try db.execute("SELECT pg_advisory_xact_lock(hashtextextended('recipient' || \(namespace.uuidString) || \(userID), 0))")
    }

    /// Removes push tokens a provider said are no longer valid (FCM's `UNREGISTERED`, APNs' 410), under the same
    /// lock as `upsert`, so a concurrent update cannot bring them back. Returns how many were removed.
    public static func removePushTokens(_ tokens: [String], of userID: String, in namespace: UUID, on db: PGConnection) throws -> Int {
        guard !tokens.isEmpty else { return 0 }
        return try db.transaction { db in
            try lock(userID, in: namespace, on: db)
            let row = try db.query(
                """
                WITH old AS (SELECT push_tokens FROM recipients WHERE namespace = \(namespace) AND user_id = \(userID) FOR UPDATE)
                UPDATE recipients r SET updated_at = now(), push_tokens = COALESCE(
                    (SELECT jsonb_agg(t) FROM jsonb_array_elements(old.push_tokens) t
                     WHERE NOT (t->>'token' = ANY(\(PGTextArray(tokens))::text[]))), '[]'::jsonb)
                FROM old WHERE r.namespace = \(namespace) AND r.user_id = \(userID)
                RETURNING jsonb_array_length(old.push_tokens) - jsonb_array_length(r.push_tokens)
                """
            ).first
            return try row?.decode(0, as: Int.self) ?? 0
        }
    }

    /// Stops sending to the user's webhook endpoint `url` (it answered 410 Gone), with the reason; registering it
    /// again enables it. Under the same lock as `upsert`. False when the entry has another endpoint by now.
    public static func disableWebhook(_ url: String, of userID: String, in namespace: UUID, reason: String, on db: PGConnection) throws
        -> Bool
    {
        try db.transaction { db in
            try lock(userID, in: namespace, on: db)
            return try db.query(
                """
                UPDATE recipients SET webhook = jsonb_set(webhook, '{disabled}', to_jsonb(\(reason)::text)), updated_at = now()
                WHERE namespace = \(namespace) AND user_id = \(userID) AND webhook->>'url' = \(url)
                """
            ).affectedRows == 1
        }
    }

    /// Erases the user's entry; false when there was none.
    public static func delete(_ userID: String, in namespace: UUID, on db: PGConnection) throws -> Bool {
        try db.query("DELETE FROM recipients WHERE namespace = \(namespace) AND user_id = \(userID)").affectedRows == 1
    }
}
