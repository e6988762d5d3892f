import Testing
import VisionQueue
import VisionQueueTestSupport

/// The chain's fast path on every store: storing a category's text reserves the next one for the
/// trigger (a claim made ahead, counting its attempt), the step that trigger starts reads its
/// claim, and a reservation whose trigger is known lost, or whose process stops, is given back
/// uncounted.
@Suite("Reservations conformance")
final class ReservationConformanceTests {
    let lifecycle = JobLifecycle(policy: RetryPolicy(maxAttempts: 3, leaseMillis: 60_000, backoffBaseMillis: 1_000))
    private(set) var database: TestDatabase!
    private(set) var store: SQLJobStore!

    private func use(_ backend: StoreBackend) throws {
        database = try backend.freshDatabase()
        store = try database.store(owner: "node-a pid 1")
    }

    private func job(_ id: JobID) throws -> Job { try #require(try store.job(id, ownedBy: "alice")) }

    /// A new job with `fun` written through an ordinary claim, which reserved `health`.
    private func jobWithReservation(at now: EpochMillis) throws -> (JobID, token: String) {
        let id = try store.createJob(NewJob(userID: "alice", notes: [.health: "Run twice a week"]), now: now).id
        guard case .claimed(let fun) = try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) else {
            throw Failure("no claim")
        }
        let recorded = try store.recordSuccess(fun, Generation(text: "Fun"), now: now + 1, reservingNext: lifecycle)
        guard case .stored(let reservation?) = recorded else { throw Failure("no reservation: \(recorded)") }
        #expect(reservation.category == .health && reservation.attempt == 1 && reservation.totalAttempts == 1)
        #expect(reservation.expiresAt == now + 1 + lifecycle.policy.reservationMillis)
        return (id, reservation.token)
    }

    /// The ordinary claim of the job's next category, which must be due.
    private func claimed(_ id: JobID, at now: EpochMillis, _ why: Comment) throws -> CategoryClaim {
        guard case .claimed(let claim) = try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle) else {
            Issue.record(why)
            throw Failure("no claim")
        }
        return claim
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @Test(arguments: StoreBackend.allCases)
    func aStoredResultReservesTheNextCategoryAsAClaimMadeAhead(_ backend: StoreBackend) throws {
        try use(backend)
        let (id, token) = try jobWithReservation(at: t0)
        let stored = try job(id)
        #expect(stored.categoriesCompleted == 1)
        #expect(stored.currentCategory == .health, "the status shows the reserved category as the one being written")
        let health = stored.categories[1]
        #expect(health.state == .running && health.attempts == 1)
        #expect(health.leaseExpiresAt == t0 + 1 + lifecycle.policy.reservationMillis)
        #expect(try store.claimNextCategory(of: id, now: t0 + 2, lifecycle: lifecycle) == .leasedElsewhere(leaseExpiresAt: t0 + 1 + 10_000),
                "an extra trigger without the token finds the category taken")

