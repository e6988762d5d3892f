import Foundation
import Testing
@testable import VisionQueue

/// The three binaries' routers wired to one store on a temporary file, a `RecordingTrigger` and a
/// development-mode (or JWT) authenticator, the way the binaries wire them.
final class EndpointFixture {
    static let triggerSecret = "trigger-secret-for-tests"
    static let jwtSecret = "endpoint-jwt-secret"

    let file = TemporaryDatabase()
    let store: SQLJobStore
    let trigger = RecordingTrigger()
    let configuration: VisionQueueConfiguration
    let authenticator: Authenticator
    /// What `vision-create`, `vision-status` and `vision-process` serve.
    let create: Router
    let status: Router
    let process: Router

    init(jwt: Bool = false, environment extra: [String: String] = [:]) throws {
        var environment = ["VQ_TRIGGER_SECRET": Self.triggerSecret, "VQ_GENERATOR_DELAY_MS": "0"].merging(extra) { $1 }
        if jwt { environment["VQ_JWT_SECRET"] = Self.jwtSecret }
        configuration = try VisionQueueConfiguration(environment: environment)
        store = try SQLJobStore.sqlite(path: file.path)
        authenticator = Authenticator(configuration: configuration, log: quietLog)
        create = Router.create(
            CreateEndpoint(store: store, authenticator: authenticator, trigger: trigger, configuration: configuration),
            controls: JobControlEndpoint(store: store, authenticator: authenticator, trigger: trigger))
        status = Router.status(
            StatusEndpoint(store: store, authenticator: authenticator, lifecycle: configuration.lifecycle),
            metrics: MetricsEndpoint(store: store, directory: file.path + "-metrics", token: nil))
        let processor = JobProcessor(
            store: store, generator: BuiltInGenerator(delayMillis: 0), trigger: trigger,
            lifecycle: configuration.lifecycle, leases: nil, log: quietLog)
        process = Router.process(ProcessEndpoint(processor: processor, triggerSecret: Self.triggerSecret, log: quietLog))
    }

    deinit { file.remove() }

    static func bearer(_ user: String) -> [HTTPHeader: String] {
        [.authorization: "Bearer " + TokenMinter.token(subject: user, secret: jwtSecret)]
    }

    func createRequest(_ json: String, headers: [HTTPHeader: String] = [.contentType: "application/json"]) -> HTTPRequest {
        HTTPRequest(method: "POST", path: CreateEndpoint.path, headers: headers, body: Array(json.utf8))
    }

    func statusRequest(_ query: String, headers: [HTTPHeader: String] = [:]) -> HTTPRequest {
        HTTPRequest(method: "GET", path: StatusEndpoint.statusPath, query: query, headers: headers)
    }

    func processRequest(_ json: String, secret: String? = triggerSecret) -> HTTPRequest {
        var headers: [HTTPHeader: String] = [.contentType: "application/json"]
        if let secret { headers[.triggerSecret] = secret }
        return HTTPRequest(method: "POST", path: ProcessEndpoint.path, headers: headers, body: Array(json.utf8))
    }

    /// Creates a job through the endpoint and answers its id.
    func createJob(_ json: String = #"{"answers": {"fun": "Dance"}}"#) throws -> JobID {
        let reply = create.respond(to: createRequest(json), log: quietLog)
        try #require(reply.response.status == 201, "\(reply.response.bodyText)")
        let text = try #require(try jsonObject(reply.response.body)["jobId"]?.stringValue)
        return try #require(JobID(text))
    }

    /// The status endpoint's JSON for a job, as the development user.
    func statusJSON(_ id: JobID) throws -> [String: JSONValue] {
        let response = status.respond(to: statusRequest("jobId=\(id)"), log: quietLog).response
        try #require(response.status == 200, "\(response.bodyText)")
        return try jsonObject(response.body)
    }
}
