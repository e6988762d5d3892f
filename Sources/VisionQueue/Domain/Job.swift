/// A job as stored: what the status endpoint reports and the page renders.
public struct Job: Sendable, Equatable {
    public var id: JobID
    public var userID: String
    public var status: JobStatus
    public var currentCategory: VisionCategory?
    public var categoriesCompleted: Int
    public var categoriesFailed: Int
    public var visionID: String?
    public var error: String?
    public var createdAt: EpochMillis
    public var startedAt: EpochMillis?
    public var completedAt: EpochMillis?
    public var updatedAt: EpochMillis
    /// All twelve, in writing order. Empty in list views, where only the summary is needed.
    public var categories: [CategoryProgress]

    /// 0-100: the share of categories settled (done or given up), so a job that ends with a
    /// failed category still reaches 100.
    public var progress: Int {
        if status == .completed { return 100 }
        return (categoriesCompleted + categoriesFailed) * 100 / VisionCategory.count
    }
}

/// One category's row of a job.
public struct CategoryProgress: Sendable, Equatable {
    public var category: VisionCategory
    public var state: CategoryState
    public var attempts: Int
    public var error: String?
    public var startedAt: EpochMillis?
    public var completedAt: EpochMillis?
    public var nextAttemptAt: EpochMillis?
    /// While running: when the current claim lapses unless renewed. Not shown to users.
    public var leaseExpiresAt: EpochMillis? = nil

    /// The scheduling view of this row, for `JobLifecycle`.
    public var record: CategoryRecord {
        CategoryRecord(
            category: category, state: state, attempts: attempts, leaseExpiresAt: leaseExpiresAt,
            nextAttemptAt: nextAttemptAt)
    }
}

/// What a client asked for when it created a job.
public struct NewJob: Sendable, Equatable {
    public var userID: String
    /// The user's notes per category; categories left out are written from sensible defaults.
    public var answers: [VisionCategory: String]

    public init(userID: String, answers: [VisionCategory: String]) {
        self.userID = userID
        self.answers = answers
    }
}
