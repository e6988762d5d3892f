/// What the app hears when a job's run ends: one event per ending, written in the transaction that
/// ends the run (the outbox), delivered afterwards, at least once, always under the same `id`.
public struct WebhookEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case completed = "job.completed"
        case failed = "job.failed"
        case cancelled = "job.cancelled"
    }

    /// `msg_` and a time-ordered UUID: the `webhook-id` receivers drop duplicates by.
    public var id: String
    /// How the run ended. `status` is the job's state after it: a retry or rewrite of a finished
    /// vision that fails or is cancelled leaves the job `completed`, with its earlier vision.
    public var kind: Kind
    public var jobID: String
    public var userID: String
    public var status: String
    public var visionID: String?
    public var categoriesCompleted: Int
    public var categoriesFailed: Int
    public var promptTokens: Int64
    public var completionTokens: Int64
    public var error: String?
    public var createdAt: EpochMillis
    public var startedAt: EpochMillis?
    public var completedAt: EpochMillis?
    /// When the run ended; the event's `timestamp`.
    public var occurredAt: EpochMillis
    /// Deliveries tried so far (the one being made included, once claimed).
    public var attempts: Int

    public init(
        id: String, kind: Kind, jobID: String, userID: String, status: String, visionID: String?,
        categoriesCompleted: Int, categoriesFailed: Int, promptTokens: Int64, completionTokens: Int64, error: String?,
        createdAt: EpochMillis, startedAt: EpochMillis?, completedAt: EpochMillis?, occurredAt: EpochMillis, attempts: Int
    ) {
        self.id = id
        self.kind = kind
        self.jobID = jobID
        self.userID = userID
        self.status = status
        self.visionID = visionID
        self.categoriesCompleted = categoriesCompleted
        self.categoriesFailed = categoriesFailed
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.error = error
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.occurredAt = occurredAt
        self.attempts = attempts
    }

    /// A new event id.
    public static func newID(now: EpochMillis) -> String { "msg_" + UUIDv7.make(now: now) }

    /// The body as Standard Webhooks suggests: `type`, `timestamp`, and the job in `data`. The same
    /// bytes on every attempt (nothing in it changes with the delivery).
    public var body: [UInt8] {
        var json = JSONWriter()
        json.object { json in
            json.field("type", kind.rawValue)
            json.timestampField("timestamp", occurredAt)
            json.key("data")
            json.object { data in
                data.field("jobId", jobID)
                data.field("userId", userID)
                data.field("status", status)
                data.field("visionId", visionID)
                data.field("categoriesCompleted", categoriesCompleted)
                data.field("categoriesFailed", categoriesFailed)
                data.field("totalCategories", VisionCategory.count)
                data.key("tokens")
                data.object { tokens in
                    tokens.field("prompt", Int(promptTokens))
                    tokens.field("completion", Int(completionTokens))
                    tokens.field("total", Int(promptTokens + completionTokens))
                }
                data.field("error", error)
                data.timestampField("createdAt", createdAt)
                data.timestampField("startedAt", startedAt)
                data.timestampField("completedAt", completedAt)
            }
        }
        return json.bytes
    }
}

extension JobLifecycle.Ending {
    /// The event a run that ends this way sends.
    public var webhookKind: WebhookEvent.Kind {
        switch self {
        case .completed: .completed
        case .failed: .failed
        }
    }
}
