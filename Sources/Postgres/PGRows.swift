/// Rows of a result, copied out of libpq: safe to keep and pass between tasks.
public struct PGRows: Sendable, RandomAccessCollection {
    public let columns: [String]
    private let values: [[String?]]
    /// Rows affected by INSERT/UPDATE/DELETE (`PQcmdTuples`), 0 for other statements.
    public let affectedRows: Int

    init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { values.count }
    public subscript(position: Int) -> PGRow { PGRow(columns: columns, values: values[position]) }
}

/// One row, decoded column by column into Swift types.
public struct PGRow: Sendable {
    public let columns: [String]
    let values: [String?]

    /// Decodes column `index`; NULL or an unparsable value is an error that names the column, not its value.
    public func decode<Value: PGDecodable>(_ index: Int, as type: Value.Type = Value.self) throws(PGError) -> Value {
        guard let value = try decodeIfPresent(index, as: type) else {
            throw PGError(.decodingFailed, "column '\(columns[index])' is NULL, expected \(Value.self)")
        }
        return value
    }

    /// Decodes column `index`, with NULL as nil.
    public func decodeIfPresent<Value: PGDecodable>(_ index: Int, as type: Value.Type = Value.self) throws(PGError) -> Value? {
        guard values.indices.contains(index) else {
            throw PGError(.decodingFailed, "no column \(index) in a row of \(values.count)")
        }
        guard let text = values[index] else { return nil }
        guard let value = Value(pgText: text) else {
            throw PGError(.decodingFailed, "column '\(columns[index])' is not a valid \(Value.self)")
        }
        return value
    }

    /// Decodes the leading columns as a tuple: `let (id, title) = try row.decode(UUID.self, String.self)`.
    public func decode<each Value: PGDecodable>(_ types: repeat (each Value).Type) throws(PGError) -> (repeat each Value) {
        var index = 0
        func next<Column: PGDecodable>(_ type: Column.Type) throws(PGError) -> Column {
            defer { index += 1 }
            return try decode(index, as: type)
        }
        return (repeat try next(each types))
    }
}
