import Foundation
import Logging
import Postgres
import StackSupport

/// The test database of the local stack (`deploy/dev/stack up`); `make test` exports the URL.
enum TestDatabase {
    static let url = StackURLs.testPostgres

    static var logger: Logger {
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = .error
        return logger
    }

    static func pool(size: Int = 2) async throws -> PGPool {
        var configuration = try PGConfiguration(url: url)
        configuration.poolSize = size
        let pool = PGPool(configuration: configuration, logger: logger)
        try await pool.connect()
        return pool
    }

    /// A table name no other test uses.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }
}
