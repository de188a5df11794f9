import Foundation
import NotifyCore
import StackSupport

/// The security model: who may do what. One row per command, one column per kind of caller, each cell what that
/// caller gets when it names what belongs to organisation `Alpha One` of product `Alpha` (or, for commands that
/// name nothing, when it acts on its own). Written once, here; docs/security.md shows this very table (its section
/// "The security model (who may do what)", checked verbatim) and `SecurityModelTests` runs every cell against a
/// daemon over RPC and over every HTTP route.
enum SecurityModel {
    /// A kind of caller: the table's columns, named as its header names them.
    enum Kind: String, CaseIterable, Sendable {
        case admin
        /// A service key with only this scope.
        case inboxReader = "s:inbox-read", inboxWriter = "s:inbox-write", directory = "s:recipients", tracker = "s:track"
        /// Alpha's product key.
        case product
        /// The key of Alpha One, an organisation of Alpha.
        case organization = "org"
        /// Another tenant's key (Beta's product key).
        case other
        /// A revoked key (of another organisation of Alpha).
        case revoked
        /// The key of a deactivated organisation of Alpha.
        case inactive
        /// No `x-api-key`.
        case noKey = "no key"
        /// An `x-api-key` that is not shaped like a key.
        case malformed

        /// Callers that reach nothing of Alpha's: nothing of it may appear in what they are answered.
        var isStranger: Bool { [.inboxReader, .inboxWriter, .directory, .tracker, .other].contains(self) }
    }

    /// What a cell says.
    enum Outcome: String, Sendable {
        /// The command runs (2xx) and, when it names something, reaches it: its reply differs from an unknown id's.
        case yes
        /// Answered exactly as if what it names did not exist: the same status and body as for an unknown id (404;
        /// for a page, a delete or a filter, the empty page, `deleted: false`, no rows).
        case none
        /// Refused: the key lacks the command's scope, its owner is deactivated, or the command is not for its kind.
        case forbidden = "403"
        /// Refused: no key, or one that does not authenticate.
        case unauthorized = "401"
    }

