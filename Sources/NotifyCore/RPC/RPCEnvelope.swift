/// The RPC envelope of the contract (docs/api.md), in one place for both ends: the `status` header, the API key's
/// header, and how a reply's status and body come to a body or a `CommandFailure`. The server, `notifyctl`, the
/// reconciler and the tests all use it.
public enum RPCEnvelope {
    /// The reply header carrying the HTTP-like status.
    public static let statusHeader = "status"
    /// The header carrying the caller's API key.
    public static let apiKeyHeader = "x-api-key"

    /// The body of a reply with a 2xx `status`, or the failure it reports. A reply without a status is not a
    /// success: the contract requires one.
    public static func body(status: Int?, body: [UInt8]) throws(CommandFailure) -> [UInt8] {
        guard let status else {
            throw CommandFailure(status: 502, code: "bad-reply", message: "the reply has no status header")
        }
        guard (200..<300).contains(status) else { throw CommandFailure(status: status, body: body) }
        return body
    }
}

/// The RPC commands this service sends to other FlowMart services.
public enum RemoteRPCCommand: String, Sendable, CaseIterable {
    /// The inventory service's list query (`inventory.rpc`).
    case getInventoryList = "GetInventoryList"
}
