
/// What a binary serves (its `Router`): a plain function from request to reply, so unit tests
/// call it directly and only the FastCGI adapter touches sockets.
public protocol Endpoint {
    func handle(_ request: HTTPRequest) throws -> Reply

    /// The `endpoint` label of a request's answer in the metrics: a path this endpoint serves, or
    /// `other` (so no client can make up new series).
    func metricsLabel(forPath path: String) -> String
}

extension Endpoint {
    public func metricsLabel(forPath path: String) -> String { "other" }
}

extension Endpoint {
    /// Runs `handle` and turns every error into its HTTP answer. The one place errors map to status.
    public func respond(to request: HTTPRequest, log: Logger) -> Reply {
        do {
            return try handle(request)
        } catch let error as APIError {
            return Reply(error.response)
        } catch let error as StoreError where error.isTransient {
            log.warning("\(error) on \(request.method) \(request.path); answered 503")
            return Reply(APIError.unavailable("The service is busy; try again in a moment.").response)
        } catch {
            log.error("\(request.method) \(request.path) failed: \(error)")
            return Reply(APIError.internalError().response)
        }
    }
}

/// Checks shared by the endpoints: body size, media type, JSON bodies and job ids.
enum RequestRules {
    static func requireBodyWithin(_ request: HTTPRequest, limit: Int) throws(APIError) {
        guard !request.bodyTooLarge, request.body.count <= limit else { throw .payloadTooLarge(limit: limit) }
    }

    /// `application/json`, optionally with `charset=utf-8`; anything else is 415.
    static func requireJSON(_ request: HTTPRequest) throws(APIError) {
        guard let type = request.header(.contentType) else { throw .unsupportedMediaType() }
        let parts = type.split(separator: ";").map { $0.trimmed.lowercased() }
        guard parts.first == "application/json" else { throw .unsupportedMediaType() }
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            guard parameter == "charset=utf-8" || parameter == "charset=\"utf-8\"" else { throw .unsupportedMediaType() }
        }
    }

    static func parseJSONObject(_ body: [UInt8]) throws(APIError) -> [String: JSONValue] {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw .malformedJSON(error.message)
        }
        guard case .object(let object) = value else { throw .badRequest("The body must be a JSON object.") }
        return object
    }

    /// The body `{"jobId": "..."}` of process, retry and cancel; any other field is 400.
    static func jobReference(_ body: [UInt8]) throws(APIError) -> JobID {
        let object = try parseJSONObject(body)
        for key in object.keys where key != "jobId" {
            throw .badRequest("Unknown field '\(key)'. The body is {\"jobId\": \"...\"}.", code: "unknown_field")
        }
        return try jobID(object["jobId"]?.stringValue)
    }

    /// A job id from a JSON field or query parameter: missing and malformed are both 400.
    static func jobID(_ text: String?, field: String = "jobId") throws(APIError) -> JobID {
        guard let text, !text.isEmpty else { throw .badRequest("\(field) is required.", code: "missing_job_id") }
        guard let id = JobID(text) else { throw .invalidJobID() }
        return id
    }
}
