import Crypto
import Foundation

/// An API key: `fmk_<id>_<secret>`, where the id (16 base32 characters, 80 random bits) names the key in the store,
/// the audit trail and the log, and the secret (43 base64url characters, 256 random bits) is shown once, when the key
/// is issued, and kept only as its SHA-256. The readable prefix lets secret scanners and people recognise a leaked
/// key. A slow password hash is not needed: the secret is random, not chosen by a person.
public struct APIKey: Sendable, Equatable {
    public static let prefix = "fmk_"
    public static let idLength = 16
    public static let secretLength = 43

    /// The public part, e.g. `k3x7...`: safe to log.
    public let id: String
    /// The whole key as the caller presents it (never logged, never stored).
    public let text: String

    /// A new key from the system's cryptographic generator.
    public static func generate() -> APIKey {
        var generator = SystemRandomNumberGenerator()
        let id = Base32.lowercase((0..<10).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let secret = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }).base64URL
        return APIKey(id: id, text: prefix + id + "_" + secret)
    }

    private init(id: String, text: String) {
        self.id = id
        self.text = text
    }

    /// The key in `text`, or nil when it does not have this service's shape (then it is unknown: 401).
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        let idEnd = Self.prefix.utf8.count + Self.idLength
        guard bytes.count == idEnd + 1 + Self.secretLength, text.hasPrefix(Self.prefix), bytes[idEnd] == UInt8(ascii: "_"),
            bytes[Self.prefix.utf8.count..<idEnd].allSatisfy(Base32.isDigit),
            bytes[(idEnd + 1)...].allSatisfy(Self.isBase64URL)
        else { return nil }
        self.init(id: String(decoding: bytes[Self.prefix.utf8.count..<idEnd], as: UTF8.self), text: text)
    }

    /// What the store keeps: the hex SHA-256 of the whole key.
    public var hash: String { Self.hash(text) }

    /// The hex SHA-256 of any presented credential (also the admin credential, which need not be an `fmk_` key).
    public static func hash(_ text: String) -> String {
        lowercaseHex(SHA256.hash(data: Data(text.utf8)))
    }

    /// Whether two hashes are equal, in time that does not depend on where they differ.
    public static func hashesMatch(_ left: String, _ right: String) -> Bool {
        let (a, b) = (Array(left.utf8), Array(right.utf8))
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}

/// RFC 4648 base32 in lower case, without padding: ids that read well and survive case-insensitive systems.
enum Base32 {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func lowercase(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                output.append(alphabet[(buffer >> bits) & 31])
            }
        }
        if bits > 0 { output.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: output, as: UTF8.self)
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "2")...UInt8(ascii: "7")).contains(byte)
    }
}

extension Data {
    /// Base64url without padding (RFC 4648 §5).
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
