/// `SendNotification {channel | channels, messageCategory, recipient: {userId?, email?, phone?, pushToken?}, content:
/// {title, body, subject?, html?} | template, idempotencyKey?, ...}`: one recipient (`SendRequest`); or the seed's
/// `{channel, message_category, payload}` (`SeedPayload`).
public struct SendNotification: CommandRequest, Equatable {
    public static let command = Command.sendNotification
    public var request: SendRequest

    public init(_ request: SendRequest) { self.request = request }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            let fields = fields.has("payload") ? try SeedPayload.translated(fields) : fields
            request = try SendRequest(fields) { (fields) throws(Rejection) in [try SendRequest.Recipient(try fields.object("recipient"))] }
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { request.body(recipients: ("recipient", request.recipients.first?.body ?? .null)) }
}

/// `SendBatch {channel | channels, messageCategory, recipients: [{userId?, email?, phone?}, ...], content,
/// idempotencyKey?}`: the same content to up to 1,000 recipients under one request id, one notification each (and
/// one delivery per channel each). A recipient named twice is refused rather than sent to twice.
public struct SendBatch: CommandRequest, Equatable {
    public static let command = Command.sendBatch
    public static let maxRecipients = 1_000
    /// Up to 1,000 recipients with full addresses need more than the ordinary request's 16 KiB.
    public static let maxRequestBytes = 1024 * 1024
    public var request: SendRequest

    public init(_ request: SendRequest) { self.request = request }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            request = try SendRequest(fields) { (fields) throws(Rejection) in
                guard let list = try fields.optionalObjects("recipients", maxCount: Self.maxRecipients), !list.isEmpty else {
                    throw Rejection(.schema, "missing required field 'recipients' (1 to \(Self.maxRecipients))")
                }
                var seen: [String: Int] = [:]
                return try list.enumerated().map { (index, fields) throws(Rejection) in
                    let recipient = try SendRequest.Recipient(fields)
                    if let first = seen.updateValue(index, forKey: recipient.userID) {
                        throw Rejection(.schema, "field 'recipients[\(index)]' is the same recipient as 'recipients[\(first)]'")
                    }
                    return recipient
                }
            }
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { request.body(recipients: ("recipients", .array(request.recipients.map(\.body)))) }
}

/// `CancelRequest {requestId}`: stops every delivery of a send request that has not left yet (queued, or waiting
/// for a retry); those in flight and those done are counted, not touched.
public struct CancelRequest: CommandRequest, Equatable {
    public static let command = Command.cancelRequest
    public var requestID: String

    public init(requestID: String) { self.requestID = requestID }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            guard let id = try fields.optionalUUID(try fields.spelling("requestId", "request_id")) else {
                throw Rejection(.schema, "missing required field 'requestId'")
            }
            requestID = id.uuidString.lowercased()
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object([("requestId", .string(requestID))]) }
}
