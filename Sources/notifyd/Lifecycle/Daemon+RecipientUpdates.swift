import NotifyCore
import NotifyStore
import Postgres

/// What providers learn about recipients while sending, written back to the recipient directory so nothing is sent
/// there again (the providers report it through callbacks the daemon wires in `makeProviders`).
extension Daemon {
    /// Takes tokens a push provider found unregistered off their recipient (the job's, in its tenant's directory),
    /// so nothing is sent to them again.
    func removePushTokens(_ tokens: [String], of job: DeliveryJob, _ database: PGPool) async {
        let user = job.userID.logSafe
        do {
            let removed = try await database.withConnection {
                try RecipientStore.removePushTokens(tokens, of: job.userID, in: job.tenant.namespace, on: $0)
            }
            logger.info("removed unregistered push tokens", metadata: ["user.id": "\(user)", "tokens": "\(removed)"])
        } catch {
            logger.error("cannot remove unregistered push tokens", metadata: ["user.id": "\(user)", "error": "\(error)"])
        }
    }

    /// Stops sending to a webhook endpoint that answered 410 Gone.
    func disableWebhook(_ url: String, of job: DeliveryJob, reason: String, _ database: PGPool) async {
        let user = job.userID.logSafe
        do {
            _ = try await database.withConnection {
                try RecipientStore.disableWebhook(url, of: job.userID, in: job.tenant.namespace, reason: reason, on: $0)
            }
            logger.warning("disabled a webhook endpoint", metadata: ["user.id": "\(user)", "reason": "\(reason)"])
        } catch {
            logger.error("cannot disable a webhook endpoint", metadata: ["user.id": "\(user)", "error": "\(error)"])
        }
    }
}
