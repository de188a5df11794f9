import Foundation
import Testing

@testable import NotifyCore

@Suite("The send API's request: what it accepts, what it refuses, what it becomes")
struct SendRequestTests {
    static func parse(_ json: String) throws(CommandFailure) -> SendRequest { try SendNotification(body: Array(json.utf8)).request }
    static func batch(_ json: String) throws(CommandFailure) -> SendRequest { try SendBatch(body: Array(json.utf8)).request }

    static func refusal(_ json: String) -> String? {
        do {
            _ = try parse(json)
            return nil
        } catch {
            #expect(error.status == 400)
            return error.message
        }
    }

    static let content = #""content":{"title":"Your code","body":"123456 is your code"}"#

    @Test("the seed's snake_case and the camelCase spellings read the same request, with the same hash")
    func spellings() throws {
        let snake = try Self.parse(
            #"""
            {"channel":"email","message_category":"OTP","recipient":{"userId":"u-1","email":"Ana@Example.com"},\#(Self.content),"idempotency_key":"k-1"}
            """#)
        let camel = try Self.parse(
            #"""
            { "idempotencyKey": "k-1", \#(Self.content), "recipient": {"email": "Ana@Example.com", "userId": "u-1"},
              "messageCategory": "OTP", "channels": ["email"] }
            """#)
        #expect(snake == camel)
        #expect(snake.hash == camel.hash && snake.hash.count == 64)
        #expect(snake.channels == [.email] && snake.category == "OTP" && snake.idempotencyKey == "k-1")
        #expect(snake.recipients.first?.userID == "u-1" && snake.recipients.first?.email != nil)
        let other = try Self.parse(
            #"{"channel":"email","message_category":"OTP","recipient":{"userId":"u-1"},\#(Self.content),"idempotency_key":"k-1"}"#)
        #expect(other.hash != snake.hash, "what the request asks for is what the hash covers")
    }

    @Test("a recipient known only by address gets one stable id, the same for the same addresses")
    func derivedRecipient() throws {
        let first = try Self.parse(
            #"{"channels":["sms","email"],"messageCategory":"OTP","recipient":{"phone":"+15005550006","email":"a@b.example"},\#(Self.content)}"#
        )
        let again = try Self.parse(
            #"{"channels":["sms"],"messageCategory":"OTP","recipient":{"email":"a@b.example","phone":"+15005550006"},\#(Self.content)}"#)
        let other = try Self.parse(#"{"channels":["sms"],"messageCategory":"OTP","recipient":{"phone":"+15005550007"},\#(Self.content)}"#)
        #expect(first.recipients[0].userID.hasPrefix("address:") && first.recipients[0].userID.count == 8 + 32)
        #expect(first.recipients[0].userID == again.recipients[0].userID)
        #expect(first.recipients[0].userID != other.recipients[0].userID)
        #expect(first.channels == [.sms, .email])
    }

    @Test("every refusal is a 400 that names the field")
    func refusals() {
        let cases: [(String, String)] = [
            (#"{"messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content)}"#, "'channel'"),
            (#"{"channel":"email","channels":["sms"],"messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content)}"#, "not both"),
            (#"{"channel":"fax","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content)}"#, "'channels'"),
            (#"{"channel":"email","recipient":{"userId":"u"},\#(Self.content)}"#, "'messageCategory'"),
            (
                #"{"channel":"email","messageCategory":"OTP","message_category":"OTP","recipient":{"userId":"u"},\#(Self.content)}"#,
                "not both"
            ),
            (#"{"channel":"email","messageCategory":"OTP",\#(Self.content)}"#, "'recipient'"),
            (#"{"channel":"email","messageCategory":"OTP","recipient":{},\#(Self.content)}"#, "'recipient'"),
            (#"{"channel":"email","messageCategory":"OTP","recipient":{"email":"not an address"},\#(Self.content)}"#, "email"),
            (#"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"}}"#, "'content'"),
            (#"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},"content":{"title":" ","body":"b"}}"#, "title"),
            (#"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},"template":"t","data":{}}"#, "'template'"),
            (
                #"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content),"retry_enabled":"no"}"#,
                "'retry_enabled' must be a boolean"
            ),
            (
                #"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content),"scheduledAt":"tomorrow"}"#,
                "'scheduledAt' must be an RFC 3339"
            ),
            (
                #"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content),"idempotencyKey":""}"#,
                "'idempotencyKey'"
            ),
            ("[]", "object"),
        ]
        for (json, field) in cases {
            let message = Self.refusal(json)
            #expect(message?.contains(field) == true, "\(json) → \(message ?? "accepted")")
        }
    }

    @Test("the notification a send becomes: its tenant, request, lane, channels and email; marketing alone is not transactional")
    func notification() throws {
        let send = try Self.parse(
            #"""
            {"channels":["email","push"],"messageCategory":"OTP","recipient":{"userId":"u-1"},
             "content":{"title":"Your code","body":"123456","subject":"Sign in","html":"<b>123456</b>"}}
            """#)
        let tenant = Tenant(productID: UUID(), organizationID: UUID())
        let urgent = send.notification(for: send.recipients[0], id: "n-1", requestID: "r-1", tenant: tenant, lane: .high)
        #expect(urgent.tenant == tenant && urgent.requestID == "r-1" && urgent.userID == "u-1")
        #expect(urgent.priority == .high && urgent.channels == [.email, .push] && urgent.transactional)
        #expect(urgent.email == MessageContent(subject: "Sign in", text: "123456", html: "<b>123456</b>"))
        #expect(urgent.title == "Your code" && urgent.type == "OTP")
        #expect(!send.notification(for: send.recipients[0], id: "n-2", requestID: "r-2", tenant: tenant, lane: .low).transactional)

        let planner = try IngestionPlannerTests.planner(delivering: [.email, .push])
        let plan = planner.delivery.plan(notifications: [urgent])
        #expect(plan.deliveries.map(\.channel) == [.email, .push])
        #expect(plan.deliveries.allSatisfy { $0.tenant == tenant && $0.status == .queued })
        #expect(plan.outbox.count == 2 && plan.outbox.allSatisfy { $0.routingKey == "high" })
        let job = try DeliveryJob(body: Array(plan.outbox[0].body.utf8))
        #expect(job.tenant == tenant, "the job carries its tenant, so the delivery looks in the tenant's directory")
        #expect(job.recipientKey == "\(tenant.namespace.uuidString.lowercased())/u-1")
    }

    @Test("retryEnabled false: in either spelling, part of the hash, carried by the job; its first transient failure is final")
    func withoutRetries() throws {
        let plain = try Self.parse(#"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content)}"#)
        let once = try Self.parse(
            #"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content),"retryEnabled":false}"#)
        let seed = try Self.parse(
            #"{"channel":"email","message_category":"OTP","recipient":{"userId":"u"},\#(Self.content),"retry_enabled":false}"#)
        let explicit = try Self.parse(
            #"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content),"retryEnabled":true}"#)
        #expect(plain.retries && explicit.retries && !once.retries && !seed.retries)
        #expect(once.hash == seed.hash && once.hash != plain.hash, "a request without retries is another request")
        #expect(explicit.hash == plain.hash, "true is the default, spelled or not")

        let notification = once.notification(
            for: once.recipients[0], id: "n-1", requestID: "r-1", tenant: Tenant(productID: UUID()), lane: .high)
        let plan = try IngestionPlannerTests.planner(delivering: [.email]).delivery.plan(notifications: [notification])
        let job = try DeliveryJob(body: Array(plan.outbox[0].body.utf8))
        #expect(!job.retries && job.fallbackJob(id: "d-2") == nil)
        let ordinary = try DeliveryJob(
            body: Array(
                try IngestionPlannerTests.planner(delivering: [.email])
                    .delivery.plan(notifications: [
                        plain.notification(
                            for: plain.recipients[0], id: "n-2", requestID: "r-2", tenant: Tenant(productID: UUID()), lane: .high)
                    ])
                    .outbox[0].body.utf8))
        #expect(ordinary.retries && !ordinary.body.bytes.contains(Array("retries".utf8)), "jobs that retry read as before")

        let policy = RetryPolicy()
        let transient = DeliveryFailure(code: "smtp-451", .transient, detail: "")
        #expect(policy.next(after: transient, attempt: 1, lane: .high) == .retry(delaySeconds: 2))
        #expect(policy.next(after: transient, attempt: 1, lane: .high, retries: false) == .dead)
        #expect(
            policy.next(after: DeliveryFailure(code: "unreachable", .provider, detail: ""), attempt: 1, lane: .high, retries: false)
                == .holdProvider, "a provider that is down spends no attempt, with or without retries")
    }

    @Test("scheduledAt: either spelling, part of the hash; past or within a second is now, up to 30 days ahead; the plan holds the jobs")
    func scheduled() throws {
        let now = try #require(RFC3339.date(from: "2026-12-05T10:00:00Z"))
        func send(_ at: String, spelling: String = "scheduledAt") throws -> SendRequest {
            try Self.parse(
                #"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content),"\#(spelling)":"\#(at)"}"#)
        }
        let later = try send("2026-12-05T11:30:00+01:00")
        #expect(try later.schedule(now: now) == RFC3339.date(from: "2026-12-05T10:30:00Z"))
        #expect(try send("2026-12-05T10:30:00Z", spelling: "scheduled_at").hash == later.hash, "the same time in any offset or spelling")
        let plain = try Self.parse(#"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u"},\#(Self.content)}"#)
        #expect(try plain.hash != later.hash && plain.schedule(now: now) == nil)
        #expect(try send("2026-12-05T09:00:00Z").schedule(now: now) == nil, "a time past is now")
        #expect(try send("2026-12-05T10:00:00.900Z").schedule(now: now) == nil, "within a second is now")
        #expect(try send("2027-01-04T10:00:00Z").schedule(now: now) != nil)
        #expect(throws: CommandFailure.self) { try send("2027-01-04T10:00:01Z").schedule(now: now) }

        let due = try #require(try later.schedule(now: now))
        let notification = later.notification(
            for: later.recipients[0], id: "n-1", requestID: "r-1", tenant: Tenant(productID: UUID()), lane: .high)
        let plan = try IngestionPlannerTests.planner(delivering: [.email, .push]).delivery.plan(notifications: [
            notification,
            NewNotification(
                id: "n-2", userID: "u", type: "OTP", priority: .high, channels: [.sms], title: "t", message: "m",
                metadata: [:], sourceEventKey: "k"),
        ])
        let held = plan.scheduled(at: due)
        #expect(held.outbox.isEmpty && held.scheduled.map(\.message) == plan.outbox && held.scheduled.allSatisfy { $0.due == due })
        #expect(held.deliveries.map(\.status) == [.scheduled, .skipped], "queued ones wait; one without a provider stays skipped")
        #expect(held.notifications == plan.notifications)
        #expect(CommitPlan(sends: [held, plan]).scheduled.count == 1 && CommitPlan(sends: [held, plan]).outbox.count == 1)
    }

    @Test("a batch: 1 to 1,000 recipients, each read as a single send's, none twice; the same request as a single send hashes alike")
    func batch() throws {
        let batch = try Self.batch(
            #"""
            {"channel":"sms","message_category":"PROMOTIONAL_OFFER","recipients":[{"userId":"u-1"},{"phone":"+15005550006"},
             {"userId":"u-2","email":"b@c.example"}],\#(Self.content),"idempotency_key":"campaign-7"}
            """#)
        #expect(batch.recipients.map(\.userID).prefix(1) == ["u-1"] && batch.recipients[1].userID.hasPrefix("address:"))
        #expect(batch.recipients[2].email == "b@c.example" && batch.channels == [.sms])
        let single = try Self.parse(#"{"channel":"sms","message_category":"OTP","recipient":{"userId":"u-1"},\#(Self.content)}"#)
        let one = try Self.batch(#"{"channel":"sms","message_category":"OTP","recipients":[{"userId":"u-1"}],\#(Self.content)}"#)
        #expect(single == one && single.hash == one.hash)
        let thousand = (0..<1_000).map { #"{"userId":"u-\#($0)"}"# }.joined(separator: ",")
        #expect(
            try Self.batch(#"{"channel":"sms","messageCategory":"OTP","recipients":[\#(thousand)],\#(Self.content)}"#).recipients.count
                == 1_000)

        let refusals: [(String, String)] = [
            (#"{"channel":"sms","messageCategory":"OTP","recipients":[],\#(Self.content)}"#, "'recipients'"),
            (#"{"channel":"sms","messageCategory":"OTP",\#(Self.content)}"#, "'recipients'"),
            (
                #"{"channel":"sms","messageCategory":"OTP","recipients":[\#(thousand),{"userId":"one-more"}],\#(Self.content)}"#,
                "more than 1000"
            ),
            (#"{"channel":"sms","messageCategory":"OTP","recipients":[{"userId":"a"},{}],\#(Self.content)}"#, "'recipients[1]'"),
            (#"{"channel":"sms","messageCategory":"OTP","recipients":[{"userId":"a"},"b"],\#(Self.content)}"#, "'recipients[1]'"),
            (
                #"{"channel":"sms","messageCategory":"OTP","recipients":[{"userId":"a"},{"userId":"b"},{"userId":"a"}],\#(Self.content)}"#,
                "'recipients[2]' is the same recipient as 'recipients[0]'"
            ),
            (
                #"{"channel":"sms","messageCategory":"OTP","recipients":[{"phone":"+15005550006"},{"phone":"+15005550006"}],\#(Self.content)}"#,
                "same recipient"
            ),
        ]
        for (json, expected) in refusals {
            do {
                _ = try Self.batch(json)
                Issue.record("accepted: \(json.prefix(200))")
            } catch {
                #expect(error.status == 400 && error.message.contains(expected), "\(error.message)")
            }
        }
        #expect(Command.sendBatch.maxRequestBytes == SendBatch.maxRequestBytes && Command.sendNotification.maxRequestBytes == 16 * 1024)
    }

    @Test("CancelRequest takes a request id in either spelling; anything else is 400")
    func cancel() throws {
        let id = UUID().uuidString
        #expect(try CancelRequest(body: Array(#"{"request_id":"\#(id)"}"#.utf8)).requestID == id.lowercased())
        #expect(try CancelRequest(body: Array(#"{"requestId":"\#(id.lowercased())"}"#.utf8)).requestID == id.lowercased())
        for body in [#"{}"#, #"{"requestId":"r-1"}"#, #"{"requestId":7}"#] {
            #expect(throws: CommandFailure.self) { try CancelRequest(body: Array(body.utf8)) }
        }
    }

    @Test("categories: the seed's lists by default, each replaceable; a category on two lanes is refused")
    func categories() {
        let defaults = MessageCategories()
        #expect(defaults.lane("OTP") == .high && defaults.lane("PAYMENT_CONFIRMATION") == .high)
        #expect(defaults.lane("APPOINTMENT_REMINDER") == .normal && defaults.lane("NEWSLETTER") == .low)
        #expect(defaults.lane("otp") == nil && defaults.lane("UNHEARD_OF") == nil)
        #expect(defaults.duplicates.isEmpty)
        let custom = MessageCategories(high: ["OTP"], normal: [], low: ["OTP", "NEWS"])
        #expect(custom.duplicates == ["OTP"])
        #expect(MessageCategories(high: ["DOORBELL"]).lane("DOORBELL") == .high)
    }
}

extension SendRequest {
    /// The notification of a send with its own content (what the daemon does for one without a template).
    func notification(for recipient: Recipient, id: String, requestID: String, tenant: Tenant, lane: NotificationPriority)
        -> NewNotification
    {
        guard case .content(let content) = message else { preconditionFailure("a send with content") }
        return notification(for: recipient, content: content.rendered, id: id, requestID: requestID, tenant: tenant, lane: lane)
    }
}
