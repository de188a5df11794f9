import ArgumentParser
import Foundation
import NotifyCore

/// `notifyctl product create|show|rename|activate|deactivate|quota`: onboarding (the admin credential, or a product's key).
struct ProductCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "product", abstract: "Onboard a product and change it (keys are shown once, when issued).",
        subcommands: [Create.self, Show.self, Rename.self, Activate.self, Deactivate.self, Quota.self])

    struct Quota: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a product's own send quota, for it and its organisations together (admin), or --default for the deployment's.")
        @Argument(help: "The product id.") var id: String
        @OptionGroup var quota: QuotaOptions
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let update = TenantUpdate(id: try uuid(id), quota: try quota.change())
            try showProduct(try await callDaemon(options, UpdateProduct(update)).body, json: options.json)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a product, and organisations under it, each with a key (admin).")
        @Argument(help: "The product's name.") var name: String
        @Option(name: .customLong("org"), help: "An organisation to create under it; repeat for several.") var organizations: [String] = []
        @Flag(help: "Create it deactivated.") var inactive = false
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let request = CreateProduct(
                product: TenantSpec(name: name, active: !inactive), organizations: organizations.map { TenantSpec(name: $0) })
            let body = try await callDaemon(options, request).body
            if options.json { return try printJSON(body) }
            let product = body["product"] as? [String: Any] ?? [:]
            let organizations = body["organizations"] as? [[String: Any]] ?? []
            let rows =
                [["product", "\(product["id"] ?? "")", "\(product["name"] ?? "")", "\(product["apiKey"] ?? "")"]]
                + organizations.map { ["organization", "\($0["id"] ?? "")", "\($0["name"] ?? "")", "\($0["apiKey"] ?? "")"] }
            print(Table(header: ["KIND", "ID", "NAME", "API KEY (shown once)"], rows: rows).rendered)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a product and its organisations (the key's own product by default).")
        @Argument(help: "The product id.") var id: String?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showProduct(try await callDaemon(options, GetProduct(productID: try id.map(uuid))).body, json: options.json)
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename a product.")
        @Argument(help: "The product id.") var id: String
        @Argument(help: "The new name.") var name: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showProduct(
                try await callDaemon(options, UpdateProduct(TenantUpdate(id: try uuid(id), name: name))).body, json: options.json)
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Activate a product (admin); its organisations are activated one by one.")
        @Argument(help: "The product id.") var id: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showProduct(
                try await callDaemon(options, UpdateProduct(TenantUpdate(id: try uuid(id), active: true))).body, json: options.json)
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate a product and its organisations (admin): their keys get 403.")
        @Argument(help: "The product id.") var id: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showProduct(
                try await callDaemon(options, UpdateProduct(TenantUpdate(id: try uuid(id), active: false))).body, json: options.json)
        }
    }
}

