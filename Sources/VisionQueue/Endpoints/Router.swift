/// Sends each request to the handler of its path, after checking its method: the one place a
/// binary's routes are decided. Handlers never look at the path; a path nobody serves is 404, a
/// method the route does not take is 405 with `Allow`.
public struct Router: Endpoint {
    /// One path a binary serves.
    public struct Route {
        /// `GET` (which serves `HEAD` too) or `POST`.
        public var method: String
        public var path: String
        public var handle: (HTTPRequest) throws -> Reply

        public init(_ method: String, _ path: String, _ handle: @escaping (HTTPRequest) throws -> Reply) {
            self.method = method
            self.path = path
            self.handle = handle
        }

        /// The methods this route answers, as `Allow` lists them.
        var allowed: [String] { method == "GET" ? ["GET", "HEAD"] : [method] }
    }

    private let routes: [String: Route]

    public init(_ routes: [Route]) {
        self.routes = Dictionary(routes.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in
            preconditionFailure("two routes for \(first.path)")
        })
    }

    public func metricsLabel(forPath path: String) -> String {
        routes[path] == nil ? "other" : path
    }

    public func handle(_ request: HTTPRequest) throws -> Reply {
        guard let route = routes[request.path] else { throw APIError.routeNotFound() }
        let allowed = route.allowed
        guard allowed.contains(request.method) else {
            throw APIError.methodNotAllowed(allowed: allowed.joined(separator: ", "))
        }
        return try route.handle(request)
    }
}

extension Router {
    /// `vision-create`: the user's writes.
    /// `admin`: the operator's controls, when `VQ_ADMIN_TOKEN` is set.
    public static func create(_ create: CreateEndpoint, controls: JobControlEndpoint, admin: JobControlEndpoint? = nil) -> Router {
        var routes = [
            Route("POST", CreateEndpoint.path, create.create),
            Route("POST", JobControlEndpoint.retryPath, controls.retry),
            Route("POST", JobControlEndpoint.regeneratePath, controls.regenerate),
            Route("POST", JobControlEndpoint.cancelPath, controls.cancel),
        ]
        if let admin {
            routes += [
                Route("POST", JobControlEndpoint.adminRetryPath, admin.retry),
                Route("POST", JobControlEndpoint.adminCancelPath, admin.cancel),
            ]
        }
        return Router(routes)
    }

    /// `vision-process`: the internal step endpoint.
    public static func process(_ process: ProcessEndpoint) -> Router {
        Router([Route("POST", ProcessEndpoint.path, process.process)])
    }

    /// `vision-status`: the read side.
    /// `admin`: the operator's reads, when `VQ_ADMIN_TOKEN` is set.
    public static func status(_ status: StatusEndpoint, metrics: MetricsEndpoint, admin: AdminEndpoint? = nil) -> Router {
        var routes: [Route] = []
        if let admin {
            routes += [
                Route("GET", AdminEndpoint.overviewPath, admin.overview),
                Route("GET", AdminEndpoint.jobsPath, admin.jobs),
                Route("GET", AdminEndpoint.jobPath, admin.job),
            ]
        }
        return Router(routes + [
            Route("GET", MetricsEndpoint.path, metrics.metrics),
            Route("GET", StatusEndpoint.statusPath, status.status),
            Route("GET", StatusEndpoint.listPath, status.list),
            Route("GET", StatusEndpoint.visionPath, status.vision),
            Route("GET", StatusEndpoint.mePath, status.me),
        ])
    }
}
