/// Proof that this worker owns one category of one job until `leaseExpiresAt`.
///
/// Every write about the category carries the token; a worker whose lease was taken over (it was
/// paused, or its heartbeat stalled) finds its write refused instead of overwriting the new owner.
public struct CategoryClaim: Sendable, Equatable {
    public var jobID: JobID
    public var userID: String
    public var category: VisionCategory
    /// 1 for the first try.
    public var attempt: Int
    public var leaseToken: String
    public var leaseExpiresAt: EpochMillis
    /// The user's notes for this category (empty when none were given).
    public var answer: String
    /// All of the job's answers, for generators that write with the whole picture in mind.
    public var answers: [VisionCategory: String]
}

/// What a processor gets when it asks the store for a job's next category.
public enum ClaimResult: Sendable, Equatable {
    case claimed(CategoryClaim)
    /// Another worker holds a live lease on this job.
    case busy(leaseExpiresAt: EpochMillis)
    /// Only retries that are not due yet remain.
    case wait(until: EpochMillis)
    /// Every category is settled: the job can be assembled.
    case readyToAssemble
    /// The job is completed, failed or cancelled.
    case finished
    case notFound
}