/// `notifyctl org create|show|rename|activate|deactivate|quota`: a product's organisations.
struct OrganizationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "org", abstract: "Create and change a product's organisations.",
        subcommands: [Create.self, Show.self, Rename.self, Activate.self, Deactivate.self, Quota.self])

    struct Quota: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set an organisation's own send quota (its product's key or the admin), or --default for the deployment's.")
        @Argument(help: "The organisation id.") var id: String
        @OptionGroup var quota: QuotaOptions
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let update = TenantUpdate(id: try uuid(id), quota: try quota.change())
            try showOrganization(try await callDaemon(options, UpdateOrganization(update)).body, json: options.json)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create organisations, each with a key (shown once).")
        @Argument(help: "Their names.") var names: [String]
        @Option(help: "The product (default: the key's own).") var product: String?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let request = CreateOrganizations(productID: try product.map(uuid), organizations: names.map { TenantSpec(name: $0) })
            let body = try await callDaemon(options, request).body
            if options.json { return try printJSON(body) }
            let rows = (body["organizations"] as? [[String: Any]] ?? []).map {
                ["\($0["id"] ?? "")", "\($0["name"] ?? "")", "\($0["apiKey"] ?? "")"]
            }
            print(Table(header: ["ID", "NAME", "API KEY (shown once)"], rows: rows).rendered)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an organisation (the key's own by default).")
        @Argument(help: "The organisation id.") var id: String?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showOrganization(try await callDaemon(options, GetOrganization(organizationID: try id.map(uuid))).body, json: options.json)
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename an organisation.")
        @Argument(help: "The organisation id.") var id: String
        @Argument(help: "The new name.") var name: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showOrganization(
                try await callDaemon(options, UpdateOrganization(TenantUpdate(id: try uuid(id), name: name))).body, json: options.json)
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Activate an organisation.")
        @Argument(help: "The organisation id.") var id: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showOrganization(
                try await callDaemon(options, UpdateOrganization(TenantUpdate(id: try uuid(id), active: true))).body, json: options.json)
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate an organisation: its keys get 403.")
        @Argument(help: "The organisation id.") var id: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try showOrganization(
                try await callDaemon(options, UpdateOrganization(TenantUpdate(id: try uuid(id), active: false))).body, json: options.json)
        }
    }
}

/// `notifyctl key rotate|revoke|create-service|new-admin`.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Rotate, revoke and issue API keys.",
        subcommands: [Rotate.self, Revoke.self, CreateService.self, NewAdmin.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a successor for a key (the one in use by default); the old one works through the grace period.")
        @Argument(help: "The key id (the 16 characters after fmk_).") var keyID: String?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let body = try await callDaemon(options, RotateAPIKey(keyID: keyID)).body
            if options.json { return try printJSON(body) }
            print("new key (shown once): \(body["apiKey"] ?? "")")
            print("the old key \(body["replacesKeyId"] ?? "") works until \(body["expiresOldAt"] ?? "")")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a key at once (the one in use by default).")
        @Argument(help: "The key id.") var keyID: String?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let body = try await callDaemon(options, RevokeAPIKey(keyID: keyID)).body
            if options.json { return try printJSON(body) }
            print(body["alreadyRevoked"] as? Bool == true ? "\(body["keyId"] ?? "") was already revoked" : "\(body["keyId"] ?? "") revoked")
            if let also = body["alsoRevoked"] as? [String], !also.isEmpty {
                print("revoked with it (minted in its grace): \(also.joined(separator: ", "))")
            }
        }
    }

    struct CreateService: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-service", abstract: "Issue a key for one of FlowMart's own services (admin).")
        @Argument(help: "The service's name.") var name: String
        @Option(name: .customLong("scope"), help: "A scope: \(Scope.service.map(\.rawValue).joined(separator: ", ")); repeat for several.")
        var scopes: [String] = []
        @OptionGroup var options: ConnectionOptions

        func validate() throws {
            guard !scopes.isEmpty, scopes.allSatisfy({ Scope(rawValue: $0).map(Scope.service.contains) == true }) else {
                throw ValidationError(
                    "give --scope one or more times, each one of \(Scope.service.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            let body = try await callDaemon(options, CreateServiceKey(name: name, scopes: scopes.compactMap(Scope.init(rawValue:)))).body
            if options.json { return try printJSON(body) }
            print("key for \(name) (shown once): \(body["apiKey"] ?? "")")
        }
    }

    struct NewAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new-admin",
            abstract: "Print a fresh random admin credential, for the file of the credential notify-admin-key (nothing is sent).")

        func run() {
            print(APIKey.generate().text)
        }
    }
}

