/// `GET /metrics` on vision-status: the Prometheus text format. nginx lets only loopback reach it,
/// unless `VQ_METRICS_TOKEN` is set: then anyone may, with that token as a bearer token.
///
/// Counters come from the metrics folder (every process of every binary on this machine, see
/// `MetricsScrape`); the levels of the queue are read from the database at each scrape.
public struct MetricsEndpoint {
    public static let path = "/metrics"

    let store: JobStore
    let directory: String
    let token: SecretDigest?

    public init(store: JobStore, directory: String, token: String?) {
        self.store = store
        self.directory = directory
        self.token = token.map(SecretDigest.init)
    }

    public func metrics(_ request: HTTPRequest) throws -> Reply {
        if let token, !token.matchesBearer(request.header(.authorization)) { throw APIError.unauthorized() }
        let now = Clock.now()
        var scrape = MetricsScrape.read(directory: directory)
        let figures = try store.queueFigures(failedSince: now - 3_600_000)
        for status in JobStatus.allCases {
            scrape.set(.jobs, [("status", status.rawValue)], to: Double(figures.jobs[status] ?? 0))
        }
        for state in CategoryState.allCases {
            scrape.set(.categories, [("state", state.rawValue)], to: Double(figures.categories[state] ?? 0))
        }
        let backlog = try store.webhookBacklog(now: now)
        scrape.set(.webhookBacklog, to: Double(backlog.undelivered))
        scrape.set(.webhookGivenUp, to: Double(backlog.givenUp))
        scrape.set(.webhookOldestSeconds, to: Double(backlog.oldestMillis ?? 0) / 1000)
        return Reply(
            HTTPResponse(
                status: 200,
                headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store")],
                body: Array(scrape.exposition().utf8)))
    }
}
