/// Proof that this worker owns one category of one job until `leaseExpiresAt`.
///
/// Every write about the category carries the token; a worker whose lease was taken over (it was
/// paused, or its heartbeat stalled) finds its write refused instead of overwriting the new owner.
public struct CategoryClaim: Sendable, Equatable {
    public var jobID: JobID
    public var userID: String
    public var category: VisionCategory
    /// 1 for the first try; counts again from 1 when the user retries failed categories.
    public var attempt: Int
    /// Every attempt ever made at this category, across user retries.
    public var totalAttempts: Int
    public var leaseToken: String
    public var leaseExpiresAt: EpochMillis
    /// The user's notes for this category (empty when none were given).
    public var notes: String
    /// The user's notes for every category, for generators that write with the whole picture in mind.
    public var allNotes: [VisionCategory: String]

    /// A fresh lease token: 128 random bits in hex. Only ever compared, so it needs no UUID's
    /// structure, nor Foundation to make one.
    public static func newLeaseToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bits = (generator.next(), generator.next())
        return withUnsafeBytes(of: bits) { $0.hexString }
    }
}

/// What a processor gets when it asks the store for a job's next category.
public enum ClaimResult: Sendable, Equatable {
    case claimed(CategoryClaim)
    /// Another worker holds a live lease on this job.
    case leasedElsewhere(leaseExpiresAt: EpochMillis)
    /// Only retries that are not due yet remain.
    case wait(until: EpochMillis)
    /// Every category is settled: the job can be assembled.
    case readyToAssemble
    /// A category is due, but as many categories as allowed are writing right now: try again soon.
    case throttled
    /// The job is completed, failed or cancelled.
    case finished
    case notFound
}

/// The category reserved for a job's next step by the transaction that stored the previous one.
public struct Reservation: Sendable, Equatable {
    public var category: VisionCategory
    public var token: String
    /// The attempt it was counted as, as its claim will carry it.
    public var attempt: Int
    public var totalAttempts: Int
    public var expiresAt: EpochMillis

    /// The claim the reservation holds, from the claim that made it (same job, user and notes).
    public func claim(after previous: CategoryClaim) -> CategoryClaim {
        CategoryClaim(
            jobID: previous.jobID, userID: previous.userID, category: category, attempt: attempt,
            totalAttempts: totalAttempts, leaseToken: token, leaseExpiresAt: expiresAt,
            notes: previous.allNotes[category] ?? "", allNotes: previous.allNotes)
    }
}

/// What storing a category's text came to.
public enum RecordedSuccess: Sendable, Equatable {
    /// Stored; `nextReservation` is the next category reserved in the same transaction (nil when
    /// none was due, or none was asked for).
    case stored(nextReservation: Reservation?)
    /// The claim was lost (taken over, or the job ended): nothing was stored.
    case claimLost
}
