import NotifyStore
import Testing

/// The migrations live in more than one file (`Migrations.swift`, `Migrations+Later.swift`) but are one list: two
/// branches that each add "the next" version collide here, not in a database.
@Suite("The schema's migrations are one ordered list")
struct MigrationListTests {
    @Test("versions run 1, 2, 3, ... across the files, each once, in order")
    func ordered() {
        #expect(Migrations.all.map(\.version) == Array(1...Migrations.all.count))
    }
}
