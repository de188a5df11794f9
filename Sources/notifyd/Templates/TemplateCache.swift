import Foundation
import NotifyCore
import NotifyStore
import Postgres
import Synchronization

/// The live versions of products' templates, compiled, for the send path. An entry is trusted for `freshness` (one
/// second) after the database last confirmed it; the next use after that asks for the live version's number (one
/// indexed read) and compiles again only when it changed. So a publish or a rollback made through any daemon reaches
/// every daemon's sends within a second, with no restart and no broadcast, and the steady cost is one small read per
/// template per second. At most `capacity` templates, and `maxBytes` of them (`CompiledTemplate.footprint`), are held;
/// past either the ones confirmed longest ago go. A template larger than `maxBytes` alone is used and not kept.
final class TemplateCache: Sendable {
    private struct Key: Hashable {
        var product: UUID
        var name: String
    }

    private struct Entry {
        var template: CompiledTemplate
        var confirmed: ContinuousClock.Instant
    }

    let capacity: Int
    let freshness: Duration
    /// 64 MiB: an eighth of the unit's `MemoryMax`, a thousand ordinary templates (60 KB compiled), or ten of the
    /// largest a product may publish (512 KiB of source, 6 MB compiled).
    let maxBytes: Int
    private let entries = Mutex<(byKey: [Key: Entry], bytes: Int)>(([:], 0))

    init(capacity: Int = 1_000, maxBytes: Int = 64 << 20, freshness: Duration = .seconds(1)) {
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.freshness = freshness
    }

    /// How many templates, and how many bytes of them, are held now.
    var held: (count: Int, bytes: Int) { entries.withLock { ($0.byKey.count, $0.bytes) } }

    /// The live version of `product`'s template `name`, compiled; nil when the product has no such template. Runs on
    /// the caller's database thread (an RPC handler's).
    func live(product: UUID, name: String, on db: PGConnection) throws -> CompiledTemplate? {
        let key = Key(product: product, name: name)
        let now = ContinuousClock.now
        let cached = entries.withLock { $0.byKey[key] }
        if let cached, now - cached.confirmed < freshness { return cached.template }
        guard let version = try TemplateStore.liveVersion(product: product, name: name, on: db) else {
            forget(product: product, name: name)
            return nil
        }
        let template: CompiledTemplate
        if let cached, cached.template.version == version {
            template = cached.template
        } else {
            guard let stored = try TemplateStore.version(product: product, name: name, version: version, on: db) else { return nil }
            template = try Self.compile(stored, name: name)
        }
        guard template.footprint <= maxBytes else {
            forget(product: product, name: name)
            return template
        }
        entries.withLock { entries in
            if let replaced = entries.byKey.removeValue(forKey: key) { entries.bytes -= replaced.template.footprint }
            while entries.byKey.count >= capacity || entries.bytes + template.footprint > maxBytes,
                let oldest = entries.byKey.min(by: { $0.value.confirmed < $1.value.confirmed })?.key
            {
                entries.bytes -= entries.byKey.removeValue(forKey: oldest)?.template.footprint ?? 0
            }
            entries.byKey[key] = Entry(template: template, confirmed: now)
            entries.bytes += template.footprint
        }
        return template
    }

    /// Drops a template, so this daemon's next send reads it again (after this daemon changed it).
    func forget(product: UUID, name: String) {
        entries.withLock { entries in
            entries.bytes -= entries.byKey.removeValue(forKey: Key(product: product, name: name))?.template.footprint ?? 0
        }
    }

    /// A stored version, compiled. It compiled when it was published; should it not now (a newer Mustache library),
    /// the send is refused naming the template, rather than sent blank.
    static func compile(_ stored: TemplateStore.Version, name: String) throws -> CompiledTemplate {
        do throws(Rejection) {
            var input = JSONInput()
            input.maxBytes = ProductTemplate.maxRequestBytes
            let template = try ProductTemplate(JSONFields(try input.object(from: Array(stored.definition.utf8))))
            return try CompiledTemplate(name: name, version: stored.version, template: template)
        } catch {
            throw CommandFailure(
                status: 409, code: "template-unusable",
                message: "template '\(name)' version \(stored.version) cannot be used: \(error.detail); publish it again")
        }
    }
}
