/// Where jobs live: `SQLJobStore` over SQLite or PostgreSQL (`JobStoreFactory` picks). Stores own
/// all SQL, run each method as one transaction, and persist exactly what `JobLifecycle` decides;
/// the conformance suite (`StoreConformanceTests`) holds every store to the same behaviour.
///
/// A store instance is used by one thread at a time; each worker thread opens its own.
public protocol JobStore: AnyObject {
    /// Stores a new pending job with its twelve pending categories, unless the user's limits or an
    /// earlier request with the same idempotency key decide otherwise (checked in the same
    /// transaction as the insert).
    func createJob(_ newJob: NewJob, limits: CreateLimits, now: EpochMillis) throws(StoreError) -> CreateOutcome

    /// The job with its categories, if it exists and belongs to `userID`. Another user's job is
    /// reported as absent.
    func job(_ id: JobID, ownedBy userID: String) throws(StoreError) -> Job?

    /// The job's version, bumped by every change its status answer shows; nil when there is no
    /// such job for this user. One indexed read: how status knows its cached answer still holds.
    func jobVersion(_ id: JobID, ownedBy userID: String) throws(StoreError) -> Int64?

    /// The user's jobs, newest first, without per-category detail.
    func jobs(ownedBy userID: String, limit: Int) throws(StoreError) -> [Job]

    /// Atomically claims the job's next category, if one is due and no other worker holds a live
    /// lease on the job.
    func claimNextCategory(of id: JobID, now: EpochMillis, lifecycle: JobLifecycle) throws(StoreError) -> ClaimResult

    /// Extends a live claim; false when the lease was lost (taken over, or the job cancelled).
    func renewLease(_ claim: CategoryClaim, until: EpochMillis, now: EpochMillis) throws(StoreError) -> Bool

    /// Stores a category's text and what writing it cost. With a lifecycle, the same transaction
    /// reserves the job's next category for this process (see `JobLifecycle.reservation`) and
    /// answers its token, for the trigger that carries the chain on.
    func recordSuccess(
        _ claim: CategoryClaim, _ generation: Generation, now: EpochMillis, reservingNext lifecycle: JobLifecycle?
    ) throws(StoreError) -> RecordedSuccess

    /// The claim a reservation (`recordSuccess`) holds, if it still holds: read without writing
    /// when it is this process's and has `policy.reservationFloorMillis` left, else taken over
    /// for a whole lease in a write. nil when it lapsed, was taken, or the job ended.
    func takeReservation(of id: JobID, token: String, now: EpochMillis, policy: RetryPolicy) throws(StoreError) -> CategoryClaim?

    /// Gives back, uncounted, this process's reservation whose trigger is known lost (given up,
    /// dropped), so the category is claimed at once rather than after the reservation lapses.
    func releaseReservation(of id: JobID, token: String, now: EpochMillis) throws(StoreError) -> Bool

    /// Gives back, uncounted, every category this process still holds: for a stopping process
    /// whose steps have ended, so what remains are reservations for steps it will not run.
    func releaseReservations(now: EpochMillis) throws(StoreError) -> Int

    /// Records a failed attempt and its cost: schedules a retry or gives the category up, as the
    /// lifecycle decides. nil when the claim was lost and nothing was written.
    func recordFailure(
        _ claim: CategoryClaim, error: String, call: ModelCall, now: EpochMillis, lifecycle: JobLifecycle, unitRandom: Double
    ) throws(StoreError) -> JobLifecycle.FailureOutcome?

    /// Ends the job at once as failed with `error` (a configuration the provider refused, which
    /// every category would meet): every unsettled category fails with it, so a retry after the
    /// fix runs them all. false when the claim was lost.
    func failJob(_ claim: CategoryClaim, error: String, call: ModelCall, now: EpochMillis) throws(StoreError) -> Bool

    /// Keeps the text written so far by a live claim, for the status answer; one small write,
    /// made at most every couple of seconds. false when the claim was lost.
    func saveProgress(_ claim: CategoryClaim, text: String, now: EpochMillis) throws(StoreError) -> Bool

    /// Shows that a live claim waits for the provider (`Retry-After`) until `until`. false when
    /// the claim was lost.
    func markWaiting(_ claim: CategoryClaim, until: EpochMillis, reason: String, now: EpochMillis) throws(StoreError) -> Bool

    /// Ends a job whose categories are all settled: builds and stores its vision with `assemble`
    /// (given the written sections) and marks it completed, or marks it failed when nothing was
    /// written; keeps the assembly's model calls. nil when the job is not ready or was already
    /// ended by someone else.
    func finishJob(
        _ id: JobID, now: EpochMillis, lifecycle: JobLifecycle, assembly: AssemblyReport,
        assemble: (_ sections: [VisionCategory: String]) -> String
    ) throws(StoreError) -> JobLifecycle.Ending?

