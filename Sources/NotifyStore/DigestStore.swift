import Foundation
import NotifyCore
import Postgres

/// Digests (`DigestPolicy`): batched deliveries join their recipient's open digest when they are written, and the
/// claim that sends a digest closes it and composes what it says from the items it holds. Both sides lock the
/// digest's row, so an item is either in the digest that leaves or in the next one, never lost between them.
enum DigestStore {
    /// Which digest each of `items` joins, decided in the caller's transaction: takes each key's lock (in key
    /// order, so two writers never wait on each other crosswise), reads the digests open for the keys under row
    /// locks (a claim closing one is waited for, and then it is not open), and lets `DigestAssignment` decide.
    static func assign(_ items: [DigestItem], on db: PGConnection) throws -> DigestAssignment {
        guard !items.isEmpty else { return DigestAssignment([], open: [:]) }
        let keys = Set(items.map(\.key)).sorted()
        // Two-key advisory locks (class, hash) are a space of their own: no other lock of the service shares them.
        _ = try db.query(
            """
            SELECT pg_advisory_xact_lock(\(Self.lockClass)::integer, hashtext(k)) FROM unnest(\(PGTextArray(keys.map(\.lockName)))::text[]) AS k
            """, prepared: true)
        let rows = try db.query(
            """
            SELECT g.id::text, g.delivery_id::text, g.items, g.max_items, g.namespace::text, g.user_id, g.channel, g.kind
            FROM digests g
            JOIN unnest(\(PGTextArray(keys.map(\.namespace)))::uuid[], \(PGTextArray(keys.map(\.userID)))::text[],
                        \(PGTextArray(keys.map(\.channel.rawValue)))::text[], \(PGTextArray(keys.map(\.kind)))::text[]) AS k(ns, u, c, kd)
              ON g.namespace = k.ns AND g.user_id = k.u AND g.channel = k.c AND g.kind = k.kd
            WHERE g.closed_at IS NULL
            FOR UPDATE OF g
            """, prepared: true)
        var open: [DigestKey: OpenDigest] = [:]
        for row in rows {
            guard let channel = NotificationChannel(rawValue: try row.decode(6)) else { continue }
            let key = DigestKey(namespace: try row.decode(4), userID: try row.decode(5), channel: channel, kind: try row.decode(7))
            open[key] = OpenDigest(
                id: try row.decode(0), deliveryID: try row.decode(1), items: try row.decode(2), maxItems: try row.decode(3))
        }
        return DigestAssignment(items, open: open)
    }

    /// The class of the digests' advisory locks ("DGST").
    private static let lockClass = 0x4447_5354

    /// `deliveries` with the digest each batched one joins, and the deliveries of the digests `assignment` opens:
    /// `scheduled`, their history saying until when.
    static func deliveries(_ deliveries: [NewDelivery], joining assignment: DigestAssignment, now: Date) -> [NewDelivery] {
        guard !assignment.members.isEmpty else { return deliveries }
        let joins = Dictionary(assignment.members.map { ($0.deliveryID, $0) }) { first, _ in first }
        let members = deliveries.map { delivery in
            guard let join = joins[delivery.id] else { return delivery }
            var delivery = delivery
            delivery.digestID = join.digestID
            delivery.reason = "digest \(join.digestDeliveryID)"
            return delivery
        }
        return members
            + assignment.opened.map { item in
                NewDelivery(
                    id: item.newDeliveryID, notificationID: item.newDigestID, userID: item.job.userID, channel: item.job.channel,
                    status: .scheduled, reason: "digest until \(RFC3339.string(from: due(of: item, now: now)))", tenant: item.job.tenant)
            }
    }

    /// Writes what `assignment` decided, in the caller's transaction (after its deliveries): the digests it opens
    /// with their jobs held until due, the items they gained, and the full ones closed with their jobs due at once.
    static func write(_ assignment: DigestAssignment, now: Date, on db: PGConnection) throws {
        guard !assignment.members.isEmpty else { return }
        if !assignment.opened.isEmpty {
            let opened = assignment.opened
            _ = try db.query(
                """
                INSERT INTO digests (id, delivery_id, namespace, product_id, organization_id, user_id, channel, kind, max_items, due_at)
                SELECT i, d, ns, p, o, u, c, k, m, to_timestamp(due)
                FROM unnest(\(PGTextArray(opened.map(\.newDigestID)))::uuid[], \(PGTextArray(opened.map(\.newDeliveryID)))::uuid[],
                            \(PGTextArray(opened.map(\.key.namespace)))::uuid[],
                            \(PGTextArray(opened.map { $0.job.tenant?.productID.uuidString }))::uuid[],
                            \(PGTextArray(opened.map { $0.job.tenant?.organizationID?.uuidString }))::uuid[],
                            \(PGTextArray(opened.map(\.job.userID)))::text[], \(PGTextArray(opened.map(\.job.channel.rawValue)))::text[],
                            \(PGTextArray(opened.map(\.kind)))::text[], \(PGTextArray(opened.map { String($0.policy.maxItems) }))::int[],
                            \(PGTextArray(opened.map { String(due(of: $0, now: now).timeIntervalSince1970) }))::float8[])
                     AS n(i, d, ns, p, o, u, c, k, m, due)
                """, prepared: true)
            try OutboxStore.schedule(
                opened.map { ScheduledMessage(due: due(of: $0, now: now), message: OutboxMessage($0.digestJob, exchange: $0.exchange)) },
                on: db)
        }
        let added = assignment.added.sorted { $0.key < $1.key }
        _ = try db.query(
            """
            UPDATE digests g SET items = g.items + a.n
            FROM unnest(\(PGTextArray(added.map(\.key)))::uuid[], \(PGTextArray(added.map { String($0.value) }))::int[]) AS a(id, n)
            WHERE g.id = a.id
            """, prepared: true)
        if !assignment.full.isEmpty {
            _ = try db.query(
                """
                WITH closed AS (UPDATE digests SET closed_at = now() WHERE id = ANY(\(PGTextArray(assignment.full.map(\.id)))::uuid[]) RETURNING delivery_id)
                UPDATE scheduled_jobs SET due_at = now() WHERE delivery_id IN (SELECT delivery_id FROM closed)
                """, prepared: true)
        }
    }

