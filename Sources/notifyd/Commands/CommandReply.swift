import Logging
import NotifyCore

/// What a command's outcome is answered with, over either transport: a status, a JSON body and headers, every one a
/// whole number (counts, `retry-after` seconds). The RPC queue sends the status as the `status` header and the rest
/// as AMQP headers; the HTTP API sends them as they are. An error that is no `CommandFailure` is logged (without the
/// request) and answered 500.
struct CommandReply {
    let status: Int
    let body: JSONValue
    let headers: [(name: String, value: Int)]

    init(_ outcome: Result<CommandHandlers.Answer, any Error>, command: String, over transport: Authenticator.Transport, logger: Logger) {
        switch outcome {
        case .success(let answer):
            (status, body, headers) = (answer.status, answer.body, answer.headers)
        case .failure(let failure as CommandFailure):
            (status, body) = (failure.status, failure.body)
            headers = failure.retryAfterSeconds.map { [("retry-after", $0)] } ?? []
        case .failure(let error):
            logger.error(
                transport == .broker ? "RPC request failed" : "HTTP request failed",
                metadata: ["rpc.type": "\(command)", "error": "\(error)"])
            (status, body, headers) = (CommandFailure.internalError.status, CommandFailure.internalError.body, [])
        }
    }
}
