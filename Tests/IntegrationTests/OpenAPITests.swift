import Foundation
import Testing
import VisionQueue

/// docs/openapi.json is kept true by this test: every operation and status code it lists is
/// provoked on the running service, and each answer must have that status, the documented
/// headers, and a body that matches the documented schema. A status in the description with no
/// way to provoke it here fails the test, and so does a recipe for a status it does not list.
@Suite("OpenAPI description", .serialized)
struct OpenAPITests {
    static let specPath = Stack.repositoryRoot + "/docs/openapi.json"
    static let adminToken = "openapi-operator-token-0123456789"
    static let metricsToken = "openapi-metrics-token-0123456789"

    /// One request that must produce one documented answer.
    typealias Recipe = (Stack) throws -> HTTPClient.Response

    @Test("Every documented route and status code is what the service answers")
    func everyStatusMatches() throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.specPath))) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let notesReader = SchemaValidator(document: document)
        let stack = try Stack.start(
            .init(environment: [
                "VQ_MAX_CREATES_PER_HOUR": "3", "VQ_FAULT_FAIL": "health:1", "VQ_MAX_ATTEMPTS": "1", "VQ_BUSY_TIMEOUT_MS": "150",
                "VQ_ADMIN_TOKEN": Self.adminToken, "VQ_METRICS_TOKEN": Self.metricsToken,
            ]))
        defer { stack.stop() }

        var documented: Set<String> = []
        var responses: [String: [String: Any]] = [:]
        for (path, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
            for (method, operation) in item {
                for (status, response) in (operation as? [String: Any])?["responses"] as? [String: [String: Any]] ?? [:]
                where Int(status) != nil {
                    let key = "\(method.uppercased()) \(path) \(status)"
                    documented.insert(key)
                    responses[key] = response
                }
            }
        }
        let recipes = try Self.recipes(stack)
        #expect(Set(recipes.keys) == documented, "undocumented recipes: \(Set(recipes.keys).subtracting(documented)); documented but never provoked: \(documented.subtracting(recipes.keys))")

        for key in recipes.keys.sorted() {
            guard let recipe = recipes[key], let response = responses[key] else { continue }
            let answer = try recipe(stack)
            let expected = Int(key.split(separator: " ").last!)!
            #expect(answer.status == expected, "\(key): \(answer)")
            for header in (response["headers"] as? [String: Any] ?? [:]).keys {
                #expect(answer.headers[header.lowercased()] != nil, "\(key): no \(header) header")
            }
            let content = (response["content"] as? [String: Any])?["application/json"] as? [String: Any]
            guard let schema = content?["schema"] as? [String: Any] else { continue }
            #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true, "\(key)")
            let body = try? JSONSerialization.jsonObject(with: Data(answer.body))
            let problems = body.map { notesReader.errors($0, against: schema) } ?? ["not JSON: \(answer.text)"]
            #expect(problems.isEmpty, "\(key): \(problems)")
        }
    }

    /// How to provoke each documented answer. Users are distinct so per-user limits do not mix.
    static func recipes(_ stack: Stack) throws -> [String: Recipe] {
        let client = stack.client
        let user = stack.token(for: "openapi-user")
        let missing = UUID().uuidString.lowercased()
        let jobID = try stack.createJob(token: user)
        let ended = try stack.waitForJob(jobID, token: user)
        let visionID = ended["visionId"] as? String ?? ""
        // Rewrites count against the hourly limit: they get a user and a job of their own.
        let rewriter = stack.token(for: "openapi-rewriter")
        let rewriteJob = try stack.createJob(token: rewriter)
        try stack.waitForJob(rewriteJob, token: rewriter)
        func create(_ token: String?, _ body: String, headers: [String: String] = [:]) throws -> HTTPClient.Response {
            var all = ["Content-Type": "application/json"].merging(headers) { $1 }
            if let token { all["Authorization"] = "Bearer \(token)" }
            return try client.send("POST", "/api/vision-jobs/create", headers: all, body: Array(body.utf8))
        }
        func control(_ path: String, _ token: String?, _ body: String, type: String = "application/json") throws -> HTTPClient.Response {
            var headers = ["Content-Type": type]
            if let token { headers["Authorization"] = "Bearer \(token)" }
            return try client.send("POST", path, headers: headers, body: Array(body.utf8))
        }
        func process(_ secret: String?, _ body: String, type: String = "application/json") throws -> HTTPClient.Response {
            var headers = ["Content-Type": type]
            if let secret { headers["X-Trigger-Secret"] = secret }
            return try client.send("POST", "/api/vision-jobs/process", headers: headers, body: Array(body.utf8))
        }
        /// Holds the database's write lock, so every endpoint that writes answers 503 once its busy
        /// timeout (150 ms here) and retries run out. Reads are never blocked by a writer in WAL mode.
        func whileLocked(_ request: () throws -> HTTPClient.Response) throws -> HTTPClient.Response {
            let db = try stack.db()
            // SQLite: its one write lock. PostgreSQL: every table a write touches, in a mode that
            // still lets reads through; writers wait past their lock timeout and answer busy.
            switch stack.database.backend {
            case .sqlite: try db.execute("BEGIN IMMEDIATE")
            case .postgres:
                try db.execute("BEGIN; LOCK TABLE vision_generation_jobs, vision_job_categories, vision_job_reruns IN EXCLUSIVE MODE")
            }
            defer { try? db.execute("ROLLBACK") }
            return try request()
        }
        let big = String(repeating: "a", count: 70_000)
        let fresh = { stack.token(for: "openapi-\(UUID().uuidString.prefix(8))") }
        let limited = stack.token(for: "openapi-limited")
        let key = "openapi-\(UUID().uuidString)"

        return [
            "POST /api/vision-jobs/create 201": { _ in try create(fresh(), #"{"answers": {"fun": "kites"}}"#) },
            "POST /api/vision-jobs/create 200": { stack in
                // Fault-free jobs finish in milliseconds, and on a loaded machine one can finish between
                // two back-to-back creates: a few users each get their chance to ask while theirs is active.
                var second: HTTPClient.Response?
                for attempt in 0..<10 {
                    let token = stack.token(for: "openapi-active-\(attempt)")
                    _ = try create(token, #"{"answers": {}}"#)
                    second = try create(token, #"{"answers": {}}"#)
                    if second?.status == 200 { break }
                }
                return second!
            },
            "POST /api/vision-jobs/create 400": { _ in try create(fresh(), #"{"answers": {"cats": "yes"}}"#) },
            "POST /api/vision-jobs/create 401": { _ in try create(nil, #"{"answers": {}}"#) },
            "POST /api/vision-jobs/create 413": { _ in try create(fresh(), #"{"answers": {"fun": "\#(big)"}}"#) },
            "POST /api/vision-jobs/create 415": { _ in
                try client.send("POST", "/api/vision-jobs/create", headers: ["Content-Type": "text/plain", "Authorization": "Bearer \(fresh())"], body: Array("{}".utf8))
            },
            "POST /api/vision-jobs/create 422": { _ in
                let token = fresh()
                _ = try create(token, #"{"answers": {"fun": "a"}}"#, headers: ["Idempotency-Key": key])
                return try create(token, #"{"answers": {"fun": "b"}}"#, headers: ["Idempotency-Key": key])
            },
            "POST /api/vision-jobs/create 429": { stack in
                var last = try create(limited, #"{"answers": {}}"#)
                for _ in 0..<5 where last.status != 429 {
                    if let id = last.json?["jobId"] as? String { _ = try stack.waitForJob(id, token: limited) }
                    last = try create(limited, #"{"answers": {}}"#)
                }
                return last
            },
            "POST /api/vision-jobs/create 503": { _ in try whileLocked { try create(fresh(), #"{"answers": {}}"#) } },

            "GET /api/vision-jobs/status 200": { _ in try client.get("/api/vision-jobs/status?jobId=\(jobID)", token: user) },
            "GET /api/vision-jobs/status 400": { _ in try client.get("/api/vision-jobs/status?jobId=nope", token: user) },
            "GET /api/vision-jobs/status 401": { _ in try client.get("/api/vision-jobs/status?jobId=\(jobID)") },
            "GET /api/vision-jobs/status 404": { _ in try client.get("/api/vision-jobs/status?jobId=\(missing)", token: user) },
            "GET /api/vision-jobs/status 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/api/vision-jobs/status?jobId=\(jobID)", token: user) } },

            "GET /api/vision-jobs/list 200": { _ in try client.get("/api/vision-jobs/list", token: user) },
            "GET /api/vision-jobs/list 401": { _ in try client.get("/api/vision-jobs/list", token: "x") },
            "GET /api/vision-jobs/list 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/api/vision-jobs/list", token: user) } },

            "GET /api/visions 200": { _ in try client.get("/api/visions?id=\(visionID)", token: user) },
            "GET /api/visions 400": { _ in try client.get("/api/visions?id=1", token: user) },
            "GET /api/visions 401": { _ in try client.get("/api/visions?id=\(visionID)") },
            "GET /api/visions 404": { _ in try client.get("/api/visions?id=\(missing)", token: user) },
            "GET /api/visions 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/api/visions?id=\(visionID)", token: user) } },

            "GET /api/me 200": { _ in try client.get("/api/me", token: user) },
            "GET /api/me 401": { _ in try client.get("/api/me") },
            "GET /api/me 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/api/me", token: user) } },

            "POST /api/vision-jobs/retry 200": { _ in try control("/api/vision-jobs/retry", user, #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/vision-jobs/retry 400": { _ in try control("/api/vision-jobs/retry", user, #"{"jobId": 7}"#) },
            "POST /api/vision-jobs/retry 401": { _ in try control("/api/vision-jobs/retry", nil, #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/vision-jobs/retry 404": { _ in try control("/api/vision-jobs/retry", user, #"{"jobId": "\#(missing)"}"#) },
            "POST /api/vision-jobs/retry 409": { stack in
                _ = try stack.waitForJob(jobID, token: user)
                return try control("/api/vision-jobs/retry", user, #"{"jobId": "\#(jobID)"}"#)
            },
            "POST /api/vision-jobs/retry 413": { _ in try control("/api/vision-jobs/retry", user, #"{"jobId": "\#(big)"}"#) },
            "POST /api/vision-jobs/retry 415": { _ in try control("/api/vision-jobs/retry", user, "jobId=1", type: "application/x-www-form-urlencoded") },
            "POST /api/vision-jobs/retry 503": { _ in try whileLocked { try control("/api/vision-jobs/retry", user, #"{"jobId": "\#(jobID)"}"#) } },
            "POST /api/vision-jobs/retry 429": { stack in try Self.overHourlyLimit(stack, limited, path: "/api/vision-jobs/retry") },

            "POST /api/vision-jobs/regenerate 200": { stack in
                return try control("/api/vision-jobs/regenerate", rewriter, #"{"jobId": "\#(rewriteJob)", "category": "fun", "answer": "Kites"}"#)
            },
            "POST /api/vision-jobs/regenerate 400": { _ in
                try control("/api/vision-jobs/regenerate", rewriter, #"{"jobId": "\#(rewriteJob)", "category": "cats"}"#)
            },
            "POST /api/vision-jobs/regenerate 401": { _ in
                try control("/api/vision-jobs/regenerate", nil, #"{"jobId": "\#(rewriteJob)", "category": "fun"}"#)
            },
            "POST /api/vision-jobs/regenerate 404": { _ in
                try control("/api/vision-jobs/regenerate", rewriter, #"{"jobId": "\#(missing)", "category": "fun"}"#)
            },
            "POST /api/vision-jobs/regenerate 409": { stack in
                // A cancelled job is never rewritten; a job of 0 ms categories may end before the
                // cancel lands, so a few fresh jobs each get their chance.
                var answer: HTTPClient.Response?
                for _ in 0..<10 {
                    let token = fresh()
                    let id = try stack.createJob(token: token)
                    guard try control("/api/vision-jobs/cancel", token, #"{"jobId": "\#(id)"}"#).status == 200 else { continue }
                    answer = try control("/api/vision-jobs/regenerate", token, #"{"jobId": "\#(id)", "category": "fun"}"#)
                    break
                }
                return answer!
            },
            "POST /api/vision-jobs/regenerate 413": { _ in
                try control("/api/vision-jobs/regenerate", rewriter, #"{"jobId": "\#(rewriteJob)", "category": "fun", "answer": "\#(big)"}"#)
            },
            "POST /api/vision-jobs/regenerate 415": { _ in
                try control("/api/vision-jobs/regenerate", rewriter, "{}", type: "text/plain")
            },
            "POST /api/vision-jobs/regenerate 429": { stack in try Self.overHourlyLimit(stack, limited, path: "/api/vision-jobs/regenerate") },
            "POST /api/vision-jobs/regenerate 503": { _ in
                try whileLocked { try control("/api/vision-jobs/regenerate", rewriter, #"{"jobId": "\#(rewriteJob)", "category": "fun"}"#) }
            },

            "POST /api/vision-jobs/cancel 200": { stack in
                // A job of 0 ms categories may finish before the cancel arrives (then the answer is the
                // documented 409): a few fresh jobs each get their chance to be cancelled while active.
                var answer: HTTPClient.Response?
                for _ in 0..<10 {
                    let token = fresh()
                    let id = try stack.createJob(token: token)
                    answer = try control("/api/vision-jobs/cancel", token, #"{"jobId": "\#(id)"}"#)
                    if answer?.status == 200 { break }
                }
                return answer!
            },
            "POST /api/vision-jobs/cancel 400": { _ in try control("/api/vision-jobs/cancel", user, "{}") },
            "POST /api/vision-jobs/cancel 401": { _ in try control("/api/vision-jobs/cancel", nil, #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/vision-jobs/cancel 404": { _ in try control("/api/vision-jobs/cancel", user, #"{"jobId": "\#(missing)"}"#) },
            "POST /api/vision-jobs/cancel 409": { _ in try control("/api/vision-jobs/cancel", user, #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/vision-jobs/cancel 413": { _ in try control("/api/vision-jobs/cancel", user, #"{"jobId": "\#(big)"}"#) },
            "POST /api/vision-jobs/cancel 415": { _ in try control("/api/vision-jobs/cancel", user, "{}", type: "text/plain") },
            "POST /api/vision-jobs/cancel 503": { _ in try whileLocked { try control("/api/vision-jobs/cancel", user, #"{"jobId": "\#(jobID)"}"#) } },

            "GET /api/admin/overview 200": { _ in try client.get("/api/admin/overview", token: adminToken) },
            "GET /api/admin/overview 401": { _ in try client.get("/api/admin/overview") },
            "GET /api/admin/overview 403": { _ in try client.get("/api/admin/overview", token: user) },
            "GET /api/admin/overview 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/api/admin/overview", token: adminToken) } },
            "GET /api/admin/jobs 200": { _ in try client.get("/api/admin/jobs?failed=true&limit=2", token: adminToken) },
            "GET /api/admin/jobs 400": { _ in try client.get("/api/admin/jobs?limit=0", token: adminToken) },
            "GET /api/admin/jobs 401": { _ in try client.get("/api/admin/jobs", token: "x") },
            "GET /api/admin/jobs 403": { _ in try client.get("/api/admin/jobs", token: user) },
            "GET /api/admin/jobs 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/api/admin/jobs", token: adminToken) } },
            "GET /api/admin/job 200": { _ in try client.get("/api/admin/job?jobId=\(jobID)", token: adminToken) },
            "GET /api/admin/job 400": { _ in try client.get("/api/admin/job?jobId=nope", token: adminToken) },
            "GET /api/admin/job 401": { _ in try client.get("/api/admin/job?jobId=\(jobID)") },
            "GET /api/admin/job 403": { _ in try client.get("/api/admin/job?jobId=\(jobID)", token: user) },
            "GET /api/admin/job 404": { _ in try client.get("/api/admin/job?jobId=\(missing)", token: adminToken) },
            "GET /api/admin/job 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/api/admin/job?jobId=\(jobID)", token: adminToken) } },
            "POST /api/admin/cancel 200": { stack in
                var answer: HTTPClient.Response?
                for _ in 0..<10 {
                    let id = try stack.createJob(token: fresh())
                    answer = try control("/api/admin/cancel", adminToken, #"{"jobId": "\#(id)"}"#)
                    if answer?.status == 200 { break }
                }
                return answer!
            },
            "POST /api/admin/cancel 400": { _ in try control("/api/admin/cancel", adminToken, "{}") },
            "POST /api/admin/cancel 401": { _ in try control("/api/admin/cancel", nil, #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/admin/cancel 403": { _ in try control("/api/admin/cancel", user, #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/admin/cancel 404": { _ in try control("/api/admin/cancel", adminToken, #"{"jobId": "\#(missing)"}"#) },
            "POST /api/admin/cancel 409": { stack in
                _ = try stack.waitForJob(jobID, token: user)
                return try control("/api/admin/cancel", adminToken, #"{"jobId": "\#(jobID)"}"#)
            },
            "POST /api/admin/cancel 413": { _ in try control("/api/admin/cancel", adminToken, #"{"jobId": "\#(big)"}"#) },
            "POST /api/admin/cancel 415": { _ in try control("/api/admin/cancel", adminToken, "{}", type: "text/plain") },
            "POST /api/admin/cancel 503": { _ in try whileLocked { try control("/api/admin/cancel", adminToken, #"{"jobId": "\#(jobID)"}"#) } },
            "POST /api/admin/retry 200": { stack in
                // A job of its own, ended with health given up (one attempt): the operator retries it.
                let token = fresh()
                let id = try stack.createJob(token: token)
                _ = try stack.waitForJob(id, token: token)
                return try control("/api/admin/retry", adminToken, #"{"jobId": "\#(id)"}"#)
            },
            "POST /api/admin/retry 400": { _ in try control("/api/admin/retry", adminToken, #"{"jobId": 7}"#) },
            "POST /api/admin/retry 401": { _ in try control("/api/admin/retry", "x", #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/admin/retry 403": { _ in try control("/api/admin/retry", user, #"{"jobId": "\#(jobID)"}"#) },
            "POST /api/admin/retry 404": { _ in try control("/api/admin/retry", adminToken, #"{"jobId": "\#(missing)"}"#) },
            "POST /api/admin/retry 409": { stack in
                // A cancelled job is never retried (a job of 0 ms categories may end before the
                // cancel lands: a few fresh ones each get their chance).
                var answer: HTTPClient.Response?
                for _ in 0..<10 {
                    let id = try stack.createJob(token: fresh())
                    guard try control("/api/admin/cancel", adminToken, #"{"jobId": "\#(id)"}"#).status == 200 else { continue }
                    answer = try control("/api/admin/retry", adminToken, #"{"jobId": "\#(id)"}"#)
                    break
                }
                return answer!
            },
            "POST /api/admin/retry 413": { _ in try control("/api/admin/retry", adminToken, #"{"jobId": "\#(big)"}"#) },
            "POST /api/admin/retry 415": { _ in try control("/api/admin/retry", adminToken, "{}", type: "text/plain") },
            "POST /api/admin/retry 503": { _ in try whileLocked { try control("/api/admin/retry", adminToken, #"{"jobId": "\#(jobID)"}"#) } },
            "GET /metrics 200": { _ in try client.get("/metrics", token: metricsToken) },
            "GET /metrics 401": { _ in try client.get("/metrics") },
            "GET /metrics 503": { stack in try Self.withoutStatusBinary(stack) { try client.get("/metrics", token: metricsToken) } },

            "POST /api/vision-jobs/process 202": { _ in try process(Stack.triggerSecret, #"{"jobId": "\#(missing)"}"#) },
            "POST /api/vision-jobs/process 400": { _ in try process(Stack.triggerSecret, #"{"jobId": "x"}"#) },
            "POST /api/vision-jobs/process 403": { _ in try process(nil, #"{"jobId": "\#(missing)"}"#) },
            "POST /api/vision-jobs/process 413": { _ in try process(Stack.triggerSecret, #"{"jobId": "\#(big)"}"#) },
            "POST /api/vision-jobs/process 415": { _ in try process(Stack.triggerSecret, "{}", type: "text/plain") },
        ]
    }

    /// A retry or rewrite by a user who has used up the hour's runs (the create 429 recipe got
    /// them there): of one of their ended jobs, so only the limit stands in the way.
    static func overHourlyLimit(_ stack: Stack, _ token: String, path: String) throws -> HTTPClient.Response {
        let jobs = try stack.client.get("/api/vision-jobs/list", token: token).json?["jobs"] as? [[String: Any]] ?? []
        let id = jobs.first { $0["status"] as? String == "completed" }?["jobId"] as? String ?? ""
        let headers = ["Content-Type": "application/json", "Authorization": "Bearer \(token)"]
        let body = path.hasSuffix("regenerate") ? #"{"jobId": "\#(id)", "category": "fun"}"# : #"{"jobId": "\#(id)"}"#
        return try stack.client.send("POST", path, headers: headers, body: Array(body.utf8))
    }

    /// Makes the status binary unreachable for one request: nginx answers 503 at once when it
    /// cannot connect, so the socket file is moved aside meanwhile (the processes keep running).
    static func withoutStatusBinary(_ stack: Stack, _ request: () throws -> HTTPClient.Response) throws -> HTTPClient.Response {
        let socket = stack.dataDirectory + "/run/vision-status.sock"
        let aside = socket + ".aside"
        guard rename(socket, aside) == 0 else { throw HTTPClient.Failure(description: "cannot move \(socket)") }
        defer { rename(aside, socket) }
        return try request()
    }
}
