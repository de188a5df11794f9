/// Where a webhook may be sent (server-side request forgery): a public address, unless configuration allows
/// loopback or private networks. Pure, on the address's bytes, for the provider to apply to every address a host
/// name resolves to before it connects to one of them. Every block of the IANA special-purpose registries is
/// refused, by its name (`SpecialAddressBlock`); an IPv4-mapped or NAT64 (`64:ff9b::/96`) IPv6 address is judged as
/// the IPv4 address it carries, so DNS64 networks still reach public hosts and never an internal one through the
/// translator; IPv6 outside 2000::/3 is reserved.
public struct EgressPolicy: Sendable, Equatable {
    public var allowLoopback = false
    public var allowPrivateNetworks = false

    public init(allowLoopback: Bool = false, allowPrivateNetworks: Bool = false) {
        self.allowLoopback = allowLoopback
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    /// Why an address is refused (the block's name and CIDR, e.g. `loopback (127.0.0.0/8)`), or nil when it may be
    /// sent to. 4 bytes for IPv4, 16 for IPv6.
    public func refusal(_ address: [UInt8]) -> String? {
        switch address.count {
        case 4:
            return SpecialAddressBlock.ipv4.first { $0.contains(address) }.flatMap(refusal)
        case 16:
            if SpecialAddressBlock.carryingIPv4.contains(where: { $0.contains(address) }) { return refusal(Array(address[12...])) }
            if let block = SpecialAddressBlock.ipv6.first(where: { $0.contains(address) }) { return refusal(block) }
            return SpecialAddressBlock.globalUnicast.contains(address) ? nil : "reserved (outside 2000::/3)"
        default:
            return "not an IP address"
        }
    }

    private func refusal(_ block: SpecialAddressBlock) -> String? {
        switch block.reach {
        case .loopback where allowLoopback, .privateNetwork where allowPrivateNetworks: nil
        case .loopback, .privateNetwork, .never: "\(block.name) (\(block.cidr))"
        }
    }
}
