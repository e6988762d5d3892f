import Crypto
import Foundation
import Testing
import VisionQueue

/// Hostile input and other users, against the running stack: the token matrix, isolation, the
/// internal endpoint, limits and input hygiene.
@Suite("Security")
struct SecurityTests {
    static let issuer = "https://auth.vision-queue.test"
    static let stack = Result {
        try Stack.start(.init(generatorDelayMillis: 100, environment: ["VQ_JWT_ISSUER": issuer, "VQ_MAX_CREATES_PER_HOUR": "1000"]))
    }

    // MARK: Tokens

    /// Signs any header and payload with HMAC; `alg` in the header says what it claims to be.
    static func token(
        header: [String: Any] = ["alg": "HS256", "typ": "JWT"], claims: [String: Any], secret: String = Stack.jwtSecret,
        hash: String = "SHA256"
    ) -> String {
        func encode(_ object: [String: Any]) -> String {
            Data(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).base64URL
        }
        let input = encode(header) + "." + encode(claims)
        let key = SymmetricKey(data: Array(secret.utf8))
        let mac: Data
        switch hash {
        case "SHA512": mac = Data(HMAC<SHA512>.authenticationCode(for: Array(input.utf8), using: key))
        default: mac = Data(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key))
        }
        return input + "." + mac.base64URL
    }

    static func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        var claims: [String: Any] = [
            "sub": "token-matrix-user", "aud": "authenticated", "iss": issuer, "exp": now + 3600, "iat": now,
        ]
        for (key, value) in changes { claims[key] = value }
        return claims
    }

    struct TokenCase: CustomTestStringConvertible, Sendable {
        var name: String
        /// Builds the Authorization header at test time (times in tokens are relative to then) and
        /// any query string to add; nil header means none is sent.
        var make: @Sendable () -> (authorization: String?, query: String)
        var accepted: Bool
        var testDescription: String { name }

        init(_ name: String, accepted: Bool = false, query: @escaping @Sendable () -> String = { "" },
             _ authorization: @escaping @Sendable () -> String?) {
            self.name = name
            self.accepted = accepted
            self.make = { (authorization(), query()) }
        }
    }

    static let tokenCases: [TokenCase] = {
        let now: @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }
        let valid: @Sendable () -> String = { token(claims: claims()) }
        let part: @Sendable (Int) -> String = { index in valid().split(separator: ".").map(String.init)[index] }
        return [
            TokenCase("valid", accepted: true) { "Bearer \(valid())" },
            TokenCase("scheme in lower case", accepted: true) { "bearer \(valid())" },
            TokenCase("audience as an array", accepted: true) { "Bearer \(token(claims: claims(["aud": ["other", "authenticated"]])))" },
            TokenCase("expired 10 s ago, within the leeway", accepted: true) { "Bearer \(token(claims: claims(["exp": now() - 10])))" },
            TokenCase("expired") { "Bearer \(token(claims: claims(["exp": now() - 120])))" },
            TokenCase("not yet valid (nbf)") { "Bearer \(token(claims: claims(["nbf": now() + 300])))" },
            TokenCase("wrong audience") { "Bearer \(token(claims: claims(["aud": "anon"])))" },
            TokenCase("wrong issuer") { "Bearer \(token(claims: claims(["iss": "https://evil.test"])))" },
            TokenCase("no issuer") { "Bearer \(token(claims: claims(["iss": nil])))" },
            TokenCase("no exp") { "Bearer \(token(claims: claims(["exp": nil])))" },
            TokenCase("missing sub") { "Bearer \(token(claims: claims(["sub": nil])))" },
            TokenCase("empty sub") { "Bearer \(token(claims: claims(["sub": ""])))" },
            TokenCase("sub not a string") { "Bearer \(token(claims: claims(["sub": 42])))" },
            TokenCase("tampered payload") {
                let other = Data(try! JSONSerialization.data(withJSONObject: claims(["sub": "someone-else"]))).base64URL
                return "Bearer \(part(0)).\(other).\(part(2))"
            },
            TokenCase("tampered signature") {
                var signature = Array(part(2))
                signature[5] = signature[5] == "A" ? "B" : "A"
                return "Bearer \(part(0)).\(part(1)).\(String(signature))"
            },
            TokenCase("signed with another secret") { "Bearer \(token(claims: claims(), secret: "not-the-secret"))" },
            TokenCase("alg none") { "Bearer \(Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64URL).\(part(1))." },
            TokenCase("alg HS512") { "Bearer \(token(header: ["alg": "HS512"], claims: claims(), hash: "SHA512"))" },
            TokenCase("alg RS256 with an HMAC signature") { "Bearer \(token(header: ["alg": "RS256"], claims: claims()))" },
            TokenCase("two parts") { "Bearer \(part(0)).\(part(1))" },
            TokenCase("four parts") { "Bearer \(valid()).x" },
            TokenCase("padded base64") { "Bearer \(part(0))==.\(part(1)).\(part(2))" },
            TokenCase("garbage") { "Bearer not-a-token" },
            TokenCase("empty bearer") { "Bearer " },
            TokenCase("Basic scheme") { "Basic dXNlcjpwYXNz" },
            TokenCase("no Authorization header") { nil },
            TokenCase("token in the query string", query: { "&access_token=\(valid())" }) { nil },
            TokenCase("token in the query string besides a valid header", query: { "&access_token=\(valid())" }) {
                "Bearer \(valid())"
            },
        ]
    }()

    @Test("The token matrix: only valid HS256 tokens pass; every failure is the same 401", arguments: tokenCases)
    func tokenMatrix(_ test: TokenCase) throws {
        let stack = try Self.stack.get()
        let (authorization, query) = test.make()
        var headers: [String: String] = [:]
        if let authorization { headers["Authorization"] = authorization }
        let response = try stack.client.send("GET", "/api/vision-jobs/list?limit=1\(query)", headers: headers)
        if test.accepted {
            #expect(response.status == 200, "\(response)")
        } else {
            #expect(response.status == 401, "\(response)")
            #expect(response.errorCode == "unauthorized")
            #expect(response.headers["www-authenticate"] == "Bearer realm=\"vision-queue\"")
        }
    }

    // MARK: Other users

    @Test("User B tries every endpoint on user A's job and vision: 404, byte for byte like a missing id")
    func isolation() throws {
        let stack = try Self.stack.get()
        let alice = stack.token(for: "isolation-alice")
        let bob = stack.token(for: "isolation-bob")
        let jobID = try stack.createJob(token: alice)
        let done = try stack.waitForJob(jobID, token: alice)
        let visionID = try #require(done["visionId"] as? String)
        let missing = UUID().uuidString.lowercased()

        let pairs: [(HTTPClient.Response, HTTPClient.Response)] = [
            (try stack.client.get("/api/vision-jobs/status?jobId=\(jobID)", token: bob),
             try stack.client.get("/api/vision-jobs/status?jobId=\(missing)", token: bob)),
            (try stack.client.get("/api/visions?id=\(visionID)", token: bob),
             try stack.client.get("/api/visions?id=\(missing)", token: bob)),
            (try stack.client.postJSON("/api/vision-jobs/retry", ["jobId": jobID], token: bob),
             try stack.client.postJSON("/api/vision-jobs/retry", ["jobId": missing], token: bob)),
            (try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": jobID], token: bob),
             try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": missing], token: bob)),
        ]
        for (theirs, absent) in pairs {
            #expect(theirs.status == 404)
            #expect(theirs.body == absent.body)
            #expect(theirs.headers["content-length"] == absent.headers["content-length"])
        }
        let bobsList = try stack.client.get("/api/vision-jobs/list", token: bob)
        #expect(!bobsList.text.contains(jobID))
        // Alice's job is untouched by Bob's attempts.
        #expect(try stack.status(jobID, token: alice)["status"] as? String == "completed")
    }

    // MARK: The internal endpoint

    @Test("The process endpoint refuses callers without the trigger secret, even from loopback")
    func processEndpointNeedsTheSecret() throws {
        let stack = try Self.stack.get()
        let user = stack.token(for: "process-intruder")
        let jobID = try stack.createJob(token: user)
        let body = ["jobId": jobID]
        let attempts: [[String: String]] = [
            [:],
            ["X-Trigger-Secret": "wrong"],
            ["X-Trigger-Secret": Stack.triggerSecret + "x"],
            ["X-Trigger-Secret": ""],
            ["Authorization": "Bearer \(user)"],
            ["X-Trigger-Secret": user],
        ]
        for headers in attempts {
            let response = try stack.client.postJSON("/api/vision-jobs/process", body, headers: headers)
            #expect(response.status == 403, "\(headers.keys): \(response)")
            #expect(response.errorCode == "forbidden")
        }
        #expect(!stack.logText("vision-process").contains(Stack.triggerSecret), "the secret is never logged")
    }

    @Test("From another address than 127.0.0.1, nginx refuses the process endpoint even with the secret")
    func processEndpointIsLocalOnly() throws {
        let stack = try Self.stack.get()
        var remote = stack.client
        remote.sourceAddress = "127.0.0.2"
        let response = try remote.postJSON(
            "/api/vision-jobs/process", ["jobId": UUID().uuidString.lowercased()],
            headers: ["X-Trigger-Secret": Stack.triggerSecret])
        #expect(response.status == 403, "\(response)")
        #expect(response.errorCode == "forbidden")
        // The same address may use the public API.
        #expect(try remote.get("/api/vision-jobs/list", token: stack.token(for: "remote-user")).status == 200)
    }

    @Test("VQ_TRIGGER_ALLOW lets a load balancer's address reach the process endpoint, with the secret only")
    func processEndpointFromAllowedSource() throws {
        let stack = try Stack.start(.init(environment: ["VQ_TRIGGER_ALLOW": "127.0.0.2/32"]))
        defer { stack.stop() }
        let token = stack.token(for: "balanced")
        let jobID = try stack.createJob(token: token)
        var balancer = stack.client
        balancer.sourceAddress = "127.0.0.2"
        let refused = try balancer.postJSON("/api/vision-jobs/process", ["jobId": jobID], headers: ["X-Trigger-Secret": "wrong"])
        #expect(refused.status == 403, "the secret is still required: \(refused)")
        let accepted = try balancer.postJSON("/api/vision-jobs/process", ["jobId": jobID], headers: ["X-Trigger-Secret": Stack.triggerSecret])
        #expect(accepted.status == 202, "\(accepted)")
        var elsewhere = stack.client
        elsewhere.sourceAddress = "127.0.0.3"
        let outside = try elsewhere.postJSON("/api/vision-jobs/process", ["jobId": jobID], headers: ["X-Trigger-Secret": Stack.triggerSecret])
        #expect(outside.status == 403, "only the listed addresses: \(outside)")
        #expect(try stack.waitForJob(jobID, token: token)["status"] as? String == "completed")
    }

    // MARK: Limits

    @Test("100 creates from one user in 10 s: the hourly quota succeeds, the rest get 429 with Retry-After")
    func hourlyQuota() throws {
        let stack = try Stack.start(.init(environment: ["VQ_MAX_CREATES_PER_HOUR": "5", "VQ_MAX_ACTIVE_JOBS": "1000"]))
        defer { stack.stop() }
        let token = stack.token(for: "quota-user")
        let statuses = ThreadSafeArray<(Int, String?)>()
        DispatchQueue.concurrentPerform(iterations: 100) { _ in
            let response = try? stack.client.postJSON("/api/vision-jobs/create", ["answers": ["fun": "x"]], token: token)
            statuses.append((response?.status ?? -1, response?.headers["retry-after"]))
        }
        let created = statuses.values.filter { $0.0 == 201 }.count
        let limited = statuses.values.filter { $0.0 == 429 }
        #expect(created == 5)
        #expect(limited.count == 95)
        #expect(limited.allSatisfy { Int($0.1 ?? "") .map { (3590...3600).contains($0) } ?? false }, "\(limited.prefix(3))")
        #expect(try stack.client.get("/api/vision-jobs/list", token: token).json?["jobs"] as? [Any] != nil)
        let jobs = try stack.client.get("/api/vision-jobs/list", token: token).json?["jobs"] as? [Any]
        #expect(jobs?.count == 5)
    }

    @Test("A double click (10 concurrent creates) starts one job; the others answer that job")
    func doubleClick() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "double-click")
        let responses = ThreadSafeArray<HTTPClient.Response>()
        DispatchQueue.concurrentPerform(iterations: 10) { _ in
            if let response = try? stack.client.postJSON("/api/vision-jobs/create", ["answers": ["fun": "once"]], token: token) {
                responses.append(response)
            }
        }
        let all = responses.values
        #expect(all.count == 10)
        #expect(all.filter { $0.status == 201 }.count == 1)
        #expect(all.filter { $0.status == 200 && $0.json?["existing"] as? Bool == true }.count == 9)
        #expect(Set(all.compactMap { $0.json?["jobId"] as? String }).count == 1)
    }

    @Test("Idempotency-Key: same key and body gives the same job; same key, other body: 422")
    func idempotencyKey() throws {
        let stack = try Stack.start(.init(environment: ["VQ_MAX_ACTIVE_JOBS": "100"]))
        defer { stack.stop() }
        let token = stack.token(for: "idempotent-user")
        let key = "order-\(UUID().uuidString)"
        let first = try stack.client.postJSON(
            "/api/vision-jobs/create", ["answers": ["fun": "kites"]], token: token, headers: ["Idempotency-Key": key])
        let again = try stack.client.postJSON(
            "/api/vision-jobs/create", ["answers": ["fun": "kites"]], token: token, headers: ["Idempotency-Key": key])
        #expect(first.status == 201)
        #expect(again.status == 201)
        #expect(again.json?["jobId"] as? String == first.json?["jobId"] as? String)
        #expect(again.headers["idempotent-replayed"] == "true")
        let other = try stack.client.postJSON(
            "/api/vision-jobs/create", ["answers": ["fun": "boats"]], token: token, headers: ["Idempotency-Key": key])
        #expect(other.status == 422)
        #expect(other.errorCode == "idempotency_key_reused")
        // Keys are per user: another user's identical key is a new job.
        let stranger = try stack.client.postJSON(
            "/api/vision-jobs/create", ["answers": ["fun": "kites"]], token: stack.token(for: "stranger"),
            headers: ["Idempotency-Key": key])
        #expect(stranger.status == 201)
        #expect(stranger.json?["jobId"] as? String != first.json?["jobId"] as? String)
        let bad = try stack.client.postJSON(
            "/api/vision-jobs/create", ["answers": [:]], token: token, headers: ["Idempotency-Key": "has space"])
        #expect(bad.status == 400)
        let empty = try stack.client.postJSON(
            "/api/vision-jobs/create", ["answers": [:]], token: token, headers: ["Idempotency-Key": ""])
        #expect(empty.status == 400, "an empty key is a malformed key, not a missing one")
        let list = try stack.client.get("/api/vision-jobs/list", token: token).json?["jobs"] as? [Any]
        #expect(list?.count == 1)
    }

    @Test("A 10 MB body: 413 from nginx, and 413 from the binary itself without its memory growing")
    func hugeBody() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "huge-body")
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: 10 * 1024 * 1024)
        let viaNginx = try stack.client.send(
            "POST", "/api/vision-jobs/create",
            headers: ["Content-Type": "application/json", "Authorization": "Bearer \(token)"], body: huge)
        #expect(viaNginx.status == 413)
        #expect(viaNginx.errorCode == "payload_too_large")

        let pid = try #require(stack.pid(of: "vision-create"))
        let fastcgi = FastCGIClient(socketPath: stack.dataDirectory + "/run/vision-create.sock")
        let params = [
            ("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/api/vision-jobs/create"), ("CONTENT_TYPE", "application/json"),
            ("CONTENT_LENGTH", String(huge.count)), ("HTTP_AUTHORIZATION", "Bearer \(token)"),
        ]
        _ = try fastcgi.request(params: params, body: huge)  // warm up both processes' allocators
        _ = try fastcgi.request(params: params, body: huge)
        let before = try #require(Self.residentKilobytes(pid))
        for _ in 0..<10 {
            let response = try fastcgi.request(params: params, body: huge)
            if response.status != nil { #expect(response.status == 413, "\(response.body)") }
        }
        let after = try #require(Self.residentKilobytes(pid))
        #expect(after - before < 4 * 1024, "resident memory grew from \(before) kB to \(after) kB")
        #expect(stack.pid(of: "vision-create") == pid, "the binary did not crash")
    }

    // MARK: Input hygiene

    struct BadBody: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var testDescription: String { name }
    }

    static let badBodies: [BadBody] = [
        BadBody(name: "invalid UTF-8", bytes: Array(#"{"answers": {"fun": ""#.utf8) + [0xC3, 0x28, 0xFF] + Array(#""}}"#.utf8)),
        BadBody(name: "escaped NUL", bytes: Array(#"{"answers": {"fun": "a\u0000b"}}"#.utf8)),
        BadBody(name: "raw NUL byte", bytes: Array(#"{"answers": {"fun": "a"#.utf8) + [0] + Array(#"b"}}"#.utf8)),
        BadBody(name: "escaped control character", bytes: Array(#"{"answers": {"fun": "bell\u0007"}}"#.utf8)),
        BadBody(name: "raw control character", bytes: Array("{\"answers\": {\"fun\": \"a\u{1B}b\"}}".utf8)),
        BadBody(name: "duplicate key", bytes: Array(#"{"answers": {"fun": "a", "fun": "b"}}"#.utf8)),
        BadBody(name: "duplicate top-level key", bytes: Array(#"{"answers": {}, "answers": {"fun": "x"}}"#.utf8)),
        BadBody(name: "number where a string belongs", bytes: Array(#"{"answers": {"fun": 1}}"#.utf8)),
        BadBody(name: "huge number", bytes: Array(#"{"answers": {"fun": 1e999999999}}"#.utf8)),
        BadBody(name: "array where a string belongs", bytes: Array(#"{"answers": {"fun": ["a"]}}"#.utf8)),
        BadBody(name: "null answer", bytes: Array(#"{"answers": {"fun": null}}"#.utf8)),
        BadBody(name: "deep nesting", bytes: Array((String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)).utf8)),
        BadBody(name: "deep nesting inside answers", bytes: Array(("{\"answers\": " + String(repeating: "{\"a\":", count: 200) + "1" + String(repeating: "}", count: 201)).utf8)),
        BadBody(name: "lone surrogate", bytes: Array(#"{"answers": {"fun": "\ud800"}}"#.utf8)),
        BadBody(name: "empty body", bytes: []),
        BadBody(name: "trailing garbage", bytes: Array(#"{"answers": {}} x"#.utf8)),
        BadBody(name: "UTF-16 byte order mark", bytes: [0xFE, 0xFF] + Array(#"{"answers": {}}"#.utf8)),
    ]

    @Test("Malformed bodies are 400 with a JSON error, and create no job", arguments: badBodies)
    func hygiene(_ bad: BadBody) throws {
        let stack = try Self.stack.get()
        let user = "hygiene-\(bad.name.replacingOccurrences(of: " ", with: "-"))"
        let token = stack.token(for: user)
        let response = try stack.client.send(
            "POST", "/api/vision-jobs/create",
            headers: ["Content-Type": "application/json", "Authorization": "Bearer \(token)"], body: bad.bytes)
        #expect(response.status == 400, "\(response)")
        #expect(response.errorCode != nil)
        #expect((try stack.client.get("/api/vision-jobs/list", token: token).json?["jobs"] as? [Any])?.isEmpty == true)
    }

    static func residentKilobytes(_ pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
