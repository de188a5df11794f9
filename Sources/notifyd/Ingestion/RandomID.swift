import Foundation
import Synchronization

/// Random (version 4) UUIDs as lower-case strings, for the ids the planner mints on the ingestion path (a
/// notification, a delivery, an OutOfStock `event_id` per event). Foundation's `UUID().uuidString` costs about
/// 4 µs here; this takes about 0.2 µs: the kernel's random bytes are read from `/dev/urandom` 4 KiB at a time
/// (one read per 256 ids) and formatted by hand. Ids stay unguessable: every bit but the version and variant is
/// the kernel's CSPRNG (the standard library's system generator when `/dev/urandom` cannot be read).
enum RandomID {
    private static let urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
    private static let pool = Mutex<(words: [UInt64], next: Int)>(([], 0))
    private static let hex = Array("0123456789abcdef".utf8)

    @Sendable static func uuid() -> String {
        let (high, low) = pool.withLock { pool -> (UInt64, UInt64) in
            if pool.next + 2 > pool.words.count {
                pool.words = refill()
                pool.next = 0
            }
            defer { pool.next += 2 }
            return (pool.words[pool.next], pool.words[pool.next + 1])
        }
        return format(high: high & 0xFFFF_FFFF_FFFF_0FFF | 0x4000, low: low & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000)
    }

    private static func refill() -> [UInt64] {
        var words = [UInt64](repeating: 0, count: 512)
        let complete = words.withUnsafeMutableBytes { raw -> Bool in
            guard urandom >= 0 else { return false }
            var filled = 0
            while filled < raw.count {
                let got = read(urandom, raw.baseAddress! + filled, raw.count - filled)
                if got > 0 {
                    filled += got
                } else if got < 0, errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
        if !complete {
            var generator = SystemRandomNumberGenerator()
            for index in words.indices { words[index] = generator.next() }
        }
        return words
    }

    /// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    static func format(high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    buffer[index] = hex[Int((value >> UInt64(shift)) & 0xF)]
                    index += 1
                }
            }
            func dash() {
                buffer[index] = UInt8(ascii: "-")
                index += 1
            }
            put(high >> 32, nibbles: 8)
            dash()
            put(high >> 16, nibbles: 4)
            dash()
            put(high, nibbles: 4)
            dash()
            put(low >> 48, nibbles: 4)
            dash()
            put(low, nibbles: 12)
            return 36
        }
    }
}