    static let table = """
        | command                | admin | s:inbox-read | s:inbox-write | s:recipients | s:track | product | org  | other | revoked | inactive | no key | malformed |
        |------------------------|-------|--------------|---------------|--------------|---------|---------|------|-------|---------|----------|--------|-----------|
        | GetUserNotifications   | none  | none         | 403           | 403          | 403     | none    | yes  | none  | 401     | 403      | 401    | 401       |
        | GetNotificationDetails | none  | none         | 403           | 403          | 403     | none    | yes  | none  | 401     | 403      | 401    | 401       |
        | MarkNotificationRead   | none  | 403          | none          | 403          | 403     | none    | yes  | none  | 401     | 403      | 401    | 401       |
        | WatchProduct           | yes   | 403          | yes           | 403          | 403     | 403     | 403  | 403   | 401     | 403      | 401    | 401       |
        | GetStockLevels         | yes   | yes          | 403           | 403          | 403     | 403     | 403  | 403   | 401     | 403      | 401    | 401       |
        | UpsertRecipient        | yes   | 403          | 403           | yes          | 403     | yes     | yes  | yes   | 401     | 403      | 401    | 401       |
        | GetRecipient           | none  | 403          | 403           | none         | 403     | none    | yes  | none  | 401     | 403      | 401    | 401       |
        | DeleteRecipient        | none  | 403          | 403           | none         | 403     | none    | yes  | none  | 401     | 403      | 401    | 401       |
        | GetDeliveryStatus      | yes   | 403          | 403           | 403          | none    | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        | ListDeliveries         | yes   | 403          | 403           | 403          | none    | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        | ListMessages           | yes   | 403          | 403           | 403          | none    | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        | GetMessage             | yes   | 403          | 403           | 403          | none    | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        | ListParked             | yes   | 403          | 403           | 403          | 403     | 403     | 403  | 403   | 401     | 403      | 401    | 401       |
        | RedriveParked          | yes   | 403          | 403           | 403          | 403     | 403     | 403  | 403   | 401     | 403      | 401    | 401       |
        | PurgeParked            | yes   | 403          | 403           | 403          | 403     | 403     | 403  | 403   | 401     | 403      | 401    | 401       |
        | CreateProduct          | yes   | 403          | 403           | 403          | 403     | 403     | 403  | 403   | 401     | 403      | 401    | 401       |
        | CreateServiceKey       | yes   | 403          | 403           | 403          | 403     | 403     | 403  | 403   | 401     | 403      | 401    | 401       |
        | CreateOrganizations    | yes   | 403          | 403           | 403          | 403     | yes     | 403  | none  | 401     | 403      | 401    | 401       |
        | GetProduct             | yes   | 403          | 403           | 403          | none    | yes     | none | none  | 401     | 403      | 401    | 401       |
        | GetOrganization        | yes   | 403          | 403           | 403          | none    | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        | UpdateProduct          | yes   | 403          | 403           | 403          | 403     | yes     | 403  | none  | 401     | 403      | 401    | 401       |
        | UpdateOrganization     | yes   | 403          | 403           | 403          | 403     | yes     | 403  | none  | 401     | 403      | 401    | 401       |
        | RotateApiKey           | yes   | none         | none          | none         | none    | yes     | none | none  | 401     | 403      | 401    | 401       |
        | RevokeApiKey           | yes   | none         | none          | none         | none    | yes     | none | none  | 401     | 403      | 401    | 401       |
        | ListAuditEvents        | yes   | 403          | 403           | 403          | 403     | yes     | 403  | none  | 401     | 403      | 401    | 401       |
        | SendNotification       | 403   | 403          | 403           | 403          | 403     | yes     | yes  | yes   | 401     | 403      | 401    | 401       |
        | SendBatch              | 403   | 403          | 403           | 403          | 403     | yes     | yes  | yes   | 401     | 403      | 401    | 401       |
        | CancelRequest          | yes   | 403          | 403           | 403          | 403     | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        | PublishTemplate        | 403   | 403          | 403           | 403          | 403     | yes     | 403  | yes   | 401     | 403      | 401    | 401       |
        | RollbackTemplate       | 403   | 403          | 403           | 403          | 403     | yes     | 403  | none  | 401     | 403      | 401    | 401       |
        | GetTemplate            | 403   | 403          | 403           | 403          | 403     | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        | ListTemplates          | 403   | 403          | 403           | 403          | 403     | yes     | yes  | yes   | 401     | 403      | 401    | 401       |
        | PreviewTemplate        | 403   | 403          | 403           | 403          | 403     | yes     | yes  | none  | 401     | 403      | 401    | 401       |
        """

    /// The table as data: each command's row, by kind. Throws when the table is not one row for every command under
    /// the header of every kind, in order.
    static func cells() throws -> [Command: [Kind: Outcome]] {
        let lines = table.split(separator: "\n").map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard lines.count > 2, lines[0] == ["command"] + Kind.allCases.map(\.rawValue) else {
            throw SupportFailure("the header is not command and every kind in order: \(lines.first ?? [])")
        }
        var cells: [Command: [Kind: Outcome]] = [:]
        for row in lines.dropFirst(2) {
            guard let command = Command(rawValue: row[0]), cells[command] == nil, row.count == Kind.allCases.count + 1 else {
                throw SupportFailure("not a row for a command not seen before: \(row)")
            }
            var outcomes: [Kind: Outcome] = [:]
            for (kind, text) in zip(Kind.allCases, row.dropFirst()) {
                guard let outcome = Outcome(rawValue: text) else {
                    throw SupportFailure("\(command.rawValue) × \(kind.rawValue): '\(text)'")
                }
                outcomes[kind] = outcome
            }
            cells[command] = outcomes
        }
        let missing = Set(Command.allCases).subtracting(cells.keys)
        guard missing.isEmpty else { throw SupportFailure("no row for \(missing.map(\.rawValue).sorted())") }
        return cells
    }
}
