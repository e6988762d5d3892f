/// The operator's reads, served by vision-status when `VQ_ADMIN_TOKEN` is set (the page is
/// www/admin.html; cancel and retry of any job are `JobControlEndpoint`'s, on vision-create):
/// `GET /api/admin/overview` the queue's figures, `GET /api/admin/jobs` every user's jobs by
/// filter, `GET /api/admin/job?jobId=` one job with its whole attempt history.
public struct AdminEndpoint {
    public static let overviewPath = "/api/admin/overview"
    public static let jobsPath = "/api/admin/jobs"
    public static let jobPath = "/api/admin/job"

    let store: JobStore
    let access: AdminAccess
    let lifecycle: JobLifecycle
    let stallMillis: Int64
    let prices: ModelSettings?

    public init(store: JobStore, access: AdminAccess, lifecycle: JobLifecycle, stallMillis: Int64, prices: ModelSettings?) {
        self.store = store
        self.access = access
        self.lifecycle = lifecycle
        self.stallMillis = stallMillis
        self.prices = prices
    }

    /// Running and waiting work, failures of the last hour, the typical category time.
    public func overview(_ request: HTTPRequest) throws -> Reply {
        try access.authorize(request)
        let now = Clock.now()
        let figures = try store.queueFigures(failedSince: now - 3_600_000)
        let median = CategoryTiming.median(try store.recentCategoryMillis(limit: CategoryTiming.sampleSize))
        return Reply(.json(200) { json in
            json.field("runningJobs", figures.jobs[.processing] ?? 0)
            json.field("waitingJobs", figures.jobs[.pending] ?? 0)
            json.field("runningCategories", figures.categories[.running] ?? 0)
            json.field("failedLastHour", figures.failedRecently)
            json.key("medianCategorySeconds")
            json.number(median.map { (Double($0) / 100).rounded() / 10 })
            json.key("jobs")
            json.object { counts in
                for status in JobStatus.allCases {
                    counts.key(escaping: status.rawValue)
                    counts.int(figures.jobs[status] ?? 0)
                }
            }
            json.key("categories")
            json.object { counts in
                for state in CategoryState.allCases {
                    counts.key(escaping: state.rawValue)
                    counts.int(figures.categories[state] ?? 0)
                }
            }
        })
    }

    /// `?status=&user=&failed=true&stalled=true&before=&limit=`: newest first; `nextBefore` pages on.
    public func jobs(_ request: HTTPRequest) throws -> Reply {
        try access.authorize(request)
        let now = Clock.now()
        var filter = JobFilter()
        if let text = try request.queryValue("status"), !text.isEmpty {
            guard let status = JobStatus(rawValue: text) else {
                throw APIError.badRequest("status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_filter")
            }
            filter.status = status
        }
        if let user = try request.queryValue("user"), !user.isEmpty {
            guard user.count <= 256 else { throw APIError.badRequest("user is at most 256 characters.", code: "invalid_filter") }
            filter.userID = user
        }
        filter.withFailedCategories = try flag(request, "failed")
        if try flag(request, "stalled") { filter.stalledSince = now - stallMillis }
        if let text = try request.queryValue("before") {
            guard let before = HTTPRequest.wholeNumberFromOne(text) else {
                throw APIError.badRequest("before must be a time in milliseconds since 1970 (a page's nextBefore).", code: "invalid_filter")
            }
            filter.createdBefore = before
        }
        var limit = 50
        if let text = try request.queryValue("limit") {
            guard let number = Int(text), (1...200).contains(number) else {
                throw APIError.badRequest("limit must be a whole number from 1 to 200.", code: "invalid_filter")
            }
            limit = number
        }
        let jobs = try store.jobs(matching: filter, limit: limit)
        return Reply(.json(200) { json in
            json.key("jobs")
            json.array { array in
                for job in jobs {
                    array.object { entry in
                        JobJSON.writeSummary(job, prices: prices, into: &entry)
                        entry.field("userId", job.userID)
                        entry.field("stalled", isStalled(job, now: now))
                    }
                }
            }
            json.key("nextBefore")
            json.int(jobs.count == limit ? jobs.last.map { Int($0.createdAt) } : nil)
        })
    }

    /// One job of any user, with its categories and every attempt (errors, durations, tokens).
    public func job(_ request: HTTPRequest) throws -> Reply {
        try access.authorize(request)
        let id = try RequestRules.jobID(try request.queryValue("jobId"))
        guard let owner = try store.jobOwner(id), let job = try store.job(id, ownedBy: owner) else { throw APIError.jobNotFound() }
        let attempts = try store.attempts(of: id)
        let now = Clock.now()
        return Reply(.json(200) { json in
            JobJSON.write(job, policy: lifecycle.policy, typicalCategoryMillis: nil, prices: prices, into: &json)
            json.field("userId", job.userID)
            json.field("stalled", isStalled(job, now: now))
            json.key("attempts")
            json.array { array in
                for attempt in attempts { array.object { JobJSON.write(attempt, into: &$0) } }
            }
        })
    }

    private func isStalled(_ job: Job, now: EpochMillis) -> Bool {
        !job.status.isFinal && job.updatedAt <= now - stallMillis
    }

    private func flag(_ request: HTTPRequest, _ name: String) throws -> Bool {
        switch try request.queryValue(name) {
        case nil, "", "false": return false
        case "true": return true
        default: throw APIError.badRequest("\(name) must be true or false.", code: "invalid_filter")
        }
    }
}
