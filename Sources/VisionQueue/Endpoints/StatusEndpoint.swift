/// The read side, served by the status binary: a job's state, the user's jobs, a finished vision,
/// and who the caller is. All GET, all `Cache-Control: no-store`.
public struct StatusEndpoint {
    public static let statusPath = "/api/vision-jobs/status"
    public static let listPath = "/api/vision-jobs/list"
    public static let visionPath = "/api/visions"
    public static let mePath = "/api/me"

    let store: JobStore
    let authenticator: Authenticator
    let lifecycle: JobLifecycle
    /// Where a stalled job seen by a poll is re-triggered; nil turns self-healing off.
    let healer: TriggerSink?
    let stallMillis: Int64
    /// Prices for the cost estimate; nil shows tokens only.
    let prices: ModelSettings?
    let responses = StatusResponseCache()
    let typicalTime = TypicalCategoryTime()

    public init(
        store: JobStore, authenticator: Authenticator, lifecycle: JobLifecycle, healer: TriggerSink? = nil,
        stallMillis: Int64 = 30_000, prices: ModelSettings? = nil
    ) {
        self.store = store
        self.authenticator = authenticator
        self.lifecycle = lifecycle
        self.healer = healer
        self.stallMillis = stallMillis
        self.prices = prices
    }

    /// `GET /api/vision-jobs/status?jobId=`: one job with its categories.
    public func status(_ request: HTTPRequest) throws -> Reply {
        let userID = try authenticator.userID(for: request)
        let id = try RequestRules.jobID(try request.queryValue("jobId"))
        guard let version = try store.jobVersion(id, ownedBy: userID) else { throw APIError.jobNotFound() }
        if let cached = responses.response(for: id, userID: userID, version: version) {
            try healIfStalled(cached.job, cached: true)
            return Reply(.json(200, cached.body))
        }
        guard let job = try store.job(id, ownedBy: userID) else { throw APIError.jobNotFound() }
        var writer = JSONWriter()
        let typical = CategoryTiming.typical(of: job, serviceMedian: typicalTime.serviceMedian(store, now: Clock.now()))
        writer.object { JobJSON.write(job, policy: lifecycle.policy, typicalCategoryMillis: typical, prices: prices, into: &$0) }
        responses.store(job, body: writer.bytes)
        try healIfStalled(job, cached: false)
        return Reply(.json(200, writer.bytes))
    }

    /// Self-healing on poll: a job someone is watching whose chain broke is triggered again, at most
    /// once per stall window however many tabs poll it.
    ///
    /// A cached job may hold a lease expiry that a heartbeat has since renewed (renewals do not
    /// change what the page shows, so they do not bump the version): it is read afresh before any
    /// trigger is sent.
    private func healIfStalled(_ job: Job, cached: Bool) throws {
        guard let healer, !job.status.isFinal, isStalled(job) else { return }
        if cached {
            guard let fresh = try store.job(job.id, ownedBy: job.userID), !fresh.status.isFinal, isStalled(fresh) else {
                return
            }
        }
        // A busy database must not turn a good answer into a 503: the next poll or the sweep heals.
        guard (try? store.claimKick(job.id, now: Clock.now(), windowMillis: stallMillis)) == true else { return }
        healer.trigger(job.id)
        QueueMetrics.kickedByStatus()
    }

    private func isStalled(_ job: Job) -> Bool {
        lifecycle.isStalled(
            jobStatus: job.status, categories: job.categories.map(\.record), lastProgressAt: job.updatedAt,
            now: Clock.now(), stallMillis: stallMillis)
    }

    /// `GET /api/vision-jobs/list`: the caller's jobs, newest first.
    public func list(_ request: HTTPRequest) throws -> Reply {
        let userID = try authenticator.userID(for: request)
        let jobs = try store.jobs(ownedBy: userID, limit: 100)
        return Reply(.json(200) { json in
            json.key("jobs")
            json.array { array in
                for job in jobs { array.object { JobJSON.writeSummary(job, prices: prices, into: &$0) } }
            }
        })
    }

    /// `GET /api/visions?id=`: a finished vision.
    public func vision(_ request: HTTPRequest) throws -> Reply {
        let userID = try authenticator.userID(for: request)
        guard let id = try request.queryValue("id"), !id.isEmpty else {
            throw APIError.badRequest("id is required.", code: "missing_vision_id")
        }
        guard JobID(id) != nil else { throw APIError.badRequest("id must be a UUID.", code: "invalid_vision_id") }
        var version: Int?
        if let text = try request.queryValue("version") {
            guard let number = HTTPRequest.wholeNumberFromOne(text).map(Int.init) else {
                throw APIError.badRequest("version must be a whole number from 1.", code: "invalid_version")
            }
            version = number
        }
        guard let vision = try store.vision(id.lowercased(), version: version, ownedBy: userID) else { throw APIError.visionNotFound() }
        return Reply(.json(200) { JobJSON.write(vision, into: &$0) })
    }

    /// `GET /api/me`: who the caller is.
    public func me(_ request: HTTPRequest) throws -> Reply {
        let userID = try authenticator.userID(for: request)
        return Reply(.json(200) { json in
            json.field("userId", userID)
            json.field("developmentMode", authenticator.developmentMode)
        })
    }
}
