import Foundation
import Testing
import VisionQueue
import VisionQueueTestSupport

/// The store's behaviour, written once against `JobStore` and run on every store: a SQLite file,
/// and a schema on a real PostgreSQL 15 server the tests start (`TestPostgres`). Each test case
/// gets a fresh, migrated database of its own.
@Suite("JobStore conformance")
final class StoreConformanceTests {
    let lifecycle = JobLifecycle(policy: RetryPolicy(maxAttempts: 3, leaseMillis: 60_000, backoffBaseMillis: 1_000))
    private(set) var database: TestDatabase!
    private(set) var store: SQLJobStore!

    /// Starts the test case on a fresh database of `backend`.
    private func use(_ backend: StoreBackend) throws {
        database = try backend.freshDatabase()
        store = try database.store()
    }

    private func claim(_ store: SQLJobStore, _ id: JobID, at now: EpochMillis, lifecycle: JobLifecycle? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> CategoryClaim {
        let result = try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle ?? self.lifecycle)
        guard case .claimed(let claim) = result else {
            Issue.record("expected a claim, got \(result)", sourceLocation: sourceLocation)
            throw ClaimFailed()
        }
        return claim
    }

    private struct ClaimFailed: Error {}

    private func stored(_ store: SQLJobStore, _ id: JobID, owner: String = "alice") throws -> Job {
        try #require(try store.job(id, ownedBy: owner))
    }

    // MARK: Versions (what lets status answer an unchanged job from memory)

    @Test(arguments: StoreBackend.allCases)
    func everyChangeAStatusAnswerShowsBumpsTheVersion(_ backend: StoreBackend) throws {
        try use(backend)
        let single = JobLifecycle(policy: RetryPolicy(maxAttempts: 1, leaseMillis: 60_000, backoffBaseMillis: 0))
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        var last = try #require(try store.jobVersion(id, ownedBy: "alice"))
        func changed(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let now = try #require(try store.jobVersion(id, ownedBy: "alice"))
            #expect(now > last, "\(what) must bump the version", sourceLocation: sourceLocation)
            last = now
        }
        #expect(try store.jobVersion(id, ownedBy: "bob") == nil, "another user's job has no version to see")

        let fun = try claim(store, id, at: t0 + 1)
        try changed("a claim")
        #expect(try store.renewLease(fun, until: t0 + 90_000, now: t0 + 2))
        #expect(try store.jobVersion(id, ownedBy: "alice") == last, "a heartbeat shows nothing new")
        #expect(try store.releaseClaim(fun, now: t0 + 3))
        try changed("a released claim")
        let again = try claim(store, id, at: t0 + 4)
        try changed("a claim")
        #expect(try store.recordSuccess(again, output: "Fun", now: t0 + 5))
        try changed("a written category")
        let health = try claim(store, id, at: t0 + 6, lifecycle: single)
        try changed("a claim")
        #expect(try store.recordFailure(health, error: "no", now: t0 + 7, lifecycle: single, unitRandom: 0) == .fail)
        try changed("a failed category")
        for offset in 8..<18 {
            let next = try claim(store, id, at: t0 + Int64(offset) * 10)
            #expect(try store.recordSuccess(next, output: "x", now: t0 + Int64(offset) * 10 + 1))
        }
        last = try #require(try store.jobVersion(id, ownedBy: "alice"))
        #expect(try store.finishJob(id, now: t0 + 500, lifecycle: lifecycle, assemble: { VisionAssembler.document(sections: $0) }) == .completed)
        try changed("the finished job")
        #expect(try store.retryFailedCategories(id, ownedBy: "alice", limits: .none, now: t0 + 600) == .started(categories: 1))
        try changed("a retry")
        #expect(try store.cancelJob(id, ownedBy: "alice", now: t0 + 700) == CancelOutcome(status: .cancelled, cancelledNow: true))
        try changed("a cancel")
        #expect(try store.cancelJob(id, ownedBy: "alice", now: t0 + 710)?.cancelledNow == false, "a second cancel ends nothing")
    }

    // MARK: Creating and reading

