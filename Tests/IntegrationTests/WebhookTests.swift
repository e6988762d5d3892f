import Foundation
import Testing
import VisionQueue

/// The completion webhook end to end: the real stack, its outbox in the real database, and a
/// receiver that verifies every delivery with the Standard Webhooks reference library.
@Suite("Completion webhook", .serialized)
struct WebhookTests {
    @Test("Completed, failed and cancelled runs are each announced once, signed as Standard Webhooks specifies, with the job in data")
    func everyEnding() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let stack = try Stack.start(.init(environment: receiver.environment.merging(["VQ_MAX_ACTIVE_JOBS": "10"]) { $1 }))
        defer { stack.stop() }
        let token = stack.token(for: "webhook-user")
        let completed = try stack.createJob(token: token)
        let final = try stack.waitForJob(completed, token: token)
        // Every category failing, on a stack of its own, with the same receiver.
        let failing = try Stack.start(.init(environment: receiver.environment.merging([
            "VQ_MAX_ATTEMPTS": "1",
            "VQ_FAULT_FAIL": VisionCategory.allCases.map { "\($0.key):*" }.joined(separator: ","),
        ]) { $1 }))
        defer { failing.stop() }
        let failed = try failing.createJob(token: failing.token(for: "webhook-user"))
        #expect(try failing.waitForJob(failed, token: failing.token(for: "webhook-user"))["status"] as? String == "failed")
        let slowStack = try Stack.start(.init(generatorDelayMillis: 2_000, environment: receiver.environment))
        defer { slowStack.stop() }
        let slowToken = slowStack.token(for: "webhook-user")
        let cancelled = try slowStack.createJob(token: slowToken)
        #expect(try slowStack.client.postJSON("/api/vision-jobs/cancel", ["jobId": cancelled], token: slowToken).status == 200)

