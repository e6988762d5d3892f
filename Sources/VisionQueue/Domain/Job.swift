/// A job as stored: what the status endpoint reports and the page renders.
public struct Job: Sendable, Equatable {
    public var id: JobID
    public var userID: String
    public var status: JobStatus
    /// The category being written right now; nil between categories, while only retries wait,
    /// and once the job has ended.
    public var currentCategory: VisionCategory?
    public var categoriesCompleted: Int
    public var categoriesFailed: Int
    public var visionID: String?
    public var error: String?
    public var createdAt: EpochMillis
    public var startedAt: EpochMillis?
    public var completedAt: EpochMillis?
    public var updatedAt: EpochMillis
    /// Bumped by every change this job's status answer shows.
    public var version: Int64 = 0
    /// Model tokens of every call made for the job (attempts that failed and the assembly included).
    public var usage: TokenUsage = .zero
    /// Set when the vision was assembled without the model's opening and closing (`VQ_ASSEMBLY=model`
    /// and that call failed): says so on the page.
    public var assemblyNote: String? = nil
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
    /// While running: the text the model has written so far (saved every couple of seconds).
    public var partialText: String? = nil
    /// While running: the provider asked to wait until then (429/503 with `Retry-After`).
    public var waitingUntil: EpochMillis? = nil
    public var waitingReason: String? = nil
    /// The written text was cut at the token limit (and trimmed to its last complete sentence).
    public var truncated: Bool = false
    /// Tokens of every attempt at this category.
    public var usage: TokenUsage = .zero

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
    public var notes: [VisionCategory: String]
    /// The client's `Idempotency-Key`, if it sent one.
    public var idempotencyKey: String?

    public init(userID: String, notes: [VisionCategory: String], idempotencyKey: String? = nil) {
        self.userID = userID
        self.notes = notes
        self.idempotencyKey = idempotencyKey
    }
}

/// Per-user limits checked atomically with the insert, so concurrent requests cannot slip past.
public struct CreateLimits: Sendable, Equatable {
    /// Unfinished jobs a user may have; another create answers the newest of them instead.
    public var maxActiveJobs: Int
    /// Jobs a user may create in any hour.
    public var maxCreatesPerHour: Int

    public init(maxActiveJobs: Int = 1, maxCreatesPerHour: Int = 10) {
        self.maxActiveJobs = maxActiveJobs
        self.maxCreatesPerHour = maxCreatesPerHour
    }

    public static let none = CreateLimits(maxActiveJobs: .max, maxCreatesPerHour: .max)
}

/// What a create request led to.
public enum CreateOutcome: Sendable, Equatable {
    case created(Job)
    /// The same `Idempotency-Key` with the same request was seen before: that job.
    case replayed(Job)
    /// The user already has as many unfinished jobs as allowed: the newest of them.
    case existingActive(Job)
    /// The same `Idempotency-Key` came with a different request.
    case idempotencyKeyReused
    /// The hourly quota is used up; the oldest create in the window ages out after this long.
    case rateLimited(retryAfterSeconds: Int)
}
