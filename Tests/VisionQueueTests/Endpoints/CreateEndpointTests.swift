import Foundation
import Testing
@testable import VisionQueue

@Suite("CreateEndpoint")
final class CreateEndpointTests {
    let fixture: EndpointFixture

    init() throws { fixture = try EndpointFixture() }

    private func respond(_ request: HTTPRequest) -> HTTPResponse {
        fixture.create.respond(to: request, log: quietLog).response
    }

    /// Nothing was stored and nothing triggered: what every refused request must leave behind.
    private func expectNothingHappened(sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try fixture.store.jobs(ownedBy: Authenticator.developmentUserID, limit: 10).isEmpty, sourceLocation: sourceLocation)
        #expect(fixture.trigger.calls.isEmpty, sourceLocation: sourceLocation)
    }

    @Test func createsAPendingJobAndTriggersIt() throws {
        let response = respond(fixture.createRequest(#"{"answers": {"fun": "  Dance  ", "health": "I want to run a marathon"}}"#))
        #expect(response.status == 201)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(response.header("Cache-Control") == "no-store")
        let body = try jsonObject(response.body)
        #expect(Set(body.keys) == ["jobId", "status"])
        #expect(body["status"] == .string("pending"))
        let id = try #require(body["jobId"]?.stringValue.flatMap(JobID.init))
        #expect(body["jobId"]?.stringValue == id.rawValue, "the id is reported in canonical lowercase form")
        #expect(response.header("Location") == "/api/vision-jobs/status?jobId=\(id.rawValue)")
        #expect(fixture.trigger.calls == [RecordingTrigger.Call(jobID: id, notBefore: nil)])

        let job = try #require(try fixture.store.job(id, ownedBy: Authenticator.developmentUserID))
        #expect(job.status == .pending)
        guard case .claimed(let claim) = try fixture.store.claimNextCategory(
            of: id, now: Clock.now(), lifecycle: JobLifecycle(policy: RetryPolicy()))
        else {
            Issue.record("the new job has nothing to claim")
            return
        }
        #expect(claim.allNotes == [.fun: "Dance", .health: "I want to run a marathon"])
    }

    @Test(arguments: ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=\"UTF-8\""])
    func acceptsJSONMediaTypes(_ contentType: String) {
        #expect(respond(fixture.createRequest(#"{"answers": {}}"#, headers: [.contentType: contentType])).status == 201)
    }

    @Test(arguments: ["GET", "PUT", "DELETE", "HEAD", "post"])
    func otherMethodsAre405WithAllow(_ method: String) throws {
        var request = fixture.createRequest(#"{"answers": {}}"#)
        request.method = method
        let response = respond(request)
        #expect(response.status == 405)
        #expect(response.header("Allow") == "POST")
        #expect(try errorCode(of: response) == "method_not_allowed")
        try expectNothingHappened()
    }

    @Test(arguments: [nil, "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/json; charset=latin-1"] as [String?])
    func otherContentTypesAre415(_ contentType: String?) throws {
        let response = respond(fixture.createRequest(#"{"answers": {}}"#, headers: contentType.map { [.contentType: $0] } ?? [:]))
        #expect(response.status == 415)
        #expect(try errorCode(of: response) == "unsupported_media_type")
        try expectNothingHappened()
    }

    @Test func aBodyOverTheLimitIs413() throws {
        var announced = fixture.createRequest("")
        announced.bodyTooLarge = true
        let response = respond(announced)
        #expect(response.status == 413)
        #expect(try errorCode(of: response) == "payload_too_large")

        let padding = String(repeating: " ", count: fixture.configuration.maxBodyBytes)
        let oversized = respond(fixture.createRequest(#"{"answers": {}}"# + padding))
        #expect(oversized.status == 413)
        try expectNothingHappened()
    }

    @Test(arguments: ["{", "", "{\"answers\": {\"fun\": \"a\", \"fun\": \"b\"}}", "{\"answers\": {}} trailing", "[1,]"])
    func malformedJSONIs400WithTheErrorShape(_ body: String) throws {
        let response = respond(fixture.createRequest(body))
        #expect(response.status == 400)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(try errorCode(of: response) == "malformed_json")
        try expectNothingHappened()
    }

    @Test func duplicateKeyMessageNamesTheKey() throws {
        let response = respond(fixture.createRequest(#"{"answers": {"love": "a", "love": "b"}}"#))
        let message = try jsonObject(response.body)["error"]?.objectValue?["message"]?.stringValue
        #expect(message?.contains("\"love\"") == true)
    }

    @Test(arguments: [("[]", "invalid_request"), ("\"answers\"", "invalid_request"), (#"{"answers": {"pets": "cat"}}"#, "unknown_category"),
                      (#"{"answers": {"fun": 3}}"#, "invalid_answer"), (#"{}"#, "missing_answers")])
    func invalidBodiesAre400AndCreateNothing(_ body: String, _ code: String) throws {
        let response = respond(fixture.createRequest(body))
        #expect(response.status == 400)
        #expect(try errorCode(of: response) == code)
        try expectNothingHappened()
    }

    @Test func anotherPathIs404() throws {
        var request = fixture.createRequest(#"{"answers": {}}"#)
        request.path = "/api/vision-jobs/create/"
        let response = respond(request)
        #expect(response.status == 404)
        #expect(try errorCode(of: response) == "not_found")
        try expectNothingHappened()
    }

    @Test func inJWTModeAMissingTokenIs401AndCreatesNothing() throws {
        let jwt = try EndpointFixture(jwt: true)
        let response = jwt.create.respond(to: jwt.createRequest(#"{"answers": {}}"#), log: quietLog).response
        #expect(response.status == 401)
        #expect(response.header("WWW-Authenticate") != nil)
        #expect(jwt.trigger.calls.isEmpty)

        var headers = EndpointFixture.bearer("alice")
        headers[.contentType] = "application/json"
        let created = jwt.create.respond(to: jwt.createRequest(#"{"answers": {}}"#, headers: headers), log: quietLog).response
        #expect(created.status == 201)
        #expect(try jwt.store.jobs(ownedBy: "alice", limit: 10).count == 1)
    }
}
