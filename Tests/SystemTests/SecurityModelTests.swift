import Foundation
import NIOHTTP1
import NotifyCore
import StackSupport
import Testing

/// The security model (`SecurityModel.table`) against a running daemon: every command with every kind of caller,
/// over the RPC queue, over every route of `/openapi.json` and over `POST /v1/rpc/<command>`; and docs/security.md
/// shows the same table.
@Suite("The security model: every command × every kind of caller, over RPC and every HTTP route", .needsStack, .serialized)
struct SecurityModelTests {
    typealias Kind = SecurityModel.Kind

    /// A reply as compared: the status and the body's JSON with its keys sorted.
    struct Observed: Equatable, CustomStringConvertible {
        var status: Int
        var body: String
        var description: String { "\(status) \(body.prefix(300))" }
    }

    /// An HTTP route as the daemon's OpenAPI document describes it.
    struct Route {
        var method: String
        var path: String
        var command: Command
        /// The route fixes the channel (`/v1/notifications/email`): the body names none.
        var fixesChannel: Bool
        var pathParameters: [String]
        var queryParameters: Set<String>
    }

    @Test("docs/security.md's security model is the table the test runs, verbatim")
    func documented() throws {
        _ = try SecurityModel.cells()
        let page = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/security.md"), encoding: .utf8)
        #expect(page.contains("\n" + SecurityModel.table + "\n"), "docs/security.md should show, verbatim:\n\(SecurityModel.table)")
    }

    @Test(
        "every command × every kind of caller gets what the table says, over RPC, every HTTP route and /v1/rpc; strangers see nothing of Alpha's"
    )
    func everyCell() async throws {
        let cells = try SecurityModel.cells()
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(environment: ["NOTIFY_HTTP_PORT": String(port)])
        defer { Task { await service.shutDown() } }
        let world = try await SecurityModelWorld(service)
        var mismatches: [String] = []
        var tried = 0

        func run(_ label: String, _ command: Command, send: @escaping (Kind, [String: Any]) async throws -> Observed) async throws {
            let row = try cells[command].orThrow("no row for \(command.rawValue)")
            for kind in Kind.allCases {
                let request = try await world.request(command)
                tried += 1
                if let problem = try await Self.check(
                    row[kind]!, kind: kind, request: request, alphas: world.alphas, send: { try await send(kind, $0) })
                {
                    mismatches.append("\(label) × \(kind.rawValue): \(problem)")
                }
            }
        }

        for command in Command.allCases {
            try await run("RPC \(command.rawValue)", command) { kind, body in
                let reply = try await service.call(command.rawValue, body, as: try world.credential(kind))
                return Observed(status: Int(reply.status), body: try Self.canonical(reply.raw))
            }
            try await run("POST /v1/rpc/\(command.rawValue)", command) { kind, body in
                try await Self.http(
                    port, "POST", "/v1/rpc/\(command.rawValue)", key: kind == .noKey ? nil : try world.key(kind), body: body)
            }
        }
        let routes = try await Self.routes(port)
        #expect(routes.count >= 30, "the document lists the API's routes")
        for route in routes {
            try await run("\(route.method) \(route.path)", route.command) { kind, body in
                let (path, rest) = try Self.fill(route, body)
                return try await Self.http(port, route.method, path, key: kind == .noKey ? nil : try world.key(kind), body: rest)
            }
        }
        #expect(tried == Kind.allCases.count * (2 * Command.allCases.count + routes.count))
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(tried) cells differ from the table:\n\(mismatches.joined(separator: "\n"))")
    }

