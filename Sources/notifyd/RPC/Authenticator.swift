import NotifyCore
import NotifyStore
import Postgres

/// Checks the credential of every command, for both transports: the admin credential, else an `fmk_` key looked up
/// by its id and compared by hash in constant time (`Access`), then the command's scope. Runs on a database thread.
struct Authenticator: Sendable {
    let settings: AuthSettings

    /// How a command arrived: what stands behind it besides its key.
    enum Transport: Sendable {
        /// The RPC queue: the broker's permissions decide who may publish to it (`auth.inboxRequiresKey` may rely on them).
        case broker
        /// The HTTP listener: nothing but the key.
        case http
    }

    /// Who presented `presented` (nil: no key), once the credential proved itself, with its stored record for a key;
    /// else the 401 to answer. Without a key, only an inbox command over the broker, where the deployment leaves the
    /// inbox to the broker's permissions, is let through (as `broker`).
    func authenticate(_ presented: String?, command: RPCCommand, over transport: Transport,
                      on db: PGConnection) throws -> (principal: Principal, record: KeyRecord?) {
        guard let presented, !presented.isEmpty else {
            if transport == .broker, !settings.inboxRequiresKey, command.scopes.isSubset(of: Scope.inbox) { return (.broker, nil) }
            throw RPCFailure.unauthorized("the request carries no x-api-key")
        }
        if let admin = settings.adminKeyHash, APIKey.hashesMatch(APIKey.hash(presented), admin) { return (.admin, nil) }
        guard let key = APIKey(parsing: presented) else { throw RPCFailure.unauthorized("the x-api-key is unknown, revoked or expired") }
        let record = try Access.authenticate(key, record: try TenantStore.keyRecord(key.id, on: db))
        return (record.principal, record)
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
    /// The call of `command` by the holder of `presented`: authenticated, its owner active, the command within its
    /// scopes. A refused command that would have changed something is written to the audit trail, with why, naming
    /// the caller only once its credential proved itself (`anonymous` before: a key's id is only a claim until then).
    func call(_ command: RPCCommand, presented: String?, over transport: Transport, client: String?, requestID: String?,
              on db: PGConnection) throws -> RPCCall {
        var authenticated: Principal?
        do {
            let (principal, record) = try authenticate(presented, command: command, over: transport, on: db)
            authenticated = principal
            if let record { try Access.admit(record) }
            try Access.authorise(principal, command)
            return RPCCall(command: command, principal: principal, requestID: requestID, client: client)
        } catch let failure as RPCFailure where command.changesState {
            try AuditStore.append([.refused(command, by: authenticated, actor: "anonymous", failure: failure, requestID: requestID)], on: db)
            throw failure
        }
    }
}
