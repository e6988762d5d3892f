import Foundation
import Testing
import VisionQueue

/// The operator's endpoints on the real stack: who gets in, and what they see and do.
@Suite("Operator endpoints", .serialized)
struct AdminTests {
    static let adminToken = "operator-token-0123456789abcdef"

    /// Every operator route, with a body where it takes one.
    static func everyRoute(jobID: String) -> [(method: String, path: String, body: [String: Any]?)] {
        [
            ("GET", "/api/admin/overview", nil), ("GET", "/api/admin/jobs", nil), ("GET", "/api/admin/job?jobId=\(jobID)", nil),
            ("POST", "/api/admin/cancel", ["jobId": jobID]), ("POST", "/api/admin/retry", ["jobId": jobID]),
        ]
    }

    static func call(_ stack: Stack, _ route: (method: String, path: String, body: [String: Any]?), token: String?) throws -> HTTPClient.Response {
        if let body = route.body { return try stack.client.postJSON(route.path, body, token: token) }
        return try stack.client.get(route.path, token: token)
    }

    @Test("A user's token gets 403 on every operator endpoint, no token or a wrong one 401, and without VQ_ADMIN_TOKEN they do not exist")
    func access() throws {
        let stack = try Stack.start(.init(environment: ["VQ_ADMIN_TOKEN": Self.adminToken]))
        defer { stack.stop() }
        let user = stack.token(for: "alice")
        let job = try stack.createJob(token: user)
        try stack.waitForJob(job, token: user)
        for route in Self.everyRoute(jobID: job) {
            let asUser = try Self.call(stack, route, token: user)
            #expect(asUser.status == 403 && asUser.errorCode == "forbidden", "\(route.path) with a user's token: \(asUser)")
            let anonymous = try Self.call(stack, route, token: nil)
            #expect(anonymous.status == 401 && anonymous.headers["www-authenticate"] != nil, "\(route.path) without a token: \(anonymous)")
            #expect(try Self.call(stack, route, token: Self.adminToken + "x").status == 401, "\(route.path) with a wrong token")
            let allowed = try Self.call(stack, route, token: Self.adminToken).status
            #expect([200, 409].contains(allowed), "\(route.path) with the operator's token: \(allowed)")
        }
        #expect(!stack.logs().contains(Self.adminToken), "the token never reaches a log")

        let off = try Stack.start()
        defer { off.stop() }
        for route in Self.everyRoute(jobID: job) {
            let answer = try Self.call(off, route, token: Self.adminToken)
            #expect(answer.status == 404 && answer.errorCode == "not_found", "\(route.path) with the page off: \(answer)")
        }
    }

    @Test("The operator sees every user's jobs by filter with their attempts, and cancels and retries any of them")
    func seeAndAct() throws {
        // work fails its first 2 attempts in every job: with 2 attempts allowed, each job ends with one gap.
        let stack = try Stack.start(.init(
            generatorDelayMillis: 0,
            environment: ["VQ_ADMIN_TOKEN": Self.adminToken, "VQ_FAULT_FAIL": "work:2", "VQ_MAX_ATTEMPTS": "2", "VQ_RETRY_BASE_MS": "10"]))
        defer { stack.stop() }
        let (alice, bob) = (stack.token(for: "alice"), stack.token(for: "bob"))
        let gap = try stack.createJob(token: alice)
        #expect(try stack.waitForJob(gap, token: alice)["categoriesFailed"] as? Int == 1)
        let other = try stack.createJob(token: bob)
        try stack.waitForJob(other, token: bob)
        func admin(_ path: String) throws -> [String: Any] {
            let answer = try stack.client.get(path, token: Self.adminToken)
            guard answer.status == 200, let json = answer.json else { throw HTTPClient.Failure(description: "\(path): \(answer)") }
            return json
        }
        func ids(_ query: String) throws -> [String] {
            ((try admin("/api/admin/jobs?\(query)"))["jobs"] as? [[String: Any]] ?? []).compactMap { $0["jobId"] as? String }
        }
        #expect(try ids("") == [other, gap], "every user's jobs, newest first")
        #expect(try ids("user=alice") == [gap])
        #expect(try ids("failed=true").sorted() == [gap, other].sorted())
        #expect(try ids("status=failed").isEmpty)
        #expect(try ids("limit=1") == [other])
        let firstPage = try admin("/api/admin/jobs?limit=1")
        let before = try #require(firstPage["nextBefore"] as? Int)
        #expect(try ids("limit=1&before=\(before)") == [gap], "the next page")
        #expect(try ids("before=102697245723120435200") == [other, gap], "a time past Int64 is after every job")
        let badFilter = try stack.client.get("/api/admin/jobs?status=lost", token: Self.adminToken)
        #expect(badFilter.status == 400 && badFilter.errorCode == "invalid_filter")

        let detail = try admin("/api/admin/job?jobId=\(gap)")
        #expect(detail["userId"] as? String == "alice")
        let attempts = try #require(detail["attempts"] as? [[String: Any]])
        #expect(attempts.count == 2 && attempts.allSatisfy { $0["category"] as? String == "work" && $0["outcome"] as? String == "failed" })
        #expect((attempts.first?["error"] as? String)?.contains("Injected failure") == true)
        #expect((detail["categories"] as? [[String: Any]])?.count == 12)

        let overview = try admin("/api/admin/overview")
        #expect((overview["jobs"] as? [String: Any])?["completed"] as? Int == 2)
        #expect(overview["failedLastHour"] as? Int == 0)

        // Retry alice's gap as the operator: the third attempt of work succeeds.
        let retried = try stack.client.postJSON("/api/admin/retry", ["jobId": gap], token: Self.adminToken)
        #expect(retried.status == 200 && retried.json?["status"] as? String == "pending", "\(retried)")
        let after = try stack.waitForJob(gap, token: alice)
        #expect(after["categoriesFailed"] as? Int == 0 && after["status"] as? String == "completed", "alice sees her job whole")

        // Cancel a running job of carol's (slow categories on a stack of its own).
        let slow = try Stack.start(.init(generatorDelayMillis: 3_000, environment: ["VQ_ADMIN_TOKEN": Self.adminToken]))
        defer { slow.stop() }
        let carol = slow.token(for: "carol")
        let running = try slow.createJob(token: carol)
        let cancelled = try slow.client.postJSON("/api/admin/cancel", ["jobId": running], token: Self.adminToken)
        #expect(cancelled.status == 200 && cancelled.json?["status"] as? String == "cancelled", "\(cancelled)")
        #expect(try slow.status(running, token: carol)["status"] as? String == "cancelled")
        let missing = try slow.client.postJSON("/api/admin/cancel", ["jobId": UUID().uuidString.lowercased()], token: Self.adminToken)
        #expect(missing.status == 404 && missing.errorCode == "job_not_found")
    }
}
