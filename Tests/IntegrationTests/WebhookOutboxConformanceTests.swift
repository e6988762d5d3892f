import Foundation
import Synchronization
import Testing
import VisionQueue
import VisionQueueTestSupport

/// The webhook outbox, written against `JobStore` and run on every store: an event per ending, in
/// the ending's transaction, claimed by exactly one of many dispatchers, settled, retried.
@Suite("JobStore conformance: webhook outbox")
struct WebhookOutboxConformanceTests {
    let lifecycle = JobLifecycle(policy: RetryPolicy(maxAttempts: 1, leaseMillis: 60_000, backoffBaseMillis: 0))

    /// A job with every category written, finished at `t0 + 1_000`.
    private func finishedJob(_ store: SQLJobStore, user: String = "alice") throws -> JobID {
        let id = try store.createJob(NewJob(userID: user, notes: [:]), now: t0).id
        for offset in 0..<VisionCategory.count {
            guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0 + Int64(offset), lifecycle: lifecycle) else {
                throw StoreError.busy
            }
            _ = try store.recordSuccess(claim, Generation(text: "text", usage: TokenUsage(promptTokens: 10, completionTokens: 5)), now: t0 + Int64(offset))
        }
        _ = try store.finishJob(id, now: t0 + 1_000, lifecycle: lifecycle, assemble: { VisionAssembler.document(sections: $0) })
        return id
    }

    @Test(arguments: StoreBackend.allCases)
    func anEndingWritesOneEventWithTheJobAsItThenWas(_ backend: StoreBackend) throws {
        let database = try backend.freshDatabase()
        let store = try database.store(webhookEvents: true)
        let id = try finishedJob(store)
        let cancelled = try store.createJob(NewJob(userID: "bob", notes: [:]), now: t0).id
        #expect(try store.cancelJob(cancelled, ownedBy: "bob", now: t0 + 2_000)?.status == .cancelled)

        let due = try store.dueWebhookEvents(now: t0 + 5_000, limit: 10)
        #expect(due.map(\.kind) == [.completed, .cancelled], "oldest first")
        let event = try #require(due.first)
        let job = try #require(try store.job(id, ownedBy: "alice"))
        #expect(event.jobID == id.rawValue && event.userID == "alice" && event.status == "completed")
        #expect(event.visionID == job.visionID && event.visionID != nil)
        #expect(event.categoriesCompleted == 12 && event.categoriesFailed == 0)
        #expect(event.promptTokens == 120 && event.completionTokens == 60)
        #expect(event.createdAt == t0 && event.completedAt == t0 + 1_000 && event.occurredAt == t0 + 1_000)
        #expect(event.id.hasPrefix("msg_") && due[1].id != event.id)
        #expect(try store.dueWebhookEvents(now: t0 + 999, limit: 10).isEmpty, "not due before the ending")
    }

    @Test(arguments: StoreBackend.allCases)
    func withoutAWebhookNothingIsWritten(_ backend: StoreBackend) throws {
        let database = try backend.freshDatabase()
        let store = try database.store(webhookEvents: false)
        _ = try finishedJob(store)
        #expect(try store.dueWebhookEvents(now: t0 + 5_000, limit: 10).isEmpty)
        #expect(try store.webhookBacklog(now: t0 + 5_000) == WebhookBacklog(undelivered: 0, givenUp: 0, oldestMillis: nil))
    }

    @Test(arguments: StoreBackend.allCases)
    func oneOfManyDispatchersClaimsAnAttempt(_ backend: StoreBackend) throws {
        let database = try backend.freshDatabase()
        _ = try finishedJob(try database.store(webhookEvents: true))
        let event = try #require(try database.store().dueWebhookEvents(now: t0 + 5_000, limit: 1).first)
        let wins = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            guard let store = try? database.store() else { return }
            if (try? store.claimWebhookEvent(event, until: t0 + 60_000, now: t0 + 5_000)) == true { wins.withLock { $0 += 1 } }
        }
        #expect(wins.withLock { $0 } == 1)
        let store = try database.store()
        #expect(try store.dueWebhookEvents(now: t0 + 59_999, limit: 10).isEmpty, "held while delivered")
        let expired = try #require(try store.dueWebhookEvents(now: t0 + 60_000, limit: 10).first, "due again when the claim runs out")
        #expect(expired.attempts == 1 && expired.id == event.id)
    }

    @Test(arguments: StoreBackend.allCases)
    func settledEventsAreRetriedDeliveredOrGivenUp(_ backend: StoreBackend) throws {
        let database = try backend.freshDatabase()
        let store = try database.store(webhookEvents: true)
        _ = try finishedJob(store)
        _ = try finishedJob(store, user: "bob")
        var events = try store.dueWebhookEvents(now: t0 + 5_000, limit: 10)
        for index in events.indices {
            #expect(try store.claimWebhookEvent(events[index], until: t0 + 60_000, now: t0 + 5_000))
            events[index].attempts += 1
        }
        try store.settleWebhookEvent(events[0], delivered: false, retryAt: t0 + 10_000, error: "HTTP 500", now: t0 + 6_000)
        try store.settleWebhookEvent(events[1], delivered: true, retryAt: nil, error: nil, now: t0 + 6_000)
        #expect(try store.webhookBacklog(now: t0 + 7_000) == WebhookBacklog(undelivered: 1, givenUp: 0, oldestMillis: 6_000))
        #expect(try store.dueWebhookEvents(now: t0 + 9_999, limit: 10).isEmpty)
        let retry = try #require(try store.dueWebhookEvents(now: t0 + 10_000, limit: 10).first)
        #expect(retry.id == events[0].id && retry.attempts == 1)
        #expect(try store.claimWebhookEvent(retry, until: t0 + 70_000, now: t0 + 10_000))
        var claimed = retry
        claimed.attempts += 1
        try store.settleWebhookEvent(claimed, delivered: false, retryAt: nil, error: "HTTP 500", now: t0 + 11_000)
        #expect(try store.dueWebhookEvents(now: t0 + 1_000_000, limit: 10).isEmpty, "given up, never due again")
        #expect(try store.webhookBacklog(now: t0 + 12_000) == WebhookBacklog(undelivered: 0, givenUp: 1, oldestMillis: nil))
        // A late settle of an attempt another dispatcher has since claimed changes nothing.
        try store.settleWebhookEvent(events[0], delivered: true, retryAt: nil, error: nil, now: t0 + 13_000)
        #expect(try store.webhookBacklog(now: t0 + 13_000).givenUp == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func aJobFailedAtOnceIsAnnounced(_ backend: StoreBackend) throws {
        let database = try backend.freshDatabase()
        let store = try database.store(webhookEvents: true)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0, lifecycle: lifecycle) else { throw StoreError.busy }
        #expect(try store.failJob(claim, error: "The model provider refused the API key.", call: ModelCall(), now: t0 + 10))
        let event = try #require(try store.dueWebhookEvents(now: t0 + 10, limit: 10).first)
        #expect(event.kind == .failed && event.status == "failed" && event.categoriesFailed == 12)
        #expect(event.error == "The model provider refused the API key.")
    }

    @Test(arguments: StoreBackend.allCases)
    func oldEventsAreForgottenPendingOnesKept(_ backend: StoreBackend) throws {
        let database = try backend.freshDatabase()
        let store = try database.store(webhookEvents: true)
        for user in ["delivered", "given-up", "pending"] { _ = try finishedJob(store, user: user) }
        let due = try store.dueWebhookEvents(now: t0 + 5_000, limit: 10)
        #expect(due.count == 3)
        var events = ["delivered", "given-up"].compactMap { user in due.first { $0.userID == user } }
        for index in 0..<2 {
            #expect(try store.claimWebhookEvent(events[index], until: t0 + 60_000, now: t0 + 5_000))
            events[index].attempts += 1
        }
        try store.settleWebhookEvent(events[0], delivered: true, retryAt: nil, error: nil, now: t0 + 6_000)
        try store.settleWebhookEvent(events[1], delivered: false, retryAt: nil, error: "HTTP 500", now: t0 + 6_000)
        #expect(try store.pruneWebhookEvents(deliveredBefore: t0 + 6_000, givenUpBefore: t0) == 0, "nothing old enough yet")
        #expect(try store.pruneWebhookEvents(deliveredBefore: t0 + 6_001, givenUpBefore: t0 + 1_001) == 2)
        let left = try store.dueWebhookEvents(now: t0 + 100_000, limit: 10)
        #expect(left.map(\.userID) == ["pending"], "the undelivered event stays, however old")
    }
}
