import Foundation
import Testing

/// Each binary, spoken to directly over its FastCGI socket, survives 10,000 random and malformed
/// requests: no crash (same pid), no 5xx for well-formed requests, still serving afterwards, and
/// no resident memory growth beyond allocator noise.
@Suite("FastCGI fuzz", .serialized)
struct FastCGIFuzzTests {
    static let stack = Result {
        try Stack.start(.init(threads: 4, processes: 1, environment: ["VQ_MAX_CREATES_PER_HOUR": "100000"]))
    }

    @Test("10,000 random and malformed FastCGI requests per binary", arguments: ["vision-create", "vision-process", "vision-status"])
    func fuzz(_ binary: String) throws {
        let stack = try Self.stack.get()
        let pid = try #require(stack.pid(of: binary))
        let client = FastCGIClient(socketPath: "\(stack.dataDirectory)/run/\(binary).sock")
        let serverErrors = ThreadSafeArray<String>()

        func batch(_ range: Range<Int>) {
            DispatchQueue.concurrentPerform(iterations: 4) { lane in
                var random = SplitMix64(seed: UInt64(range.lowerBound * 4 + lane + binary.count * 7919))
                for _ in stride(from: range.lowerBound + lane, to: range.upperBound, by: 4) {
                    let request = FuzzRequest.random(using: &random, token: stack.token(for: "fuzz-\(lane)"))
                    guard let response = try? request.send(with: client) else { continue }
                    if let status = response.status, status >= 500, status != 503 {
                        serverErrors.append("\(status) for \(request.summary): \(response.body.prefix(200))")
                    }
                }
            }
        }
        batch(0..<2_000)  // warm up: allocator pools, statement and page caches, thread stacks
        let before = try #require(SecurityTests.residentKilobytes(pid))
        batch(2_000..<6_000)
        let middle = try #require(SecurityTests.residentKilobytes(pid))
        batch(6_000..<10_000)
        let after = try #require(SecurityTests.residentKilobytes(pid))

        #expect(stack.pid(of: binary) == pid, "\(binary) restarted: it crashed")
        #expect(kill(pid, 0) == 0)
        #expect(serverErrors.values.isEmpty, "\(serverErrors.values.prefix(5))")
        // Caches may still fill in the first half; a leak keeps growing in the second. A leak of 256
        // bytes a request would add 1 MB over the last 4,000.
        #expect(after - middle < 1024, "\(binary) resident memory kept growing: \(before), \(middle), \(after) kB")
        #expect(after - before < 6 * 1024, "\(binary) resident memory grew from \(before) kB to \(after) kB")
        print("fastcgi fuzz: \(binary) RSS \(before) kB after 2,000 requests, \(middle) kB after 6,000, \(after) kB after 10,000")
        // And it still does its job.
        let token = stack.token(for: "after-fuzz-\(binary)")
        #expect(try stack.client.get("/api/vision-jobs/list", token: token).status == 200)
        let jobID = try stack.createJob(token: token)
        #expect(try stack.waitForJob(jobID, token: token)["status"] as? String == "completed")
    }
}

/// One request of the fuzz run: well formed with random content, or broken at the protocol level.
enum FuzzRequest {
    case wellFormed(params: [(String, String)], body: [UInt8])
    case raw([UInt8])

    var summary: String {
        switch self {
        case .wellFormed(let params, let body):
            let method = params.first { $0.0 == "REQUEST_METHOD" }?.1 ?? "-"
            let uri = params.first { $0.0 == "DOCUMENT_URI" }?.1 ?? "-"
            return "\(method) \(uri.prefix(80)) with \(body.count) body bytes"
        case .raw(let bytes): return "\(bytes.count) raw bytes"
        }
    }

    func send(with client: FastCGIClient) throws -> FastCGIClient.Response {
        switch self {
        case .wellFormed(let params, let body): try client.request(params: params, body: body, timeoutSeconds: 10)
        case .raw(let bytes): try client.exchange(bytes, timeoutSeconds: 10)
        }
    }