    // MARK: The webhook outbox (written with each ending when a webhook is configured)

    /// Events due for a delivery attempt, oldest first.
    func dueWebhookEvents(now: EpochMillis, limit: Int) throws(StoreError) -> [WebhookEvent]
    /// Takes a due event for one delivery attempt until `until` (counting the attempt); false when
    /// another dispatcher took it first. An attempt that never settles is due again at `until`.
    func claimWebhookEvent(_ event: WebhookEvent, until: EpochMillis, now: EpochMillis) throws(StoreError) -> Bool
    /// After an attempt of the claimed `event`: delivered, or due again at `retryAt` (nil: given up).
    func settleWebhookEvent(_ event: WebhookEvent, delivered: Bool, retryAt: EpochMillis?, error: String?, now: EpochMillis) throws(StoreError)
    /// What is still to be delivered.
    func webhookBacklog(now: EpochMillis) throws(StoreError) -> WebhookBacklog
    /// Forgets events delivered before `deliveredBefore` and given up before `givenUpBefore`;
    /// answers how many.
    func pruneWebhookEvents(deliveredBefore: EpochMillis, givenUpBefore: EpochMillis) throws(StoreError) -> Int

    /// Reserves the model assembly of a job until `until`, so two workers that both find it ready
    /// do not both pay for the call. false while another reservation holds.
    /// The holder renews it by claiming again with the same `token`.
    func claimAssembly(_ id: JobID, token: String, until: EpochMillis, now: EpochMillis) throws(StoreError) -> Bool

    /// The written sections of a job, its owner and its model assembly calls so far; nil when
    /// there is no such job.
    func writtenSections(of id: JobID) throws(StoreError) -> WrittenSections?

    /// How long the most recently written categories took (first claim to stored text), newest
    /// first: the service's typical category time, for estimates and slow-category warnings.
    func recentCategoryMillis(limit: Int) throws(StoreError) -> [Int64]

    /// Jobs by status, the categories of unfinished jobs by state, and the jobs that failed since
    /// `failedSince`: for `/metrics` and the operator page.
    func queueFigures(failedSince: EpochMillis) throws(StoreError) -> QueueFigures

    /// Whose job this is (any user's): the operator's way in to the per-user calls.
    func jobOwner(_ id: JobID) throws(StoreError) -> String?

    /// Every user's jobs that match `filter`, newest first (without their categories).
    func jobs(matching filter: JobFilter, limit: Int) throws(StoreError) -> [Job]

    /// Every attempt of a job that reached a model or failed, in order: the operator's history.
    func attempts(of id: JobID) throws(StoreError) -> [AttemptRecord]

    /// The vision in its latest version, or in `version`, with the list of its versions; nil when
    /// it (or that version) does not exist or belongs to another user.
    func vision(_ id: String, version: Int?, ownedBy userID: String) throws(StoreError) -> Vision?

    // MARK: The user's controls

    /// Cancels a job that has not ended; a cancelled job never runs again. Answers the job's status
    /// after the call (`cancelled`, or the final status it already had), nil when there is no such
    /// job for this user.
    func cancelJob(_ id: JobID, ownedBy userID: String, now: EpochMillis) throws(StoreError) -> CancelOutcome?

    /// Puts the failed categories of an ended job back to pending for a fresh set of attempts.
    /// Counts against the user's limits like a create (checked in the same transaction).
    func retryFailedCategories(_ id: JobID, ownedBy userID: String, limits: CreateLimits, now: EpochMillis) throws(StoreError) -> RerunOutcome

    /// Puts one category of an ended job back to pending, with new notes when given, to be
    /// written again through the same chain; the vision is then assembled again, the other
    /// sections unchanged and the earlier version kept. The text it replaces stays in the vision
    /// if the rewrite fails. Counts against the user's limits like a create.
    func regenerateCategory(
        _ id: JobID, ownedBy userID: String, category: VisionCategory, notes: String?, limits: CreateLimits, now: EpochMillis
    ) throws(StoreError) -> RerunOutcome

    // MARK: Recovery

    /// Unfinished jobs whose trigger chain is broken: work is due, nobody holds a live lease, and
    /// nothing happened for `stallMillis`. Oldest first.
    func stalledJobs(now: EpochMillis, stallMillis: Int64, lifecycle: JobLifecycle, limit: Int) throws(StoreError) -> [JobID]

    /// Records that someone is about to re-trigger the job; false when someone already did within
    /// `windowMillis`, so a stalled job is kicked at most once per window by all sweeps and polls.
    func claimKick(_ id: JobID, now: EpochMillis, windowMillis: Int64) throws(StoreError) -> Bool

