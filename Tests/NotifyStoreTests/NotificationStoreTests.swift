import NotifyStore
import Testing

@Suite("Notification store helpers")
struct NotificationStoreTests {
    @Test(
        "server timestamps become fixed-width RFC 3339 in UTC",
        arguments: [
            ("2026-11-21 10:03:17.505829+00", "2026-11-21T10:03:17.505829Z"),
            ("2026-11-21 10:03:17.5+00", "2026-11-21T10:03:17.500000Z"),
            ("2026-11-21 10:03:17+00", "2026-11-21T10:03:17.000000Z"),
        ])
    func rfc3339(server: String, expected: String) {
        #expect(NotificationStore.rfc3339(server) == expected)
    }
}
