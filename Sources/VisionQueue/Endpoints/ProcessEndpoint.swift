/// `POST /api/vision-jobs/process` (internal): answers 202 as soon as the request is read, then
/// runs one step of the job after the connection is released, so the trigger that called it never
/// waits for a category to be written.
public struct ProcessEndpoint {
    public static let path = "/api/vision-jobs/process"

    let processor: JobProcessor
    let secret: SecretDigest
    let log: Logger

    public init(processor: JobProcessor, triggerSecret: String, log: Logger) {
        self.processor = processor
        self.secret = SecretDigest(triggerSecret)
        self.log = log
    }

    public func process(_ request: HTTPRequest) throws -> Reply {
        try RequestRules.requireBodyWithin(request, limit: 4096)
        guard secret.matches(request.header(.triggerSecret)) else {
            throw APIError.forbidden("This endpoint is internal.")
        }
        try RequestRules.requireJSON(request)
        let (jobID, reservation) = try Self.trigger(request.body)
        let response = HTTPResponse.json(202) { json in
            json.field("jobId", jobID.rawValue)
            json.field("accepted", true)
        }
        let processor = self.processor
        let log = self.log
        return Reply(response) {
            do {
                let outcome = try processor.runStep(jobID, reservation: reservation)
                log.about(job: jobID).debug("job \(jobID): \(outcome)")
            } catch {
                // The job's state is untouched or fully written (one transaction each); try again in a
                // moment (and the sweep or a poll would find it anyway).
                log.about(job: jobID).error("step of job \(jobID) failed: \(error); trying again shortly")
                processor.retryLater(jobID)
            }
        }
    }

    /// The body `{"jobId": "...", "reservation": "..."}`; the reservation (the token of the category
    /// reserved for this step, 32 hex digits) is optional, any other field is 400.
    static func trigger(_ body: [UInt8]) throws(APIError) -> (JobID, reservation: String?) {
        let object = try RequestRules.parseJSONObject(body)
        for key in object.keys where key != "jobId" && key != "reservation" {
            throw .badRequest("Unknown field '\(key)'. The body is {\"jobId\": \"...\"}.", code: "unknown_field")
        }
        let jobID = try RequestRules.jobID(object["jobId"]?.stringValue)
        guard let value = object["reservation"] else { return (jobID, nil) }
        guard let token = value.stringValue, token.utf8.count == 32, token.utf8.allSatisfy({ Self.hexDigits.contains($0) }) else {
            throw .badRequest("reservation must be 32 hexadecimal digits.", code: "invalid_reservation")
        }
        return (jobID, token)
    }

    private static let hexDigits = Set("0123456789abcdef".utf8)
}
