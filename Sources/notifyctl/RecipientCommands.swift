import ArgumentParser
import NotifyCore

/// `notifyctl recipient get|set|delete`: the recipient directory, over the same RPC queue as every client.
struct RecipientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipient", abstract: "Show, register or erase where a user is reached.",
        subcommands: [Get.self, Set.self, Delete.self])

    /// The fields a directory entry has, by the names `--clear` takes.
    enum Field: String, ExpressibleByArgument, CaseIterable {
        case email, phone, push, locale, timezone, optOuts = "opt-outs"
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a user's entry.")
        @Argument(help: "The user id.") var user: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try show(try await callDaemon(options, GetRecipient(userID: user)).body, json: options.json)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or change a user's entry; fields not given keep their value.")
        @Argument(help: "The user id.") var user: String
        @Option(help: "Email address.") var email: String?
        @Option(help: "Phone number in E.164 (+4915112345678).") var phone: String?
        @Option(help: "A push token as platform:token (apns or fcm); repeat for several. Replaces the stored set.")
        var push: [String] = []
        @Option(help: "BCP 47 language tag (en, pt-BR).") var locale: String?
        @Option(help: "IANA time zone (Europe/Berlin).") var timezone: String?
        @Option(
            name: .customLong("opt-out"),
            help: """
                A channel the user is not sent on, as channel or channel:CATEGORY (sms:NEWSLETTER); repeat for several. \
                Replaces the stored set.
                """)
        var optOut: [String] = []
        @Option(help: "Remove a field: \(Field.allCases.map(\.rawValue).joined(separator: ", ")); repeat for several.")
        var clear: [Field] = []
        @OptionGroup var options: ConnectionOptions

        func validate() throws {
            for entry in optOut where NotificationChannel(rawValue: String(entry.prefix { $0 != ":" })) == nil {
                throw ValidationError("--opt-out takes channel or channel:CATEGORY with channel email, sms, push or webhook")
            }
            for token in push where PushToken.Platform(rawValue: String(token.prefix { $0 != ":" })) == nil || !token.contains(":") {
                throw ValidationError("--push takes platform:token with platform apns or fcm")
            }
        }

        func run() async throws {
            func change(_ field: Field, _ value: String?) -> UpsertRecipient.Change<String> {
                if clear.contains(field) { return .clear }
                return value.map { .set($0) } ?? .keep
            }
            let tokens = push.compactMap { entry -> PushToken? in
                let platform = entry.prefix { $0 != ":" }
                return PushToken.Platform(rawValue: String(platform)).map {
                    PushToken(platform: $0, token: String(entry.dropFirst(platform.count + 1)))
                }
            }
            let request = UpsertRecipient(
                userID: user, email: change(.email, email), phone: change(.phone, phone),
                pushTokens: clear.contains(.push) ? .clear : (tokens.isEmpty ? .keep : .set(tokens)),
                locale: change(.locale, locale), timezone: change(.timezone, timezone),
                optOuts: clear.contains(.optOuts)
                    ? .clear
                    : (optOut.isEmpty
                        ? .keep
                        : .set(
                            optOut.compactMap { entry in
                                let channel = entry.prefix { $0 != ":" }
                                let category =
                                    entry.count > channel.count ? String(entry.dropFirst(channel.count + 1)) : OptOut.everyCategory
                                return NotificationChannel(rawValue: String(channel)).map { OptOut(channel: $0, category: category) }
                            })))
            try show(try await callDaemon(options, request).body, json: options.json)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Erase a user's entry and every address in it.")
        @Argument(help: "The user id.") var user: String
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let reply = try await callDaemon(options, DeleteRecipient(userID: user))
            if options.json { return try printJSON(reply.body) }
            print((reply.body["deleted"] as? Bool) == true ? "\(user) erased" : "\(user) had no entry")
        }
    }

    private static func show(_ body: [String: Any], json: Bool) throws {
        if json { return try printJSON(body) }
        let tokens = (body["pushTokens"] as? [[String: Any]] ?? []).map { "\($0["platform"] ?? ""):\($0["token"] ?? "")" }
        for key in ["userId", "email", "phone", "locale", "timezone", "updatedAt"] {
            print("\(key.padding(toLength: 12, withPad: " ", startingAt: 0))\(body[key] as? String ?? "-")")
        }
        print("\("pushTokens".padding(toLength: 12, withPad: " ", startingAt: 0))\(tokens.isEmpty ? "-" : tokens.joined(separator: " "))")
        let optOuts = (body["optOuts"] as? [[String: Any]] ?? []).map { "\($0["channel"] ?? ""):\($0["category"] ?? "")" }
        print("\("optOuts".padding(toLength: 12, withPad: " ", startingAt: 0))\(optOuts.isEmpty ? "-" : optOuts.joined(separator: " "))")
    }
}
