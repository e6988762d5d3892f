import Foundation
import Testing
import VisionQueue

/// Every error case of the API, through nginx, answers its status code with the JSON error shape.
@Suite("API errors")
struct APIErrorTests {
    static let stack = Result { try Stack.start() }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var method: String
        var path: String
        var headers: [String: String] = [:]
        var body: String?
        var withToken = true
        var status: Int
        var code: String

        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "malformed JSON", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "{\"answers\": {", status: 400, code: "malformed_json"),
        Case(name: "body is an array", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "[]", status: 400, code: "invalid_request"),
        Case(name: "answers missing", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "{}", status: 400, code: "missing_answers"),
        Case(name: "answers not an object", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "{\"answers\": \"fun\"}", status: 400, code: "invalid_answers"),
        Case(name: "unknown category", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "{\"answers\": {\"cats\": \"yes\"}}", status: 400, code: "unknown_category"),
        Case(name: "answer not a string", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "{\"answers\": {\"fun\": 42}}", status: 400, code: "invalid_answer"),
        Case(name: "answer over 4000 characters", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"],
             body: "{\"answers\": {\"fun\": \"\(String(repeating: "é", count: 4001))\"}}", status: 400, code: "answer_too_long"),
        Case(name: "unknown top-level field", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "{\"answers\": {}, \"userId\": \"x\"}", status: 400, code: "unknown_field"),
        Case(name: "not JSON content type", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "text/plain"], body: "{\"answers\": {}}", status: 415, code: "unsupported_media_type"),
        Case(name: "form post", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/x-www-form-urlencoded"], body: "answers=1", status: 415, code: "unsupported_media_type"),
        Case(name: "GET on create", method: "GET", path: "/api/vision-jobs/create", status: 405, code: "method_not_allowed"),
        Case(name: "no token on create", method: "POST", path: "/api/vision-jobs/create",
             headers: ["Content-Type": "application/json"], body: "{\"answers\": {}}", withToken: false, status: 401, code: "unauthorized"),
        Case(name: "garbage token", method: "GET", path: "/api/vision-jobs/list",
             headers: ["Authorization": "Bearer not.a.token"], withToken: false, status: 401, code: "unauthorized"),
        Case(name: "status without jobId", method: "GET", path: "/api/vision-jobs/status", status: 400, code: "missing_job_id"),
        Case(name: "status with a non-UUID jobId", method: "GET", path: "/api/vision-jobs/status?jobId=42", status: 400, code: "invalid_job_id"),
        Case(name: "status of an unknown job", method: "GET",
             path: "/api/vision-jobs/status?jobId=00000000-0000-4000-8000-000000000000", status: 404, code: "job_not_found"),
        Case(name: "POST on status", method: "POST", path: "/api/vision-jobs/status?jobId=00000000-0000-4000-8000-000000000000",
             headers: ["Content-Type": "application/json"], body: "{}", status: 405, code: "method_not_allowed"),
        Case(name: "unknown vision", method: "GET", path: "/api/visions?id=00000000-0000-4000-8000-000000000000",
             status: 404, code: "vision_not_found"),
        Case(name: "process without the trigger secret", method: "POST", path: "/api/vision-jobs/process",
             headers: ["Content-Type": "application/json"], body: "{\"jobId\": \"00000000-0000-4000-8000-000000000000\"}",
             status: 403, code: "forbidden"),
        Case(name: "process with a wrong trigger secret", method: "POST", path: "/api/vision-jobs/process",
             headers: ["Content-Type": "application/json", "X-Trigger-Secret": "guess"],
             body: "{\"jobId\": \"00000000-0000-4000-8000-000000000000\"}", status: 403, code: "forbidden"),
        Case(name: "process with a non-UUID jobId", method: "POST", path: "/api/vision-jobs/process",
             headers: ["Content-Type": "application/json", "X-Trigger-Secret": Stack.triggerSecret],
             body: "{\"jobId\": \"../../etc/passwd\"}", status: 400, code: "invalid_job_id"),
        Case(name: "unknown API path", method: "GET", path: "/api/vision-jobs/delete", status: 404, code: "not_found"),
    ]

    @Test("Bad requests get their status and a JSON error", arguments: cases)
    func errorCase(_ test: Case) throws {
        let stack = try Self.stack.get()
        var headers = test.headers
        if test.withToken { headers["Authorization"] = "Bearer \(stack.token(for: "errors-user"))" }
        let response = try stack.client.send(test.method, test.path, headers: headers, body: test.body.map { Array($0.utf8) })
        #expect(response.status == test.status, "\(response)")
        #expect(response.errorCode == test.code, "\(response)")
        #expect(response.headers["content-type"]?.hasPrefix("application/json") == true)
        #expect((response.json?["error"] as? [String: Any])?["message"] as? String != nil)
        if test.status == 401 { #expect(response.headers["www-authenticate"]?.hasPrefix("Bearer") == true) }
        if test.status == 405 { #expect(response.headers["allow"] != nil) }
    }

    @Test("A body over 64 KiB is refused with 413 and a JSON error, and no job is created")
    func bodyTooLarge() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "big-body-user")
        let body = "{\"answers\": {\"fun\": \"" + String(repeating: "a", count: 70_000) + "\"}}"
        let response = try stack.client.send(
            "POST", "/api/vision-jobs/create",
            headers: ["Content-Type": "application/json", "Authorization": "Bearer \(token)"], body: Array(body.utf8))
        #expect(response.status == 413)
        #expect(response.errorCode == "payload_too_large")
        let list = try stack.client.get("/api/vision-jobs/list", token: token)
        #expect((list.json?["jobs"] as? [Any])?.isEmpty == true)
    }

    @Test("nginx and the binaries take the body limit from one setting: VQ_MAX_BODY_BYTES raised lets a larger body through nginx, lowered refuses it there, naming the limit")
    func bodyLimitFollowsTheSetting() throws {
        // 12 answers of 1,500 four-byte characters: 72 kB, within every answer's 4,000 characters.
        let answers = Dictionary(uniqueKeysWithValues: VisionCategory.allCases.map { ($0.key, String(repeating: "\u{1F338}", count: 1_500)) })
        let body = try JSONSerialization.data(withJSONObject: ["answers": answers])
        #expect(body.count > 72_000)
        let raised = try Stack.start(.init(environment: ["VQ_MAX_BODY_BYTES": "100000"]))
        defer { raised.stop() }
        let accepted = try raised.client.send(
            "POST", "/api/vision-jobs/create",
            headers: ["Content-Type": "application/json", "Authorization": "Bearer \(raised.token(for: "big-notes"))"], body: Array(body))
        #expect(accepted.status == 201, "\(accepted)")

        let lowered = try Stack.start(.init(environment: ["VQ_MAX_BODY_BYTES": "2048"]))
        defer { lowered.stop() }
        let small = "{\"answers\": {\"fun\": \"" + String(repeating: "a", count: 3_000) + "\"}}"
        let refused = try lowered.client.send(
            "POST", "/api/vision-jobs/create",
            headers: ["Content-Type": "application/json", "Authorization": "Bearer \(lowered.token(for: "small-notes"))"], body: Array(small.utf8))
        #expect(refused.status == 413)
        #expect(refused.errorCode == "payload_too_large")
        #expect((refused.json?["error"] as? [String: Any])?["message"] as? String == "The body may be at most 2048 bytes.")
    }

    @Test("Another user's job answers exactly like a job that does not exist")
    func otherUsersJobIsNotFound() throws {
        let stack = try Self.stack.get()
        let owner = stack.token(for: "owner-a")
        let jobID = try stack.createJob(token: owner)
        let final = try stack.waitForJob(jobID, token: owner)
        let intruder = stack.token(for: "intruder-b")

        let theirs = try stack.client.get("/api/vision-jobs/status?jobId=\(jobID)", token: intruder)
        let missing = try stack.client.get("/api/vision-jobs/status?jobId=\(UUID().uuidString.lowercased())", token: intruder)
        #expect(theirs.status == 404)
        #expect(theirs.body == missing.body)

        let visionID = try #require(final["visionId"] as? String)
        let theirVision = try stack.client.get("/api/visions?id=\(visionID)", token: intruder)
        let missingVision = try stack.client.get("/api/visions?id=\(UUID().uuidString.lowercased())", token: intruder)
        #expect(theirVision.status == 404)
        #expect(theirVision.body == missingVision.body)
        #expect(try stack.client.get("/api/visions?id=\(visionID)", token: owner).status == 200)
    }

    @Test("Status answers are never cached")
    func noStore() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "cache-user")
        let jobID = try stack.createJob(token: token)
        let response = try stack.client.get("/api/vision-jobs/status?jobId=\(jobID)", token: token)
        #expect(response.status == 200)
        #expect(response.headers["cache-control"] == "no-store")
    }
}