    private static func due(of item: DigestItem, now: Date) -> Date { now.addingTimeInterval(TimeInterval(item.policy.windowSeconds)) }

    /// Closes the digests whose deliveries a claim took, in its transaction, and settles their items: `digested`
    /// for a digest being sent, `skipped` with its reason for one that is skipped. Returns the items of each digest
    /// being sent (by digest id), the oldest it lists and how many it holds: what it says (`ClaimPlan.compose`). A retry finds the digest closed
    /// and its items settled, and reads the same.
    static func close(_ digests: [DigestClosing], on db: PGConnection) throws -> [String: DigestListing] {
        guard !digests.isEmpty else { return [:] }
        let ids = digests.map(\.digestID)
        // Its own statement: it waits for a writer adding to the digest, and what follows reads what that wrote.
        _ = try db.query(
            "UPDATE digests SET closed_at = coalesce(closed_at, now()) WHERE id = ANY(\(PGTextArray(ids))::uuid[])",
            prepared: true)
        _ = try db.query(
            """
            WITH settled AS (
                UPDATE deliveries d SET status = CASE WHEN s.reason IS NULL THEN 'digested' ELSE 'skipped' END, updated_at = now()
                FROM unnest(\(PGTextArray(ids))::uuid[], \(PGTextArray(digests.map(\.skip)))::text[]) AS s(digest, reason)
                WHERE d.digest_id = s.digest AND d.status = 'batched'
                RETURNING d.id, d.status, coalesce(s.reason, 'sent in its digest'))
            INSERT INTO delivery_history (delivery_id, status, detail) SELECT * FROM settled
            """, prepared: true)
        let sending = digests.filter { $0.skip == nil }
        guard !sending.isEmpty else { return [:] }
        // The oldest items of each digest, as much of each as it shows (`MessageContent.maxDigestListed`, its
        // title and body cut): a digest of one, the item whole. The total counts them all.
        var entries: [String: DigestListing] = [:]
        for row in try db.query(
            """
            SELECT digest, title, message, total FROM (
                SELECT d.digest_id::text AS digest, count(*) OVER w AS total, row_number() OVER (w ORDER BY n.created_at, n.id) AS position,
                       CASE WHEN count(*) OVER w = 1 THEN n.title ELSE left(n.title, \(MessageContent.maxDigestTitle + 1)) END AS title,
                       CASE WHEN count(*) OVER w = 1 THEN n.message ELSE left(n.message, \(MessageContent.maxDigestEntryBody + 1)) END AS message
                FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                WHERE d.digest_id = ANY(\(PGTextArray(sending.map(\.digestID)))::uuid[]) AND d.status = 'digested'
                WINDOW w AS (PARTITION BY d.digest_id)) listed
            WHERE position <= \(MessageContent.maxDigestListed)
            ORDER BY digest, position
            """, prepared: true)
        {
            let digest = try row.decode(0, as: String.self)
            entries[digest, default: DigestListing()].entries.append(DigestEntry(title: try row.decode(1), body: try row.decode(2)))
            entries[digest]?.total = try row.decode(3, as: Int.self)
        }
        return entries
    }

    /// Keeps what each digest being sent says (by digest id) on its row, in the claim's transaction.
    static func say(_ contents: [String: MessageContent], on db: PGConnection) throws {
        guard !contents.isEmpty else { return }
        let said = contents.sorted { $0.key < $1.key }
        _ = try db.query(
            """
            UPDATE digests g SET title = c.title, body = c.body
            FROM unnest(\(PGTextArray(said.map(\.key)))::uuid[], \(PGTextArray(said.map(\.value.subject)))::text[],
                        \(PGTextArray(said.map(\.value.text)))::text[]) AS c(id, title, body)
            WHERE g.id = c.id
            """, prepared: true)
    }
}
