import Foundation
import Testing
@testable import VisionQueue

@Suite("JobProcessor")
final class JobProcessorTests {
    let file = TemporaryDatabase()
    let store: SQLJobStore
    let trigger = RecordingTrigger()

    init() throws { store = try SQLJobStore.sqlite(path: file.path) }

    deinit { file.remove() }

    private func processor(_ generator: VisionGenerator = BuiltInGenerator(delayMillis: 0), policy: RetryPolicy = RetryPolicy()) -> JobProcessor {
        JobProcessor(store: store, generator: generator, trigger: trigger, lifecycle: JobLifecycle(policy: policy), leases: nil, log: quietLog)
    }

    /// Calls `runStep` the way the triggers would, until the job ends or nothing is left to do.
    private func drive(_ processor: JobProcessor, _ id: JobID) throws -> [JobProcessor.StepOutcome] {
        var outcomes: [JobProcessor.StepOutcome] = []
        for _ in 0..<100 {
            // With the reservation the last trigger carried, as the process endpoint passes it on.
            let outcome = try processor.runStep(id, reservation: trigger.calls.last?.reservation)
            outcomes.append(outcome)
            switch outcome {
            case .finished, .nothingToDo, .waiting: return outcomes
            default: continue
            }
        }
        Issue.record("the job did not end within 100 steps")
        return outcomes
    }

