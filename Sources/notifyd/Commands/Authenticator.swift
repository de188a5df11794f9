import NotifyCore
import NotifyStore
import Postgres

/// Checks the credential of every command, for both transports: the admin credential, else an `fmk_` key looked up
/// by its id and compared by hash in constant time (`Access`), then the command's scope. What a credential is gets
/// decided before any I/O (`claim`), so a request without a key or with a malformed one is refused before its body
/// is read or a database connection is taken; only a well-formed key needs its record, one indexed read.
struct Authenticator: Sendable {
    let settings: AuthSettings
    /// Where refusals are counted for the audit trail.
    let refusals: RefusalAuditor

    /// How a command arrived: what stands behind it besides its key.
    enum Transport: Sendable {
        /// The RPC queue: the broker's permissions decide who may publish to it (`auth.inboxRequiresKey` may rely on them).
        case broker
        /// The HTTP listener: nothing but the key.
        case http
    }

    /// What a presented credential is, without I/O: a caller known at once (the admin, or the broker for an inbox
    /// command the deployment leaves to it), or a key whose record must be read.
    enum Claim: Sendable {
        case known(Principal)
        case key(APIKey)
    }

    /// Where a request came from and what it says about itself, for the audit trail and the log.
    struct Origin: Sendable {
        /// The transport's id for the request (the AMQP `message_id`, HTTP's `x-request-id`).
        var requestID: String?
        /// What the caller says it is (`x-actor`, the AMQP `app_id`); not a credential.
        var client: String?
        /// The HTTP peer's address; nil over the broker.
        var address: String?
    }

    /// What `presented` (nil: no key) claims to be, else the 401 to answer (counted for the audit trail when
    /// `command` would have changed something). Without a key, only an inbox command over the broker, where the
    /// deployment leaves the inbox to the broker's permissions, is let through (as `broker`).
    func claim(_ presented: String?, command: Command, over transport: Transport, from origin: Origin) throws(CommandFailure) -> Claim {
        guard let presented, !presented.isEmpty else {
            if transport == .broker, !settings.inboxRequiresKey, command.scopes.isSubset(of: Scope.inbox) { return .known(.broker) }
            throw refuse(command, .unauthorized("the request carries no x-api-key"), by: nil, from: origin)
        }
        if let admin = settings.adminKeyHash, APIKey.hashesMatch(APIKey.hash(presented), admin) { return .known(.admin) }
        guard let key = APIKey(parsing: presented) else {
            throw refuse(command, .unauthorized("the x-api-key is unknown, revoked or expired"), by: nil, from: origin)
        }
        return .key(key)
    }

    /// The call of `command` by the holder of `claim`, given the stored record of its key (nil: no such key):
    /// authenticated, its owner active, the command within its scopes. A refused command that would have changed
    /// something is counted for the audit trail, naming the caller only once its credential proved itself
    /// (`anonymous` before: a key's id is only a claim until then).
    func call(_ command: Command, _ claim: Claim, record: KeyRecord?, from origin: Origin) throws(CommandFailure) -> CommandCall {
        var authenticated: Principal?
        do throws(CommandFailure) {
            let principal: Principal
            switch claim {
            case .known(let known):
                principal = known
            case .key(let key):
                let record = try Access.authenticate(key, record: record)
                principal = record.principal
                authenticated = principal
                try Access.admit(record)
            }
            authenticated = principal
            try Access.authorise(principal, command)
            return CommandCall(command: command, principal: principal, requestID: origin.requestID, client: origin.client)
        } catch {
            throw refuse(command, error, by: authenticated, from: origin)
        }
    }

    /// Both steps on the caller's database thread (the RPC queue's way): the key's record read on `db`.
    func call(_ command: Command, presented: String?, over transport: Transport, from origin: Origin, on db: PGConnection) throws
        -> CommandCall
    {
        let claim = try claim(presented, command: command, over: transport, from: origin)
        var record: KeyRecord?
        if case .key(let key) = claim { record = try TenantStore.keyRecord(key.id, on: db) }
        return try call(command, claim, record: record, from: origin)
    }

    /// `failure`, counted for the audit trail first when `command` would have changed something.
    func refuse(_ command: Command, _ failure: CommandFailure, by principal: Principal?, from origin: Origin) -> CommandFailure {
        if command.changesState {
            refusals.refused(.refused(command, by: principal, clientAddress: origin.address, failure: failure, requestID: origin.requestID))
        }
        return failure
    }
}

/// One authenticated command, whichever transport it came by.
struct CommandCall: Sendable {
    let command: Command
    let principal: Principal
    /// The transport's id for the request (the AMQP `message_id`), for the audit trail.
    let requestID: String?
    /// What the caller says it is (`x-actor`, or the AMQP `app_id`), for the log; not a credential.
    let client: String?
}
