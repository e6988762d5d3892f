/// The read side, served by the status binary: a job's state, the user's jobs, a finished vision,
/// and who the caller is. All GET, all `Cache-Control: no-store`.
public struct StatusEndpoint: Endpoint {
    public static let statusPath = "/api/vision-jobs/status"
    public static let listPath = "/api/vision-jobs/list"
    public static let visionPath = "/api/visions"
    public static let mePath = "/api/me"

    let store: JobStore
    let authenticator: Authenticator
    let policy: RetryPolicy

    public init(store: JobStore, authenticator: Authenticator, policy: RetryPolicy) {
        self.store = store
        self.authenticator = authenticator
        self.policy = policy
    }

    public func handle(_ request: HTTPRequest) throws -> Reply {
        switch request.path {
        case Self.statusPath: try Reply(status(request))
        case Self.listPath: try Reply(list(request))
        case Self.visionPath: try Reply(vision(request))
        case Self.mePath: try Reply(me(request))
        default: throw APIError.routeNotFound()
        }
    }

    private func status(_ request: HTTPRequest) throws -> HTTPResponse {
        try RequestRules.require(request, method: "GET")
        let userID = try authenticator.userID(for: request)
        let id = try RequestRules.jobID(try request.queryValue("jobId"))
        guard let job = try store.job(id, ownedBy: userID) else { throw APIError.jobNotFound() }
        return .json(200) { JobJSON.write(job, policy: policy, into: &$0) }
    }

    private func list(_ request: HTTPRequest) throws -> HTTPResponse {
        try RequestRules.require(request, method: "GET")
        let userID = try authenticator.userID(for: request)
        let jobs = try store.jobs(ownedBy: userID, limit: 100)
        return .json(200) { json in
            json.key("jobs")
            json.array { array in
                for job in jobs { array.object { JobJSON.writeSummary(job, into: &$0) } }
            }
        }
    }

    private func vision(_ request: HTTPRequest) throws -> HTTPResponse {
        try RequestRules.require(request, method: "GET")
        let userID = try authenticator.userID(for: request)
        guard let id = try request.queryValue("id"), !id.isEmpty else {
            throw APIError.badRequest("id is required.", code: "missing_vision_id")
        }
        guard JobID(id) != nil else { throw APIError.badRequest("id must be a UUID.", code: "invalid_vision_id") }
        guard let vision = try store.vision(id.lowercased(), ownedBy: userID) else { throw APIError.visionNotFound() }
        return .json(200) { JobJSON.write(vision, into: &$0) }
    }

    private func me(_ request: HTTPRequest) throws -> HTTPResponse {
        try RequestRules.require(request, method: "GET")
        let userID = try authenticator.userID(for: request)
        return .json(200) { json in
            json.field("userId", userID)
            json.field("developmentMode", authenticator.developmentMode)
        }
    }
}