    @Test(arguments: StoreBackend.allCases)
    func createJobStoresAPendingJobWithTwelvePendingCategories(_ backend: StoreBackend) throws {
        try use(backend)
        let created = try store.createJob(NewJob(userID: "alice", notes: [.fun: "Dance"]), now: t0)
        #expect(created.status == .pending)
        let job = try stored(store, created.id)
        #expect(job.id == created.id)
        #expect(job.userID == "alice")
        #expect(job.status == .pending)
        #expect(job.currentCategory == nil)
        #expect(job.categoriesCompleted == 0 && job.categoriesFailed == 0)
        #expect(job.createdAt == t0 && job.updatedAt == t0 && job.startedAt == nil && job.completedAt == nil)
        #expect(job.visionID == nil && job.error == nil)
        #expect(job.progress == 0)
        #expect(job.categories.map(\.category) == VisionCategory.allCases)
        #expect(job.categories.allSatisfy { $0.state == .pending && $0.attempts == 0 && $0.error == nil })
    }

    @Test(arguments: StoreBackend.allCases)
    func answersSurviveStorageExactly(_ backend: StoreBackend) throws {
        try use(backend)
        let answers: [VisionCategory: String] = [
            .fun: "Ride \"bikes\" <fast> & far\nthen rest",
            .health: "Sleep 8h 😀 — café",
            .spirituality: "\\ backslash \t tab",
        ]
        let id = try store.createJob(NewJob(userID: "alice", notes: answers), now: t0).id
        let first = try claim(store, id, at: t0)
        #expect(first.notes == answers[.fun])
        #expect(first.allNotes == answers)
        #expect(first.userID == "alice")
        _ = try store.recordSuccess(first, output: "x", now: t0)
        let second = try claim(store, id, at: t0)
        #expect(second.notes == answers[.health])
        _ = try store.recordSuccess(second, output: "x", now: t0)
        let third = try claim(store, id, at: t0)
        #expect(third.category == .travel && third.notes == "")
    }

