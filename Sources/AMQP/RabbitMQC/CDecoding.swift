import CRabbitMQ

/// Copies C values into Swift values. Nothing returned here points into librabbitmq memory.
enum CDecoding {
    static func bytes(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard bytes.len > 0, let start = bytes.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: bytes.len))
    }

    /// Decodes as UTF-8, replacing invalid sequences: for names and ids, which are only compared and logged.
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let start = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: start, count: bytes.len), as: UTF8.self)
    }

    static func table(_ table: amqp_table_t) -> [String: AMQPFieldValue] {
        guard table.num_entries > 0, let entries = table.entries else { return [:] }
        var result: [String: AMQPFieldValue] = [:]
        result.reserveCapacity(Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[string(entry.key)] = field(entry.value)
        }
        return result
    }

    static func field(_ field: amqp_field_value_t) -> AMQPFieldValue {
        switch amqp_field_value_kind_t(UInt32(field.kind)) {
        case AMQP_FIELD_KIND_BOOLEAN: return .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8: return .int(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8: return .int(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16: return .int(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16: return .int(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32: return .int(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32: return .int(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64: return .int(field.value.i64)
        case AMQP_FIELD_KIND_U64: return .int(Int64(truncatingIfNeeded: field.value.u64))
        case AMQP_FIELD_KIND_F32: return .double(Double(field.value.f32))
        case AMQP_FIELD_KIND_F64: return .double(field.value.f64)
        case AMQP_FIELD_KIND_TIMESTAMP: return .timestamp(field.value.u64)
        case AMQP_FIELD_KIND_UTF8:
            let raw = bytes(field.value.bytes)
            return String(validating: raw, as: UTF8.self).map(AMQPFieldValue.string) ?? .bytes(raw)
        case AMQP_FIELD_KIND_BYTES: return .bytes(bytes(field.value.bytes))
        case AMQP_FIELD_KIND_TABLE: return .table(table(field.value.table))
        case AMQP_FIELD_KIND_ARRAY:
            let array = field.value.array
            guard array.num_entries > 0, let entries = array.entries else { return .array([]) }
            return .array((0..<Int(array.num_entries)).map { self.field(entries[$0]) })
        default: return .void
        }
    }

    /// Decodes as UTF-8 strictly: nil for invalid sequences. For values that identify a message (ids), where two
    /// different byte strings must never become the same text.
    static func strictString(_ bytes: amqp_bytes_t) -> String? {
        guard bytes.len > 0, let start = bytes.bytes else { return "" }
        let raw = UnsafeRawBufferPointer(start: start, count: bytes.len)
        // Ids are nearly always ASCII, which needs no validation and decodes three times faster.
        if raw.allSatisfy({ $0 < 0x80 }) { return String(decoding: raw, as: UTF8.self) }
        return String(validating: raw, as: UTF8.self)
    }

    static func properties(_ c: amqp_basic_properties_t) -> AMQPProperties {
        var properties = AMQPProperties()
        let flags = c._flags
        var undecodable: [String] = []
        properties.contentType = string(flags, NOTIFY_FLAG_CONTENT_TYPE, c.content_type, "content_type", &undecodable)
        properties.contentEncoding = string(flags, NOTIFY_FLAG_CONTENT_ENCODING, c.content_encoding, "content_encoding", &undecodable)
        properties.correlationID = string(flags, NOTIFY_FLAG_CORRELATION_ID, c.correlation_id, "correlation_id", &undecodable)
        properties.replyTo = string(flags, NOTIFY_FLAG_REPLY_TO, c.reply_to, "reply_to", &undecodable)
        properties.expiration = string(flags, NOTIFY_FLAG_EXPIRATION, c.expiration, "expiration", &undecodable)
        properties.messageID = string(flags, NOTIFY_FLAG_MESSAGE_ID, c.message_id, "message_id", &undecodable)
        properties.type = string(flags, NOTIFY_FLAG_TYPE, c.type, "type", &undecodable)
        properties.appID = string(flags, NOTIFY_FLAG_APP_ID, c.app_id, "app_id", &undecodable)
        properties.undecodable = undecodable
        if flags & NOTIFY_FLAG_HEADERS != 0 { properties.headers = table(c.headers) }
        if flags & NOTIFY_FLAG_DELIVERY_MODE != 0 { properties.persistent = c.delivery_mode == 2 }
        if flags & NOTIFY_FLAG_PRIORITY != 0 { properties.priority = c.priority }
        if flags & NOTIFY_FLAG_TIMESTAMP != 0 { properties.timestamp = c.timestamp }
        return properties
    }

    /// A short-string property when `flag` is set; nil, with `name` noted, when it is not valid UTF-8.
    private static func string(
        _ flags: amqp_flags_t, _ flag: amqp_flags_t, _ value: amqp_bytes_t, _ name: String, _ undecodable: inout [String]
    ) -> String? {
        guard flags & flag != 0 else { return nil }
        guard let text = strictString(value) else {
            undecodable.append(name)
            return nil
        }
        return text
    }

    static func libraryError(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }
}
