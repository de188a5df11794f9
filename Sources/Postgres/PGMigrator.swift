import Logging

/// One versioned schema change. Versions are applied in ascending order, each exactly once per database.
public struct PGMigration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies pending migrations in one transaction under a transaction-scoped advisory lock, so that daemons starting
/// together serialise: the first applies, the others wait and then find nothing left to do.
public struct PGMigrator: Sendable {
    /// Advisory lock key shared by every daemon of this service ("notify" in ASCII).
    public static let defaultLockKey: Int64 = 0x6E6F_7469_6679
    public var migrations: [PGMigration]
    /// Table that records applied versions: a plain identifier (lowercase, digits, underscores). Default
    /// `schema_migrations`.
    public var historyTable: String
    public var lockKey: Int64

    public init(migrations: [PGMigration], historyTable: String = "schema_migrations", lockKey: Int64 = defaultLockKey) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.historyTable = historyTable
        self.lockKey = lockKey
    }

    /// Returns the versions this call applied (empty when the schema was already current).
    @discardableResult
    public func migrate(on pool: PGPool, logger: Logger) async throws -> [Int] {
        guard PGConnection.isPlainIdentifier(historyTable) else {
            throw PGError(.invalidParameter, "the migration history table must be a plain identifier")
        }
        let migrator = self
        return try await pool.transaction { connection in
            try connection.execute("SELECT pg_advisory_xact_lock(\(migrator.lockKey))")
            try connection.execute(
                script: """
                    CREATE TABLE IF NOT EXISTS \(migrator.historyTable) (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """)
            let applied = Set(
                try connection.query(PGQuery(unsafeSQL: "SELECT version FROM \(migrator.historyTable)"))
                    .map { try $0.decode(0, as: Int.self) })
            var done: [Int] = []
            for migration in migrator.migrations where !applied.contains(migration.version) {
                do {
                    try connection.execute(script: migration.sql)
                } catch let error as PGError {
                    throw PGError(
                        error.code, "migration \(migration.version) (\(migration.name)) failed: \(error.reason)",
                        sqlState: error.sqlState)
                }
                try connection.execute(
                    PGQuery(
                        unsafeSQL: "INSERT INTO \(migrator.historyTable) (version, name) VALUES ($1, $2)",
                        parameters: [String(migration.version), migration.name]))
                logger.info("applied migration", metadata: ["db.migration": "\(migration.version) \(migration.name)"])
                done.append(migration.version)
            }
            return done
        }
    }
}
