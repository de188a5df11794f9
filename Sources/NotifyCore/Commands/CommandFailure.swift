import Foundation

/// A command's reply other than 200, over either transport: `status` is the HTTP status (over RPC, the reply's
/// `status` header) and the body is `{"error": {"code": ..., "message": ...}}`. Messages name fields, never echo values.
public struct CommandFailure: Error, Sendable, Equatable {
    public var status: Int
    public var code: String
    public var message: String
    /// With a 429 (or a 503 that will pass): whole seconds after which the same request will be taken.
    public var retryAfterSeconds: Int?

    public init(status: Int, code: String, message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The caller's tenant is over its send quota; the same request is taken after `seconds`.
    public static func overQuota(retryAfter seconds: Int) -> CommandFailure {
        CommandFailure(
            status: 429, code: "over-quota", message: "this key's tenant is over its send quota; retry after \(seconds) s",
            retryAfterSeconds: seconds)
    }

    public static func badRequest(_ message: String) -> CommandFailure {
        CommandFailure(status: 400, code: "bad-request", message: message)
    }

    public static func notFound(_ message: String) -> CommandFailure {
        CommandFailure(status: 404, code: "not-found", message: message)
    }

    /// No key, or one that is unknown, revoked or past its rotation grace.
    public static func unauthorized(_ message: String) -> CommandFailure {
        CommandFailure(status: 401, code: "unauthorized", message: message)
    }

    /// A known key that may not do this: wrong scope, or its product or organisation is deactivated.
    public static func forbidden(_ message: String) -> CommandFailure {
        CommandFailure(status: 403, code: "forbidden", message: message)
    }

    /// Too much is under way to take this now (a queue or budget is full); the same request is taken a moment later.
    public static func busy(_ message: String) -> CommandFailure {
        CommandFailure(status: 503, code: "busy", message: message, retryAfterSeconds: 1)
    }

    public static let internalError = CommandFailure(
        status: 500, code: "internal", message: "the request could not be served; try again later")

    /// The failure a non-200 reply reports in its `{"error": {"code", "message"}}` body (what can be read of it).
    public init(status: Int, body: [UInt8]) {
        let error = (try? JSONInput().object(from: body))?["error"] as? [String: Any]
        self.init(
            status: status, code: error?["code"] as? String ?? "unknown",
            message: error?["message"] as? String ?? "no error message",
            retryAfterSeconds: (error?["retryAfterSeconds"] as? NSNumber).map { $0.intValue })
    }

    /// `{"error": {"code", "message", "retryAfterSeconds"?}}`.
    public var body: JSONValue {
        var error: [(String, JSONValue)] = [("code", .string(code)), ("message", .string(message))]
        if let retryAfterSeconds { error.append(("retryAfterSeconds", .int(retryAfterSeconds))) }
        return .object([("error", .object(error))])
    }
}

extension Rejection {
    /// A request body that failed validation is the caller's mistake: 400 with the field named.
    public var asBadRequest: CommandFailure { .badRequest(detail) }
}