/// `notifyctl audit`: the audit trail, newest first.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Show the audit trail, newest first.")
    @Option(help: "Only this entity, e.g. product:<id>, key:<id>.") var entity: String?
    @Option(help: "Only this actor, e.g. admin, key:<id>.") var actor: String?
    @Option(help: "Only this product's rows (admin).") var tenant: String?
    @Option(help: "From this time (RFC 3339).") var from: String?
    @Option(help: "Before this time (RFC 3339).") var to: String?
    @Option(help: "Rows, 1 to 100.") var limit = 20
    @Option(help: "The cursor a previous page printed.") var cursor: String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        func time(_ text: String?, _ flag: String) throws -> Date? {
            guard let text else { return nil }
            guard let date = RFC3339.date(from: text) else { throw ValidationError("--\(flag) must be an RFC 3339 time") }
            return date
        }
        let request = ListAuditEvents(
            entity: entity, actor: actor, tenant: try tenant.map(uuid), from: try time(from, "from"), to: try time(to, "to"), limit: limit,
            cursor: try cursor.map { text in
                guard let value = Int64(text) else { throw ValidationError("--cursor takes what a previous page printed") }
                return value
            })
        let body = try await callDaemon(options, request).body
        if options.json { return try printJSON(body) }
        let rows = (body["events"] as? [[String: Any]] ?? []).map { event in
            ["at", "actor", "entity", "action", "outcome"].map { "\(event[$0] ?? "")" } + ["\(event["detail"] ?? "")"]
        }
        print(Table(header: ["AT", "ACTOR", "ENTITY", "ACTION", "OUTCOME", "DETAIL"], rows: rows).rendered)
        if let next = body["nextCursor"] as? String { print("more: --cursor \(next)") }
    }
}

/// A UUID argument, or a usage error naming it.
private func uuid(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("'\(text)' is not an id (a UUID)") }
    return id
}

private func showProduct(_ body: [String: Any], json: Bool) throws {
    if json { return try printJSON(body) }
    let organizations = (body["organizations"] as? [[String: Any]] ?? []).map { ["organization"] + row($0) }
    print(Table(header: ["KIND", "ID", "NAME", "ACTIVE", "QUOTA"], rows: [["product"] + row(body)] + organizations).rendered)
}

private func showOrganization(_ body: [String: Any], json: Bool) throws {
    if json { return try printJSON(body) }
    print(Table(header: ["ID", "NAME", "ACTIVE", "QUOTA", "PRODUCT"], rows: [row(body) + ["\(body["productId"] ?? "")"]]).rendered)
}

/// A product's or an organisation's id, name, state and quota, as table cells.
private func row(_ entity: [String: Any]) -> [String] {
    let quota = (entity["quota"] as? [String: Any]).map { "\($0["perSecond"] ?? "?")/s, burst \($0["burst"] ?? "?")" } ?? "default"
    return ["\(entity["id"] ?? "")", "\(entity["name"] ?? "")", (entity["active"] as? Bool).map { $0 ? "yes" : "no" } ?? "-", quota]
}

/// `--per-second N [--burst M]`, or `--default`.
struct QuotaOptions: ParsableArguments {
    @Option(help: "Notifications a second, on average.") var perSecond: Int?
    @Option(help: "How many at once (default: four seconds' worth, at least 1,000).") var burst: Int?
    @Flag(name: .customLong("default"), help: "Go back to the deployment's quota.") var useDefault = false

    /// The change, checked by the same parser the daemon uses.
    func change() throws -> QuotaChange {
        if useDefault {
            guard perSecond == nil, burst == nil else { throw ValidationError("give --per-second (and --burst), or --default") }
            return .useDefault
        }
        guard let perSecond else { throw ValidationError("give --per-second (and --burst), or --default") }
        var quota: [(String, JSONValue)] = [("perSecond", .int(perSecond))]
        if let burst { quota.append(("burst", .int(burst))) }
        let body = JSONValue.object([("id", .string(UUID().uuidString)), ("quota", .object(quota))]).bytes
        do {
            guard let change = try UpdateProduct(body: body).update.quota else { throw ValidationError("no quota") }
            return change
        } catch let failure as CommandFailure { throw CLIError("\(failure.status): \(failure.message)") }
    }
}
