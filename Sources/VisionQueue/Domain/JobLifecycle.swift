/// The job and category state machine, as pure functions of the stored state and "now".
///
/// The store calls these inside its write transaction and persists exactly what they decide, so
/// every rule about claiming, retrying, giving up and finishing lives here and is tested without a
/// database.
public struct JobLifecycle: Sendable {
    public var policy: RetryPolicy
    /// At most this many categories write at once across every worker on the machine; nil: no
    /// limit beyond the number of worker threads.
    public var maxConcurrentCategories: Int?

    public init(policy: RetryPolicy, maxConcurrentCategories: Int? = nil) {
        self.policy = policy
        self.maxConcurrentCategories = maxConcurrentCategories
    }

    /// What a processor that holds this job's trigger should do next.
    public enum NextStep: Equatable, Sendable {
        /// Claim and write this category; it will be attempt number `attempt`.
        case run(VisionCategory, attempt: Int)
        /// Mark this category failed without running it (its workers kept dying), then ask again.
        case giveUp(VisionCategory, reason: String)
        /// Another worker holds a live lease on this job; its own trigger carries the chain on.
        case leasedElsewhere(leaseExpiresAt: EpochMillis)
        /// A category is due but the machine-wide limit of categories writing at once is reached.
        case throttled
        /// Only retries that are not due yet remain: trigger again at this time.
        case wait(until: EpochMillis)
        /// Every category is settled: assemble the vision (or fail the job) now.
        case assemble
        /// The job is completed, failed or cancelled: nothing may run.
        case finished
    }

    /// Picks the job's next step. Categories run one at a time, in their fixed order, except that a
    /// category waiting out a retry backoff lets the later ones go ahead.
    ///
    /// `capacityAvailable` is false when the limit of categories writing at once across every worker
    /// is reached; a category that would run is then `.throttled` (giving up is still decided).
    public func nextStep(
        jobStatus: JobStatus, categories: [CategoryRecord], now: EpochMillis, capacityAvailable: Bool = true
    ) -> NextStep {
        let step = unthrottledStep(jobStatus: jobStatus, categories: categories, now: now)
        if case .run = step, !capacityAvailable { return .throttled }
        return step
    }

    private func unthrottledStep(jobStatus: JobStatus, categories: [CategoryRecord], now: EpochMillis) -> NextStep {
        if jobStatus.isFinal { return .finished }
        if let live = categories.first(where: { $0.state == .running && !$0.leaseLapsed(at: now) }) {
            return .leasedElsewhere(leaseExpiresAt: live.leaseExpiresAt ?? now)
        }
        var earliestRetry: EpochMillis?
        for record in categories {
            switch record.state {
            case .pending:
                return .run(record.category, attempt: record.attempts + 1)
            case .running:  // lapsed: its worker died or stalled, and that attempt counts
                if record.attempts >= policy.maxAttempts {
                    return .giveUp(record.category, reason: crashReason(attempts: record.attempts))
                }
                return .run(record.category, attempt: record.attempts + 1)
            case .retrying:
                let due = record.nextAttemptAt ?? now
                if due <= now { return .run(record.category, attempt: record.attempts + 1) }
                earliestRetry = min(earliestRetry ?? due, due)
            case .done, .failed:
                continue
            }
        }
        if let earliestRetry { return .wait(until: earliestRetry) }
        return .assemble
    }

    /// Whether a stored result may reserve its job's next category at all (see `reservation`): a
    /// store asks before reading the categories it would decide from.
    public var reservesNextSteps: Bool { maxConcurrentCategories == nil }

    /// The category to reserve for the job's next step in the transaction that stores a result,
    /// so the step the trigger starts reads its claim instead of writing one: the category a
    /// claim would take at once.
    ///
    /// Never under a limit of categories writing at once: a reservation holds its slot from the
    /// moment it is made, and under a burst its trigger waits behind hundreds of others, so the
    /// slots would sit with reservations in line while every other job's claim is throttled and
    /// tried again (measured: 4.6 times the requests for 1,000 jobs). Where the workers' threads
    /// hold the limit themselves, the configuration leaves it out of the lifecycle
    /// (`VisionQueueConfiguration.threadsHoldTheLimit`), and steps reserve.
    ///
    /// A reservation is a claim made ahead and counts its attempt (a worker that dies in the step
    /// counts it); a trigger known lost, or a stop, gives it back uncounted.
    public func reservation(jobStatus: JobStatus, categories: [CategoryRecord], now: EpochMillis) -> VisionCategory? {
        guard reservesNextSteps,
            case .run(let category, _) = unthrottledStep(jobStatus: jobStatus, categories: categories, now: now)
        else { return nil }
        return category
    }

    /// What becomes of a category whose attempt number `attempt` just failed with `error`.
    public enum FailureOutcome: Equatable, Sendable {
        case retry(at: EpochMillis)
        case fail
    }

    public func afterFailure(attempt: Int, now: EpochMillis, unitRandom: Double) -> FailureOutcome {
        guard attempt < policy.maxAttempts else { return .fail }
        return .retry(at: now + policy.backoff(afterAttempt: attempt, unitRandom: unitRandom))
    }

    /// How a job with every category settled ends.
    public enum Ending: Equatable, Sendable {
        case completed
        case failed(reason: String)
    }

    public func ending(categories: [CategoryRecord]) -> Ending {
        if categories.contains(where: { $0.state == .done }) { return .completed }
        return .failed(reason: "Every category failed; nothing could be written.")
    }

    /// Whether a job has work due that nobody is doing, and has had for `stallMillis`: its trigger
    /// chain is broken (a lost trigger, a killed worker) and it needs a new trigger.
    public func isStalled(
        jobStatus: JobStatus, categories: [CategoryRecord], lastProgressAt: EpochMillis, now: EpochMillis,
        stallMillis: Int64
    ) -> Bool {
        // A lapsed lease counts from when it lapsed, not from the last progress.
        let lapsedSince = categories.compactMap { $0.leaseLapsed(at: now) ? $0.leaseExpiresAt : nil }.max()
        let quietSince = max(lastProgressAt, lapsedSince ?? lastProgressAt)
        guard now - quietSince >= stallMillis else { return false }
        switch unthrottledStep(jobStatus: jobStatus, categories: categories, now: now) {
        case .run, .giveUp, .assemble: return true
        case .wait(let until): return until + stallMillis <= now
        case .leasedElsewhere, .finished, .throttled: return false
        }
    }

    func crashReason(attempts: Int) -> String {
        "The worker writing this category stopped \(attempts) time\(attempts == 1 ? "" : "s") without finishing."
    }
}