    @Test(arguments: StoreBackend.allCases)
    func anotherUsersJobIsAbsent(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        #expect(try store.job(id, ownedBy: "bob") == nil)
        #expect(try store.job(id, ownedBy: "Alice") == nil)
        #expect(try store.job(id, ownedBy: "") == nil)
        #expect(try store.job(JobID.timeOrdered(), ownedBy: "alice") == nil)
        #expect(try store.job(id, ownedBy: "alice") != nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func jobsAreListedNewestFirstPerUser(_ backend: StoreBackend) throws {
        try use(backend)
        let first = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let other = try store.createJob(NewJob(userID: "bob", notes: [:]), now: t0 + 1).id
        let second = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0 + 5).id
        let third = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0 + 10).id

        let listed = try store.jobs(ownedBy: "alice", limit: 100)
        #expect(listed.map(\.id) == [third, second, first])
        #expect(listed.allSatisfy { $0.userID == "alice" && $0.status == .pending })
        #expect(try store.jobs(ownedBy: "alice", limit: 2).map(\.id) == [third, second])
        #expect(try store.jobs(ownedBy: "bob", limit: 100).map(\.id) == [other])
        #expect(try store.jobs(ownedBy: "carol", limit: 100).isEmpty)
    }

    // MARK: Claiming

    @Test(arguments: StoreBackend.allCases)
    func claimsCategoriesInWritingOrderAndMarksTheJobProcessing(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let fun = try claim(store, id, at: t0 + 100)
        #expect(fun.category == .fun)
        #expect(fun.attempt == 1)
        #expect(fun.jobID == id)
        #expect(fun.leaseExpiresAt == t0 + 100 + 60_000)
        #expect(!fun.leaseToken.isEmpty)

        var job = try stored(store, id)
        #expect(job.status == .processing)
        #expect(job.currentCategory == .fun)
        #expect(job.startedAt == t0 + 100)
        #expect(job.categories[0].state == .running && job.categories[0].attempts == 1)
        #expect(job.categories[0].startedAt == t0 + 100)

        #expect(try store.recordSuccess(fun, output: "Fun text", now: t0 + 200))
        job = try stored(store, id)
        #expect(job.categoriesCompleted == 1)
        #expect(job.categories[0].state == .done && job.categories[0].completedAt == t0 + 200)
        #expect(job.currentCategory == nil, "between two categories none is being written")

        let health = try claim(store, id, at: t0 + 300)
        #expect(health.category == .health && health.attempt == 1)
        job = try stored(store, id)
        #expect(job.currentCategory == .health)
        #expect(job.startedAt == t0 + 100, "the job's start time is kept from its first claim")
    }

    @Test(arguments: StoreBackend.allCases)
    func aSecondClaimWhileTheLeaseIsLiveIsBusy(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let first = try claim(store, id, at: t0)
        for now in [t0, t0 + 1, first.leaseExpiresAt - 1] {
            #expect(
                try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) == .leasedElsewhere(leaseExpiresAt: first.leaseExpiresAt))
        }
        let job = try stored(store, id)
        #expect(job.categories[0].attempts == 1, "a busy answer must not count an attempt")
        #expect(job.categories[1].state == .pending)
    }

    @Test(arguments: StoreBackend.allCases)
    func renewingALiveLeaseKeepsOthersOut(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let first = try claim(store, id, at: t0)
        #expect(try store.renewLease(first, until: t0 + 120_000, now: t0 + 30_000))
        #expect(
            try store.claimNextCategory(of: id, now: first.leaseExpiresAt + 1, lifecycle: lifecycle)
                == .leasedElsewhere(leaseExpiresAt: t0 + 120_000))
    }

    @Test(arguments: StoreBackend.allCases)
    func aLapsedLeaseIsReclaimedAndTheOldClaimsWritesAreRefused(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let stale = try claim(store, id, at: t0)
        let fresh = try claim(store, id, at: stale.leaseExpiresAt)
        #expect(fresh.category == .fun)
        #expect(fresh.attempt == 2)
        #expect(fresh.leaseToken != stale.leaseToken)

        // The paused worker wakes up: every write it tries is refused.
        #expect(try store.renewLease(stale, until: t0 + 999_999, now: fresh.leaseExpiresAt - 10) == false)
        #expect(try store.recordSuccess(stale, output: "stale text", now: stale.leaseExpiresAt + 1) == false)
        #expect(
            try store.recordFailure(stale, error: "stale", now: stale.leaseExpiresAt + 1, lifecycle: lifecycle, unitRandom: 0)
                == nil)
        var job = try stored(store, id)
        #expect(job.categoriesCompleted == 0 && job.categoriesFailed == 0)
        #expect(job.categories[0].state == .running && job.categories[0].attempts == 2 && job.categories[0].error == nil)

        #expect(try store.recordSuccess(fresh, output: "fresh text", now: stale.leaseExpiresAt + 2))
        // A stale write after the new owner finished is refused too.
        #expect(try store.recordSuccess(stale, output: "stale text", now: stale.leaseExpiresAt + 3) == false)
        job = try stored(store, id)
        #expect(job.categoriesCompleted == 1)

        // The stored section is the new owner's.
        var now = stale.leaseExpiresAt + 10
        while case .claimed(let next) = try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) {
            #expect(try store.recordSuccess(next, output: "text of \(next.category.key)", now: now))
            now += 1
        }
        let ending = try store.finishJob(id, now: now, lifecycle: lifecycle, assemble: { VisionAssembler.document(sections: $0) })
        #expect(ending == .completed)
        let visionID = try #require(try stored(store, id).visionID)
        #expect(try store.vision(visionID, version: nil, ownedBy: "alice")?.sections[.fun] == "fresh text")
    }

    @Test(arguments: StoreBackend.allCases)
    func aLapsedLeaseAtMaxAttemptsIsGivenUpAndTheNextCategoryClaimed(_ backend: StoreBackend) throws {
        try use(backend)
        let once = JobLifecycle(policy: RetryPolicy(maxAttempts: 1))
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let dead = try claim(store, id, at: t0, lifecycle: once)
        let next = try claim(store, id, at: dead.leaseExpiresAt, lifecycle: once)
        #expect(next.category == .health && next.attempt == 1)
        let job = try stored(store, id)
        #expect(job.categoriesFailed == 1)
        #expect(job.categories[0].state == .failed)
        #expect(job.categories[0].error == "The worker writing this category stopped 1 time without finishing.")
        #expect(try store.recordSuccess(dead, output: "late", now: dead.leaseExpiresAt + 1) == false)
    }

    @Test(arguments: StoreBackend.allCases)
    func failuresAreRetriedAfterTheBackoffThenFailTheCategory(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id

        let first = try claim(store, id, at: t0)
        #expect(try store.recordFailure(first, error: "boom 1", now: t0, lifecycle: lifecycle, unitRandom: 0) == .retry(at: t0 + 500))
        var job = try stored(store, id)
        #expect(job.categories[0].state == .retrying)
        #expect(job.categories[0].error == "boom 1")
        #expect(job.categories[0].nextAttemptAt == t0 + 500)
        #expect(job.categoriesFailed == 0)

        let second = try claim(store, id, at: t0 + 500)
        #expect(second.category == .fun && second.attempt == 2)
        #expect(
            try store.recordFailure(second, error: "boom 2", now: t0 + 500, lifecycle: lifecycle, unitRandom: 0)
                == .retry(at: t0 + 1_500))

        let third = try claim(store, id, at: t0 + 1_500)
        #expect(third.category == .fun && third.attempt == 3)
        #expect(try store.recordFailure(third, error: "boom 3", now: t0 + 1_600, lifecycle: lifecycle, unitRandom: 0) == .fail)

        job = try stored(store, id)
        #expect(job.categoriesFailed == 1)
        #expect(job.categoriesCompleted == 0)
        #expect(job.categories[0].state == .failed)
        #expect(job.categories[0].error == "boom 3")
        #expect(job.categories[0].attempts == 3)
        #expect(job.categories[0].completedAt == t0 + 1_600)

        let next = try claim(store, id, at: t0 + 1_700)
        #expect(next.category == .health && next.attempt == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func aRetryNotYetDueLetsTheNextCategoryRunThenWaits(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let fun = try claim(store, id, at: t0)
        _ = try store.recordFailure(fun, error: "later", now: t0, lifecycle: lifecycle, unitRandom: 0)  // due at t0 + 500
        var now = t0 + 1
        var order: [VisionCategory] = []
        while case .claimed(let next) = try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) {
            order.append(next.category)
            #expect(try store.recordSuccess(next, output: "x", now: now))
            now += 1
        }
        #expect(order == Array(VisionCategory.allCases.dropFirst()))
        #expect(try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) == .wait(until: t0 + 500))
        let early = try store.finishJob(id, now: now, lifecycle: lifecycle, assemble: { VisionAssembler.document(sections: $0) })
        #expect(early == nil)
        #expect(try claim(store, id, at: t0 + 500).category == .fun)
    }

    // MARK: Finishing

    @Test(arguments: StoreBackend.allCases)
    func twelveSuccessesAssembleAVisionOnce(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let early = try store.finishJob(id, now: t0, lifecycle: lifecycle, assemble: { VisionAssembler.document(sections: $0) })
        #expect(early == nil)
        var now = t0
        for (index, category) in VisionCategory.allCases.enumerated() {
            let next = try claim(store, id, at: now)
            #expect(next.category == category)
            #expect(try store.recordSuccess(next, output: "Section \(category.title)", now: now))
            #expect(try stored(store, id).categoriesCompleted == index + 1)
            now += 10
        }
        #expect(try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) == .readyToAssemble)

        var given: [VisionCategory: String] = [:]
        let ending = try store.finishJob(id, now: now, lifecycle: lifecycle) { sections in
            given = sections
            return VisionAssembler.document(sections: sections)
        }
        #expect(ending == .completed)
        #expect(given.count == 12)
        #expect(given[.giving] == "Section Giving")

        let job = try stored(store, id)
        #expect(job.status == .completed)
        #expect(job.completedAt == now)
        #expect(job.currentCategory == nil)
        #expect(job.error == nil)
        #expect(job.progress == 100)
        let visionID = try #require(job.visionID)

        let vision = try #require(try store.vision(visionID, version: nil, ownedBy: "alice"))
        #expect(vision.id == visionID)
        #expect(vision.jobID == id)
        #expect(vision.userID == "alice")
        #expect(vision.sections.count == 12)
        #expect(vision.sections == given)
        #expect(vision.document == VisionAssembler.document(sections: given))
        #expect(vision.createdAt == now)

        let again = try store.finishJob(id, now: now + 1, lifecycle: lifecycle, assemble: { _ in "again" })
        #expect(again == nil)
        #expect(try store.vision(visionID, version: nil, ownedBy: "alice")?.document == vision.document)
        #expect(try store.claimNextCategory(of: id, now: now + 2, lifecycle: lifecycle) == .finished)
        #expect(try store.vision(visionID, version: nil, ownedBy: "bob") == nil)
        #expect(try store.vision(UUID().uuidString.lowercased(), version: nil, ownedBy: "alice") == nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func aJobWhoseCategoriesAllFailedEndsFailed(_ backend: StoreBackend) throws {
        try use(backend)
        let once = JobLifecycle(policy: RetryPolicy(maxAttempts: 1))
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        for _ in VisionCategory.allCases {
            let next = try claim(store, id, at: t0, lifecycle: once)
            #expect(try store.recordFailure(next, error: "no", now: t0, lifecycle: once, unitRandom: 0) == .fail)
        }
        #expect(try store.claimNextCategory(of: id, now: t0, lifecycle: once) == .readyToAssemble)
        var assembled = false
        let ending = try store.finishJob(id, now: t0 + 1, lifecycle: once) { _ in
            assembled = true
            return ""
        }
        guard case .failed = ending else {
            Issue.record("expected the job to end failed, got \(String(describing: ending))")
            return
        }
        #expect(!assembled)
        let job = try stored(store, id)
        #expect(job.status == .failed)
        #expect(job.error?.isEmpty == false)
        #expect(job.visionID == nil)
        #expect(job.categoriesFailed == 12)
        #expect(job.progress == 100)
        #expect(job.completedAt == t0 + 1)
        #expect(try store.claimNextCategory(of: id, now: t0 + 2, lifecycle: once) == .finished)
    }

    @Test(arguments: StoreBackend.allCases)
    func unknownJobs(_ backend: StoreBackend) throws {
        try use(backend)
        let unknown = JobID.timeOrdered()
        let claimed = try store.claimNextCategory(of: unknown, now: t0, lifecycle: lifecycle)
        #expect(claimed == .notFound)
        let ended = try store.finishJob(unknown, now: t0, lifecycle: lifecycle, assemble: { _ in "" })
        #expect(ended == nil)
    }

    // MARK: Several connections

    /// Runs `body` on `count` threads at once, each with a connection of its own, and collects what
    /// each answered (or the error it threw).
    private func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (SQLJobStore, Int) throws -> T) throws -> [Result<T, Error>] {
        let database = self.database!
        // Each thread's own connection, handed over once: a store is used by one thread at a time.
        let stores = UncheckedStores(try (0..<count).map { _ in try database.store() })
        let results = ResultBox<T>(count)
        let start = DispatchGroup()
        start.enter()
        DispatchQueue.concurrentPerform(iterations: count) { index in
            if index == 0 { start.leave() }
            start.wait()
            results.set(index, Result { try body(stores.stores[index], index) })
        }
        return results.all
    }

    @Test(arguments: StoreBackend.allCases)
    func aHundredConcurrentCreatesOfOneUserMakeExactlyTheQuota(_ backend: StoreBackend) throws {
        try use(backend)
        for limits in [CreateLimits(maxActiveJobs: 1_000, maxCreatesPerHour: 5), CreateLimits(maxActiveJobs: 5, maxCreatesPerHour: 1_000)] {
            let user = "quota-\(limits.maxActiveJobs)"
            let outcomes = try concurrently(100) { store, _ in
                try store.createJob(NewJob(userID: user, notes: [:]), limits: limits, now: Clock.now())
            }
            let created = outcomes.filter { if case .success(.created) = $0 { return true } else { return false } }.count
            let refused = outcomes.filter {
                switch $0 {
                case .success(.rateLimited), .success(.existingActive): true
                default: false
                }
            }.count
            #expect(created == 5, "\(limits): \(outcomes.filter { if case .failure = $0 { true } else { false } })")
            #expect(refused == 95)
            #expect(try store.jobs(ownedBy: user, limit: 1_000).count == 5)
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func theCapOnRunningCategoriesHoldsWhenEveryJobIsClaimedAtOnce(_ backend: StoreBackend) throws {
        try use(backend)
        let capped = JobLifecycle(policy: lifecycle.policy, maxConcurrentCategories: 3)
        let jobs = try (0..<20).map { index in try store.createJob(NewJob(userID: "cap-\(index)", notes: [:]), now: Clock.now()).id }
        let outcomes = try concurrently(20) { store, index in
            try store.claimNextCategory(of: jobs[index], now: Clock.now(), lifecycle: capped)
        }
        let claimed = outcomes.filter { if case .success(.claimed) = $0 { return true } else { return false } }.count
        let throttled = outcomes.filter { if case .success(.throttled) = $0 { return true } else { return false } }.count
        #expect(claimed == 3, "\(outcomes)")
        #expect(throttled == 17)
    }

    @Test(arguments: StoreBackend.allCases)
    func aPlaceUnderTheCapIsFreedByItsCategoryEndingOrItsLeaseLapsing(_ backend: StoreBackend) throws {
        try use(backend)
        let capped = JobLifecycle(policy: lifecycle.policy, maxConcurrentCategories: 2)
        let jobs = try (0..<4).map { index in try store.createJob(NewJob(userID: "slot-\(index)", notes: [:]), now: t0).id }
        let first = try claim(store, jobs[0], at: t0, lifecycle: capped)
        _ = try claim(store, jobs[1], at: t0, lifecycle: capped)
        #expect(try store.claimNextCategory(of: jobs[2], now: t0 + 1, lifecycle: capped) == .throttled, "two running: full")
        #expect(try store.recordSuccess(first, output: "written", now: t0 + 2))
        _ = try claim(store, jobs[2], at: t0 + 3, lifecycle: capped)
        #expect(try store.claimNextCategory(of: jobs[3], now: t0 + 4, lifecycle: capped) == .throttled, "full again")
        // The claims of jobs 1 and 2 lapse (their worker died): their places are free with them.
        let lapsed = t0 + 3 + lifecycle.policy.leaseMillis + 1
        _ = try claim(store, jobs[3], at: lapsed, lifecycle: capped)
        _ = try claim(store, jobs[0], at: lapsed, lifecycle: capped)
        #expect(try store.claimNextCategory(of: jobs[1], now: lapsed, lifecycle: capped) == .throttled, "two live claims: full")
    }

    @Test(arguments: StoreBackend.allCases)
    func aDeadProcessClaimsEndAtOnceAndCountTheirAttempt(_ backend: StoreBackend) throws {
        try use(backend)
        let dead = try database.store(owner: ClaimOwner.of(pid: 4242))
        let alive = try database.store(owner: ClaimOwner.of(pid: 4243))
        let lost = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        let kept = try store.createJob(NewJob(userID: "bob", notes: [:]), now: t0).id
        _ = try claim(dead, lost, at: t0)
        _ = try claim(alive, kept, at: t0)
        #expect(try alive.claimNextCategory(of: lost, now: t0 + 1, lifecycle: lifecycle) == .leasedElsewhere(leaseExpiresAt: t0 + 60_000))

        #expect(try store.expireClaims(heldBy: ClaimOwner.of(pid: 4242), now: t0 + 2) == [lost])
        let resumed = try claim(alive, lost, at: t0 + 3)
        #expect(resumed.category == .fun && resumed.attempt == 2, "taken up at once; the dead worker's attempt counts")
        #expect(try store.expireClaims(heldBy: ClaimOwner.of(pid: 4242), now: t0 + 4).isEmpty, "nothing left of it")
        #expect(try dead.claimNextCategory(of: kept, now: t0 + 5, lifecycle: lifecycle) == .leasedElsewhere(leaseExpiresAt: t0 + 60_000),
                "another process's claims are untouched")
    }

    @Test(arguments: StoreBackend.allCases)
    func twoConnectionsOnTwoThreadsNeverClaimTheSameCategory(_ backend: StoreBackend) throws {
        try use(backend)
        let database = self.database!
        let setup = store!
        let jobs = try (0..<3).map { _ in try setup.createJob(NewJob(userID: "alice", notes: [:]), now: Clock.now()).id }
        let lifecycle = self.lifecycle
        let log = ClaimLog()

        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            do {
                let store = try database.store()
                log.arriveAndWait()
                for id in jobs {
                    claiming: while true {
                        let result = try store.claimNextCategory(of: id, now: Clock.now(), lifecycle: lifecycle)
                        switch result {
                        case .claimed(let claim):
                            log.began(claim)
                            log.ended()
                            guard try store.recordSuccess(claim, output: "by worker \(worker)", now: Clock.now()) else {
                                log.problem("worker \(worker) lost its write on \(claim.category)")
                                break claiming
                            }
                        case .leasedElsewhere:
                            usleep(50)
                        case .readyToAssemble:
                            break claiming
                        default:
                            log.problem("worker \(worker) got \(result)")
                            break claiming
                        }
                    }
                }
            } catch {
                log.problem("worker \(worker) failed: \(error)")
            }
        }

        #expect(log.problems.isEmpty)
        #expect(log.mostAtOnce == 1)
        for id in jobs {
            #expect(log.claims.filter { $0.jobID == id }.map(\.category) == VisionCategory.allCases)
            #expect(try setup.job(id, ownedBy: "alice")?.categoriesCompleted == 12)
        }
    }
}

