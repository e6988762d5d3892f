import Foundation
import Testing

/// Rewriting one section of a finished vision (`POST /api/vision-jobs/regenerate`) through the
/// real chain: the other sections stay byte for byte, the earlier version stays readable, a
/// rewrite that keeps failing leaves the earlier text in place, and rewrites count against the
/// user's limits. Serialized: the poison rewrite kills whole worker processes, and with them
/// whatever other test's step they were running.
@Suite("Rewriting one section", .serialized)
struct RewriteTests {
    static let crashMarker = "POISON-REWRITE"
    static let stack = Result {
        try Stack.start(
            .init(environment: [
                "VQ_FAULT_CRASH": crashMarker, "VQ_LEASE_SECONDS": "2", "VQ_MAX_ATTEMPTS": "2", "VQ_RETRY_BASE_MS": "100",
                "VQ_STALL_SECONDS": "1", "VQ_SWEEP_INTERVAL_SECONDS": "1", "VQ_MAX_CREATES_PER_HOUR": "4",
            ]))
    }

    private func finishedVision(_ stack: Stack, _ token: String, _ answers: [String: String]) throws -> (String, [String: Any]) {
        let id = try stack.createJob(token: token, answers: answers)
        let final = try stack.waitForJob(id, token: token)
        #expect(final["status"] as? String == "completed")
        return (id, try vision(stack, token, final["visionId"] as? String ?? ""))
    }

    private func vision(_ stack: Stack, _ token: String, _ visionID: String, version: Int? = nil) throws -> [String: Any] {
        let query = version.map { "&version=\($0)" } ?? ""
        let response = try stack.client.get("/api/visions?id=\(visionID)\(query)", token: token)
        try #require(response.status == 200, "\(response)")
        return response.json ?? [:]
    }

    private func texts(_ vision: [String: Any]) -> [String?] {
        (vision["sections"] as? [[String: Any]] ?? []).map { $0["text"] as? String }
    }

    private func regenerate(_ stack: Stack, _ token: String, _ body: [String: Any]) throws -> HTTPClient.Response {
        try stack.client.postJSON("/api/vision-jobs/regenerate", body, token: token)
    }

    @Test("One section is written again with new notes; the other 11 stay byte for byte; version 1 stays readable")
    func rewritesOneSection() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "rewrite-one")
        let (jobID, first) = try finishedVision(stack, token, ["fun": "Salsa on Fridays", "health": "Run a marathon"])
        let visionID = try #require(first["visionId"] as? String)
        #expect(first["version"] as? Int == 1)

        let response = try regenerate(stack, token, ["jobId": jobID, "category": "health", "answer": "Swim in the sea at dawn"])
        #expect(response.status == 200, "\(response)")
        #expect(response.json?["status"] as? String == "pending")
        let final = try stack.waitForJob(jobID, token: token)
        #expect(final["status"] as? String == "completed")
        #expect(final["visionId"] as? String == visionID, "the same vision, so saved links keep working")

        let second = try vision(stack, token, visionID)
        #expect(second["version"] as? Int == 2)
        #expect((second["versions"] as? [[String: Any]])?.map { $0["version"] as? Int } == [1, 2])
        let before = texts(first), after = texts(second)
        for index in 0..<12 where index != 1 { #expect(before[index] == after[index], "section \(index) changed") }
        #expect(after[1]?.contains("I swim in the sea at dawn") == true, "\(after[1] ?? "") \((final["categories"] as? [[String: Any]])?[1] ?? [:])")
        #expect(after[1] != before[1])
        #expect(texts(try vision(stack, token, visionID, version: 1)) == before, "version 1 is kept as it was")
        #expect(try stack.client.get("/api/visions?id=\(visionID)&version=3", token: token).status == 404)
        // Any whole number is a version the description allows; past Int64 it is as missing as 3.
        #expect(try stack.client.get("/api/visions?id=\(visionID)&version=102697245723120435200", token: token).status == 404)
        #expect(try stack.client.get("/api/visions?id=\(visionID)&version=0", token: token).status == 400)
    }

    @Test("A rewrite whose every attempt crashes its worker keeps the earlier text")
    func aFailedRewriteKeepsTheEarlierText() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "rewrite-poison")
        let (jobID, first) = try finishedVision(stack, token, ["travel": "Walk the Camino"])
        let visionID = try #require(first["visionId"] as? String)
        let response = try regenerate(stack, token, ["jobId": jobID, "category": "travel", "answer": "Sail \(Self.crashMarker)"])
        #expect(response.status == 200, "\(response)")
        let final = try stack.waitForJob(jobID, token: token, timeout: 90)
        #expect(final["status"] as? String == "completed")
        let travel = (final["categories"] as? [[String: Any]])?.first { $0["key"] as? String == "travel" } ?? [:]
        #expect(travel["status"] as? String == "done")
        #expect((travel["error"] as? String)?.contains("earlier text is kept") == true, "\(travel)")
        #expect(texts(try vision(stack, token, visionID)) == texts(first), "no section lost")
    }

    @Test("Rewrites are refused while the job runs, for another user's job, and past the hourly limit")
    func rewritesAreLimited() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "rewrite-limits")
        let (jobID, _) = try finishedVision(stack, token, ["home": "A house by the sea"])
        #expect(try regenerate(stack, stack.token(for: "someone-else"), ["jobId": jobID, "category": "home"]).status == 404)
        #expect(try regenerate(stack, token, ["jobId": jobID, "category": "nope"]).status == 400)
        // The hour allows 4 runs: the create and three rewrites; the next one is refused. A rewrite
        // asked for while the last one runs is refused as well (409), and is no run; with 0 ms
        // categories it may also find the job ended already, and then it is a run.
        var runs = 1
        while runs < 4 {
            #expect(try regenerate(stack, token, ["jobId": jobID, "category": "home"]).status == 200)
            runs += 1
            if runs < 4 {
                let second = try regenerate(stack, token, ["jobId": jobID, "category": "home"])
                #expect(second.status == 409 || second.status == 200, "\(second)")
                if second.status == 200 { runs += 1 }
            }
            try stack.waitForJob(jobID, token: token)
        }
        let refused = try regenerate(stack, token, ["jobId": jobID, "category": "home"])
        #expect(refused.status == 429, "\(refused)")
        #expect(refused.headers["retry-after"] != nil)
    }
}
