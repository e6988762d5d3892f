import Foundation
import Testing
@testable import VisionQueue
@_exported import VisionQueueTestSupport

/// A SQLite file of its own under the temporary directory. `remove()` deletes it with its WAL files.
struct TemporaryDatabase: Sendable {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("vision-queue-unit-\(UUID().uuidString).sqlite3").path
    }

    func remove() {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }
}

/// A fake `TriggerSink` that only records what it was asked to trigger.
final class RecordingTrigger: TriggerSink, @unchecked Sendable {
    struct Call: Equatable, Sendable {
        var jobID: JobID
        var notBefore: EpochMillis?
        var reservation: String? = nil
    }

    private let lock = NSLock()
    private var recorded: [Call] = []

    func trigger(_ jobID: JobID, notBefore: EpochMillis?, reservation: String?) {
        lock.lock()
        recorded.append(Call(jobID: jobID, notBefore: notBefore, reservation: reservation))
        lock.unlock()
    }

    var calls: [Call] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }

    var jobIDs: [JobID] { calls.map(\.jobID) }
}

/// A logger that stays quiet unless something is really wrong, so test output stays readable.
let quietLog = Logger(label: "unit-test", minimum: .error)

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Parses a response body or fails the test.
func jsonObject(_ body: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: JSONValue] {
    let value = try JSONParser.parse(body)
    return try #require(value.objectValue, "body is not a JSON object: \(String(decoding: body, as: UTF8.self))",
                        sourceLocation: sourceLocation)
}

/// `{"error": {"code": ..., "message": ...}}` of an error response: the code, after checking the shape.
func errorCode(of response: HTTPResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let body = try jsonObject(response.body, sourceLocation: sourceLocation)
    #expect(Set(body.keys) == ["error"], sourceLocation: sourceLocation)
    let error = try #require(body["error"]?.objectValue, sourceLocation: sourceLocation)
    #expect(Set(error.keys) == ["code", "message"], sourceLocation: sourceLocation)
    #expect(error["message"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
    return try #require(error["code"]?.stringValue, sourceLocation: sourceLocation)
}

/// The error an APIError-throwing call threw, or nil when it did not throw.
func apiError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> APIError? {
    do {
        try body()
        return nil
    } catch let error as APIError {
        return error
    } catch {
        Issue.record("threw \(error), not an APIError", sourceLocation: sourceLocation)
        return nil
    }
}

/// An independent HMAC-SHA256 (FIPS 180-4, RFC 2104), so tests can sign hand-made JWTs without
/// going through the code under test.
enum TestHMAC {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    static func sha256(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var data = message
        let bitLength = UInt64(message.count) * 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 64)
        for chunk in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                let j = chunk + 4 * i
                w[i] = UInt32(data[j]) << 24 | UInt32(data[j + 1]) << 16 | UInt32(data[j + 2]) << 8 | UInt32(data[j + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            for (i, value) in [a, b, c, d, e, f, g, hh].enumerated() { h[i] &+= value }
        }
        return h.flatMap { word in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: word >> UInt32($0)) } }
    }

    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? sha256(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = sha256(block.map { $0 ^ 0x36 } + message)
        return sha256(block.map { $0 ^ 0x5c } + inner)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

/// A compact JWS signed with HS256 by `TestHMAC`, over exactly the header and payload text given.
func handSignedToken(header: String, payload: String, secret: String) -> String {
    let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
    return input + "." + Base64URL.encode(TestHMAC.hmacSHA256(key: Array(secret.utf8), message: Array(input.utf8)))
}

/// Waits (up to 5 s) for something another thread does; answers whether it happened.
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<5_000 where !condition() { usleep(1_000) }
    return condition()
}

/// What a thread hands back once, read by the test (waiting up to 5 s for it).
final class ThreadOutcome<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?

    func set(_ value: Value) { lock.withLock { stored = value } }

    var value: Value? {
        _ = eventually { lock.withLock { stored != nil } }
        return lock.withLock { stored }
    }
}

/// A gate one thread waits at (up to 5 s) until the test opens it.
final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var isOpen = false

    func open() { lock.withLock { isOpen = true } }
    func wait() { _ = eventually { lock.withLock { isOpen } } }
}

extension VisionGenerator {
    /// The section's text alone, its progress ignored.
    func write(_ request: GenerationRequest) throws(GenerationError) -> String {
        try write(request, progress: IgnoredProgress()).text
    }
}