/// What the concurrent workers did, with a two-party start barrier so they really overlap.
private final class ClaimLog: @unchecked Sendable {
    private let condition = NSCondition()
    private var arrived = 0
    private var inFlight = 0
    private(set) var mostAtOnce = 0
    private(set) var claims: [CategoryClaim] = []
    private(set) var problems: [String] = []

    func arriveAndWait() {
        condition.lock()
        arrived += 1
        condition.broadcast()
        while arrived < 2 { condition.wait() }
        condition.unlock()
    }

    /// Called right after a claim; the claim's write happens after `ended()`, so no other worker
    /// can legitimately claim before `ended()` runs.
    func began(_ claim: CategoryClaim) {
        condition.lock()
        inFlight += 1
        mostAtOnce = max(mostAtOnce, inFlight)
        claims.append(claim)
        condition.unlock()
    }

    func ended() {
        condition.lock()
        inFlight -= 1
        condition.unlock()
    }

    func problem(_ text: String) {
        condition.lock()
        problems.append(text)
        condition.unlock()
    }
}

/// Rewriting one section: what every store keeps and restores.
@Suite("JobStore conformance: rewrites")
final class StoreRewriteConformanceTests {
    let lifecycle = JobLifecycle(policy: RetryPolicy(maxAttempts: 1, leaseMillis: 60_000, backoffBaseMillis: 1_000))
    private(set) var database: TestDatabase!
    private(set) var store: SQLJobStore!

