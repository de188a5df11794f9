import Testing

@testable import notifyd

@Suite("Whom a receipt's body is held for: an address, an IPv6 address by its /64")
struct RequestBodiesTests {
    @Test("IPv4 as it is (also when a dual-stack listener maps it), IPv6 by its /64, no address as one holder")
    func network() {
        #expect(RequestBodies.network(of: "192.0.2.7") == "192.0.2.7")
        #expect(RequestBodies.network(of: "::ffff:192.0.2.7") == "192.0.2.7")
        #expect(RequestBodies.network(of: "2001:db8:1:2:aaaa::1") == RequestBodies.network(of: "2001:db8:1:2:ffff:ffff:ffff:ffff"))
        #expect(RequestBodies.network(of: "2001:db8:1:2::1") == "20010db800010002::/64")
        #expect(RequestBodies.network(of: "2001:db8:1:3::1") != RequestBodies.network(of: "2001:db8:1:2::1"))
        #expect(RequestBodies.network(of: nil) == "-")
    }
}
