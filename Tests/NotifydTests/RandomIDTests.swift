import Foundation
import Testing

@testable import notifyd

@Suite("Random ids minted on the ingestion path")
struct RandomIDTests {
    @Test("version 4 UUIDs in lower case that Foundation parses, none repeated across pool refills")
    func uuids() throws {
        var seen = Set<String>()
        for _ in 0..<5_000 {
            let id = RandomID.uuid()
            #expect(id.count == 36 && id == id.lowercased())
            let parsed = try #require(UUID(uuidString: id))
            #expect(parsed.uuidString.lowercased() == id)
            let characters = Array(id)
            #expect(characters[14] == "4", "version 4")
            #expect("89ab".contains(characters[19]), "RFC 4122 variant")
            seen.insert(id)
        }
        #expect(seen.count == 5_000)
    }

    @Test("the layout of the 128 bits")
    func format() {
        #expect(RandomID.format(high: 0x0123_4567_89AB_4DEF, low: 0x8123_4567_89AB_CDEF) == "01234567-89ab-4def-8123-456789abcdef")
    }
}