    static let paths = [
        "/api/vision-jobs/create", "/api/vision-jobs/process", "/api/vision-jobs/status", "/api/vision-jobs/list",
        "/api/visions", "/api/me", "/api/vision-jobs/retry", "/api/vision-jobs/cancel", "/", "/api/../etc/passwd", "",
    ]
    static let methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "", "G\u{0}T", "post"]
    static let contentTypes = ["application/json", "application/json; charset=utf-8", "application/json; charset=latin1", "text/plain", "", "multipart/form-data; boundary=x"]

    static func random(using random: inout SplitMix64, token: String) -> FuzzRequest {
        switch random.next() % 10 {
        case 0: return .raw(randomBytes(using: &random, count: Int(random.next() % 300)))
        case 1:
            // A real header with a lying length or a wrong version, then garbage.
            var bytes = FastCGIClient.record(type: UInt8(random.next() % 12), content: randomBytes(using: &random, count: Int(random.next() % 64)))
            bytes[0] = UInt8(random.next() % 3)
            bytes[4] = UInt8(random.next() % 256)
            return .raw(bytes + randomBytes(using: &random, count: Int(random.next() % 64)))
        case 2:
            // Parameters whose length prefixes run past the record.
            let begin = FastCGIClient.record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0])
            let params = FastCGIClient.record(type: 4, content: [0x80, 0xFF, 0xFF, 0xFF, 5] + Array("NAMEVALUE".utf8))
            return .raw(begin + params + FastCGIClient.record(type: 4, content: []))
        default:
            break
        }
        var params: [(String, String)] = [
            ("REQUEST_METHOD", pick(methods, &random)),
            ("DOCUMENT_URI", random.next() % 8 == 0 ? randomText(using: &random, count: Int(random.next() % 2000)) : pick(paths, &random)),
            ("QUERY_STRING", randomQuery(using: &random)),
        ]
        let body: [UInt8]
        switch random.next() % 5 {
        case 0: body = randomBytes(using: &random, count: Int(random.next() % 2000))
        case 1: body = Array(#"{"answers": {"fun": "\#(randomText(using: &random, count: 20))"}}"#.utf8)
        case 2: body = Array(#"{"jobId": "\#(UUID().uuidString)"}"#.utf8)
        case 3: body = Array((String(repeating: "[", count: Int(random.next() % 3000)) + "1").utf8)
        default: body = []
        }
        if random.next() % 4 != 0 { params.append(("CONTENT_TYPE", pick(contentTypes, &random))) }
        switch random.next() % 4 {
        case 0: params.append(("CONTENT_LENGTH", String(body.count)))
        case 1: params.append(("CONTENT_LENGTH", String(Int(random.next() % 100_000_000))))  // lies
        case 2: params.append(("CONTENT_LENGTH", randomText(using: &random, count: 5)))
        default: break
        }
        if random.next() % 2 == 0 {
            params.append(("HTTP_AUTHORIZATION", random.next() % 3 == 0 ? "Bearer \(token)" : "Bearer " + randomText(using: &random, count: 60)))
        }
        if random.next() % 3 == 0 { params.append(("HTTP_X_TRIGGER_SECRET", random.next() % 2 == 0 ? Stack.triggerSecret : "guess")) }
        if random.next() % 5 == 0 { params.append(("HTTP_IDEMPOTENCY_KEY", randomText(using: &random, count: Int(random.next() % 300)))) }
        if random.next() % 10 == 0 { params.append((randomText(using: &random, count: 20), randomText(using: &random, count: 200))) }
        return .wellFormed(params: params, body: body)
    }

    static func pick(_ options: [String], _ random: inout SplitMix64) -> String { options[Int(random.next() % UInt64(options.count))] }

    static func randomBytes(using random: inout SplitMix64, count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    /// Random bytes read as Latin-1 text: any byte value, including NUL and invalid UTF-8 once encoded back.
    static func randomText(using random: inout SplitMix64, count: Int) -> String {
        String(decoding: randomBytes(using: &random, count: count).map { $0 == 0 ? 1 : $0 }, as: UTF8.self)
    }

    static func randomQuery(using random: inout SplitMix64) -> String {
        switch random.next() % 5 {
        case 0: return ""
        case 1: return "jobId=\(UUID().uuidString)"
        case 2: return "jobId=\(UUID().uuidString)&jobId=\(UUID().uuidString)"
        case 3: return "id=%ZZ%\(randomText(using: &random, count: 10))&access_token=x"
        default: return String(repeating: "a=b&", count: Int(random.next() % 2000))
        }
    }
}

/// A small seeded generator, so a failing fuzz run can be replayed exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