    @Test func drivesAJobToACompletedVision() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [.health: "I want to run a marathon"]), now: Clock.now()).id
        let processor = processor()
        let outcomes = try drive(processor, id)
        #expect(outcomes == VisionCategory.allCases.map { .wrote($0) } + [.finished(.completed)])
        #expect(trigger.calls.map(\.jobID) == Array(repeating: id, count: 12), "every written category triggers the next step")
        #expect(trigger.calls.dropLast().allSatisfy { $0.notBefore == nil && $0.reservation != nil },
                "carrying the category reserved for it")
        #expect(trigger.calls.last?.reservation == nil, "the last one assembles: nothing to reserve")
        #expect(Set(trigger.calls.compactMap(\.reservation)).count == 11)

        let job = try #require(try store.job(id, ownedBy: "alice"))
        #expect(job.status == .completed)
        #expect(job.categoriesCompleted == 12)
        #expect(job.categoriesFailed == 0)
        #expect(job.error == nil)
        let visionID = try #require(job.visionID)
        let vision = try #require(try store.vision(visionID, version: nil, ownedBy: "alice"))
        #expect(vision.sections.count == 12)
        #expect(vision.sections[.health]?.contains("I run a marathon.") == true)
        #expect(vision.document == VisionAssembler.document(sections: vision.sections))

        #expect(try processor.runStep(id) == .nothingToDo, "a finished job stays finished")
    }

    @Test func aCategoryThatAlwaysFailsIsLeftOutOfACompletedVision() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: Clock.now()).id
        let generator = try #require(FaultInjectingGenerator(wrapping: BuiltInGenerator(delayMillis: 0), spec: "health:*"))
        let processor = processor(generator, policy: RetryPolicy(maxAttempts: 2, backoffBaseMillis: 0))
        let outcomes = try drive(processor, id)

        let healthOutcomes = outcomes.filter {
            if case .failedAttempt(.health, _) = $0 { return true }
            return false
        }
        #expect(healthOutcomes.count == 2)
        if case .failedAttempt(_, .retry) = healthOutcomes.first {} else { Issue.record("first failure should be retried: \(healthOutcomes)") }
        #expect(healthOutcomes.last == .failedAttempt(.health, .fail))
        #expect(outcomes.last == .finished(.completed))

        let job = try #require(try store.job(id, ownedBy: "alice"))
        #expect(job.status == .completed)
        #expect(job.categoriesCompleted == 11)
        #expect(job.categoriesFailed == 1)
        #expect(job.error == "1 of 12 categories could not be written.")
        #expect(job.categories[1].state == .failed)
        #expect(job.categories[1].attempts == 2)
        #expect(job.categories[1].error == "Injected failure for health, attempt 2.")

        let visionID = try #require(job.visionID)
        let vision = try #require(try store.vision(visionID, version: nil, ownedBy: "alice"))
        #expect(vision.sections[.health] == nil)
        #expect(vision.sections.count == 11)
        #expect(vision.document.contains("## Health\n\n_This section could not be written."))
    }

    @Test func aTriggerDeliveredTwiceWritesItsReservedCategoryOnce() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: Clock.now()).id
        let processor = processor()
        #expect(try processor.runStep(id) == .wrote(.fun))
        let reservation = try #require(trigger.calls.last?.reservation)
        #expect(try processor.runStep(id, reservation: reservation) == .wrote(.health))
        #expect(try processor.runStep(id, reservation: reservation) == .nothingToDo, "used up; travel is reserved for the next trigger")
        #expect(try processor.runStep(id) == .nothingToDo, "a trigger without it finds travel taken")
        #expect(try processor.runStep(id, reservation: trigger.calls.last?.reservation) == .wrote(.travel))
        let job = try #require(try store.job(id, ownedBy: "alice"))
        #expect(job.categoriesCompleted == 3 && job.categories.prefix(3).allSatisfy { $0.attempts == 1 })
    }

    @Test func aReservationMadeInThisProcessIsTakenFromItsBookWithoutAStoreRead() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [.travel: "Japan"]), now: Clock.now()).id
        let book = ReservationBook()
        let here = JobProcessor(
            store: store, generator: BuiltInGenerator(delayMillis: 0), trigger: trigger, lifecycle: JobLifecycle(policy: RetryPolicy()),
            leases: nil, reservations: book, log: quietLog)
        #expect(try here.runStep(id) == .wrote(.fun))
        let health = try #require(trigger.calls.last?.reservation)
        // Given back in the store behind the book's back: the step still starts from the book (no
        // read), and its write is refused by the store, as a write after a lost lease is.
        #expect(try store.releaseReservation(of: id, token: health, now: Clock.now()))
        #expect(try here.runStep(id, reservation: health) == .lostLease(.health))

        // Another process (a book without it) reads the reservation from the store instead.
        #expect(try here.runStep(id) == .wrote(.health))
        let travel = try #require(trigger.calls.last?.reservation)
        let elsewhere = processor()
        #expect(try elsewhere.runStep(id, reservation: travel) == .wrote(.travel))
        #expect(try store.job(id, ownedBy: "alice")?.categories[2].attempts == 1)
    }

    @Test func aRetryNotYetDueIsWaitedForWithADelayedTrigger() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: Clock.now()).id
        let generator = try #require(FaultInjectingGenerator(wrapping: BuiltInGenerator(delayMillis: 0), spec: "fun:1"))
        let before = Clock.now()
        let outcomes = try drive(processor(generator, policy: RetryPolicy(maxAttempts: 3, backoffBaseMillis: 60_000)), id)

        #expect(outcomes.count == 13)
        guard case .failedAttempt(.fun, .retry(let at)) = outcomes.first else {
            Issue.record("expected fun's first attempt to fail and be retried, got \(String(describing: outcomes.first))")
            return
        }
        #expect(at >= before + 30_000 && at <= Clock.now() + 60_000)
        #expect(Array(outcomes.dropFirst().prefix(11)) == VisionCategory.allCases.dropFirst().map { .wrote($0) })
        #expect(outcomes.last == .waiting(until: at))
        #expect(trigger.calls.last == RecordingTrigger.Call(jobID: id, notBefore: at))
        #expect(try store.job(id, ownedBy: "alice")?.status == .processing)
    }

    @Test func anUnknownJobIsNothingToDo() throws {
        #expect(try processor().runStep(JobID.timeOrdered()) == .nothingToDo)
        #expect(trigger.calls.isEmpty)
    }
}
