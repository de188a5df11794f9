import NotifyCore
import NotifyStore
import Postgres

/// Checks the credential of every command, for both transports: the admin credential, else an `fmk_` key looked up
/// by its id and compared by hash in constant time (`Access`), then the command's scope. Runs on a database thread.
struct Authenticator: Sendable {
    let settings: AuthSettings

    /// Who sent `command` with the key `presented` (nil: no key), or the 401 or 403 to answer.
    func principal(presented: String?, command: RPCCommand, on db: PGConnection) throws -> Principal {
        guard let presented, !presented.isEmpty else {
            if !settings.inboxRequiresKey, command.scopes.isSubset(of: Scope.inbox) { return .broker }
            throw RPCFailure.unauthorized("the request carries no x-api-key")
        }
        let principal: Principal
        if let admin = settings.adminKeyHash, APIKey.hashesMatch(APIKey.hash(presented), admin) {
            principal = .admin
        } else {
            guard let key = APIKey(parsing: presented) else { throw RPCFailure.unauthorized("the x-api-key is unknown, revoked or expired") }
            principal = try Access.principal(for: key, record: try TenantStore.keyRecord(key.id, on: db))
        }
        try Access.authorise(principal, command)
        return principal
    }
}

/// One authenticated command, whichever transport it came by.
struct RPCCall: Sendable {
    let command: RPCCommand
    let principal: Principal
    /// The transport's id for the request (the AMQP `message_id`), for the audit trail.
    let requestID: String?
    /// What the caller says it is (`x-actor`, or the AMQP `app_id`), for the log; not a credential.
    let client: String?
}

extension Authenticator {
    /// The call of `command` by the holder of `presented`. A refused command that would have changed something is
    /// written to the audit trail, with why.
    func call(_ command: RPCCommand, presented: String?, client: String?, requestID: String?, on db: PGConnection) throws -> RPCCall {
        do {
            let principal = try principal(presented: presented, command: command, on: db)
            return RPCCall(command: command, principal: principal, requestID: requestID, client: client)
        } catch let failure as RPCFailure where command.changesState {
            let principal = presented.flatMap(APIKey.init(parsing:)).map { key in
                Principal(keyID: key.id, scopes: [], tenant: nil, actor: "key:\(key.id)")
            }
            try AuditStore.append([.refused(command, by: principal, actor: "anonymous", failure: failure, requestID: requestID)], on: db)
            throw failure
        }
    }
}
