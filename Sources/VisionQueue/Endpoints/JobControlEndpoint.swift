/// The user's controls over a job, served by the create binary with create:
/// `POST /api/vision-jobs/retry` re-runs the failed categories of an ended job,
/// `POST /api/vision-jobs/regenerate` rewrites one section of an ended job,
/// `POST /api/vision-jobs/cancel` stops a job for good. Owner only: another user's job is 404.
/// Retries and rewrites count against the user's limits as creates do.
///
/// The operator's page uses the same controls on any user's job (`POST /api/admin/retry`,
/// `POST /api/admin/cancel`, with `VQ_ADMIN_TOKEN`), without the user's limits.
public struct JobControlEndpoint {
    public static let retryPath = "/api/vision-jobs/retry"
    public static let regeneratePath = "/api/vision-jobs/regenerate"
    public static let cancelPath = "/api/vision-jobs/cancel"
    public static let adminRetryPath = "/api/admin/retry"
    public static let adminCancelPath = "/api/admin/cancel"

    /// Who may act on a job: its owner, or an operator on anyone's.
    public enum Access: Sendable {
        case owner(Authenticator)
        case admin(AdminAccess)
    }

    let store: JobStore
    let access: Access
    let trigger: TriggerSink
    let limits: CreateLimits
    let notesReader: NotesReader

    public init(
        store: JobStore, authenticator: Authenticator, trigger: TriggerSink, limits: CreateLimits = .none,
        maxNoteCharacters: Int = 4000
    ) {
        self.store = store
        self.access = .owner(authenticator)
        self.trigger = trigger
        self.limits = limits
        notesReader = NotesReader(maxCharacters: maxNoteCharacters)
    }

    /// The operator's controls: any user's job, no per-user limits.
    public init(store: JobStore, admin: AdminAccess, trigger: TriggerSink) {
        self.store = store
        self.access = .admin(admin)
        self.trigger = trigger
        self.limits = .none
        notesReader = NotesReader(maxCharacters: 0)
    }

    public func cancel(_ request: HTTPRequest) throws -> Reply {
        let (userID, jobID) = try readJobReference(request)
        guard let outcome = try store.cancelJob(jobID, ownedBy: userID, now: Clock.now()) else { throw APIError.jobNotFound() }
        let after = outcome.status
        if outcome.cancelledNow { QueueMetrics.jobEnded(.cancelled) }
        guard after == .cancelled else {
            throw APIError.conflict("The job has already \(after.rawValue); it cannot be cancelled.", code: "job_finished")
        }
        return Self.response(jobID, after)
    }

    public func retry(_ request: HTTPRequest) throws -> Reply {
        let (userID, jobID) = try readJobReference(request)
        return try started(jobID, try store.retryFailedCategories(jobID, ownedBy: userID, limits: limits, now: Clock.now()))
    }

    /// `{"jobId", "category", "answer"?}`: the category is written again, with `answer` as its new
    /// notes when given (an empty one clears them).
    public func regenerate(_ request: HTTPRequest) throws -> Reply {
        try RequestRules.requireBodyWithin(request, limit: 64 * 1024)
        // A rewrite is the owner's alone: the operator's routes do not include it.
        guard case .owner(let authenticator) = access else { throw APIError.routeNotFound() }
        let userID = try authenticator.userID(for: request)
        try RequestRules.requireJSON(request)
        let body = try RequestRules.parseJSONObject(request.body)
        for key in body.keys where !["jobId", "category", "answer"].contains(key) {
            throw APIError.badRequest(
                "Unknown field '\(key)'. The body is {\"jobId\": \"...\", \"category\": \"...\", \"answer\": \"...\"}.",
                code: "unknown_field")
        }
        let jobID = try RequestRules.jobID(body["jobId"]?.stringValue)
        guard let key = body["category"]?.stringValue, let category = VisionCategory(rawValue: key) else {
            let known = VisionCategory.allCases.map(\.key).joined(separator: ", ")
            throw APIError.badRequest("category must be one of: \(known).", code: "unknown_category")
        }
        let notes = try body["answer"].map { value throws(APIError) in try notesReader.note(value, field: "answer") }
        return try started(
            jobID,
            try store.regenerateCategory(jobID, ownedBy: userID, category: category, notes: notes, limits: limits, now: Clock.now()))
    }

    /// The answer to a retry or rewrite: the job is pending again and triggered, or why not.
    private func started(_ jobID: JobID, _ outcome: RerunOutcome) throws -> Reply {
        switch outcome {
        case .notFound:
            throw APIError.jobNotFound()
        case .nothingFailed:
            throw APIError.conflict("Every category of this job was written; there is nothing to retry.", code: "nothing_to_retry")
        case .notRetryable(let current):
            let reason = current == .cancelled
                ? "The job was cancelled; start a new one instead."
                : "The job is still \(current.rawValue); try again once it has ended."
            throw APIError.conflict(reason, code: "job_not_retryable")
        case .activeJobLimit:
            throw APIError.conflict("Another vision of yours is being written; try again once it has ended.", code: "active_job_limit")
        case .rateLimited(let seconds):
            throw APIError.tooManyRequests(retryAfterSeconds: seconds, message: "Too many visions started in the last hour; try again later.")
        case .started:
            trigger.trigger(jobID)
            return Self.response(jobID, .pending)
        }
    }

    /// The caller and the `{"jobId"}` body both controls take, checked in the order every write
    /// is. For an operator, the job's owner is the user the controls act for.
    private func readJobReference(_ request: HTTPRequest) throws -> (userID: String, jobID: JobID) {
        try RequestRules.requireBodyWithin(request, limit: 4096)
        switch access {
        case .owner(let authenticator):
            let userID = try authenticator.userID(for: request)
            try RequestRules.requireJSON(request)
            return (userID, try RequestRules.jobReference(request.body))
        case .admin(let admin):
            try admin.authorize(request)
            try RequestRules.requireJSON(request)
            let jobID = try RequestRules.jobReference(request.body)
            guard let owner = try store.jobOwner(jobID) else { throw APIError.jobNotFound() }
            return (owner, jobID)
        }
    }

    private static func response(_ jobID: JobID, _ status: JobStatus) -> Reply {
        Reply(.json(200) { json in
            json.field("jobId", jobID.rawValue)
            json.field("status", status.rawValue)
        })
    }
}
