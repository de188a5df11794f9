/// The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890, RFC 8190, as of 2025), plus the multicast
/// ranges, as prefixes the egress policy judges addresses by. Each entry names where the policy puts it: loopback and
/// private networks may be allowed by configuration; everything else never carries a webhook. Entries the registries
/// nest inside a larger one are covered by it: 0.0.0.0/32 by 0.0.0.0/8; 192.0.0.0/29, 192.0.0.8/32, 192.0.0.9/32,
/// 192.0.0.10/32, 192.0.0.170/32 and 192.0.0.171/32 by 192.0.0.0/24; 2001::/32 (Teredo), 2001:1::1/128 to
/// 2001:1::3/128, 2001:2::/48, 2001:3::/32, 2001:4:112::/48, 2001:10::/28, 2001:20::/28 and 2001:30::/28 by
/// 2001::/23. `::ffff:0:0/96` (IPv4-mapped) and `64:ff9b::/96` (the NAT64 well-known prefix, which DNS64 answers in
/// IPv6-only networks) are not here: an address in them is judged as the IPv4 address it carries (`EgressPolicy`).
public struct SpecialAddressBlock: Sendable, Equatable {
    /// What the policy makes of an address in the block.
    public enum Reach: Sendable, Equatable {
        /// Sent to only with `webhooks.allowLoopback`.
        case loopback
        /// Sent to only with `webhooks.allowPrivateNetworks`.
        case privateNetwork
        /// Never sent to.
        case never
    }

    /// The block as the registry writes it, e.g. `198.18.0.0/15`.
    public let cidr: String
    public let name: String
    public let reach: Reach
    /// The network's address: 4 bytes for IPv4, 16 for IPv6.
    public let prefix: [UInt8]
    public let length: Int

    /// Only for the literals below: a CIDR that does not parse is a mistake in this file, and the tests parse all.
    init(_ cidr: String, _ name: String, _ reach: Reach) {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let prefix = IPAddressText.bytes(parts[0]), let length = Int(parts[1]), length <= prefix.count * 8
        else { preconditionFailure("not a CIDR block: \(cidr)") }
        (self.cidr, self.name, self.reach, self.prefix, self.length) = (cidr, name, reach, prefix, length)
    }

    /// Whether `address` (of the same family) is in the block.
    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == prefix.count else { return false }
        var bits = length
        for (have, want) in zip(address, prefix) where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            guard have & mask == want & mask else { return false }
            bits -= 8
        }
        return true
    }

    /// Checked in order: a more specific block comes before one that contains it.
    public static let ipv4: [SpecialAddressBlock] = [
        .init("0.0.0.0/8", "this network", .never),
        .init("10.0.0.0/8", "private network", .privateNetwork),
        .init("100.64.0.0/10", "shared address space", .privateNetwork),
        .init("127.0.0.0/8", "loopback", .loopback),
        .init("169.254.0.0/16", "link-local", .never),
        .init("172.16.0.0/12", "private network", .privateNetwork),
        .init("192.0.0.0/24", "IETF protocol assignments", .never),
        .init("192.0.2.0/24", "documentation", .never),
        .init("192.31.196.0/24", "AS112", .never),
        .init("192.52.193.0/24", "AMT", .never),
        .init("192.88.99.0/24", "6to4 relay anycast", .never),
        .init("192.168.0.0/16", "private network", .privateNetwork),
        .init("192.175.48.0/24", "AS112 direct delegation", .never),
        .init("198.18.0.0/15", "benchmarking", .never),
        .init("198.51.100.0/24", "documentation", .never),
        .init("203.0.113.0/24", "documentation", .never),
        .init("224.0.0.0/4", "multicast", .never),
        .init("255.255.255.255/32", "limited broadcast", .never),
        .init("240.0.0.0/4", "reserved", .never),
    ]

    /// Checked in order, after the IPv4-carrying prefixes; an address outside all of them and outside
    /// 2000::/3 (the only space IANA allocates as global unicast) is reserved.
    public static let ipv6: [SpecialAddressBlock] = [
        .init("::1/128", "loopback", .loopback),
        .init("::/128", "unspecified", .never),
        .init("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", .privateNetwork),
        .init("100::/64", "discard-only", .never),
        .init("100:0:0:1::/64", "dummy prefix", .never),
        .init("2001::/23", "IETF protocol assignments", .never),
        .init("2001:db8::/32", "documentation", .never),
        .init("2002::/16", "6to4", .never),
        .init("2620:4f:8000::/48", "AS112 direct delegation", .never),
        .init("3fff::/20", "documentation", .never),
        .init("5f00::/16", "SRv6 segment identifiers", .never),
        .init("fc00::/7", "private network", .privateNetwork),
        .init("fe80::/10", "link-local", .never),
        .init("ff00::/8", "multicast", .never),
    ]

    /// 2000::/3: IPv6 global unicast, the rest of the IPv6 space is reserved by the IETF.
    public static let globalUnicast = SpecialAddressBlock("2000::/3", "global unicast", .never)
    /// IPv6 addresses that carry an IPv4 address in their last 4 bytes, judged as it.
    public static let carryingIPv4 = [
        SpecialAddressBlock("::ffff:0:0/96", "IPv4-mapped", .never), SpecialAddressBlock("64:ff9b::/96", "NAT64", .never),
    ]
}

/// IP addresses as text, parsed without the C library (the policy is pure): dotted-quad IPv4, and IPv6 as hex
/// groups with at most one `::` (no embedded dotted IPv4, no zone).
public enum IPAddressText {
    /// 4 bytes for IPv4, 16 for IPv6; nil when `text` is neither.
    public static func bytes(_ text: some StringProtocol) -> [UInt8]? {
        text.contains(":") ? ipv6(String(text)) : ipv4(String(text))
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { $0.count <= 3 && $0.allSatisfy(\.isASCII) ? UInt8($0) : nil }
        return bytes.count == 4 ? bytes : nil
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            let words = part.split(separator: ":", omittingEmptySubsequences: false).compactMap { word in
                (1...4).contains(word.count) && word.allSatisfy(\.isHexDigit) ? UInt16(word, radix: 16) : nil
            }
            return words.count == part.split(separator: ":", omittingEmptySubsequences: false).count ? words : nil
        }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        let words: [UInt16]
        switch halves.count {
        case 1:
            guard let all = groups(halves[0]), all.count == 8 else { return nil }
            words = all
        case 2:
            guard let left = groups(halves[0]), let right = groups(halves[1]), left.count + right.count <= 7 else { return nil }
            words = left + [UInt16](repeating: 0, count: 8 - left.count - right.count) + right
        default:
            return nil
        }
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
