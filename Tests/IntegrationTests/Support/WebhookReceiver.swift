import Foundation

/// The tests' webhook receiver (`Tests/Webhooks/webhook_receiver.py`): verifies each delivery with
/// the Standard Webhooks reference library and records it. Stopped and started again on the same
/// port, it is a receiver that was down for a while.
final class WebhookReceiver: @unchecked Sendable {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    let port: Int
    let log: String
    private let options: [String]
    private var process: TestServerProcess?

    /// - Parameters:
    ///   - failFirst: answer 500 to this many deliveries first.
    ///   - delayMillis / delayCount: wait this long before answering the first `delayCount` deliveries.
    ///   - started: false to reserve the port only (a receiver that is down).
    init(failFirst: Int = 0, delayMillis: Int = 0, delayCount: Int = 1_000_000, started: Bool = true) throws {
        port = try Stack.freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vq-webhooks-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        log = directory + "/deliveries.jsonl"
        options = ["--fail-first", String(failFirst), "--delay-ms", String(delayMillis), "--delay-count", String(delayCount)]
        if started { try start() }
    }

    var url: String { "http://127.0.0.1:\(port)/hooks/vision" }

    /// What a stack needs to deliver here.
    var environment: [String: String] {
        ["VQ_WEBHOOK_URL": url, "VQ_WEBHOOK_SECRET": Self.secret, "VQ_WEBHOOK_FIRST_RETRY_MS": "100"]
    }

    func start() throws {
        let python = Stack.repositoryRoot + "/.build/webhook-receiver/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HTTPClient.Failure(description: "\(python) is missing: run Tests/Webhooks/install-receiver (scripts/test does)")
        }
        let log = self.log
        process = try TestServerProcess(
            executable: python,
            arguments: { port in
                [Stack.repositoryRoot + "/Tests/Webhooks/webhook_receiver.py", "--port", String(port), "--secret", Self.secret, "--log", log]
                    + options
            },
            logPath: log + ".out", port: port,
            ready: { port in (try? HTTPClient(port: port).get("/health", token: nil).status) == 200 })
    }

    func stop() {
        process?.stop()
        process = nil
    }

    /// Every delivery answered so far (verified or not), oldest first.
    func answered() -> [[String: Any]] { entries().filter { $0["phase"] as? String == "answered" } }

    /// Every delivery that arrived, answered or not.
    func received() -> [[String: Any]] { entries().filter { $0["phase"] as? String == "received" } }

    /// Deliveries accepted (verified and answered 2xx), by webhook-id.
    func accepted() -> [String: [[String: Any]]] {
        Dictionary(grouping: answered().filter { $0["status"] as? Int == 204 }) { $0["id"] as? String ?? "" }
    }

    /// Waits until `done` holds for the deliveries so far; answers whether it did in time.
    @discardableResult
    func wait(seconds: TimeInterval, until done: (WebhookReceiver) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if done(self) { return true }
            usleep(50_000)
        }
        return done(self)
    }

    private func entries() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}
