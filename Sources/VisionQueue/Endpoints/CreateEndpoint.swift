/// `POST /api/vision-jobs/create`: stores a pending job, answers 201 at once, triggers processing.
public struct CreateEndpoint: Endpoint {
    public static let path = "/api/vision-jobs/create"

    let store: JobStore
    let authenticator: Authenticator
    let trigger: TriggerSink
    let validator: AnswersValidator
    let maxBodyBytes: Int

    public init(store: JobStore, authenticator: Authenticator, trigger: TriggerSink, configuration: VisionQueueConfiguration) {
        self.store = store
        self.authenticator = authenticator
        self.trigger = trigger
        self.validator = AnswersValidator(maxCharacters: configuration.maxAnswerCharacters)
        self.maxBodyBytes = configuration.maxBodyBytes
    }

    public func handle(_ request: HTTPRequest) throws -> Reply {
        guard request.path == Self.path else { throw APIError.routeNotFound() }
        try RequestRules.require(request, method: "POST")
        try RequestRules.requireBodyWithin(request, limit: maxBodyBytes)
        let userID = try authenticator.userID(for: request)
        try RequestRules.requireJSON(request)
        let answers = try validator.answers(from: RequestRules.parseJSONObject(request.body))
        let job = try store.createJob(NewJob(userID: userID, answers: answers), now: Clock.now())
        trigger.trigger(job.id)
        var response = HTTPResponse.json(201) { json in
            json.field("jobId", job.id.rawValue)
            json.field("status", job.status.rawValue)
        }
        response.headers.append(("Location", "\(StatusEndpoint.statusPath)?jobId=\(job.id.rawValue)"))
        return Reply(response)
    }
}