    private func use(_ backend: StoreBackend) throws {
        database = try backend.freshDatabase()
        store = try database.store()
    }

    /// A completed job whose sections are "text of <key>".
    private func completedJob(notes: [VisionCategory: String] = [.health: "Run"]) throws -> JobID {
        let id = try store.createJob(NewJob(userID: "alice", notes: notes), now: t0).id
        while case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0, lifecycle: lifecycle) {
            _ = try store.recordSuccess(claim, output: "text of \(claim.category.key)", now: t0)
        }
        #expect(try store.finishJob(id, now: t0, lifecycle: lifecycle, assemble: { _ in "v1" }) == .completed)
        return id
    }

    @Test(arguments: StoreBackend.allCases)
    func theNewNotesReachTheClaimAndTheNewTextReplacesTheOldInANewVersion(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try completedJob()
        #expect(try store.regenerateCategory(id, ownedBy: "alice", category: .health, notes: "Swim", limits: .none, now: t0 + 1) == .started(categories: 1))
        guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0 + 2, lifecycle: lifecycle) else {
            Issue.record("nothing to claim after a rewrite")
            return
        }
        #expect(claim.category == .health)
        #expect(claim.notes == "Swim")
        #expect(try store.recordSuccess(claim, output: "new health", now: t0 + 3))
        #expect(try store.finishJob(id, now: t0 + 4, lifecycle: lifecycle, assemble: { _ in "v2" }) == .completed)
        let job = try #require(try store.job(id, ownedBy: "alice"))
        let visionID = try #require(job.visionID)
        let latest = try #require(try store.vision(visionID, version: nil, ownedBy: "alice"))
        #expect(latest.version == 2 && latest.document == "v2")
        #expect(latest.sections[.health] == "new health")
        #expect(latest.sections[.fun] == "text of fun")
        let first = try #require(try store.vision(latest.id, version: 1, ownedBy: "alice"))
        #expect(first.sections[.health] == "text of health" && first.document == "v1")
        #expect(latest.versions.map(\.version) == [1, 2])
        #expect(job.categoriesCompleted == 12)
    }

    @Test(arguments: StoreBackend.allCases)
    func aRewriteThatFailsKeepsTheEarlierText(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try completedJob()
        _ = try store.regenerateCategory(id, ownedBy: "alice", category: .health, notes: nil, limits: .none, now: t0 + 1)
        guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0 + 2, lifecycle: lifecycle) else {
            Issue.record("nothing to claim after a rewrite")
            return
        }
        #expect(claim.notes == "Run", "no new notes: the old ones are used")
        #expect(try store.recordFailure(claim, error: "boom", now: t0 + 3, lifecycle: lifecycle, unitRandom: 0) == .fail)
        #expect(try store.finishJob(id, now: t0 + 4, lifecycle: lifecycle, assemble: { _ in "v2" }) == .completed)
        let job = try #require(try store.job(id, ownedBy: "alice"))
        #expect(job.categoriesCompleted == 12 && job.categoriesFailed == 0)
        let visionID = try #require(job.visionID)
        let vision = try #require(try store.vision(visionID, version: nil, ownedBy: "alice"))
        #expect(vision.sections[.health] == "text of health")
    }

    @Test(arguments: StoreBackend.allCases)
    func cancellingARewriteLeavesTheVisionAsItWasAndRewritableAgain(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try completedJob()
        _ = try store.regenerateCategory(id, ownedBy: "alice", category: .health, notes: "Swim", limits: .none, now: t0 + 1)
        guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0 + 2, lifecycle: lifecycle) else {
            Issue.record("nothing to claim after a rewrite")
            return
        }
        #expect(try store.cancelJob(id, ownedBy: "alice", now: t0 + 3)?.status == .cancelled)
        #expect(try store.recordSuccess(claim, output: "late", now: t0 + 4) == false, "the cancelled run's text is refused")
        let job = try #require(try store.job(id, ownedBy: "alice"))
        #expect(job.status == .completed && job.categoriesCompleted == 12 && job.error == nil)
        #expect(job.categories[1].state == .done)
        let visionID = try #require(job.visionID)
        #expect(try store.vision(visionID, version: nil, ownedBy: "alice")?.sections[.health] == "text of health")
        #expect(try store.regenerateCategory(id, ownedBy: "alice", category: .health, notes: nil, limits: .none, now: t0 + 5)
            == .started(categories: 1), "the vision can be rewritten again")
    }

    @Test(arguments: StoreBackend.allCases)
    func aRefusedConfigurationDuringARewriteKeepsTheVisionAndSaysWhy(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try completedJob()
        _ = try store.regenerateCategory(id, ownedBy: "alice", category: .fun, notes: nil, limits: .none, now: t0 + 1)
        guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0 + 2, lifecycle: lifecycle) else {
            Issue.record("nothing to claim after a rewrite")
            return
        }
        #expect(try store.failJob(claim, error: "bad key", call: ModelCall(usage: TokenUsage(promptTokens: 5, completionTokens: 0)), now: t0 + 3))
        let job = try #require(try store.job(id, ownedBy: "alice"))
        #expect(job.status == .completed && job.error == "bad key" && job.categoriesCompleted == 12)
        #expect(job.usage.promptTokens == 5)
        let visionID = try #require(job.visionID)
        #expect(try store.vision(visionID, version: nil, ownedBy: "alice")?.sections[.fun] == "text of fun")
    }

    @Test(arguments: StoreBackend.allCases)
    func rewritesCountAgainstTheHourlyLimitLikeCreates(_ backend: StoreBackend) throws {
        try use(backend)
        let id = try completedJob()
        let limits = CreateLimits(maxActiveJobs: 1, maxCreatesPerHour: 2)
        #expect(try store.regenerateCategory(id, ownedBy: "alice", category: .fun, notes: nil, limits: limits, now: t0 + 1) == .started(categories: 1))
        #expect(try store.regenerateCategory(id, ownedBy: "alice", category: .fun, notes: nil, limits: limits, now: t0 + 2) == .notRetryable(.pending))
        #expect(try store.regenerateCategory(id, ownedBy: "bob", category: .fun, notes: nil, limits: limits, now: t0 + 2) == .notFound)
        if case .claimed(let claim) = try store.claimNextCategory(of: id, now: t0 + 3, lifecycle: lifecycle) {
            _ = try store.recordSuccess(claim, output: "again", now: t0 + 3)
        }
        _ = try store.finishJob(id, now: t0 + 4, lifecycle: lifecycle, assemble: { _ in "" })
        guard case .rateLimited(let seconds) = try store.regenerateCategory(id, ownedBy: "alice", category: .fun, notes: nil, limits: limits, now: t0 + 5) else {
            Issue.record("a third run in the hour was not refused")
            return
        }
        #expect(seconds > 3_590 && seconds <= 3_600)
        guard case .rateLimited = try store.createJob(NewJob(userID: "alice", notes: [:]), limits: limits, now: t0 + 6) else {
            Issue.record("a create after a create and a rewrite was not refused")
            return
        }
    }
}

/// One slot per thread for `concurrently`.
private final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<T, Error>?]

    init(_ count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<T, Error>) {
        lock.lock()
        results[index] = result
        lock.unlock()
    }

    var all: [Result<T, Error>] {
        lock.lock()
        defer { lock.unlock() }
        return results.compactMap { $0 }
    }
}

private struct UncheckedStores: @unchecked Sendable {
    let stores: [SQLJobStore]
    init(_ stores: [SQLJobStore]) { self.stores = stores }
}
