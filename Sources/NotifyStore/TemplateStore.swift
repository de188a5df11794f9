import Foundation
import NotifyCore
import Postgres

/// Products' templates: every published version kept, one of them live per name. Changes run in one transaction
/// under a lock on the template's name, with their audit row; runs on the query pool's threads.
public enum TemplateStore {
    /// One version as stored.
    public struct Version: Sendable {
        public var version: Int
        /// The `ProductTemplate` JSON, as `ProductTemplate.body` wrote it.
        public var definition: String
        public var createdAt: String
        public var createdBy: String
        public var live: Bool
    }

    /// A template name of a product, for listings.
    public struct Summary: Sendable {
        public var name: String
        public var liveVersion: Int
        public var latestVersion: Int
        public var updatedAt: String
    }

    /// What a publish did: a new version made live, or nothing (the live version already says exactly this).
    public enum Published: Sendable, Equatable {
        case created(version: Int, previous: Int?)
        case unchanged(version: Int)
        /// A new name, and the product has `ProductTemplate.maxNamesPerProduct` already.
        case tooManyTemplates
        /// The product's definitions with this one would pass `ProductTemplate.maxBytesPerProduct`.
        case tooManyBytes
    }

    /// What a rollback did, or why it could not.
    public enum RolledBack: Sendable, Equatable {
        case done(from: Int, to: Int)
        case unknownTemplate
        case unknownVersion
        /// No version before the live one (and none was named).
        case nothingEarlier
    }

    /// Stores `definition` as the next version of `name` and makes it live, with `audit(version, previous)`; a
    /// definition whose hash is the live version's changes nothing.
    public static func publish(
        product: UUID, name: String, definition: String, hash: String, actor: String,
        audit: (Int, Int?) -> AuditEntry, on db: PGConnection
    ) throws -> Published {
        try db.transaction { db in
            try lock(product: product, name: name, on: db)
            let current = try db.query(
                """
                SELECT t.live_version, v.hash, (SELECT max(version) FROM template_versions
                                                WHERE product_id = \(product) AND name = \(name))
                FROM templates t JOIN template_versions v USING (product_id, name)
                WHERE t.product_id = \(product) AND t.name = \(name) AND v.version = t.live_version
                """
            ).first
            let live = try current?.decode(0, as: Int.self)
            if let live, try current?.decode(1, as: String.self) == hash { return .unchanged(version: live) }
            // The product's totals, read under its own lock: publishes of different names at once are counted in turn.
            _ = try db.query("SELECT pg_advisory_xact_lock(hashtextextended('templates' || \(product.uuidString), 0))")
            let totals = try db.query(
                """
                SELECT (SELECT count(*) FROM templates WHERE product_id = \(product)),
                       (SELECT coalesce(sum(octet_length(definition)), 0) FROM template_versions WHERE product_id = \(product))
                """)[0]
            if current == nil, try totals.decode(0, as: Int.self) >= ProductTemplate.maxNamesPerProduct { return .tooManyTemplates }
            if try totals.decode(1, as: Int.self) + definition.utf8.count > ProductTemplate.maxBytesPerProduct { return .tooManyBytes }
            let version = (try current?.decode(2, as: Int.self) ?? 0) + 1
            _ = try db.execute(
                """
                INSERT INTO template_versions (product_id, name, version, definition, hash, created_by)
                VALUES (\(product), \(name), \(version), \(definition), \(hash), \(actor))
                """)
            try setLive(product: product, name: name, version: version, on: db)
            _ = try db.execute(
                """
                DELETE FROM template_versions WHERE product_id = \(product) AND name = \(name)
                AND version <= \(version - ProductTemplate.maxVersionsKept)
                """)
            try AuditStore.append([audit(version, live)], on: db)
            return .created(version: version, previous: live)
        }
    }

    /// Makes `version` live again, or, with none named, the highest version below the live one; `audit(from, to)`.
    public static func rollback(
        product: UUID, name: String, to version: Int?, audit: (Int, Int) -> AuditEntry,
        on db: PGConnection
    ) throws -> RolledBack {
        try db.transaction { db in
            try lock(product: product, name: name, on: db)
            guard let live = try liveVersion(product: product, name: name, on: db) else { return .unknownTemplate }
            let target: Int
            if let version {
                guard
                    try db.query(
                        """
                        SELECT 1 FROM template_versions WHERE product_id = \(product) AND name = \(name) AND version = \(version)
                        """
                    ).first != nil
                else { return .unknownVersion }
                target = version
            } else {
                guard
                    let earlier = try db.query(
                        """
                        SELECT max(version) FROM template_versions WHERE product_id = \(product) AND name = \(name) AND version < \(live)
                        """
                    ).first?.decodeIfPresent(0, as: Int.self)
                else { return .nothingEarlier }
                target = earlier
            }
            guard target != live else { return .done(from: live, to: live) }
            try setLive(product: product, name: name, version: target, on: db)
            try AuditStore.append([audit(live, target)], on: db)
            return .done(from: live, to: target)
        }
    }

    /// The live version's number: what a daemon asks once a second for each template it has cached.
    public static func liveVersion(product: UUID, name: String, on db: PGConnection) throws -> Int? {
        try db.query("SELECT live_version FROM templates WHERE product_id = \(product) AND name = \(name)", prepared: true)
            .first?.decode(0, as: Int.self)
    }

    /// One version (the live one when `version` is nil); nil when there is none.
    public static func version(product: UUID, name: String, version: Int? = nil, on db: PGConnection) throws -> Version? {
        guard
            let row = try db.query(
                """
                SELECT v.version, v.definition, v.created_at::text, v.created_by, v.version = t.live_version
                FROM templates t JOIN template_versions v USING (product_id, name)
                WHERE t.product_id = \(product) AND t.name = \(name) AND v.version = coalesce(\(version)::integer, t.live_version)
                """, prepared: true
            ).first
        else { return nil }
        return Version(
            version: try row.decode(0), definition: try row.decode(1), createdAt: NotificationStore.rfc3339(try row.decode(2)),
            createdBy: try row.decode(3), live: try row.decode(4))
    }

    /// A product's templates by name, at most `limit` after `after` (a name), for paging.
    public static func list(product: UUID, after: String?, limit: Int, on db: PGConnection) throws -> [Summary] {
        try db.query(
            """
            SELECT t.name, t.live_version, (SELECT max(version) FROM template_versions v WHERE v.product_id = t.product_id AND v.name = t.name),
                   t.updated_at::text
            FROM templates t WHERE t.product_id = \(product) AND (\(after)::text IS NULL OR t.name > \(after))
            ORDER BY t.name LIMIT \(limit)
            """
        ).map { row in
            Summary(
                name: try row.decode(0), liveVersion: try row.decode(1), latestVersion: try row.decode(2),
                updatedAt: NotificationStore.rfc3339(try row.decode(3)))
        }
    }

    private static func setLive(product: UUID, name: String, version: Int, on db: PGConnection) throws {
        _ = try db.execute(
            """
            INSERT INTO templates (product_id, name, live_version) VALUES (\(product), \(name), \(version))
            ON CONFLICT (product_id, name) DO UPDATE SET live_version = excluded.live_version, updated_at = now()
            """)
    }

    /// Serialises changes of one template (the first publish has no row to lock yet).
    private static func lock(product: UUID, name: String, on db: PGConnection) throws {
        _ = try db.query("SELECT pg_advisory_xact_lock(hashtextextended('template' || \(product.uuidString) || '/' || \(name), 0))")
    }
}
