/// Sends each request to the endpoint that serves its path: how one binary serves several paths.
public struct Router: Endpoint {
    let routes: [String: Endpoint]

    public init(_ routes: [String: Endpoint]) { self.routes = routes }

    public func handle(_ request: HTTPRequest) throws -> Reply {
        guard let endpoint = routes[request.path] else { throw APIError.routeNotFound() }
        return try endpoint.handle(request)
    }
}
