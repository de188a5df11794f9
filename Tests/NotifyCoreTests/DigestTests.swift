import Foundation
import Testing

@testable import NotifyCore

@Suite("Digests: what a send or a rule asks for, which digest an item joins, what a digest says")
struct DigestTests {
    static let base =
        #""channels":["email","sms","in-app"],"messageCategory":"PRICE_DROP_ALERT","recipient":{"userId":"u-1"},"content":{"title":"t","body":"b"}"#

    @Test("digest {windowSeconds?, maxItems?}: defaults, the seed's spellings, part of the hash; out of range or unusable is 400")
    func request() throws {
        let defaults = try SendRequestTests.parse("{\(Self.base),\"digest\":{}}")
        #expect(defaults.digest == DigestPolicy(windowSeconds: 600, maxItems: 20))
        let seed = try SendRequestTests.parse(#"{\#(Self.base),"digest":{"window_seconds":60,"max_items":5}}"#)
        let camel = try SendRequestTests.parse(#"{\#(Self.base),"digest":{"windowSeconds":60,"maxItems":5}}"#)
        #expect(seed.digest == DigestPolicy(windowSeconds: 60, maxItems: 5) && seed.hash == camel.hash)
        let plain = try SendRequestTests.parse("{\(Self.base)}")
        #expect(camel.hash != defaults.hash && defaults.hash != plain.hash)

        #expect(
            SendRequestTests.refusal(#"{\#(Self.base),"digest":{"maxItems":1}}"#)?.contains(
                "'digest.maxItems' must be a whole number from 2 to 100") == true)
        #expect(SendRequestTests.refusal(#"{\#(Self.base),"digest":{"windowSeconds":86401}}"#)?.contains("'digest.windowSeconds'") == true)
        #expect(SendRequestTests.refusal(#"{\#(Self.base),"digest":{"windowSeconds":1.5}}"#)?.contains("'digest.windowSeconds'") == true)
        #expect(SendRequestTests.refusal(#"{\#(Self.base),"digest":true}"#)?.contains("'digest' must be an object") == true)
        #expect(
            SendRequestTests.refusal(#"{\#(Self.base),"digest":{},"scheduledAt":"2099-01-01T00:00:00Z"}"#)?.contains("not both") == true)
        let inApp =
            #"{"channel":"in-app","messageCategory":"PRICE_DROP_ALERT","recipient":{"userId":"u"},"content":{"title":"t","body":"b"},"digest":{}}"#
        #expect(SendRequestTests.refusal(inApp)?.contains("batches email, sms and push") == true)
    }

    @Test("the planner batches email and SMS (no lane job), keeps in-app at once, and names the kind and policy")
    func planner() throws {
        let send = try SendRequestTests.parse(#"{\#(Self.base),"digest":{"windowSeconds":60,"maxItems":5}}"#)
        let tenant = Tenant(productID: UUID())
        let notification = send.notification(
            for: send.recipients[0], content: SendRequest.Content(title: "t", body: "b").rendered,
            id: "n-1", requestID: "r-1", tenant: tenant, lane: .low)
        let plan = try IngestionPlannerTests.planner(delivering: [.email, .sms]).delivery.plan(notifications: [notification])
        #expect(plan.deliveries.map(\.status) == [.batched, .batched] && plan.outbox.isEmpty)
        #expect(plan.digestItems.map(\.job.channel) == [.email, .sms] && plan.digestItems.allSatisfy { $0.kind == "PRICE_DROP_ALERT" })
        let item = try #require(plan.digestItems.first)
        #expect(
            item.key
                == DigestKey(namespace: tenant.namespace.uuidString.lowercased(), userID: "u-1", channel: .email, kind: "PRICE_DROP_ALERT"))
        let job = try DeliveryJob(body: OutboxMessage(item.digestJob, exchange: "w").body.utf8.map { $0 })
        #expect(job.isDigest && job.deliveryID == item.newDeliveryID && job.notificationID == item.newDigestID && job.lane == .low)
        #expect(job.tenant == tenant && job.category == "PRICE_DROP_ALERT")
        #expect(try !DeliveryJob(body: OutboxMessage(item.job, exchange: "w").body.utf8.map { $0 }).isDigest)
    }

    @Test("a rule's digest reads from the rules file with its defaults; an out-of-range one stops start-up")
    func rules() throws {
        let rules = try NotificationRules(
            json: Data(
                #"""
                {"rules":[{"event":"BackInStock","template":"back-in-stock","type":"stock","priority":"low","channels":["email"],"digest":{"windowSeconds":900}}]}
                """#.utf8))
        #expect(rules.rules.first?.digest == DigestPolicy(windowSeconds: 900, maxItems: 20))
        #expect(throws: TemplateError.self) {
            try NotificationRules(
                json: Data(
                    #"""
                    {"rules":[{"event":"BackInStock","template":"t","type":"stock","priority":"low","channels":["email"],"digest":{"maxItems":500}}]}
                    """#.utf8))
        }
    }

    static func item(_ delivery: String, user: String = "u", maxItems: Int = 3) -> DigestItem {
        DigestItem(
            job: DeliveryJob(
                deliveryID: delivery, notificationID: "n-\(delivery)", userID: user, channel: .email, lane: .normal, transactional: true,
                content: MessageContent(subject: "s", text: "t", html: nil)),
            kind: "k", policy: DigestPolicy(windowSeconds: 60, maxItems: maxItems), newDigestID: "g-\(delivery)",
            newDeliveryID: "gd-\(delivery)",
            exchange: "w")
    }

    @Test("an item joins its key's open digest while it has room, else opens one; a digest at maxItems is full and the next opens another")
    func assignment() {
        let open = OpenDigest(id: "g-0", deliveryID: "gd-0", items: 1, maxItems: 3)
        let key = Self.item("x").key
        let assignment = DigestAssignment([Self.item("1"), Self.item("2"), Self.item("3"), Self.item("4", user: "v")], open: [key: open])
        #expect(assignment.members.map(\.digestID) == ["g-0", "g-0", "g-3", "g-4"])
        #expect(assignment.members.map(\.digestDeliveryID) == ["gd-0", "gd-0", "gd-3", "gd-4"])
        #expect(assignment.opened.map(\.job.deliveryID) == ["3", "4"])
        #expect(assignment.added == ["g-0": 2, "g-3": 1, "g-4": 1])
        #expect(assignment.full == [OpenDigest(id: "g-0", deliveryID: "gd-0", items: 3, maxItems: 3)])
        #expect(DigestAssignment([], open: [key: open]).members.isEmpty)
    }

    @Test(
        "what a digest says: one item as itself; an email lists every title and body (HTML escaped); SMS and push list titles within their limits"
    )
    func content() {
        let entries = [DigestEntry(title: "Kettle <20%>", body: "Line 1\nLine 2"), DigestEntry(title: "Mugs & cups", body: "Cheap")]
        #expect(
            MessageContent.digest(of: [entries[0]], on: .email)
                == MessageContent(subject: "Kettle <20%>", text: "Line 1\nLine 2", html: nil))
        let email = MessageContent.digest(of: entries, on: .email)
        #expect(email.subject == "Kettle <20%> (and 1 more)")
        #expect(email.text == "2 notifications:\n\n* Kettle <20%>\n  Line 1\n  Line 2\n\n* Mugs & cups\n  Cheap\n")
        #expect(email.html?.contains("<strong>Kettle &lt;20%&gt;</strong><br>Line 1<br>Line 2") == true)
        #expect(email.html?.contains("Mugs &amp; cups") == true)
        #expect(MessageContent.digest(of: entries, on: .sms).text == "2 notifications: Kettle <20%>; Mugs & cups")
        #expect(
            MessageContent.digest(of: entries, on: .push)
                == MessageContent(subject: "2 notifications", text: "Kettle <20%>\nMugs & cups", html: nil))

        let many = (1...100).map { DigestEntry(title: "Offer number \($0) is here", body: "") }
        let sms = MessageContent.digest(of: many, on: .sms).text
        #expect(sms.count <= MessageContent.maxDigestSMS && sms.hasPrefix("100 notifications: Offer number 1 is here; "))
        let shown = sms.components(separatedBy: "; ").count - 1
        #expect(sms.hasSuffix("; (+\(100 - shown) more)"), "\(sms)")
        let push = MessageContent.digest(of: many, on: .push).text
        #expect(push.count <= MessageContent.maxDigestPush && push.hasSuffix(" more)"))
        #expect(MessageContent.digest(of: [], on: .sms).text.isEmpty)
    }

    @Test(
        "a digest of a hundred of the largest notifications (256 KiB of quotes each), its oldest twenty read: each cut, text and HTML well within the render limit, the rest counted"
    )
    func largestDigest() {
        let quotes = String(repeating: "\"", count: CompiledTemplate.maxRenderedLength)
        let entries = (1...MessageContent.maxDigestListed).map {
            DigestEntry(title: String(repeating: "<", count: 10_000) + "\($0)", body: quotes)
        }
        let email = MessageContent.digest(of: entries, total: 100, on: .email)
        let html = email.html ?? ""
        #expect(email.text.utf8.count <= CompiledTemplate.maxRenderedLength && html.utf8.count <= CompiledTemplate.maxRenderedLength)
        #expect(html.utf8.count < 160 * 1024, "a digest costs at most about 150 KB: \(html.utf8.count) bytes of HTML")
        #expect(email.subject.count <= MessageContent.maxDigestTitle + " (and 99 more)".count)
        #expect(
            email.text.hasPrefix("100 notifications:\n\n* " + String(repeating: "<", count: MessageContent.maxDigestTitle - 1) + "…\n  "))
        #expect(email.text.components(separatedBy: "\n* ").count - 1 == 20, "every one read is listed")
        #expect(email.text.hasSuffix("(and 80 more)\n") && html.hasSuffix("<li>(and 80 more)</li>\n</ul>\n"))
        let short = ["Kettle", "Mugs", "Tea"].map { DigestEntry(title: $0, body: "") }
        #expect(MessageContent.digest(of: short, total: 50, on: .sms).text == "50 notifications: Kettle; Mugs; Tea; (+47 more)")
        // One item is itself, however large (the store reads a digest of one whole).
        #expect(MessageContent.digest(of: [entries[0]], on: .email).text == quotes)
    }
}
