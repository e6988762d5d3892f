/// What the lifecycle needs to know about one category of a job: its persisted scheduling state.
public struct CategoryRecord: Sendable, Equatable {
    public var category: VisionCategory
    public var state: CategoryState
    /// Claims so far, including ones whose worker died.
    public var attempts: Int
    /// While `running`: when the claim lapses unless renewed.
    public var leaseExpiresAt: EpochMillis?
    /// While `retrying`: when it may run again.
    public var nextAttemptAt: EpochMillis?

    public init(
        category: VisionCategory, state: CategoryState = .pending, attempts: Int = 0,
        leaseExpiresAt: EpochMillis? = nil, nextAttemptAt: EpochMillis? = nil
    ) {
        self.category = category
        self.state = state
        self.attempts = attempts
        self.leaseExpiresAt = leaseExpiresAt
        self.nextAttemptAt = nextAttemptAt
    }

    /// A `running` category whose worker has stopped renewing its lease.
    public func leaseLapsed(at now: EpochMillis) -> Bool {
        state == .running && (leaseExpiresAt ?? 0) <= now
    }
}
