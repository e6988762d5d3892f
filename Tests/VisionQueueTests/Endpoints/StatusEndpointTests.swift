import Foundation
import Testing
@testable import VisionQueue

@Suite("StatusEndpoint")
final class StatusEndpointTests {
    let fixture: EndpointFixture

    init() throws { fixture = try EndpointFixture() }

    private func respond(_ request: HTTPRequest, with endpoint: Router? = nil) -> HTTPResponse {
        (endpoint ?? fixture.status).respond(to: request, log: quietLog).response
    }

    @Test func reportsAPendingJob() throws {
        let id = try fixture.createJob()
        let response = respond(fixture.statusRequest("jobId=\(id)"))
        #expect(response.status == 200)
        #expect(response.header("Cache-Control") == "no-store")
        let body = try jsonObject(response.body)
        #expect(body["jobId"] == .string(id.rawValue))
        #expect(body["status"] == .string("pending"))
        #expect(body["currentCategory"] == .null)
        #expect(body["categoriesCompleted"] == .number("0"))
        #expect(body["categoriesFailed"] == .number("0"))
        #expect(body["totalCategories"] == .number("12"))
        #expect(body["progress"] == .number("0"))
        #expect(body["maxAttempts"] == .number("3"))
        #expect(body["visionId"] == .null)
        #expect(body["createdAt"]?.stringValue?.hasSuffix("Z") == true)
        guard case .array(let categories)? = body["categories"] else {
            Issue.record("categories is not an array")
            return
        }
        #expect(categories.compactMap { $0.objectValue?["key"]?.stringValue } == VisionCategory.allCases.map(\.key))
        #expect(categories.compactMap { $0.objectValue?["title"]?.stringValue } == VisionCategory.allCases.map(\.title))
        #expect(categories.allSatisfy { $0.objectValue?["status"] == .string("pending") })
    }

    @Test func anUnchangedJobIsAnsweredAgainAndEveryChangeIsSeen() throws {
        let id = try fixture.createJob()
        let first = respond(fixture.statusRequest("jobId=\(id)"))
        let again = respond(fixture.statusRequest("jobId=\(id)"))
        #expect(again.body == first.body)
        // Each change the page shows reaches the next poll, though the answer was kept in memory.
        let fun = try #require(try claimNext(id))
        let writing = try jsonObject(respond(fixture.statusRequest("jobId=\(id)")).body)
        #expect(writing["status"] == .string("processing"))
        #expect(writing["currentCategory"] == .string("fun"))
        #expect(try fixture.store.recordSuccess(fun, output: "text", now: Clock.now()))
        let written = try jsonObject(respond(fixture.statusRequest("jobId=\(id)")).body)
        #expect(written["categoriesCompleted"] == .number("1"))
        #expect(written["currentCategory"] == .null)
        #expect(try fixture.store.cancelJob(id, ownedBy: Authenticator.developmentUserID, now: Clock.now())?.status == .cancelled)
        let cancelled = try jsonObject(respond(fixture.statusRequest("jobId=\(id)")).body)
        #expect(cancelled["status"] == .string("cancelled"))
    }

    private func claimNext(_ id: JobID) throws -> CategoryClaim? {
        guard case .claimed(let claim) = try fixture.store.claimNextCategory(of: id, now: Clock.now(), lifecycle: fixture.configuration.lifecycle)
        else { return nil }
        return claim
    }

    @Test func uppercaseIDsFindTheJob() throws {
        let id = try fixture.createJob()
        #expect(respond(fixture.statusRequest("jobId=\(id.rawValue.uppercased())")).status == 200)
    }

    @Test func headIsAllowedLikeGet() throws {
        let id = try fixture.createJob()
        var request = fixture.statusRequest("jobId=\(id)")
        request.method = "HEAD"
        #expect(respond(request).status == 200)
    }

    @Test func unknownJobIs404() throws {
        let response = respond(fixture.statusRequest("jobId=\(JobID.timeOrdered())"))
        #expect(response.status == 404)
        #expect(try errorCode(of: response) == "job_not_found")
    }

    @Test func anotherUsersJobIsIndistinguishableFromAnUnknownOne() throws {
        let jwt = try EndpointFixture(jwt: true)
        let alicesJob = try jwt.store.createJob(NewJob(userID: "alice", notes: [.fun: "secret plans"]), now: Clock.now()).id
        let asAlice = respond(jwt.statusRequest("jobId=\(alicesJob)", headers: EndpointFixture.bearer("alice")), with: jwt.status)
        #expect(asAlice.status == 200)

        let asBob = respond(jwt.statusRequest("jobId=\(alicesJob)", headers: EndpointFixture.bearer("bob")), with: jwt.status)
        let unknown = respond(jwt.statusRequest("jobId=\(JobID.timeOrdered())", headers: EndpointFixture.bearer("bob")), with: jwt.status)
        #expect(asBob.status == 404)
        #expect(asBob.body == unknown.body)
        #expect(asBob == unknown, "status, headers and body must all be identical")
        #expect(!asBob.bodyText.contains(alicesJob.rawValue))
    }

    @Test(arguments: ["jobId=abc", "jobId=123", "jobId=%7B3f2504e0-4f89-11d3-9a0c-0305e82c3301%7D",
                      "jobId=3f2504e0-4f89-11d3-9a0c-0305e82c330", "jobId=3f2504e0+4f89-11d3-9a0c-0305e82c3301"])
    func nonUUIDJobIDIs400(_ query: String) throws {
        let response = respond(fixture.statusRequest(query))
        #expect(response.status == 400)
        #expect(try errorCode(of: response) == "invalid_job_id")
    }

    @Test(arguments: ["", "jobId=", "jobid=3f2504e0-4f89-11d3-9a0c-0305e82c3301"])
    func missingJobIDIs400(_ query: String) throws {
        let response = respond(fixture.statusRequest(query))
        #expect(response.status == 400)
        #expect(try errorCode(of: response) == "missing_job_id")
    }

    @Test func repeatedJobIDIs400() throws {
        let id = try fixture.createJob()
        let response = respond(fixture.statusRequest("jobId=\(id)&jobId=\(JobID.timeOrdered())"))
        #expect(response.status == 400)
        #expect(try errorCode(of: response) == "invalid_request")
    }

    @Test func postIs405AllowingGet() throws {
        var request = fixture.statusRequest("jobId=\(JobID.timeOrdered())")
        request.method = "POST"
        let response = respond(request)
        #expect(response.status == 405)
        #expect(response.header("Allow") == "GET, HEAD")
    }

    @Test func listShowsTheUsersJobsNewestFirst() throws {
        let jwt = try EndpointFixture(jwt: true)
        let first = try jwt.store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        _ = try jwt.store.createJob(NewJob(userID: "bob", notes: [:]), now: t0 + 1)
        let second = try jwt.store.createJob(NewJob(userID: "alice", notes: [:]), now: t0 + 2).id
        let request = HTTPRequest(method: "GET", path: StatusEndpoint.listPath, headers: EndpointFixture.bearer("alice"))
        let response = respond(request, with: jwt.status)
        #expect(response.status == 200)
        guard case .array(let jobs)? = try jsonObject(response.body)["jobs"] else {
            Issue.record("jobs is not an array")
            return
        }
        #expect(jobs.compactMap { $0.objectValue?["jobId"]?.stringValue } == [second.rawValue, first.rawValue])
    }

    @Test func meReportsTheUserAndMode() throws {
        let response = respond(HTTPRequest(method: "GET", path: StatusEndpoint.mePath))
        #expect(try jsonObject(response.body) == ["userId": .string("local-user"), "developmentMode": .bool(true)])
    }
}
