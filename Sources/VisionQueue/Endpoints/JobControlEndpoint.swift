/// The user's controls over a job, served by the create binary with create:
/// `POST /api/vision-jobs/retry` re-runs the failed categories of an ended job,
/// `POST /api/vision-jobs/cancel` stops a job for good. Owner only: another user's job is 404.
public struct JobControlEndpoint {
    public static let retryPath = "/api/vision-jobs/retry"
    public static let cancelPath = "/api/vision-jobs/cancel"

    let store: JobStore
    let authenticator: Authenticator
    let trigger: TriggerSink

    public init(store: JobStore, authenticator: Authenticator, trigger: TriggerSink) {
        self.store = store
        self.authenticator = authenticator
        self.trigger = trigger
    }

    public func cancel(_ request: HTTPRequest) throws -> Reply {
        let (userID, jobID) = try readJobReference(request)
        guard let after = try store.cancelJob(jobID, ownedBy: userID, now: Clock.now()) else { throw APIError.jobNotFound() }
        guard after == .cancelled else {
            throw APIError.conflict("The job has already \(after.rawValue); it cannot be cancelled.", code: "job_finished")
        }
        return Self.response(jobID, after)
    }

    public func retry(_ request: HTTPRequest) throws -> Reply {
        let (userID, jobID) = try readJobReference(request)
        switch try store.retryFailedCategories(jobID, ownedBy: userID, now: Clock.now()) {
        case .notFound:
            throw APIError.jobNotFound()
        case .nothingFailed:
            throw APIError.conflict("Every category of this job was written; there is nothing to retry.", code: "nothing_to_retry")
        case .notRetryable(let current):
            let reason = current == .cancelled
                ? "The job was cancelled; start a new one instead."
                : "The job is still \(current.rawValue); retry once it has ended."
            throw APIError.conflict(reason, code: "job_not_retryable")
        case .retrying:
            trigger.trigger(jobID)
            return Self.response(jobID, .pending)
        }
    }

    /// The caller and the `{"jobId"}` body both controls take, checked in the order every write is.
    private func readJobReference(_ request: HTTPRequest) throws -> (userID: String, jobID: JobID) {
        try RequestRules.requireBodyWithin(request, limit: 4096)
        let userID = try authenticator.userID(for: request)
        try RequestRules.requireJSON(request)
        return (userID, try RequestRules.jobReference(request.body))
    }

    private static func response(_ jobID: JobID, _ status: JobStatus) -> Reply {
        Reply(.json(200) { json in
            json.field("jobId", jobID.rawValue)
            json.field("status", status.rawValue)
        })
    }
}