        let claim = try #require(try store.takeReservation(of: id, token: token, now: t0 + 3, policy: lifecycle.policy))
        #expect(claim.category == .health && claim.attempt == 1 && claim.totalAttempts == 1)
        #expect(claim.leaseToken == token && claim.notes == "Run twice a week" && claim.userID == "alice")
        #expect(try store.recordSuccess(claim, output: "Health", now: t0 + 4))
        let after = try job(id)
        #expect(after.categories[1].state == .done && after.categories[1].attempts == 1, "one attempt, counted once")
        #expect(after.categoriesCompleted == 2)
        #expect(try store.takeReservation(of: id, token: token, now: t0 + 5, policy: lifecycle.policy) == nil, "used up")
    }

    @Test(arguments: StoreBackend.allCases)
    func aReservationThatLapsesCountsLikeAClaimWhoseWorkerDied(_ backend: StoreBackend) throws {
        try use(backend)
        let (id, token) = try jobWithReservation(at: t0)
        let lapsed = t0 + 1 + lifecycle.policy.reservationMillis
        #expect(try store.takeReservation(of: id, token: token, now: lapsed, policy: lifecycle.policy) == nil)
        #expect(try store.stalledJobs(now: lapsed, stallMillis: 0, lifecycle: lifecycle, limit: 10) == [id],
                "held up no longer than the reservation")
        let claim = try claimed(id, at: lapsed, "the lapsed reservation is claimable")
        #expect(claim.category == .health && claim.attempt == 2, "the step may have died with its worker")
    }

    @Test(arguments: StoreBackend.allCases)
    func aReservationWhoseTriggerIsLostIsGivenBackUncounted(_ backend: StoreBackend) throws {
        try use(backend)
        let (id, token) = try jobWithReservation(at: t0)
        let other = try database.store(owner: "node-b pid 2")
        #expect(try other.releaseReservation(of: id, token: token, now: t0 + 2) == false, "only its own process gives it back")
        #expect(try store.releaseReservation(of: id, token: token, now: t0 + 2))
        #expect(try job(id).currentCategory == nil && job(id).categories[1].state == .pending && job(id).categories[1].attempts == 0)
        #expect(try job(id).updatedAt == t0 + 1, "giving back is not progress: the stall clock runs on")
        #expect(try store.stalledJobs(now: t0 + 2, stallMillis: 0, lifecycle: lifecycle, limit: 10) == [id], "claimable at once")
        #expect(try store.takeReservation(of: id, token: token, now: t0 + 3, policy: lifecycle.policy) == nil)
        let claim = try claimed(id, at: t0 + 3, "claimable")
        #expect(claim.category == .health && claim.attempt == 1, "the lost trigger cost no attempt")
    }

    @Test(arguments: StoreBackend.allCases)
    func anotherProcessTakesTheReservationOverUnderANewTokenOnce(_ backend: StoreBackend) throws {
        try use(backend)
        let (id, token) = try jobWithReservation(at: t0)
        let other = try database.store(owner: "node-b pid 2")
        let taken = try #require(try other.takeReservation(of: id, token: token, now: t0 + 2, policy: lifecycle.policy))
        #expect(taken.leaseToken != token && taken.leaseExpiresAt == t0 + 2 + 60_000 && taken.attempt == 1)
        #expect(try job(id).categories[1].attempts == 1, "taking over counts nothing more")
        #expect(try store.takeReservation(of: id, token: token, now: t0 + 3, policy: lifecycle.policy) == nil,
                "a second delivery of the same trigger finds it taken")
        #expect(try other.recordSuccess(taken, output: "Health", now: t0 + 4))
        #expect(try job(id).categories[1].attempts == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func aReservationNearItsEndIsExtendedWhenTaken(_ backend: StoreBackend) throws {
        try use(backend)
        let (id, token) = try jobWithReservation(at: t0)
        let late = t0 + 1 + lifecycle.policy.reservationMillis - lifecycle.policy.reservationFloorMillis + 1
        let claim = try #require(try store.takeReservation(of: id, token: token, now: late, policy: lifecycle.policy))
        #expect(claim.leaseExpiresAt == late + lifecycle.policy.leaseMillis)
        #expect(try job(id).categories[1].leaseExpiresAt == late + lifecycle.policy.leaseMillis)
    }

    @Test(arguments: StoreBackend.allCases)
    func aTakenReservationThatFailsOrIsReleasedAtAStopActsLikeAClaim(_ backend: StoreBackend) throws {
        try use(backend)
        let (id, token) = try jobWithReservation(at: t0)
        let claim = try #require(try store.takeReservation(of: id, token: token, now: t0 + 2, policy: lifecycle.policy))
        #expect(try store.recordFailure(claim, error: "provider down", now: t0 + 3, lifecycle: lifecycle, unitRandom: 0) == .retry(at: t0 + 3 + 500))
        #expect(try job(id).categories[1].attempts == 1 && job(id).categories[1].state == .retrying)

        // The retry goes through the chain again; given back at a stop, it costs nothing.
        let retried = t0 + 3 + 500
        let again = try claimed(id, at: retried, "the retry is due")
        #expect(again.category == .health && again.attempt == 2)
        #expect(try store.releaseClaim(again, now: retried + 1))
        #expect(try job(id).categories[1].attempts == 1 && job(id).categories[1].state == .retrying)
    }

    @Test(arguments: StoreBackend.allCases)
    func aStoppingProcessGivesItsReservationsBackAndACancelledJobHasNoneToTake(_ backend: StoreBackend) throws {
        try use(backend)
        let (id, _) = try jobWithReservation(at: t0)
        let otherProcess = try database.store(owner: "node-b pid 2")
        #expect(try otherProcess.releaseReservations(now: t0 + 2) == 0, "another process's are not its to give back")
        #expect(try store.releaseReservations(now: t0 + 2) == 1)
        #expect(try job(id).categories[1].state == .pending && job(id).categories[1].attempts == 0, "uncounted")
        #expect(try store.stalledJobs(now: t0 + 2, stallMillis: 0, lifecycle: lifecycle, limit: 10) == [id],
                "resumed by the next start's sweep at once")

        let (other, otherToken) = try jobWithReservation(at: t0 + 10)
        #expect(try store.cancelJob(other, ownedBy: "alice", now: t0 + 12)?.status == .cancelled)
        #expect(try store.takeReservation(of: other, token: otherToken, now: t0 + 13, policy: lifecycle.policy) == nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func noReservationUnderALimitOfCategoriesWritingAtOnce(_ backend: StoreBackend) throws {
        try use(backend)
        let limited = JobLifecycle(policy: lifecycle.policy, maxConcurrentCategories: 4)
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        guard case .claimed(let fun) = try store.claimNextCategory(of: id, now: t0, lifecycle: limited) else {
            Issue.record("no claim")
            return
        }
        #expect(try store.recordSuccess(fun, Generation(text: "Fun"), now: t0 + 1, reservingNext: limited) == .stored(nextReservation: nil))
        #expect(try job(id).categories[1].state == .pending && job(id).currentCategory == nil)
    }
}
