import Foundation
import Testing
@testable import VisionQueue

@Suite("ProcessEndpoint")
final class ProcessEndpointTests {
    let fixture: EndpointFixture

    // No limit of categories writing at once: each step reserves the next (see the first test).
    init() throws { fixture = try EndpointFixture(environment: ["VQ_MAX_CONCURRENT_CATEGORIES": "0"]) }

    private func reply(_ request: HTTPRequest) -> Reply {
        fixture.process.respond(to: request, log: quietLog)
    }

    @Test(arguments: [nil, "", "wrong", EndpointFixture.triggerSecret + " ", EndpointFixture.triggerSecret.uppercased()] as [String?])
    func withoutTheRightSecretIs403AndDoesNothing(_ secret: String?) throws {
        let id = try fixture.createJob()
        let answer = reply(fixture.processRequest(#"{"jobId": "\#(id)"}"#, secret: secret))
        #expect(answer.response.status == 403)
        #expect(try errorCode(of: answer.response) == "forbidden")
        #expect(answer.afterwards == nil)
        #expect(try fixture.statusJSON(id)["categoriesCompleted"] == .number("0"))
    }

    @Test func withTheSecretAnswers202ThenWritesOneCategoryAfterwards() throws {
        let id = try fixture.createJob()
        let triggersBefore = fixture.trigger.calls.count
        let answer = reply(fixture.processRequest(#"{"jobId": "\#(id)"}"#))
        #expect(answer.response.status == 202)
        #expect(try jsonObject(answer.response.body) == ["jobId": .string(id.rawValue), "accepted": .bool(true)])
        // Nothing is written before the answer is sent.
        #expect(try fixture.statusJSON(id)["categoriesCompleted"] == .number("0"))

        let afterwards = try #require(answer.afterwards)
        afterwards()
        let status = try fixture.statusJSON(id)
        #expect(status["categoriesCompleted"] == .number("1"))
        #expect(status["status"] == .string("processing"))
        #expect(status["progress"] == .number("8"))
        #expect(fixture.trigger.calls.count == triggersBefore + 1, "the processor triggers the next step")
        let next = try #require(fixture.trigger.calls.last)
        #expect(next.jobID == id && next.notBefore == nil)
        let reservation = try #require(next.reservation, "carrying the category reserved for the next step")

        // The next trigger, with it, writes the reserved category.
        reply(fixture.processRequest(#"{"jobId": "\#(id)", "reservation": "\#(reservation)"}"#)).afterwards?()
        #expect(try fixture.statusJSON(id)["categoriesCompleted"] == .number("2"))
    }

    @Test func anUnknownJobIsAcceptedAndChangesNothing() throws {
        let answer = reply(fixture.processRequest(#"{"jobId": "\#(JobID.timeOrdered())"}"#))
        #expect(answer.response.status == 202)
        answer.afterwards?()
        #expect(fixture.trigger.calls.isEmpty)
    }

    @Test(arguments: [(#"{}"#, "missing_job_id"), (#"{"jobId": ""}"#, "missing_job_id"), (#"{"jobId": "nope"}"#, "invalid_job_id"),
                      (#"{"jobId": 42}"#, "missing_job_id"), ("{", "malformed_json"),
                      (#"{"jobId": "\#(JobID.timeOrdered())", "reservation": "xyz"}"#, "invalid_reservation"),
                      (#"{"jobId": "\#(JobID.timeOrdered())", "reservation": 7}"#, "invalid_reservation"),
                      (#"{"jobId": "\#(JobID.timeOrdered())", "claim": "0123456789abcdef0123456789abcdef"}"#, "unknown_field")])
    func badBodiesAre400(_ body: String, _ code: String) throws {
        let answer = reply(fixture.processRequest(body))
        #expect(answer.response.status == 400)
        #expect(try errorCode(of: answer.response) == code)
        #expect(answer.afterwards == nil)
    }

    @Test func aReservationNobodyHoldsFallsBackToAnOrdinaryClaim() throws {
        let id = try fixture.store.createJob(NewJob(userID: "alice", notes: [:]), now: Clock.now()).id
        let answer = reply(fixture.processRequest(#"{"jobId": "\#(id)", "reservation": "0123456789abcdef0123456789abcdef"}"#))
        #expect(answer.response.status == 202)
        answer.afterwards?()
        #expect(try fixture.store.job(id, ownedBy: "alice")?.categoriesCompleted == 1, "fun written all the same")
    }

    @Test func getIs405() throws {
        var request = fixture.processRequest(#"{"jobId": "\#(JobID.timeOrdered())"}"#)
        request.method = "GET"
        let response = reply(request).response
        #expect(response.status == 405)
        #expect(response.header("Allow") == "POST")
    }
}
