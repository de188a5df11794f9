import CLibPQ
import Foundation

/// One libpq connection. Not thread-safe and blocking: it lives on one pool slot's thread and is only lent, for
/// the length of a closure, through `PGPool.withConnection`.
public final class PGConnection {
    private let handle: OpaquePointer
    /// Statements prepared on this session, by SQL text: parsed and planned once, executed many times.
    private var preparedStatements: [String: String] = [:]

    /// Connects (blocking) and prepares the session: UTC, ISO dates, warnings only.
    init(configuration: PGConfiguration) throws(PGError) {
        handle = try Self.open(configuration)
    }

    deinit {
        PQfinish(handle)
    }

    /// False once the server or network dropped the connection; the pool then replaces it before the next use.
    var isUsable: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The server process serving this connection (for `pg_terminate_backend` in fault tests and for logs).
    public var backendPID: Int32 { PQbackendPID(handle) }

    // MARK: - Statements

    /// Runs one parameterised statement and returns its rows.
    /// - Parameter prepared: prepare the statement once per connection and reuse it: for statements run often
    ///   (queries on a hot path), whose planning would otherwise cost more than their execution.
    @discardableResult
    public func query(_ query: PGQuery, prepared: Bool = false) throws(PGError) -> PGRows {
        for parameter in query.parameters where parameter?.utf8.contains(0) == true {
            throw PGError(.invalidParameter, "a text parameter contains a NUL character, which PostgreSQL cannot store")
        }
        guard prepared else {
            let result = Self.withCStrings(query.parameters) { values in
                PQexecParams(handle, query.sql, Int32(values.count), nil, values.baseAddress, nil, nil, 0)
            }
            return try rows(consuming: result)
        }
        let name = try statementName(for: query)
        let result = Self.withCStrings(query.parameters) { values in
            PQexecPrepared(handle, name, Int32(values.count), values.baseAddress, nil, nil, 0)
        }
        return try rows(consuming: result)
    }

    private func statementName(for query: PGQuery) throws(PGError) -> String {
        if let name = preparedStatements[query.sql] { return name }
        let name = "s\(preparedStatements.count + 1)"
        _ = try rows(consuming: PQprepare(handle, name, query.sql, Int32(query.parameters.count), nil))
        preparedStatements[query.sql] = name
        return name
    }

    /// Runs a parameterised statement for its effect; returns the affected row count.
    @discardableResult
    public func execute(_ query: PGQuery) throws(PGError) -> Int {
        try self.query(query).affectedRows
    }

    /// Runs a script of several statements with no parameters (the simple protocol): for migrations written in
    /// this code base, never for anything built from input.
    public func execute(script: String) throws(PGError) {
        _ = try rows(consuming: PQexec(handle, script))
    }

