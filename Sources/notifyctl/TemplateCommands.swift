import ArgumentParser
import Foundation
import NotifyCore

/// `notifyctl template publish|preview|rollback|list|show`: a product's templates, with its key (`$NOTIFY_API_KEY` or
/// `--api-key-file`). Templates are JSON files (`{title, body, email?, sms?, push?, locales?}`), checked by the
/// daemon's own parser before anything is sent, so a template that does not compile is refused here naming the line.
struct TemplateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template", abstract: "Publish, preview and roll back a product's templates.",
        subcommands: [Publish.self, Preview.self, Rollback.self, List.self, Show.self])

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish a template file as the template's next version (live at once).")
        @Argument(help: "The template's name (a-z, 0-9, '.', '_', '-').") var name: String
        @Argument(help: "The template file (JSON).") var file: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let body = try await callDaemon(
                options, try templateRequest(PublishTemplate.init(body:), members: [("name", .string(name))], file: file)
            ).body
            if options.json { return try printJSON(body) }
            let version = body["version"] as? Int ?? 0
            print(
                body["unchanged"] as? Bool == true
                    ? "\(name): version \(version) is live already, unchanged" : "\(name): version \(version) is live")
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render a template with sample data, as a send would: a published one, or a file not yet published.")
        @Argument(help: "The template's name, or a template file with --file.") var name: String?
        @Option(help: "Render this template file instead of a published template.") var file: String?
        @Option(help: "A published version (default: the live one).") var version: Int?
        @Option(help: "The sample data: a JSON object, or @FILE.") var data: String = "{}"
        @Option(help: "The recipient's language (es-MX, ...).") var locale: String?
        @OptionGroup var options: ConnectionOptions

        func validate() throws {
            guard (name == nil) != (file == nil) else { throw ValidationError("name a published template or give --file, not both") }
        }

        func run() async throws {
            var members: [(String, JSONValue)] = []
            if let name { members = [("name", .string(name))] + (version.map { [("version", JSONValue.int($0))] } ?? []) }
            if let locale { members.append(("locale", .string(locale))) }
            let request = try templateRequest(PreviewTemplate.init(body:), members: members, file: file, data: try sampleData())
            let body = try await callDaemon(options, request).body
            if options.json { return try printJSON(body) }
            let email = body["email"] as? [String: Any] ?? [:]
            let push = body["push"] as? [String: Any] ?? [:]
            let rows: [(String, Any?)] = [
                ("locale", body["locale"]), ("title", body["title"]), ("body", body["body"]), ("email subject", email["subject"]),
                ("email text", email["text"]), ("email html", email["html"]), ("sms", body["sms"]), ("push title", push["title"]),
                ("push body", push["body"]),
            ]
            for (label, value) in rows { print("\(label.padding(toLength: 14, withPad: " ", startingAt: 0))\(value as? String ?? "-")") }
        }

        private func sampleData() throws -> String {
            guard data.hasPrefix("@") else { return data }
            return try readFile(String(data.dropFirst()))
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an earlier version live again (default: the one before the live one).")
        @Argument(help: "The template's name.") var name: String
        @Option(help: "The version to make live.") var version: Int?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let body = try await callDaemon(options, RollbackTemplate(name: name, version: version)).body
            if options.json { return try printJSON(body) }
            print("\(name): version \(body["version"] as? Int ?? 0) is live (was \(body["previousVersion"] as? Int ?? 0))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the product's templates.")
        @Option(help: "Start after this name.") var after: String?
        @Option(help: "At most this many, 1 to 200.") var limit = 50
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let body = try await callDaemon(options, ListTemplates(after: after, limit: limit)).body
            if options.json { return try printJSON(body) }
            let rows = (body["templates"] as? [[String: Any]] ?? []).map { template in
                [
                    "\(template["name"] ?? "")", "\(template["liveVersion"] ?? "")", "\(template["latestVersion"] ?? "")",
                    "\(template["updatedAt"] ?? "")",
                ]
            }
            print(Table(header: ["NAME", "LIVE", "LATEST", "UPDATED"], rows: rows).rendered)
            if let next = body["next"] as? String { print("more: --after \(next)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a template as published (JSON, as a file to publish again).")
        @Argument(help: "The template's name.") var name: String
        @Option(help: "A version (default: the live one).") var version: Int?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let body = try await callDaemon(options, GetTemplate(name: name, version: version)).body
            try printJSON(options.json ? body : body["template"] ?? [:])
        }
    }
}

/// A template command built from `members` and, with `file`, its `template`; with `data`, its `data` object (both
/// JSON text as given). The daemon's own parser reads it, so a mistake is named (with its line and column) before
/// anything is sent.
private func templateRequest<Request>(
    _ parser: ([UInt8]) throws(CommandFailure) -> Request, members: [(String, JSONValue)], file: String?,
    data: String? = nil
) throws -> Request {
    var text = String(decoding: JSONValue.object(members).bytes.dropLast(), as: UTF8.self)
    let raw = [("template", try file.map(readFile)), ("data", data)].compactMap { key, value in value.map { (key, $0) } }
    for (key, value) in raw { text += (text == "{" ? "" : ",") + "\"\(key)\":" + value }
    do { return try parser(Array((text + "}").utf8)) } catch { throw CLIError("\(error.status): \(error.message)") }
}

private func readFile(_ path: String) throws -> String {
    guard let contents = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read '\(path)'") }
    return String(decoding: contents, as: UTF8.self)
}
