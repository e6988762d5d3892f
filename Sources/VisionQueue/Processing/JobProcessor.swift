import Glibc
import Synchronization


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
    /// Writes the vision's opening and closing (`VQ_ASSEMBLY=model`); nil assembles mechanically.
    private let framer: VisionFramer?
    private let log: Logger
    /// How often the text written so far is saved while a category is written.
    private let progressIntervalMillis: Int64
    /// The process's reservations, shared by its worker threads.
    private let reservations: ReservationBook

    public init(
        store: JobStore, generator: VisionGenerator, trigger: TriggerSink, lifecycle: JobLifecycle,
        leases: LeaseKeeper?, framer: VisionFramer? = nil, progressIntervalMillis: Int64 = 2_000,
        reservations: ReservationBook = ReservationBook(), log: Logger
    ) {
        self.reservations = reservations
        self.store = store
        self.generator = generator
        self.trigger = trigger
        self.lifecycle = lifecycle
        self.leases = leases
        self.framer = framer
        self.progressIntervalMillis = progressIntervalMillis
        self.log = log
    }

    /// What one step did; for logs and tests.
    public enum StepOutcome: Equatable, Sendable {
        case wrote(VisionCategory)
        case failedAttempt(VisionCategory, JobLifecycle.FailureOutcome)
        case lostLease(VisionCategory)
        case finished(JobLifecycle.Ending)
        /// The provider refused the configuration; the job failed at once.
        case configurationFailed(String)
        case waiting(until: EpochMillis)
        case nothingToDo
    }

    /// `reservation`: the token of the category the previous step reserved for this one, if the
    /// trigger carried one; the step then reads its claim instead of writing one.
    @discardableResult
    public func runStep(_ jobID: JobID, reservation: String? = nil) throws(StoreError) -> StepOutcome {
        let started = Clock.monotonicNanos()
        do {
            let outcome = try step(jobID, reservation: reservation)
            QueueMetrics.step(outcome, nanoseconds: Clock.monotonicNanos() - started)
            return outcome
        } catch {
            QueueMetrics.stepFailedOnStore()
            throw error
        }
    }

    private func step(_ jobID: JobID, reservation: String?) throws(StoreError) -> StepOutcome {
        if let reservation {
            let now = Clock.now()
            // Made by this process with time to spare: nothing to read. Else the store decides
            // (another process's, or about to lapse); lapsed or taken meanwhile, the ordinary claim.
            if let claim = reservations.take(reservation, of: jobID), claim.leaseExpiresAt - now >= lifecycle.policy.reservationFloorMillis {
                return try write(claim)
            }
            if let claim = try store.takeReservation(of: jobID, token: reservation, now: now, policy: lifecycle.policy) {
                return try write(claim)
            }
        }
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
            return try assemble(jobID)
        case .claimed(let claim):
            return try write(claim)
        }
    }

    private func write(_ claim: CategoryClaim) throws(StoreError) -> StepOutcome {
        if let leases, !leases.hold(claim) { return .nothingToDo }
        let started = Clock.now()
        let request = GenerationRequest(
            jobID: claim.jobID, userID: claim.userID, category: claim.category, notes: claim.notes,
            allNotes: claim.allNotes, attempt: claim.attempt, totalAttempts: claim.totalAttempts,
            deadline: started + 30 * 60_000)
        let progress = ProgressRecorder(store: store, claim: claim, intervalMillis: progressIntervalMillis, leases: leases, log: log)
        let generated: Result<Generation, GenerationError>
        do throws(GenerationError) {
            generated = .success(try generator.write(request, progress: progress))
        } catch {
            generated = .failure(error)
        }
        noteIfSlow(claim, tookMillis: Clock.now() - started)
        switch generated {
        case .success(let generation): QueueMetrics.modelCall(ModelCall(usage: generation.usage, latencyMillis: generation.latencyMillis), answered: true)
        case .failure(let error): QueueMetrics.modelCall(ModelCall(usage: error.usage, latencyMillis: error.latencyMillis), answered: false)
        }
        // The lease stays held (heartbeats go on) until the result is stored, however long a busy
        // database makes that take.
        defer { leases?.release(claim) }
        let outcome: StepOutcome
        var reservation: String?
        switch generated {
        case .success(let generation):
            let recorded = try persisting({ () throws(StoreError) in
                try store.recordSuccess(claim, generation, now: Clock.now(), reservingNext: lifecycle)
            })
            guard case .stored(let next) = recorded else {
                log.about(job: claim.jobID, category: claim.category).warning("refused a stale write of \(claim.category.key) for job \(claim.jobID): its lease was taken over")
                return .lostLease(claim.category)
            }
            if let next {
                reservations.add(next.claim(after: claim), now: Clock.now())
                reservation = next.token
            }
            outcome = .wrote(claim.category)
        case .failure(let error) where error.kind == .configuration:
            let call = ModelCall(usage: error.usage, latencyMillis: error.latencyMillis)
            guard try persisting({ () throws(StoreError) in try store.failJob(claim, error: error.message, call: call, now: Clock.now()) })
            else { return .lostLease(claim.category) }
            QueueMetrics.attemptFailed(error.reason, retried: false)
            QueueMetrics.jobEnded(.failed)
            log.about(job: claim.jobID, category: claim.category).error("job \(claim.jobID) failed: \(error.message)")
            return .configurationFailed(error.message)
        case .failure(let error):
            let call = ModelCall(usage: error.usage, latencyMillis: error.latencyMillis)
            guard
                let failure = try persisting({ () throws(StoreError) in
                    try store.recordFailure(
                        claim, error: error.message, call: call, now: Clock.now(), lifecycle: lifecycle,
                        unitRandom: Double.random(in: 0..<1))
                })
            else { return .lostLease(claim.category) }
            QueueMetrics.attemptFailed(error.reason, retried: failure != .fail)
            log.about(job: claim.jobID, category: claim.category).warning("attempt \(claim.attempt) of \(claim.category.key) for job \(claim.jobID) failed: \(error.message); \(failure)")
            outcome = .failedAttempt(claim.category, failure)
        }
        trigger.trigger(claim.jobID, notBefore: nil, reservation: reservation)
        return outcome
    }

    /// Ends a job whose categories are settled. With a framer, the model first writes the opening
    /// and closing, with the failure handling of a category (retries with backoff, waits for
    /// `Retry-After`); when it cannot, the vision is assembled mechanically and says so.
    private func assemble(_ jobID: JobID) throws(StoreError) -> StepOutcome {
        var report = AssemblyReport()
        var framing: VisionFraming?
        if let framer {
            let claim = AssemblyClaim(store: store, jobID: jobID, window: lifecycle.policy.leaseMillis * 5)
            // A second worker that finds the job ready leaves it to the holder.
            guard try claim.renew(through: Clock.now()) else { return .nothingToDo }
            if let written = try store.writtenSections(of: jobID), !written.sections.isEmpty {
                (framing, report) = frame(written, jobID: jobID, framer: framer, claim: claim)
            }
        }
        let ending = try persisting({ () throws(StoreError) in
            try store.finishJob(jobID, now: Clock.now(), lifecycle: lifecycle, assembly: report) { sections in
                VisionAssembler.document(sections: sections, framing: framing, note: report.note)
            }
        })
        guard let ending else { return .nothingToDo }
        QueueMetrics.jobEnded(ending == .completed ? .completed : .failed)
        log.about(job: jobID).info("job \(jobID) ended: \(ending)")
        return .finished(ending)
    }

    private func frame(
        _ written: WrittenSections, jobID: JobID, framer: VisionFramer, claim: AssemblyClaim
    ) -> (VisionFraming?, AssemblyReport) {
        var report = AssemblyReport()
        for attempt in 1...lifecycle.policy.maxAttempts {
            do throws(GenerationError) {
                // Each call is numbered after every earlier one of this job, so each has a key of its own.
                let (framing, generation) = try framer.frame(
                    sections: written.sections, jobID: jobID, userID: written.userID, attempt: written.assemblyCalls + attempt,
                    deadline: Clock.now() + 30 * 60_000, progress: claim)
                report.calls.append((ModelCall(usage: generation.usage, latencyMillis: generation.latencyMillis), nil))
                QueueMetrics.modelCall(report.calls.last!.0, answered: true)
                return (framing, report)
            } catch {
                report.calls.append((ModelCall(usage: error.usage, latencyMillis: error.latencyMillis), error.message))
                QueueMetrics.modelCall(report.calls.last!.0, answered: false)
                log.about(job: jobID).warning("assembly attempt \(attempt) for job \(jobID) failed: \(error.message)")
                if error.kind == .configuration || claim.shouldStop { break }
                if attempt < lifecycle.policy.maxAttempts {
                    usleep(useconds_t(lifecycle.policy.backoff(afterAttempt: attempt, unitRandom: Double.random(in: 0..<1)) * 1000))
                    _ = try? claim.renew(through: Clock.now())
                }
            }
        }
        report.note = "The opening and closing could not be written by the model; the sections are joined as they are."
        return (nil, report)
    }

    /// A category that took far longer than the service's recent ones is logged (and counted),
    /// so an operator sees a provider slowing down before users complain.
    private func noteIfSlow(_ claim: CategoryClaim, tookMillis: Int64) {
        guard tookMillis >= CategoryTiming.slowFloorMillis,
            let recent = try? store.recentCategoryMillis(limit: CategoryTiming.sampleSize),
            let typical = CategoryTiming.median(recent), CategoryTiming.isSlow(elapsed: tookMillis, typical: typical)
        else { return }
        let count = Self.slowCategories.add(1, ordering: .relaxed).newValue
        log.about(job: claim.jobID, category: claim.category).warning(
            "slow category: \(claim.category.key) of job \(claim.jobID) took \(tookMillis / 1000) s, typical \(typical / 1000) s (\(count) slow in this process)")
    }

    private static let slowCategories = Atomic<Int>(0)

    /// Stores a result, retrying for about half a minute while the database is busy or out of
    /// reach (a restart, a failover): the text may have cost minutes of generation (and money), so
    /// a moment without the database must not throw it away. The lease is renewed meanwhile.
    private func persisting<T>(_ write: () throws(StoreError) -> T) throws(StoreError) -> T {
        var delays: [useconds_t] = [200_000, 1_000_000, 3_000_000, 5_000_000, 10_000_000, 10_000_000]
        while true {
            do {
                return try write()
            } catch let error where error.isTransient && !delays.isEmpty {
                log.warning("\(error) while storing a result; trying again")
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