    /// Runs `body` inside BEGIN/COMMIT; any error thrown by `body` or by COMMIT rolls the transaction back.
    @discardableResult
    public func transaction<Value>(_ body: (PGConnection) throws -> Value) throws -> Value {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isUsable { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Bulk insert through `COPY ... FROM STDIN` (text format), the fastest batch path libpq has.
    /// Values are escaped for COPY's text format and travel as data, never as SQL.
    /// - Parameters:
    ///   - table: a table name from this code base (an identifier, not input).
    ///   - columns: column names from this code base.
    @discardableResult
    public func copy(into table: String, columns: [String], rows: [[(any PGEncodable)?]]) throws(PGError) -> Int {
        guard ([table] + columns).allSatisfy(Self.isPlainIdentifier) else {
            throw PGError(.invalidParameter, "COPY target must be plain identifiers")
        }
        var data: [UInt8] = []
        data.reserveCapacity(rows.count * 256)
        for row in rows {
            for (index, value) in row.enumerated() {
                if index > 0 { data.append(UInt8(ascii: "\t")) }
                guard let text = value?.pgText else {
                    data += [UInt8(ascii: "\\"), UInt8(ascii: "N")]
                    continue
                }
                guard Self.appendCopyEscaped(text, to: &data) else {
                    throw PGError(.invalidParameter, "a COPY value contains a NUL character")
                }
            }
            data.append(UInt8(ascii: "\n"))
        }
        let start = PQexec(handle, "COPY \(table) (\(columns.joined(separator: ", "))) FROM STDIN")
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try self.rows(consuming: start)
            return 0
        }
        PQclear(start)
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1, PQputCopyEnd(handle, nil) == 1 else { throw connectionError("COPY") }
        var affected = 0
        while let result = PQgetResult(handle) {
            affected += try self.rows(consuming: result).affectedRows
        }
        return affected
    }

    // MARK: - Internals

    private static func open(_ configuration: PGConfiguration) throws(PGError) -> OpaquePointer {
        let parameters = configuration.connectionParameters
        // expand_dbname=0: every parameter, the URL's included, is given one by one.
        let handle = withCStrings(parameters.map(\.keyword)) { keywordPointers in
            withCStrings(parameters.map(\.value)) { valuePointers in
                PQconnectdbParams(keywordPointers.baseAddress, valuePointers.baseAddress, 0)
            }
        }
        guard let handle else { throw PGError(.connectionFailed, "libpq could not allocate a connection") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let reason = String(cString: PQerrorMessage(handle)).singleLine.scrubbing(configuration.password)
            PQfinish(handle)
            throw PGError(.connectionFailed, "cannot connect to PostgreSQL at \(configuration.target): \(reason)")
        }
        return handle
    }

    /// Reads and frees `result`, mapping failures to `PGError`.
    private func rows(consuming result: OpaquePointer?) throws(PGError) -> PGRows {
        guard let result else { throw connectionError("statement") }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PGRows(columns: [], values: [], affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
        case PGRES_TUPLES_OK:
            let rowCount = Int(PQntuples(result)), columnCount = Int(PQnfields(result))
            let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
            var values: [[String?]] = []
            values.reserveCapacity(rowCount)
            for row in 0..<Int32(rowCount) {
                values.append(
                    (0..<Int32(columnCount)).map { column in
                        PQgetisnull(result, row, column) != 0 ? nil : String(cString: PQgetvalue(result, row, column))
                    })
            }
            return PGRows(columns: columns, values: values, affectedRows: rowCount)
        default:
            if !isUsable { throw connectionError("statement") }
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            if let sqlState, sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") {
                throw PGError(.connectionLost, message ?? "connection failure", sqlState: sqlState)
            }
            // Messages of data errors quote the offending value ("invalid input syntax for type uuid: ..."): a
            // value may be personal data, so those are described by class only.
            if let sqlState, PGError.isDataError(sqlState) {
                throw PGError(.statementFailed, "the server refused a value of the statement", sqlState: sqlState, detail: message)
            }
            throw PGError(.statementFailed, message ?? String(cString: PQresStatus(status)), sqlState: sqlState)
        }
    }

    private func connectionError(_ what: String) -> PGError {
        let reason = String(cString: PQerrorMessage(handle)).singleLine
        return PGError(.connectionLost, "\(what) failed: \(reason.isEmpty ? "connection lost" : reason)")
    }

    /// Lowercase letters, digits and underscores, not starting with a digit: safe to place in SQL as is.
    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    /// Appends `text` in COPY's text format (backslash, tab, newline and carriage return escaped); false when it
    /// holds a NUL, which PostgreSQL text cannot store.
    private static func appendCopyEscaped(_ text: String, to data: inout [UInt8]) -> Bool {
        let utf8 = text.utf8
        // Most values need no escaping: one scan, then one bulk copy.
        if !utf8.contains(where: {
            $0 == 0 || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r")
        }) {
            data.append(contentsOf: utf8)
            return true
        }
        for byte in utf8 {
            switch byte {
            case 0: return false
            case UInt8(ascii: "\\"): data += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\t"): data += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case UInt8(ascii: "\n"): data += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): data += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            default: data.append(byte)
            }
        }
        return true
    }

    /// Calls `body` with NUL-terminated copies of `strings` (nil stays NULL), valid for the call only.
    private static func withCStrings<Result>(
        _ strings: [String?], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> Result
    ) -> Result {
        let copies = strings.map { $0.map { strdup($0)! } }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { $0.map { UnsafePointer($0) } } + [nil]
        return pointers.withUnsafeBufferPointer { buffer in
            body(UnsafeBufferPointer(rebasing: buffer.dropLast()))
        }
    }
}
