/// `POST /api/vision-jobs/create`: stores a pending job, answers 201 at once, triggers processing.
public struct CreateEndpoint {
    public static let path = "/api/vision-jobs/create"

    let store: JobStore
    let authenticator: Authenticator
    let trigger: TriggerSink
    let notesReader: NotesReader
    let maxBodyBytes: Int
    let limits: CreateLimits

    public init(store: JobStore, authenticator: Authenticator, trigger: TriggerSink, configuration: VisionQueueConfiguration) {
        self.store = store
        self.authenticator = authenticator
        self.trigger = trigger
        self.notesReader = NotesReader(maxCharacters: configuration.maxNoteCharacters)
        self.maxBodyBytes = configuration.maxBodyBytes
        self.limits = configuration.createLimits
    }

    public func create(_ request: HTTPRequest) throws -> Reply {
        try RequestRules.requireBodyWithin(request, limit: maxBodyBytes)
        let userID = try authenticator.userID(for: request)
        try RequestRules.requireJSON(request)
        let notes = try notesReader.notes(from: RequestRules.parseJSONObject(request.body))
        let key = try Self.idempotencyKey(request)
        let outcome = try store.createJob(NewJob(userID: userID, notes: notes, idempotencyKey: key), limits: limits, now: Clock.now())
        switch outcome {
        case .created(let job):
            trigger.trigger(job.id)
            return Reply(Self.response(201, job))
        case .replayed(let job):
            var response = Self.response(201, job)
            response.headers.append(("Idempotent-Replayed", "true"))
            return Reply(response)
        case .existingActive(let job):
            return Reply(Self.response(200, job, existing: true))
        case .idempotencyKeyReused:
            throw APIError.unprocessable(
                "This Idempotency-Key was already used with a different request.", code: "idempotency_key_reused")
        case .rateLimited(let seconds):
            throw APIError.tooManyRequests(
                retryAfterSeconds: seconds, message: "Too many visions started in the last hour; try again later.")
        }
    }

    private static func response(_ status: Int, _ job: Job, existing: Bool = false) -> HTTPResponse {
        var response = HTTPResponse.json(status) { json in
            json.field("jobId", job.id.rawValue)
            json.field("status", job.status.rawValue)
            if existing { json.field("existing", true) }
        }
        response.headers.append(("Location", "\(StatusEndpoint.statusPath)?jobId=\(job.id.rawValue)"))
        return response
    }

    /// 1-255 visible ASCII characters, as the IETF draft and common APIs use.
    static func idempotencyKey(_ request: HTTPRequest) throws(APIError) -> String? {
        guard let key = request.header(.idempotencyKey) else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters.", code: "invalid_idempotency_key")
        }
        return key
    }
}
