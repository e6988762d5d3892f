import Glibc


/// Runs one step of a job: claim its next category, write it, record it, trigger the next step.
/// When no category is left it assembles the vision instead. Safe to call for any job id at any
/// time, any number of times at once: the store's claim decides who works.
///
/// Each worker thread owns one (it holds that thread's store connection); it is handed across
/// threads only to run the step after the response was sent, on the same thread, hence
/// `@unchecked Sendable`.
public final class JobProcessor: @unchecked Sendable {
    private let store: JobStore
    private let generator: VisionGenerator
    private let trigger: TriggerSink
    private let lifecycle: JobLifecycle
    private let leases: LeaseKeeper?
    private let log: Logger

    public init(
        store: JobStore, generator: VisionGenerator, trigger: TriggerSink, lifecycle: JobLifecycle,
        leases: LeaseKeeper?, log: Logger
    ) {
        self.store = store
        self.generator = generator
        self.trigger = trigger
        self.lifecycle = lifecycle
        self.leases = leases
        self.log = log
    }

    /// What one step did; for logs and tests.
    public enum StepOutcome: Equatable, Sendable {
        case wrote(VisionCategory)
        case failedAttempt(VisionCategory, JobLifecycle.FailureOutcome)
        case lostLease(VisionCategory)
        case finished(JobLifecycle.Ending)
        case waiting(until: EpochMillis)
        case nothingToDo
    }

    @discardableResult
    public func runStep(_ jobID: JobID) throws(StoreError) -> StepOutcome {
        let result = try store.claimNextCategory(of: jobID, now: Clock.now(), lifecycle: lifecycle)
        switch result {
        case .notFound, .finished, .leasedElsewhere:
            return .nothingToDo
        case .wait(let until):
            trigger.trigger(jobID, notBefore: until)
            return .waiting(until: until)
        case .throttled:
            // Spread the retries so a burst of throttled jobs does not return in one wave.
            let until = Clock.now() + Int64.random(in: 200...1_000)
            trigger.trigger(jobID, notBefore: until)
            return .waiting(until: until)
        case .readyToAssemble:
            guard let ending = try store.finishJob(jobID, now: Clock.now(), lifecycle: lifecycle, assemble: VisionAssembler.document)
            else { return .nothingToDo }
            log.info("job \(jobID) ended: \(ending)")
            return .finished(ending)
        case .claimed(let claim):
            return try write(claim)
        }
    }

    private func write(_ claim: CategoryClaim) throws(StoreError) -> StepOutcome {
        leases?.hold(claim)
        let request = GenerationRequest(
            category: claim.category, notes: claim.notes, allNotes: claim.allNotes, attempt: claim.attempt,
            totalAttempts: claim.totalAttempts, deadline: Clock.now() + 30 * 60_000)
        let generated: Result<String, GenerationError>
        do throws(GenerationError) {
            generated = .success(try generator.write(request))
        } catch {
            generated = .failure(error)
        }
        // The lease stays held (heartbeats go on) until the result is stored, however long a busy
        // database makes that take.
        defer { leases?.release(claim) }
        let outcome: StepOutcome
        switch generated {
        case .success(let text):
            guard try persisting({ () throws(StoreError) in try store.recordSuccess(claim, output: text, now: Clock.now()) })
            else {
                log.warning("refused a stale write of \(claim.category.key) for job \(claim.jobID): its lease was taken over")
                return .lostLease(claim.category)
            }
            outcome = .wrote(claim.category)
        case .failure(let error):
            guard
                let failure = try persisting({ () throws(StoreError) in
                    try store.recordFailure(
                        claim, error: error.message, now: Clock.now(), lifecycle: lifecycle, unitRandom: Double.random(in: 0..<1))
                })
            else { return .lostLease(claim.category) }
            log.warning("attempt \(claim.attempt) of \(claim.category.key) for job \(claim.jobID) failed: \(error.message); \(failure)")
            outcome = .failedAttempt(claim.category, failure)
        }
        trigger.trigger(claim.jobID)
        return outcome
    }

    /// Stores a result, retrying while the database stays busy: the text may have cost minutes
    /// of generation (and money), so a locked database must not throw it away.
    private func persisting<T>(_ write: () throws(StoreError) -> T) throws(StoreError) -> T {
        var delays: [useconds_t] = [200_000, 1_000_000, 3_000_000]
        while true {
            do {
                return try write()
            } catch .busy where !delays.isEmpty {
                log.warning("database busy while storing a result; trying again")
                usleep(delays.removeFirst())
            }
        }
    }

    /// After a step failed on the database: try the job again shortly rather than waiting for
    /// the sweep.
    public func retryLater(_ jobID: JobID) {
        trigger.trigger(jobID, notBefore: Clock.now() + 2_000)
    }
}
