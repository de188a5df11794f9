import NotifyCore
import Testing

@Suite("The RPC envelope")
struct RPCEnvelopeTests {
    @Test("a reply without a status is an error, not a success; a non-200 reply is its failure")
    func statuses() throws {
        #expect(throws: CommandFailure(status: 502, code: "bad-reply", message: "the reply has no status header")) {
            try RPCEnvelope.body(status: nil, body: Array("{}".utf8))
        }
        #expect(throws: CommandFailure.notFound("no such thing")) {
            try RPCEnvelope.body(status: 404, body: CommandFailure.notFound("no such thing").body.bytes)
        }
        #expect(throws: CommandFailure(status: 503, code: "unknown", message: "no error message")) {
            try RPCEnvelope.body(status: 503, body: Array("not json".utf8))
        }
        #expect(try RPCEnvelope.body(status: 200, body: [1, 2]) == [1, 2])
    }

    @Test("every request encodes to a body its decoder reads back unchanged")
    func roundTrips() throws {
        func roundTrip<Request: CommandRequest & Equatable>(_ request: Request) throws {
            #expect(try Request(body: request.body.bytes) == request)
        }
        try roundTrip(GetUserNotifications(userID: "u \"1\"", unreadOnly: true, limit: 7, offset: 3))
        try roundTrip(GetNotificationDetails(notificationID: "n-1", userID: nil))
        try roundTrip(GetNotificationDetails(notificationID: "n-1", userID: "u-2"))
        try roundTrip(MarkNotificationRead(notificationID: "n-1", userID: "u-2"))
        try roundTrip(WatchProduct(userID: "u", productID: "p"))
        try roundTrip(GetStockLevels(productID: nil, limit: 5))
        try roundTrip(GetStockLevels(productID: "p", limit: 500))
        try roundTrip(
            UpsertRecipient(
                userID: "u", email: .set("a@example.com"), phone: .clear,
                pushTokens: .set([PushToken(platform: .fcm, token: "t")]), timezone: .set("UTC")))
        try roundTrip(GetRecipient(userID: "u"))
        try roundTrip(DeleteRecipient(userID: "u"))
        try roundTrip(GetDeliveryStatus(notificationID: "8d3c7f0e-8b7e-4c36-9d4b-2f1b4c1e9a10"))
        #expect(Set(Command.allCases.map(\.rawValue)).isDisjoint(with: RemoteRPCCommand.allCases.map(\.rawValue)))
    }
}
