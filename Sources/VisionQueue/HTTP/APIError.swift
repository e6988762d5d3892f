/// Every error a client can see. The status each maps to is decided here, in one place, and the
/// body always has the same shape: `{"error": {"code": "...", "message": "..."}}`.
public struct APIError: Error, Sendable, Equatable {
    public let status: Int
    /// Stable and machine-readable, e.g. `job_not_found`.
    public let code: String
    /// For people.
    public let message: String
    public var extraHeaders: [(String, String)] = []

    public init(status: Int, code: String, message: String, extraHeaders: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.extraHeaders = extraHeaders
    }

    public static func == (lhs: APIError, rhs: APIError) -> Bool {
        lhs.status == rhs.status && lhs.code == rhs.code && lhs.message == rhs.message
    }

    public var response: HTTPResponse {
        var writer = JSONWriter(capacity: 128)
        writer.object { json in
            json.key("error")
            json.object { error in
                error.field("code", code)
                error.field("message", message)
            }
        }
        return .json(status, writer.bytes, extraHeaders: extraHeaders)
    }

    public static func badRequest(_ message: String, code: String = "invalid_request") -> APIError {
        APIError(status: 400, code: code, message: message)
    }

    public static func malformedJSON(_ detail: String) -> APIError {
        APIError(status: 400, code: "malformed_json", message: "The body is not valid JSON: \(detail).")
    }

    public static func invalidJobID() -> APIError {
        APIError(status: 400, code: "invalid_job_id", message: "jobId must be a UUID.")
    }

    /// Every authentication failure looks the same to the client: which check failed is logged,
    /// not told, so a token cannot be probed claim by claim.
    public static func unauthorized(_ message: String = "A valid bearer token is required.") -> APIError {
        APIError(
            status: 401, code: "unauthorized", message: message,
            extraHeaders: [("WWW-Authenticate", "Bearer realm=\"vision-queue\"")])
    }

    public static func forbidden(_ message: String) -> APIError {
        APIError(status: 403, code: "forbidden", message: message)
    }

    /// Also the answer for another user's job: the two must be indistinguishable.
    public static func jobNotFound() -> APIError {
        APIError(status: 404, code: "job_not_found", message: "No such job.")
    }

    public static func visionNotFound() -> APIError {
        APIError(status: 404, code: "vision_not_found", message: "No such vision.")
    }

    public static func routeNotFound() -> APIError {
        APIError(status: 404, code: "not_found", message: "No such endpoint.")
    }

    public static func methodNotAllowed(allowed: String) -> APIError {
        APIError(
            status: 405, code: "method_not_allowed", message: "This endpoint accepts \(allowed) only.",
            extraHeaders: [("Allow", allowed)])
    }

    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(status: 413, code: "payload_too_large", message: "The body may be at most \(limit) bytes.")
    }

    public static func unsupportedMediaType() -> APIError {
        APIError(status: 415, code: "unsupported_media_type", message: "Send the body as application/json.")
    }

    public static func conflict(_ message: String, code: String = "conflict") -> APIError {
        APIError(status: 409, code: code, message: message)
    }

    public static func unprocessable(_ message: String, code: String) -> APIError {
        APIError(status: 422, code: code, message: message)
    }

    public static func tooManyRequests(retryAfterSeconds: Int, message: String) -> APIError {
        APIError(
            status: 429, code: "rate_limited", message: message,
            extraHeaders: [("Retry-After", String(max(1, retryAfterSeconds)))])
    }

    public static func unavailable(_ message: String) -> APIError {
        APIError(status: 503, code: "unavailable", message: message, extraHeaders: [("Retry-After", "1")])
    }

    public static func internalError() -> APIError {
        APIError(status: 500, code: "internal_error", message: "Something went wrong on our side; it has been logged.")
    }
}
