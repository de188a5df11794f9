extension ConnectionLoop {
    /// What a caller asks of the owner thread, with the continuation its answer resumes.
    enum Command: Sendable {
        case declare(AMQPTopology, Reply<Void>)
        case queueStatus(String, Reply<AMQPQueueStatus>)
        case purge(String, Reply<UInt32>)
        case deleteQueue(String, Reply<Void>)
        case consume(ConnectionState.Consumer, Reply<Void>)
        case cancel(String, Reply<Void>)
        case settle(AMQPSettlement.Operation)
        case publish(PublishBatch)
        /// Its caller stopped waiting: finish it now (unsettled messages are reported `.timedOut`).
        case abandon(PublishBatch)
        case send(AMQPOutgoingMessage)
        /// Sends an RPC request and waits for the reply with its correlation id, or the deadline.
        case call(AMQPOutgoingMessage, ConnectionState.PendingCall)
        /// Completes as soon as the owner thread runs it: proof that the thread is not stuck.
        case ping(CheckedContinuation<Void, Never>)
        case close(CheckedContinuation<Void, Never>)

        func fail(_ error: AMQPError) {
            switch self {
            case .declare(_, let reply), .deleteQueue(_, let reply), .consume(_, let reply), .cancel(_, let reply):
                reply.resume(returning: .failure(error))
            case .queueStatus(_, let reply): reply.resume(returning: .failure(error))
            case .purge(_, let reply): reply.resume(returning: .failure(error))
            case .publish(let batch), .abandon(let batch): batch.finish()
            case .call(_, let call): call.continuation.resume(returning: .failure(error))
            case .close(let continuation), .ping(let continuation): continuation.resume()
            case .settle, .send: break
            }
        }
    }
}
