import AsyncHTTPClient
import Foundation
import NIOCore
import StackSupport
import Testing

/// The daemon's HTTP listener as a supervisor, a load balancer and Prometheus use it: over the wire.
@Suite("HTTP listener: health and metrics", .needsStack)
struct HTTPListenerTests {
    struct Answer {
        var status: Int
        var contentType: String?
        var text: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
        /// `checks.<name>.ok` of a health report.
        func check(_ name: String) -> (ok: Bool?, detail: String?) {
            let check = (json["checks"] as? [String: Any])?[name] as? [String: Any]
            return (check?["ok"] as? Bool, check?["detail"] as? String)
        }
    }

    static func get(_ port: Int, _ path: String) async throws -> Answer {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4 << 20)
        return Answer(
            status: Int(response.status.code), contentType: response.headers.first(name: "content-type"),
            text: String(buffer: body))
    }

    /// The value of one series in a Prometheus text exposition (`name{labels} value`), nil when absent.
    static func sample(_ exposition: String, _ series: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("live and ready answer 200 with every check named; metrics count ingestion, RPC and lanes")
    func healthyDaemon() async throws {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(environment: ["NOTIFY_HTTP_PORT": String(port)])
        defer { Task { await service.shutDown() } }

        let live = try await Self.get(port, "/health/live")
        #expect(live.status == 200)
        #expect(live.json["status"] as? String == "live")
        #expect(live.contentType == "application/json")

        let ready = try await Self.get(port, "/health/ready")
        #expect(ready.status == 200, "\(ready.text)")
        #expect(ready.json["status"] as? String == "ready")
        for name in ["broker", "database", "ingestion", "rpc"] {
            #expect(ready.check(name).ok == true, "\(name): \(ready.text)")
        }
        let delivery = try await Self.get(port, "/health/delivery")
        #expect(delivery.status == 200 && delivery.json["status"] as? String == "delivering", "\(delivery.text)")
        for name in ["lane.high", "lane.normal", "lane.low"] {
            #expect(delivery.check(name).ok == true, "\(name): \(delivery.text)")
        }
        #expect(ready.check("broker").detail == "4 connections up")

        try await service.publish([Payments.confirmed(user: "user-\(service.id)", index: 1)])
        #expect(try await service.waitForStored(1) == 1)
        #expect(try await service.call("GetUserNotifications", ["userId": "user-\(service.id)"]).status == 200)
        #expect(try await service.call("NoSuchCommand", [:]).status == 400)
        // The sampler runs every 5 s: wait for a sample that saw the lanes.
        var metrics = try await Self.get(port, "/metrics")
        let deadline = ContinuousClock.now + .seconds(15)
        while Self.sample(metrics.text, #"notify_lane_depth{lane="high"}"#) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            metrics = try await Self.get(port, "/metrics")
        }
        #expect(metrics.status == 200)
        #expect(metrics.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(Self.sample(metrics.text, "notify_events_received_total") == 1)
        #expect(Self.sample(metrics.text, "notify_notifications_created_total") == 1)
        #expect(Self.sample(metrics.text, #"notify_rpc_requests_total{command="GetUserNotifications",status="200"}"#) == 1)
        #expect(Self.sample(metrics.text, #"notify_rpc_requests_total{command="unknown",status="400"}"#) == 1)
        for lane in ["high", "normal", "low"] {
            #expect(Self.sample(metrics.text, "notify_lane_depth{lane=\"\(lane)\"}") == 0)
            #expect(Self.sample(metrics.text, "notify_lane_oldest_age_seconds{lane=\"\(lane)\"}") == 0)
        }
        #expect(Self.sample(metrics.text, "notify_outbox_backlog") == 0)
        #expect(try await Self.get(port, "/nowhere").status == 404)
    }

    @Test(
        "an unreachable SMTP server: delivery is 503 degraded naming the email provider while ready stays 200 (the API keeps serving); metrics show it down and the held jobs; back to 200 once it answers"
    )
    func providerDown() async throws {
        let port = try freeLoopbackPort()
        let peer = try SMTPPeer(port: 2541)
        peer.kill()
        var environment = EmailDeliveryTests.smtpEnvironment
        environment["NOTIFY_HTTP_PORT"] = String(port)
        environment["NOTIFY_EMAIL_PORT"] = String(peer.port)
        let service = try await ServiceHarness(environment: environment)
        defer { Task { await service.shutDown() } }
        let user = "user-\(service.id)"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": "down-\(service.id)@example.com"]).status == 200)
        try await service.publish([Payments.confirmed(user: user, index: 2)])

        var delivery = try await Self.get(port, "/health/delivery")
        let deadline = ContinuousClock.now + .seconds(20)
        while delivery.status == 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            delivery = try await Self.get(port, "/health/delivery")
        }
        #expect(delivery.status == 503)
        #expect(delivery.json["status"] as? String == "degraded")
        #expect(delivery.check("provider.email").ok == false)
        #expect(delivery.check("provider.email").detail?.hasPrefix("smtp open: unreachable (provider)") == true, "\(delivery.text)")
        #expect(!delivery.text.contains("down-\(service.id)"), "no address in a health report")
        let ready = try await Self.get(port, "/health/ready")
        #expect(ready.status == 200, "a provider outage does not take the API out of the load balancer: \(ready.text)")

        var metrics = try await Self.get(port, "/metrics")
        let sampled = ContinuousClock.now + .seconds(15)
        while Self.sample(metrics.text, #"notify_provider_up{channel="email",provider="smtp"}"#) != 0, ContinuousClock.now < sampled {
            try await Task.sleep(for: .milliseconds(500))
            metrics = try await Self.get(port, "/metrics")
        }
        #expect(Self.sample(metrics.text, #"notify_provider_up{channel="email",provider="smtp"}"#) == 0)
        #expect((Self.sample(metrics.text, #"notify_deliveries_total{channel="email",provider="smtp",outcome="held"}"#) ?? 0) >= 1)
        #expect(Self.sample(metrics.text, #"notify_deliveries_total{channel="email",provider="smtp",outcome="sent"}"#) == nil)

        try peer.start()
        let back = ContinuousClock.now + .seconds(60)
        while delivery.status != 200, ContinuousClock.now < back {
            try await Task.sleep(for: .milliseconds(500))
            delivery = try await Self.get(port, "/health/delivery")
        }
        #expect(delivery.status == 200, "\(delivery.text)")
        let received = ContinuousClock.now + .seconds(30)
        while peer.received.isEmpty, ContinuousClock.now < received { try await Task.sleep(for: .milliseconds(200)) }
        #expect(peer.received.count == 1)
        // The held email was the breaker's first probe; it closes after five that succeed.
        delivery = try await Self.get(port, "/health/delivery")
        #expect(delivery.check("provider.email").detail == "smtp half-open: probing after unreachable (provider)")
        metrics = try await Self.get(port, "/metrics")
        #expect(Self.sample(metrics.text, #"notify_deliveries_total{channel="email",provider="smtp",outcome="sent"}"#) == 1)
        #expect((Self.sample(metrics.text, #"notify_delivery_send_seconds_count{channel="email",provider="smtp"}"#) ?? 0) >= 2)
    }

    @Test("PostgreSQL stopped: ready is 503 naming the database while live stays 200; ready again once it is back")
    func databaseDown() async throws {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(environment: ["NOTIFY_HTTP_PORT": String(port)])
        defer { Task { await service.shutDown() } }
        #expect(try await Self.get(port, "/health/ready").status == 200)
        try StackControl.stopPostgres()
        var ready = try await Self.get(port, "/health/ready")
        var restarted = false
        defer { if !restarted { try? StackControl.startPostgres() } }
        let deadline = ContinuousClock.now + .seconds(30)
        while ready.status == 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            ready = try await Self.get(port, "/health/ready")
        }
        #expect(ready.status == 503)
        #expect(ready.check("database").ok == false, "\(ready.text)")
        #expect(ready.check("database").detail?.hasPrefix("does not answer SELECT 1") == true)
        #expect(ready.check("broker").ok == true)
        #expect(try await Self.get(port, "/health/live").status == 200, "a daemon waiting for its database is alive")
        try StackControl.startPostgres()
        restarted = true
        let back = ContinuousClock.now + .seconds(60)
        while ready.status != 200, ContinuousClock.now < back {
            try await Task.sleep(for: .milliseconds(500))
            ready = try await Self.get(port, "/health/ready")
        }
        #expect(ready.status == 200, "\(ready.text)")
    }

    @Test("the dead-letter queue deleted: the sampler's failing declare disturbs no consumer, RPC keeps answering")
    func sampledQueueDeleted() async throws {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(environment: ["NOTIFY_HTTP_PORT": String(port)])
        defer { Task { await service.shutDown() } }
        try await service.client.deleteQueue(service.deadLetterQueue)
        // Two samples (every 5 s) go by while the queue is gone; every request in that time is answered at once.
        let until = ContinuousClock.now + .seconds(11)
        var answered = 0
        while ContinuousClock.now < until {
            let started = ContinuousClock.now
            #expect(try await service.call("GetUserNotifications", ["userId": "user-\(service.id)"]).status == 200)
            #expect(ContinuousClock.now - started < .seconds(1))
            answered += 1
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(answered >= 20)
        let lost = service.daemon.log.split(separator: "\n").filter { $0.contains("lost the broker connection") }
        #expect(
            lost.contains { $0.contains("notifyd.monitor") }, "the sampler did hit the missing queue: \(service.daemon.log.suffix(2000))")
        #expect(!lost.contains { !$0.contains("notifyd.monitor") }, "no other connection lost its channel: \(lost)")
        #expect(try await Self.get(port, "/health/live").status == 200)
    }

    @Test("a port already in use: the daemon does not start, and says which listener")
    func portInUse() async throws {
        let port = try freeLoopbackPort()
        let first = try await ServiceHarness(environment: ["NOTIFY_HTTP_PORT": String(port)])
        defer { Task { await first.shutDown() } }
        let second = try DaemonProcess(environment: first.environment)
        defer { second.stop() }
        let status = await second.waitForExit(timeout: .seconds(30))
        #expect(status != nil && status != 0, "exits, and not with success")
        #expect(second.log.contains("cannot start: HTTP listener on 127.0.0.1:\(port)"), "\(second.log)")
    }
}
