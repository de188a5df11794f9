import Foundation
import NotifyCore
import PropertyBased
import Testing

@Suite("Egress policy: every IANA special-purpose block refused by name; loopback and private networks only when allowed")
struct EgressPolicyTests {
    static let strict = EgressPolicy()
    static let open = EgressPolicy(allowLoopback: true, allowPrivateNetworks: true)

    /// The C library's reading of an address: the tests' bytes do not come from the parser under test.
    static func address(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// (address, why the default policy refuses it, why a policy allowing loopback and private networks does).
    static let table: [(String, String?, String?)] = [
        ("0.0.0.0", "this network (0.0.0.0/8)", "this network (0.0.0.0/8)"),
        ("0.255.255.255", "this network (0.0.0.0/8)", "this network (0.0.0.0/8)"),
        ("10.0.0.0", "private network (10.0.0.0/8)", nil), ("10.255.255.255", "private network (10.0.0.0/8)", nil), ("11.0.0.0", nil, nil),
        ("100.63.255.255", nil, nil), ("100.64.0.0", "shared address space (100.64.0.0/10)", nil),
        ("100.127.255.255", "shared address space (100.64.0.0/10)", nil), ("100.128.0.0", nil, nil),
        ("126.255.255.255", nil, nil), ("127.0.0.1", "loopback (127.0.0.0/8)", nil), ("127.255.255.254", "loopback (127.0.0.0/8)", nil),
        ("128.0.0.0", nil, nil), ("169.254.169.254", "link-local (169.254.0.0/16)", "link-local (169.254.0.0/16)"),
        ("172.15.255.255", nil, nil), ("172.16.0.1", "private network (172.16.0.0/12)", nil),
        ("172.31.255.255", "private network (172.16.0.0/12)", nil), ("172.32.0.0", nil, nil),
        ("192.0.0.0", "IETF protocol assignments (192.0.0.0/24)", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.0.8", "IETF protocol assignments (192.0.0.0/24)", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.0.9", "IETF protocol assignments (192.0.0.0/24)", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.0.10", "IETF protocol assignments (192.0.0.0/24)", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.0.171", "IETF protocol assignments (192.0.0.0/24)", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.1.0", nil, nil), ("192.0.2.1", "documentation (192.0.2.0/24)", "documentation (192.0.2.0/24)"), ("192.0.3.0", nil, nil),
        ("192.31.196.1", "AS112 (192.31.196.0/24)", "AS112 (192.31.196.0/24)"),
        ("192.52.193.1", "AMT (192.52.193.0/24)", "AMT (192.52.193.0/24)"),
        ("192.88.99.1", "6to4 relay anycast (192.88.99.0/24)", "6to4 relay anycast (192.88.99.0/24)"),
        ("192.168.1.1", "private network (192.168.0.0/16)", nil),
        ("192.175.48.1", "AS112 direct delegation (192.175.48.0/24)", "AS112 direct delegation (192.175.48.0/24)"),
        ("198.17.255.255", nil, nil), ("198.18.0.0", "benchmarking (198.18.0.0/15)", "benchmarking (198.18.0.0/15)"),
        ("198.19.255.255", "benchmarking (198.18.0.0/15)", "benchmarking (198.18.0.0/15)"), ("198.20.0.0", nil, nil),
        ("198.51.100.7", "documentation (198.51.100.0/24)", "documentation (198.51.100.0/24)"),
        ("203.0.113.9", "documentation (203.0.113.0/24)", "documentation (203.0.113.0/24)"), ("223.255.255.255", nil, nil),
        ("224.0.0.1", "multicast (224.0.0.0/4)", "multicast (224.0.0.0/4)"),
        ("239.255.255.255", "multicast (224.0.0.0/4)", "multicast (224.0.0.0/4)"),
        ("240.0.0.1", "reserved (240.0.0.0/4)", "reserved (240.0.0.0/4)"),
        ("255.255.255.254", "reserved (240.0.0.0/4)", "reserved (240.0.0.0/4)"),
        ("255.255.255.255", "limited broadcast (255.255.255.255/32)", "limited broadcast (255.255.255.255/32)"),
        ("93.184.216.34", nil, nil), ("8.8.8.8", nil, nil),

        ("::1", "loopback (::1/128)", nil), ("::", "unspecified (::/128)", "unspecified (::/128)"),
        ("::2", "reserved (outside 2000::/3)", "reserved (outside 2000::/3)"),
        ("::ffff:127.0.0.1", "loopback (127.0.0.0/8)", nil),
        ("::ffff:169.254.169.254", "link-local (169.254.0.0/16)", "link-local (169.254.0.0/16)"),
        ("::ffff:198.18.0.1", "benchmarking (198.18.0.0/15)", "benchmarking (198.18.0.0/15)"), ("::ffff:93.184.216.34", nil, nil),
        ("64:ff9b::127.0.0.1", "loopback (127.0.0.0/8)", nil), ("64:ff9b::10.0.0.1", "private network (10.0.0.0/8)", nil),
        ("64:ff9b::169.254.169.254", "link-local (169.254.0.0/16)", "link-local (169.254.0.0/16)"), ("64:ff9b::8.8.8.8", nil, nil),
        ("64:ff9b:1::1", "local-use IPv4/IPv6 translation (64:ff9b:1::/48)", nil),
        ("64:ff9b:2::1", "reserved (outside 2000::/3)", "reserved (outside 2000::/3)"),
        ("100::1", "discard-only (100::/64)", "discard-only (100::/64)"),
        ("100::ffff:ffff:ffff:ffff", "discard-only (100::/64)", "discard-only (100::/64)"),
        ("100:0:0:1::1", "dummy prefix (100:0:0:1::/64)", "dummy prefix (100:0:0:1::/64)"),
        ("100:0:0:2::", "reserved (outside 2000::/3)", "reserved (outside 2000::/3)"),
        ("2001::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:1::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:1::3", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:2::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:3::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:4:112::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:10::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:20::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:30::1", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "IETF protocol assignments (2001::/23)", "IETF protocol assignments (2001::/23)"),
        ("2001:200::1", nil, nil), ("2001:db8::1", "documentation (2001:db8::/32)", "documentation (2001:db8::/32)"),
        ("2001:db9::1", nil, nil),
        ("2002::1", "6to4 (2002::/16)", "6to4 (2002::/16)"), ("2002:7f00:1::1", "6to4 (2002::/16)", "6to4 (2002::/16)"),
        ("2003::1", nil, nil),
        ("2620:4f:8000::1", "AS112 direct delegation (2620:4f:8000::/48)", "AS112 direct delegation (2620:4f:8000::/48)"),
        ("2620:4f:8001::1", nil, nil), ("3fff::1", "documentation (3fff::/20)", "documentation (3fff::/20)"),
        ("3fff:fff:ffff::1", "documentation (3fff::/20)", "documentation (3fff::/20)"), ("3fff:1000::1", nil, nil),
        ("5f00::1", "SRv6 segment identifiers (5f00::/16)", "SRv6 segment identifiers (5f00::/16)"),
        ("fc00::1", "private network (fc00::/7)", nil), ("fd12:3456::1", "private network (fc00::/7)", nil),
        ("fe80::1", "link-local (fe80::/10)", "link-local (fe80::/10)"), ("febf::1", "link-local (fe80::/10)", "link-local (fe80::/10)"),
        ("fec0::1", "reserved (outside 2000::/3)", "reserved (outside 2000::/3)"),
        ("ff02::1", "multicast (ff00::/8)", "multicast (ff00::/8)"),
        ("1000::1", "reserved (outside 2000::/3)", "reserved (outside 2000::/3)"),
        ("4000::1", "reserved (outside 2000::/3)", "reserved (outside 2000::/3)"),
        ("2606:4700:4700::1111", nil, nil), ("3ffe::1", nil, nil),
    ]

    @Test("each row: the block's name and CIDR, or sent to; allowing loopback and private networks opens exactly those")
    func table() throws {
        for (text, strict, open) in Self.table {
            let address = try #require(Self.address(text), "\(text)")
            #expect(Self.strict.refusal(address) == strict, "\(text)")
            #expect(Self.open.refusal(address) == open, "\(text)")
        }
        #expect(Self.strict.refusal([1, 2, 3]) == "not an IP address")
        #expect(EgressPolicy(allowLoopback: true).refusal(try #require(Self.address("10.0.0.1"))) == "private network (10.0.0.0/8)")
        #expect(EgressPolicy(allowPrivateNetworks: true).refusal(try #require(Self.address("127.0.0.1"))) == "loopback (127.0.0.0/8)")
    }

    @Test("every block of the table parses as the C library reads its CIDR, and holds its first and last address")
    func blocks() throws {
        for block in SpecialAddressBlock.ipv4 + SpecialAddressBlock.ipv6 + SpecialAddressBlock.carryingIPv4 + [
            SpecialAddressBlock.globalUnicast
        ] {
            let network = try #require(Self.address(String(block.cidr.prefix { $0 != "/" })), "\(block.cidr)")
            #expect(block.prefix == network, "\(block.cidr)")
            var last = network
            for bit in block.length..<(network.count * 8) { last[bit / 8] |= 0x80 >> UInt8(bit % 8) }
            #expect(block.contains(network) && block.contains(last), "\(block.cidr)")
            if block.length > 0, let after = Self.increment(last) { #expect(!block.contains(after), "\(block.cidr)") }
        }
        for text in ["1.2.3", "1.2.3.256", "1:2:3:4:5:6:7", "1::2::3", ":::", "12345::", "g::1", "1.2.3.4.5", ""] {
            #expect(IPAddressText.bytes(text) == nil, "\(text)")
        }
    }

    @Test("an IPv4 address is judged the same bare, IPv4-mapped and behind the NAT64 prefix; allowing more never refuses more")
    func embedded() async {
        await propertyCheck(count: 2000, input: Gen.int(in: 0...255).array(of: 4...4)) { octets in
            let v4 = octets.map { UInt8($0) }
            let mapped = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + v4
            let nat64: [UInt8] = [0, 0x64, 0xFF, 0x9B] + [UInt8](repeating: 0, count: 8) + v4
            #expect(Self.strict.refusal(mapped) == Self.strict.refusal(v4) && Self.strict.refusal(nat64) == Self.strict.refusal(v4))
            #expect(Self.strict.refusal(v4) != nil || Self.open.refusal(v4) == nil)
        }
    }

    static func increment(_ address: [UInt8]) -> [UInt8]? {
        var next = address
        for index in next.indices.reversed() {
            if next[index] < 0xFF {
                next[index] += 1
                return next
            }
            next[index] = 0
        }
        return nil
    }
}
