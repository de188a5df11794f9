import Foundation
import Logging
import NotifyCore

/// Email over SMTP: composes each message (`EmailComposer`) and sends the batch through the session pool.
public struct SMTPEmailProvider: DeliveryProvider {
    public let channel = NotificationChannel.email
    public let client: SMTPClient
    public let composer: EmailComposer
    public let rateLimit: RateLimit?

    public init(client: SMTPClient, composer: EmailComposer, rateLimit: RateLimit? = nil) {
        self.client = client
        self.composer = composer
        self.rateLimit = rateLimit
    }

    public let name = "smtp"
    public var endpoint: String { "\(client.settings)" }

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let now = Date()
        let envelopes = deliveries.map { delivery in
            let local = delivery.address.split(separator: "@", maxSplits: 1).first ?? ""
            return SMTPEnvelope(
                sender: composer.fromAddress, recipient: delivery.address,
                message: composer.compose(delivery.job, to: delivery.address, date: now),
                needsSMTPUTF8: !local.utf8.allSatisfy { $0 < 0x80 }, urgent: delivery.job.lane == .high)
        }
        return await client.send(envelopes).map { outcome in
            switch outcome {
            case .accepted(let queueID): .sent(providerMessageID: queueID)
            case .failed(let failure, _): .failed(failure)
            }
        }
    }

    public func shutdown() async { await client.shutdown() }
}
