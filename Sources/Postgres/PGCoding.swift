import CivilDate
import Foundation

/// A Swift value sent as a text-format parameter.
public protocol PGEncodable: Sendable {
    /// The value in PostgreSQL's text input format; nil sends NULL.
    var pgText: String? { get }
}

/// A Swift value read from a text-format result column.
public protocol PGDecodable: Sendable {
    init?(pgText: String)
}

extension String: PGEncodable, PGDecodable {
    public var pgText: String? { self }
    public init?(pgText: String) { self = pgText }
}

/// Numbers travel in their Swift text form, which PostgreSQL's input functions accept as is.
extension PGEncodable where Self: LosslessStringConvertible {
    public var pgText: String? { description }
}

extension PGDecodable where Self: LosslessStringConvertible {
    public init?(pgText: String) { self.init(pgText) }
}

extension Int: PGEncodable, PGDecodable {}
extension Int64: PGEncodable, PGDecodable {}
extension Int32: PGEncodable, PGDecodable {}
extension Double: PGEncodable, PGDecodable {}

extension Bool: PGEncodable, PGDecodable {
    public var pgText: String? { self ? "t" : "f" }
    public init?(pgText: String) {
        switch pgText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

extension UUID: PGEncodable, PGDecodable {
    public var pgText: String? { uuidString.lowercased() }
    public init?(pgText: String) { self.init(uuidString: pgText) }
}

/// `bytea`, in hex format both ways.
extension [UInt8]: PGEncodable, PGDecodable {
    public var pgText: String? {
        var text = "\\x"
        text.reserveCapacity(2 + count * 2)
        for byte in self {
            text.append(Self.hexDigits[Int(byte >> 4)])
            text.append(Self.hexDigits[Int(byte & 0x0F)])
        }
        return text
    }

    public init?(pgText: String) {
        let utf8 = Array(pgText.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }

    private static let hexDigits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]

    private static func nibble(_ ascii: UInt8) -> UInt8? {
        switch ascii {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): ascii - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): ascii - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): ascii - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// `timestamptz`. Sessions run with `TimeZone=UTC` and `DateStyle=ISO`, so the server writes
/// `2026-11-21 10:03:17.123456+00`; microseconds survive the round trip.
extension Date: PGEncodable, PGDecodable {
    public var pgText: String? {
        let micros = Int64((timeIntervalSince1970 * 1_000_000).rounded())
        let (days, microsOfDay) = micros.floorDivided(by: 86_400_000_000)
        let (year, month, day) = CivilDate.date(daysSinceEpoch: Int(days))
        let seconds = microsOfDay / 1_000_000
        func pad(_ value: some BinaryInteger, _ width: Int) -> String { CivilDate.padded(value, width) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):"
            + "\(pad(seconds % 60, 2)).\(pad(microsOfDay % 1_000_000, 6))+00"
    }

    public init?(pgText: String) {
        // YYYY-MM-DD HH:MM:SS[.ffffff]+00
        let bytes = Array(pgText.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard bytes.count >= 22, let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var index = 19
        var micros: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 6 { micros = micros * 10 + Int64(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            if digits < 6 { for _ in digits..<6 { micros *= 10 } }
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else {
            return nil
        }
        let sign: Int64 = bytes[index] == UInt8(ascii: "+") ? 1 : -1
        guard let offsetHours = number(index + 1..<index + 3) else { return nil }
        let offsetMinutes = number(index + 4..<index + 6) ?? 0
        let days = Int64(CivilDate.daysSinceEpoch(year: Int(year), month: Int(month), day: Int(day)))
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - sign * (offsetHours * 3600 + offsetMinutes * 60)
        self.init(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> (Int64, Int64) {
        let quotient = self >= 0 ? self / divisor : (self - divisor + 1) / divisor
        return (quotient, self - quotient * divisor)
    }
}

/// A text array parameter (`text[]`), for set-based statements such as `WHERE x = ANY($1)` or `unnest($1)`.
/// Elements are quoted and escaped in PostgreSQL's array literal syntax; they travel as data, never as SQL.
public struct PGTextArray: PGEncodable {
    /// nil elements are SQL NULLs.
    public var elements: [String?]

    public init(_ elements: [String]) { self.elements = elements }
    public init(_ elements: [String?]) { self.elements = elements }

    public var pgText: String? {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let element else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            let utf8 = element.utf8
            if utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                for byte in utf8 {
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                    bytes.append(byte)
                }
            } else {
                bytes.append(contentsOf: utf8)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
