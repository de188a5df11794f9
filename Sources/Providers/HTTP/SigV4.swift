import CivilDate
import Crypto
import Foundation
import NotifyCore

/// AWS Signature Version 4 (the SigV4 signing process in AWS's IAM reference) for one request: the headers to
/// add, `Authorization` among them. Pure: the caller passes the time, so tests check it against botocore's.
public struct SigV4: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// For temporary credentials (STS): sent as `X-Amz-Security-Token` and signed.
    public var sessionToken: String?
    public var region: String
    public var service: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String, service: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// The headers that sign `method path` to `host` (with its port unless the scheme's default) carrying `body`,
    /// at `date`: `X-Amz-Date`, `X-Amz-Security-Token` when there is one, and `Authorization`. `headers` are the
    /// other headers to sign (names in any case), such as `Content-Type`.
    public func headers(
        method: String, host: String, path: String, headers: [(String, String)], body: [UInt8], date: Date
    ) -> [(String, String)] {
        let (amzDate, day) = Self.timestamps(date)
        var signed = headers.map { ($0.0.lowercased(), Self.trimmed($0.1)) } + [("host", host), ("x-amz-date", amzDate)]
        if let sessionToken { signed.append(("x-amz-security-token", sessionToken)) }
        signed.sort { $0.0 < $1.0 }
        let names = signed.map(\.0).joined(separator: ";")
        let canonical = [
            method, Self.encodedPath(path), "", signed.map { "\($0.0):\($0.1)\n" }.joined(), names,
            lowercaseHex(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(lowercaseHex(SHA256.hash(data: Data(canonical.utf8))))"
        var key = SymmetricKey(data: Data("AWS4\(secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = lowercaseHex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: key))
        var added = [("X-Amz-Date", amzDate)]
        if let sessionToken { added.append(("X-Amz-Security-Token", sessionToken)) }
        added.append(
            ("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(names), Signature=\(signature)"))
        return added
    }

    /// `20150830T123600Z` and `20150830`, in UTC.
    static func timestamps(_ date: Date) -> (String, String) {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let (year, month, day) = CivilDate.date(daysSinceEpoch: Int((Double(seconds) / 86_400).rounded(.down)))
        let rest = seconds - Int((Double(seconds) / 86_400).rounded(.down)) * 86_400
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let dayStamp = "\(year)\(two(month))\(two(day))"
        return ("\(dayStamp)T\(two(rest / 3600))\(two(rest / 60 % 60))\(two(rest % 60))Z", dayStamp)
    }

    /// Each path segment percent-encoded but for RFC 3986's unreserved characters.
    static func encodedPath(_ path: String) -> String {
        guard !path.isEmpty else { return "/" }
        var out = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    /// Leading and trailing spaces off, inner runs of spaces made one.
    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}
