import Foundation
import VisionQueue
import VisionQueueTestSupport

/// A process a test suite starts and stops at the end of the test run (or when the test process
/// dies): the model servers the stacks talk to.
final class TestServerProcess: @unchecked Sendable {
    let port: Int
    let pid: pid_t
    let logPath: String

    init(executable: String, arguments: (_ port: Int) -> [String], logPath: String, port chosen: Int? = nil, ready: (_ port: Int) -> Bool) throws {
        let port = try chosen ?? Stack.freePort()
        self.port = port
        self.logPath = logPath
        pid = try Stack.spawnInOwnGroup(
            executable, arguments(port), environment: ProcessInfo.processInfo.environment, output: logPath)
        Self.all.withLock { $0.append(pid) }
        Self.stopAtExit
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if ready(port) { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw HTTPClient.Failure(description: "\(executable) exited at start: \(output)")
            }
            usleep(100_000)
        }
        stop()
        throw HTTPClient.Failure(description: "\(executable) did not start in 60 s: \(output)")
    }

    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() {
        kill(-pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<50 where waitpid(pid, &status, WNOHANG) == 0 { usleep(100_000) }
        kill(-pid, SIGKILL)
        _ = waitpid(pid, &status, WNOHANG)
    }

    private static let all = NIOLockedBox<[pid_t]>([])
    private static let stopAtExit: Void = {
        atexit { for pid in TestServerProcess.all.withLock({ $0 }) { kill(-pid, SIGKILL) } }
    }()
}

/// A tiny lock-protected box (Foundation's NSLock), for the test support's shared lists.
final class NIOLockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// The stand-in for a hosted provider (`Tests/Fakes/standin_chat_completions.py`, a fake named
/// so): misbehaves on request, records every call it gets.
final class StandInModelServer: @unchecked Sendable {
    let process: TestServerProcess
    let callLog: String

    /// - Parameter proxy: forward every call to this real server's `/v1` and record its usage.
    init(streamSeconds: Double = 0.2, proxy: String? = nil) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vq-standin-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let callLog = directory + "/calls.jsonl"
        self.callLog = callLog
        process = try TestServerProcess(
            executable: "/usr/bin/python3",
            arguments: { port in
                [Stack.repositoryRoot + "/Tests/Fakes/standin_chat_completions.py", "--port", String(port), "--log", callLog,
                 "--stream-seconds", String(streamSeconds)] + (proxy.map { ["--proxy", $0] } ?? [])
            },
            logPath: directory + "/standin.out",
            ready: { port in (try? HTTPClient(port: port).get("/stats", token: nil).status) == 200 })
    }

    var baseURL: String { "http://127.0.0.1:\(process.port)/v1" }

    /// Every call so far, in the order they ended.
    func calls() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: callLog, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// The calls made for one job, oldest first.
    func calls(forJob jobID: String) -> [[String: Any]] {
        calls().filter { ($0["headers"] as? [String: String])?["idempotency-key"]?.hasPrefix(jobID) == true }
            .sorted { ($0["time"] as? Double ?? 0) < ($1["time"] as? Double ?? 0) }
    }

    func stats() throws -> [String: Any] {
        try HTTPClient(port: process.port).get("/stats", token: nil).json ?? [:]
    }
}

/// The real local model server (`scripts/model-server`: llama.cpp's server with Gemma 3 270M),
/// built once per machine into its cache folder.
final class LocalModelServer: @unchecked Sendable {
    let process: TestServerProcess

    init() throws {
        let script = Stack.repositoryRoot + "/scripts/model-server"
        let binary = try Self.run(script, ["binary"])
        let model = try Self.run(script, ["model"])
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("vq-llama-\(UUID().uuidString.prefix(8)).out").path
        process = try TestServerProcess(
            executable: binary,
            arguments: { port in
                ["-m", model, "--host", "127.0.0.1", "--port", String(port), "--alias", "gemma-3-270m", "--no-jinja",
                 "--chat-template", "gemma", "-c", "4096", "-np", "2", "-t", "2", "--poll", "0", "-n", "256", "--no-webui"]
            },
            logPath: log,
            ready: { port in (try? HTTPClient(port: port).get("/health", token: nil).status) == 200 })
    }

    var baseURL: String { "http://127.0.0.1:\(process.port)/v1" }

    /// Runs the script and answers the last line it printed (installing the server first if needed).
    private static func run(_ script: String, _ arguments: [String]) throws -> String {
        let (status, text) = try Command.run(script, arguments)
        guard status == 0, let line = text.split(separator: "\n").last.map(String.init)
        else { throw HTTPClient.Failure(description: "scripts/model-server \(arguments) failed") }
        return line
    }
}