        #expect(receiver.wait(seconds: 30) { $0.accepted().count == 3 }, "three events delivered: \(receiver.answered())")
        let deliveries = receiver.answered()
        #expect(deliveries.allSatisfy { $0["verified"] as? Bool == true }, "every signature verifies: \(deliveries)")
        #expect(deliveries.allSatisfy { $0["contentType"] as? String == "application/json" && $0["path"] as? String == "/hooks/vision" })
        let byJob = Dictionary(uniqueKeysWithValues: deliveries.compactMap { entry -> (String, [String: Any])? in
            guard let data = entry["data"] as? [String: Any], let job = data["jobId"] as? String else { return nil }
            return (job, entry)
        })
        let done = try #require(byJob[completed])
        #expect(done["type"] as? String == "job.completed")
        let data = try #require(done["data"] as? [String: Any])
        #expect(data["status"] as? String == "completed")
        #expect(data["visionId"] as? String == final["visionId"] as? String)
        #expect(data["categoriesCompleted"] as? Int == 12 && data["categoriesFailed"] as? Int == 0)
        #expect(data["userId"] as? String == "webhook-user")
        #expect(data["completedAt"] as? String == final["completedAt"] as? String, "the times the status answer shows")
        #expect(byJob[failed]?["type"] as? String == "job.failed")
        #expect((byJob[failed]?["data"] as? [String: Any])?["categoriesFailed"] as? Int == 12)
        #expect(byJob[cancelled]?["type"] as? String == "job.cancelled")
        #expect((byJob[cancelled]?["data"] as? [String: Any])?["status"] as? String == "cancelled")
        #expect(Set(deliveries.compactMap { $0["id"] as? String }).count == 3, "one id per event, each delivered once")
        usleep(500_000)
        #expect(receiver.answered().count == 3, "nothing delivered twice")
    }

    @Test("A receiver answering 500 gets the event again, under the same webhook-id, and then no more")
    func retriedAfterAnError() throws {
        let receiver = try WebhookReceiver(failFirst: 1)
        defer { receiver.stop() }
        let stack = try Stack.start(.init(environment: receiver.environment))
        defer { stack.stop() }
        let token = stack.token(for: "retry-user")
        let job = try stack.createJob(token: token)
        try stack.waitForJob(job, token: token)
        #expect(receiver.wait(seconds: 20) { $0.accepted().count == 1 })
        usleep(1_000_000)
        let deliveries = receiver.answered()
        #expect(deliveries.map { $0["status"] as? Int } == [500, 204], "\(deliveries)")
        #expect(Set(deliveries.compactMap { $0["id"] as? String }).count == 1, "the same webhook-id both times")
    }

    @Test("A receiver that is down for a while gets the event once it is back")
    func receiverDownThenUp() throws {
        let receiver = try WebhookReceiver(started: false)
        defer { receiver.stop() }
        let stack = try Stack.start(.init(environment: receiver.environment))
        defer { stack.stop() }
        let token = stack.token(for: "down-user")
        let job = try stack.createJob(token: token)
        try stack.waitForJob(job, token: token)
        usleep(2_000_000)  // the first attempts fail: nobody listens
        #expect(receiver.received().isEmpty)
        try receiver.start()
        #expect(receiver.wait(seconds: 30) { $0.accepted().count == 1 }, "delivered after the receiver came back")
        #expect(stack.logText("vision-process").contains("not delivered"), "the failed attempts are logged")
    }

    @Test("kill -9 of the process binary while it delivers: the event is delivered after the restart, same webhook-id")
    func processKilledMidDelivery() throws {
        // The first delivery hangs; the process binary is killed while it waits.
        let receiver = try WebhookReceiver(delayMillis: 4_000, delayCount: 1)
        defer { receiver.stop() }
        let stack = try Stack.start(.init(environment: receiver.environment.merging(["VQ_WEBHOOK_TIMEOUT_SECONDS": "2"]) { $1 }))
        defer { stack.stop() }
        let token = stack.token(for: "crash-user")
        let job = try stack.createJob(token: token)
        try stack.waitForJob(job, token: token)
        #expect(receiver.wait(seconds: 10) { !$0.received().isEmpty }, "a delivery started")
        for process in 1...2 {
            if let pid = stack.pid(of: "vision-process", process: process) { kill(pid, SIGKILL) }
        }
        // The hung attempt's answer goes to a dead process; the restarted binary delivers again
        // once that attempt's claim has run out (the timeout and a margin).
        let redelivered = receiver.wait(seconds: 30) { receiver in
            receiver.answered().contains { $0["n"] as? Int == 2 && $0["status"] as? Int == 204 }
        }
        #expect(redelivered, "delivered by the restarted binary: \(receiver.answered())")
        let ids = Set(receiver.received().compactMap { $0["id"] as? String })
        #expect(ids.count == 1, "every attempt under one webhook-id: \(ids)")
        // The outbox saw the hung attempt and a later one: not a retry the killed process made itself.
        // (Settled once the receiver's answer is back: wait for it.)
        var outbox: (attempts: Int64, delivered: Int64?) = (0, nil)
        let settled = Date().addingTimeInterval(10)
        while outbox.delivered == nil && Date() < settled {
            outbox = try #require(try stack.db().row(
                "SELECT attempts, delivered_at FROM vision_webhook_events", []) { ($0.int(0), $0.optionalInt(1)) })
            if outbox.delivered == nil { usleep(50_000) }
        }
        #expect(outbox.attempts >= 2 && outbox.delivered != nil, "outbox: \(outbox)")
    }

    @Test("A receiver that never answers holds up no step: jobs complete while every delivery hangs")
    func hungReceiverBlocksNothing() throws {
        let receiver = try WebhookReceiver(delayMillis: 60_000)
        defer { receiver.stop() }
        let stack = try Stack.start(.init(environment: receiver.environment.merging([
            "VQ_WEBHOOK_TIMEOUT_SECONDS": "60", "VQ_MAX_ACTIVE_JOBS": "10",
        ]) { $1 }))
        defer { stack.stop() }
        let token = stack.token(for: "hung-user")
        let first = try stack.createJob(token: token)
        try stack.waitForJob(first, token: token)
        #expect(receiver.wait(seconds: 10) { $0.received().count >= 1 }, "the dispatcher is stuck in a delivery")
        let more = try (0..<5).map { _ in try stack.createJob(token: token) }
        for job in more {
            #expect(try stack.waitForJob(job, token: token)["status"] as? String == "completed")
        }
        #expect(receiver.answered().isEmpty, "all of it while no delivery had been answered")
    }
}
