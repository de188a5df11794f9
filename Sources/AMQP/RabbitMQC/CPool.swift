import CRabbitMQ

/// An `amqp_pool_t` at a stable address. Everything encoded for one C call (tables, property strings) is
/// allocated here and released together by `recycle()`.
final class CPool {
    private let pool: UnsafeMutablePointer<amqp_pool_t>

    init(pageSize: Int = 4096) {
        pool = .allocate(capacity: 1)
        init_amqp_pool(pool, pageSize)
    }

    deinit {
        empty_amqp_pool(pool)
        pool.deallocate()
    }

    /// Frees every allocation made since the last recycle, keeping the first page for reuse.
    func recycle() { recycle_amqp_pool(pool) }

    /// A pool-owned copy of `bytes`.
    func bytes<C: Collection<UInt8>>(_ bytes: C) -> amqp_bytes_t {
        guard !bytes.isEmpty else { return amqp_empty_bytes }
        var result = amqp_bytes_t()
        amqp_pool_alloc_bytes(pool, bytes.count, &result)
        let target = UnsafeMutableRawBufferPointer(start: result.bytes, count: bytes.count)
        target.copyBytes(from: bytes)
        return result
    }

    func bytes(_ string: String) -> amqp_bytes_t { bytes(string.utf8) }

    /// A pool-owned field table.
    func table(_ entries: [String: AMQPFieldValue]) -> amqp_table_t {
        guard !entries.isEmpty else { return amqp_empty_table }
        let memory = amqp_pool_alloc(pool, MemoryLayout<amqp_table_entry_t>.stride * entries.count)!
        let typed = memory.bindMemory(to: amqp_table_entry_t.self, capacity: entries.count)
        // Sorted keys: deterministic wire encoding, which makes declare arguments compare equal on the broker.
        for (index, key) in entries.keys.sorted().enumerated() {
            typed[index] = amqp_table_entry_t(key: bytes(key), value: field(entries[key]!))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: typed)
    }

    func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let string):
            field.kind = Self.kind(AMQP_FIELD_KIND_UTF8)
            field.value.bytes = bytes(string)
        case .bytes(let raw):
            field.kind = Self.kind(AMQP_FIELD_KIND_BYTES)
            field.value.bytes = bytes(raw)
        case .bool(let flag):
            field.kind = Self.kind(AMQP_FIELD_KIND_BOOLEAN)
            field.value.boolean = flag ? 1 : 0
        case .int(let number):
            field.kind = Self.kind(AMQP_FIELD_KIND_I64)
            field.value.i64 = number
        case .double(let number):
            field.kind = Self.kind(AMQP_FIELD_KIND_F64)
            field.value.f64 = number
        case .timestamp(let seconds):
            field.kind = Self.kind(AMQP_FIELD_KIND_TIMESTAMP)
            field.value.u64 = seconds
        case .table(let nested):
            field.kind = Self.kind(AMQP_FIELD_KIND_TABLE)
            field.value.table = table(nested)
        case .array(let items):
            field.kind = Self.kind(AMQP_FIELD_KIND_ARRAY)
            if items.isEmpty {
                field.value.array = amqp_array_t(num_entries: 0, entries: nil)
            } else {
                let memory = amqp_pool_alloc(pool, MemoryLayout<amqp_field_value_t>.stride * items.count)!
                let typed = memory.bindMemory(to: amqp_field_value_t.self, capacity: items.count)
                for (index, item) in items.enumerated() { typed[index] = self.field(item) }
                field.value.array = amqp_array_t(num_entries: Int32(items.count), entries: typed)
            }
        case .void:
            field.kind = Self.kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }

    /// Encodes `properties` into C form; strings and tables live in this pool.
    func properties(_ properties: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: amqp_flags_t = 0
        func set(_ value: String?, _ flag: amqp_flags_t, _ path: WritableKeyPath<amqp_basic_properties_t, amqp_bytes_t>) {
            guard let value else { return }
            c[keyPath: path] = bytes(value)
            flags |= flag
        }
        set(properties.contentType, NOTIFY_FLAG_CONTENT_TYPE, \.content_type)
        set(properties.contentEncoding, NOTIFY_FLAG_CONTENT_ENCODING, \.content_encoding)
        set(properties.correlationID, NOTIFY_FLAG_CORRELATION_ID, \.correlation_id)
        set(properties.replyTo, NOTIFY_FLAG_REPLY_TO, \.reply_to)
        set(properties.expiration, NOTIFY_FLAG_EXPIRATION, \.expiration)
        set(properties.messageID, NOTIFY_FLAG_MESSAGE_ID, \.message_id)
        set(properties.type, NOTIFY_FLAG_TYPE, \.type)
        set(properties.appID, NOTIFY_FLAG_APP_ID, \.app_id)
        if !properties.headers.isEmpty {
            c.headers = table(properties.headers)
            flags |= NOTIFY_FLAG_HEADERS
        }
        if let persistent = properties.persistent {
            c.delivery_mode = persistent ? 2 : 1
            flags |= NOTIFY_FLAG_DELIVERY_MODE
        }
        if let priority = properties.priority {
            c.priority = priority
            flags |= NOTIFY_FLAG_PRIORITY
        }
        if let timestamp = properties.timestamp {
            c.timestamp = timestamp
            flags |= NOTIFY_FLAG_TIMESTAMP
        }
        c._flags = flags
        return c
    }

    private static func kind(_ kind: amqp_field_value_kind_t) -> UInt8 { UInt8(kind.rawValue) }
}