    /// What is wrong with a cell (nil: nothing). A `none` is compared with the same request naming an unknown id (its
    /// reply with the unknown values put back to the request's, since some replies repeat what they were asked);
    /// a `yes` that names something must differ from that; a stranger's successful reply holds nothing of Alpha's.
    static func check(
        _ expected: SecurityModel.Outcome, kind: Kind, request: SecurityModelWorld.Request, alphas: [String],
        send: ([String: Any]) async throws -> Observed
    ) async throws -> String? {
        let observed = try await send(request.body)
        var unknown: Observed?
        if let other = request.unknown, expected == .none || expected == .yes {
            var seen = try await send(other)
            for (name, value) in other {
                if let theirs = value as? String, let mine = request.body[name] as? String {
                    seen.body = seen.body.replacingOccurrences(of: theirs, with: mine)
                }
            }
            unknown = seen
        }
        let success = (200..<300).contains(observed.status)
        if kind.isStranger, success, let leak = alphas.first(where: { observed.body.lowercased().contains($0.lowercased()) }) {
            return "a stranger was shown \(leak): \(observed)"
        }
        switch expected {
        case .unauthorized: return observed.status == 401 ? nil : "expected 401, got \(observed)"
        case .forbidden: return observed.status == 403 ? nil : "expected 403, got \(observed)"
        case .none:
            guard let unknown else { return "the table says none, but the request names nothing to compare with" }
            return observed == unknown ? nil : "expected the answer to an unknown id (\(unknown)), got \(observed)"
        case .yes:
            if !success { return "expected it to run, got \(observed)" }
            return observed == unknown ? "expected it to reach what it names, got the answer to an unknown id: \(observed)" : nil
        }
    }

    // MARK: - HTTP

    /// The routes of the daemon's `/openapi.json`, each with the command its `operationId` names.
    static func routes(_ port: Int) async throws -> [Route] {
        let document = try await SendHTTPTests.call(port, .GET, "/openapi.json", key: nil).json
        var routes: [Route] = []
        for (path, operations) in try (document["paths"] as? [String: [String: [String: Any]]]).orThrow("paths") {
            for (method, operation) in operations {
                let id = try (operation["operationId"] as? String).orThrow("\(method) \(path): no operationId")
                let name = String(id.split(separator: "-")[0])
                let command = try Command(rawValue: name).orThrow("\(method) \(path): no command \(name)")
                let parameters = operation["parameters"] as? [[String: Any]] ?? []
                func named(_ location: String) -> [String] {
                    parameters.filter { $0["in"] as? String == location }.compactMap { $0["name"] as? String }
                }
                routes.append(
                    Route(
                        method: method.uppercased(), path: path, command: command, fixesChannel: id.contains("-"),
                        pathParameters: named("path"), queryParameters: Set(named("query"))))
            }
        }
        return routes.sorted { ($0.path, $0.method) < ($1.path, $1.method) }
    }

    /// The path with a request's fields in its parameters (a resource's own id is its request's `id`) and its query,
    /// and what is left for the body.
    static func fill(_ route: Route, _ body: [String: Any]) throws -> (path: String, body: [String: Any]) {
        var fields = body
        var path = route.path
        for parameter in route.pathParameters {
            let field = fields[parameter] == nil ? "id" : parameter
            let value = try (fields.removeValue(forKey: field) as? String).orThrow("\(route.path): no field for {\(parameter)}")
            path = path.replacingOccurrences(
                of: "{\(parameter)}", with: value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? value)
        }
        var query: [String] = []
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) where route.queryParameters.contains(name) {
            guard let text = value as? String else { continue }
            query.append("\(name)=\(text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text)")
            fields[name] = nil
        }
        if route.fixesChannel { fields["channel"] = nil }
        return (query.isEmpty ? path : path + "?" + query.joined(separator: "&"), fields)
    }

    static func http(_ port: Int, _ method: String, _ path: String, key: String?, body: [String: Any]) async throws -> Observed {
        let reply = try await SendHTTPTests.call(port, HTTPMethod(rawValue: method), path, key: key, body: body.isEmpty ? nil : body)
        return Observed(status: reply.status, body: try canonical(try JSONSerialization.jsonObject(with: Data(reply.text.utf8))))
    }

    /// JSON with its keys sorted, so equal replies compare equal as text.
    static func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }
}