    /// Gives a claim back without counting the attempt (the worker is stopping, not failing), so
    /// another worker can take the category at once instead of waiting for the lease to lapse.
    func releaseClaim(_ claim: CategoryClaim, now: EpochMillis) throws(StoreError) -> Bool

    /// Ends at once the leases a dead process held (`owner`, as `ClaimOwner.of(pid:)` names
    /// it), as if they had lapsed: the attempt counts, as for any worker that died mid-category,
    /// but the category is taken up in seconds instead of a lease later. Answers the jobs concerned.
    func expireClaims(heldBy owner: String, now: EpochMillis) throws(StoreError) -> [JobID]
}

extension JobStore {
    /// A create with no limits: for tools and tests.
    public func createJob(_ newJob: NewJob, now: EpochMillis) throws(StoreError) -> Job {
        guard case .created(let job) = try createJob(newJob, limits: .none, now: now) else {
            preconditionFailure("a create without limits always creates")
        }
        return job
    }
}

/// What a job's assembly is made from.
public struct WrittenSections: Sendable, Equatable {
    public var userID: String
    public var sections: [VisionCategory: String]
    /// Model assembly calls made for the job before (earlier versions, crashed attempts): the next
    /// call's number, so each has an idempotency key of its own.
    public var assemblyCalls: Int

    public init(userID: String, sections: [VisionCategory: String], assemblyCalls: Int) {
        self.userID = userID
        self.sections = sections
        self.assemblyCalls = assemblyCalls
    }
}

/// How many jobs and categories stand where, now.
public struct QueueFigures: Sendable, Equatable {
    public var jobs: [JobStatus: Int]
    /// Of jobs not yet ended.
    public var categories: [CategoryState: Int]
    public var failedRecently: Int

    public init(jobs: [JobStatus: Int], categories: [CategoryState: Int], failedRecently: Int) {
        self.jobs = jobs
        self.categories = categories
        self.failedRecently = failedRecently
    }
}

/// Which jobs an operator lists; unset fields do not filter.
public struct JobFilter: Sendable, Equatable {
    public var status: JobStatus?
    public var userID: String?
    /// Jobs with at least one category given up.
    public var withFailedCategories = false
    /// Unfinished jobs whose last progress is at or before this time.
    public var stalledSince: EpochMillis?
    /// Paging: jobs created before this time.
    public var createdBefore: EpochMillis?

    public init(status: JobStatus? = nil, userID: String? = nil) {
        self.status = status
        self.userID = userID
    }
}

/// One attempt at a category (or at the assembly, position 12) as stored.
public struct AttemptRecord: Sendable, Equatable {
    /// Nil for the assembly.
    public var category: VisionCategory?
    public var attempt: Int
    /// `written`, `truncated` or `failed`.
    public var outcome: String
    public var error: String?
    public var usage: TokenUsage
    public var latencyMillis: Int64
    public var endedAt: EpochMillis

    public init(
        category: VisionCategory?, attempt: Int, outcome: String, error: String?, usage: TokenUsage, latencyMillis: Int64,
        endedAt: EpochMillis
    ) {
        self.category = category
        self.attempt = attempt
        self.outcome = outcome
        self.error = error
        self.usage = usage
        self.latencyMillis = latencyMillis
        self.endedAt = endedAt
    }
}

/// What a cancel did: the job's status after it, and whether this call ended the job (false when
/// it had already ended, so an ending is counted once).
public struct CancelOutcome: Sendable, Equatable {
    public var status: JobStatus
    public var cancelledNow: Bool

    public init(status: JobStatus, cancelledNow: Bool) {
        self.status = status
        self.cancelledNow = cancelledNow
    }
}

/// What asking for a retry of a job's failed categories, or a rewrite of one, did.
public enum RerunOutcome: Sendable, Equatable {
    /// This many categories will be written again.
    case started(categories: Int)
    /// The job is still running (or was cancelled): nothing to rerun yet, or ever.
    case notRetryable(JobStatus)
    /// The job ended with every category written (a retry only).
    case nothingFailed
    /// The user already has as many jobs running as allowed.
    case activeJobLimit
    /// The user's runs of the last hour reached the limit.
    case rateLimited(retryAfterSeconds: Int)
    case notFound
}

extension JobStore {
    /// Stores a category's text without reserving the next; false when the claim was lost and
    /// nothing was written.
    public func recordSuccess(_ claim: CategoryClaim, _ generation: Generation, now: EpochMillis) throws(StoreError) -> Bool {
        try recordSuccess(claim, generation, now: now, reservingNext: nil) != .claimLost
    }
}
