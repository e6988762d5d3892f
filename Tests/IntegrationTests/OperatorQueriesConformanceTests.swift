import Foundation
import Testing
import VisionQueue
import VisionQueueTestSupport

/// What the operator's page and `/metrics` read from a store, on every store.
@Suite("JobStore conformance: operator queries")
final class OperatorQueriesConformanceTests {
    let lifecycle = JobLifecycle(policy: RetryPolicy(maxAttempts: 3, leaseMillis: 60_000, backoffBaseMillis: 1_000))
    private(set) var database: TestDatabase!
    private(set) var store: SQLJobStore!

    private func use(_ backend: StoreBackend) throws {
        database = try backend.freshDatabase()
        store = try database.store()
    }

    private func claim(_ id: JobID, at now: EpochMillis) throws -> CategoryClaim {
        guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) else {
            throw StoreError.corruptRow("expected a claim")
        }
        return claim
    }

    /// alice's job running (one category claimed), bob's cancelled, carol's failed at t0 + 100.
    private func threeJobs() throws -> (running: JobID, cancelled: JobID, failed: JobID) {
        let running = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let cancelled = try store.createJob(NewJob(userID: "bob", notes: [:]), now: t0 + 1).id
        let failed = try store.createJob(NewJob(userID: "carol", notes: [:]), now: t0 + 2).id
        _ = try claim(running, at: t0 + 10)
        _ = try store.cancelJob(cancelled, ownedBy: "bob", now: t0 + 20)
        let doomed = try claim(failed, at: t0 + 30)
        #expect(try store.failJob(doomed, error: "The provider refused the API key.", call: ModelCall(), now: t0 + 100))
        return (running, cancelled, failed)
    }

    @Test(arguments: StoreBackend.allCases)
    func figuresCountJobsAndTheCategoriesOfUnfinishedOnes(_ backend: StoreBackend) throws {
        try use(backend)
        _ = try threeJobs()
        let figures = try store.queueFigures(failedSince: t0 + 50)
        #expect(figures.jobs == [.processing: 1, .cancelled: 1, .failed: 1])
        #expect(figures.categories == [.running: 1, .pending: 11], "only alice's job is unfinished")
        #expect(figures.failedRecently == 1)
        #expect(try store.queueFigures(failedSince: t0 + 101).failedRecently == 0, "failed before the window")
    }

    @Test(arguments: StoreBackend.allCases)
    func everyUsersJobsByFilterNewestFirst(_ backend: StoreBackend) throws {
        try use(backend)
        let (running, cancelled, failed) = try threeJobs()
        func ids(_ filter: JobFilter, limit: Int = 50) throws -> [JobID] { try store.jobs(matching: filter, limit: limit).map(\.id) }
        #expect(try ids(JobFilter()) == [failed, cancelled, running])
        #expect(try ids(JobFilter(), limit: 2) == [failed, cancelled])
        #expect(try ids(JobFilter(status: .cancelled)) == [cancelled])
        #expect(try ids(JobFilter(userID: "alice")) == [running])
        var withFailures = JobFilter()
        withFailures.withFailedCategories = true
        #expect(try ids(withFailures) == [failed], "failJob gave up carol's categories")
        var stalled = JobFilter()
        stalled.stalledSince = t0 + 10
        #expect(try ids(stalled) == [running], "unfinished, and no progress since")
        stalled.stalledSince = t0 + 5
        #expect(try ids(stalled).isEmpty)
        var page = JobFilter()
        page.createdBefore = t0 + 2
        #expect(try ids(page) == [cancelled, running])
        #expect(try store.jobOwner(cancelled) == "bob")
        #expect(try store.jobOwner(JobID.timeOrdered()) == nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func attemptsKeepFailuresAndModelCalls(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let first = try claim(id, at: t0 + 10)
        #expect(try store.recordFailure(first, error: "Injected failure.", now: t0 + 20, lifecycle: lifecycle, unitRandom: 0) != nil)
        let second = try claim(id, at: t0 + 5_000)
        let usage = TokenUsage(promptTokens: 40, completionTokens: 60)
        #expect(try store.recordSuccess(second, Generation(text: "Kites.", usage: usage, latencyMillis: 700), now: t0 + 5_800))
        let third = try claim(id, at: t0 + 6_000)
        #expect(try store.recordSuccess(third, output: "No model call: nothing to keep.", now: t0 + 6_001))
        let attempts = try store.attempts(of: id)
        #expect(attempts == [
            AttemptRecord(category: first.category, attempt: 1, outcome: "failed", error: "Injected failure.", usage: .zero, latencyMillis: 0, endedAt: t0 + 20),
            AttemptRecord(category: first.category, attempt: 2, outcome: "written", error: nil, usage: usage, latencyMillis: 700, endedAt: t0 + 5_800),
        ])
    }
}
