import Foundation
import VisionQueue

/// A real PostgreSQL 15 server for the tests: `initdb` in a temporary folder, started on a free
/// loopback port, once per test process and stopped when it exits. PostgreSQL refuses to run as
/// root, so as root it runs as the `postgres` user Debian's package creates.
///
/// Each test takes a schema of its own (`freshSchema()`), so tests share the server without
/// seeing each other's rows.
public final class TestPostgres: @unchecked Sendable {
    public static let shared = Result { try TestPostgres() }

    /// A server of the caller's own, for tests that stop and restart it (the shared one must stay up
    /// for everyone else). Stopped when the test process exits.
    public static func dedicated() throws -> TestPostgres { try TestPostgres() }

    private static let everyServer = LockedServers()

    public let port: Int
    public let directory: String
    private let binaries = "/usr/lib/postgresql/15/bin"
    private let lock = NSLock()
    private var server: Process?

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: trust authentication on loopback.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vq-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try LoopbackPort.free()
        if getuid() == 0 { try Self.run("/bin/chown", ["postgres", directory]) }
        try runAsServerUser(binaries + "/initdb", ["-D", directory + "/data", "-A", "trust", "-U", "postgres", "--no-sync"])
        try start()
        Self.everyServer.add(self)
    }

    /// Starts the server (again) and waits until it accepts connections.
    public func start() throws {
        lock.lock()
        defer { lock.unlock() }
        let process = Process()
        if getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", "postgres", "--", binaries + "/postgres"] + serverArguments
        } else {
            process.executableURL = URL(fileURLWithPath: binaries + "/postgres")
            process.arguments = serverArguments
        }
        let log = FileHandle(forWritingAtPath: directory + "/server.log") ?? {
            _ = FileManager.default.createFile(atPath: directory + "/server.log", contents: nil)
            return FileHandle(forWritingAtPath: directory + "/server.log")!
        }()
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        server = process
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? probe()) == true { return }
            usleep(100_000)
        }
        throw TestPostgresError(description: "PostgreSQL did not start: \(serverLog())")
    }

    /// Stops the server at once (an immediate shutdown, as a crash or a failover looks to clients).
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard let server else { return }
        // The postmaster itself (runuser does not pass signals on): SIGINT is PostgreSQL's fast
        // shutdown, every connection cut at once, as clients see a crash or a failover.
        if let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
            let line = text.split(separator: "\n").first, let pid = pid_t(line.trimmingCharacters(in: .whitespaces))
        {
            kill(pid, SIGINT)
            let deadline = Date().addingTimeInterval(15)
            while kill(pid, 0) == 0 && Date() < deadline { usleep(50_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        if server.isRunning { kill(server.processIdentifier, SIGKILL) }
        server.waitUntilExit()
        self.server = nil
    }

    /// A new, empty schema name: a test's own database, in effect.
    public func freshSchema() -> String {
        "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
    }

    /// A connection to a schema (migrated when asked).
    public func connection(schema: String) -> PostgresConnection {
        PostgresConnection(.init(url: url, schema: schema))
    }

    public func serverLog() -> String {
        (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)).map { String($0.suffix(2_000)) } ?? ""
    }

    private var serverArguments: [String] {
        ["-D", directory + "/data", "-p", String(port), "-k", directory, "-c", "listen_addresses=127.0.0.1",
         "-c", "max_connections=400", "-c", "shared_buffers=64MB", "-c", "log_min_messages=warning"]
    }

    private func probe() throws -> Bool {
        let connection = PostgresConnection(.init(url: url, schema: "public"))
        return try connection.row("SELECT 1", []) { $0.int(0) } == 1
    }

    private func runAsServerUser(_ executable: String, _ arguments: [String]) throws {
        if getuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        } else {
            try Self.run(executable, arguments)
        }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let (status, text) = try Command.run(executable, arguments)
        guard status == 0 else {
            throw TestPostgresError(description: "\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public var description: String
}

/// Every server started, stopped when the test process exits.
private final class LockedServers: @unchecked Sendable {
    private let lock = NSLock()
    private var servers: [TestPostgres] = []

    func add(_ server: TestPostgres) {
        lock.lock()
        defer { lock.unlock() }
        if servers.isEmpty { atexit { TestPostgres.stopEveryServer() } }
        servers.append(server)
    }

    var all: [TestPostgres] {
        lock.lock()
        defer { lock.unlock() }
        return servers
    }
}

extension TestPostgres {
    fileprivate static func stopEveryServer() {
        for server in everyServer.all { server.stop() }
    }
}
