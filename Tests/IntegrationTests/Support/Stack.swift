import Foundation
import VisionQueue
import VisionQueueTestSupport

/// The real service for a test suite: `vision-queue serve` (nginx + the three FastCGI binaries +
/// a SQLite file) in a temp folder on a free loopback port, in its own process group, stopped at
/// the end of the test run even when a test fails (and by itself if the test process dies).
final class Stack: @unchecked Sendable {
    static let jwtSecret = "integration-test-secret-0123456789abcdef"
    static let triggerSecret = "integration-trigger-secret"

    let port: Int
    let dataDirectory: String
    let launcherPID: pid_t
    let client: HTTPClient
    /// `VQ_JWT_ISSUER` of this stack, which its tokens must carry.
    let issuer: String?
    private let outputPath: String

    struct Options {
        var generatorDelayMillis = 0
        var threads = 4
        var processes = 2
        var developmentMode = false
        var environment: [String: String] = [:]
        /// Reuse an earlier stack's folder (and so its database), as a restart would.
        var dataDirectory: String? = nil
        /// The store: `VQ_TEST_STORE=postgres` runs the integration suites on PostgreSQL (a fresh
        /// schema per stack on the test server), SQLite otherwise.
        var store: StoreBackend = StoreBackend(rawValue: ProcessInfo.processInfo.environment["VQ_TEST_STORE"] ?? "") ?? .sqlite
        /// Reuse an earlier stack's database (a PostgreSQL schema), as another node or a restart would.
        var database: TestDatabase? = nil
        /// nginx's port; a free one when nil.
        var port: Int? = nil
    }

    /// The stack's database, for statements behind the service's back.
    let database: TestDatabase

    /// Starts a stack and waits until it answers. Every started stack is stopped at process exit.
    static func start(_ options: Options = Options()) throws -> Stack {
        let stack = try Stack(options)
        registry.add(stack)
        return stack
    }

    private init(_ options: Options) throws {
        port = try options.port ?? Self.freePort()
        dataDirectory = options.dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("vq-it-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        outputPath = dataDirectory + "/serve.out"
        try? FileManager.default.removeItem(atPath: outputPath)  // a restart on the same folder starts a fresh log
        client = HTTPClient(port: port)
        issuer = options.environment["VQ_JWT_ISSUER"]
        if let shared = options.database {
            database = shared
        } else if options.store == .sqlite {
            database = TestDatabase(sqliteFile: dataDirectory + "/vision-queue.sqlite3")
        } else {
            database = try options.store.freshDatabase()
        }

        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VQ_") }
        environment["VQ_PORT"] = String(port)
        environment["VQ_DATA_DIR"] = dataDirectory
        environment["VQ_GENERATOR_DELAY_MS"] = String(options.generatorDelayMillis)
        environment["VQ_THREADS"] = String(options.threads)
        environment["VQ_PROCESSES"] = String(options.processes)
        // Tests that kill "one of the workers" expect as many of vision-process as of the others.
        environment["VQ_PROCESS_PROCESSES"] = String(options.processes)
        environment["VQ_TRIGGER_SECRET"] = Self.triggerSecret
        environment["VQ_SHUTDOWN_GRACE_SECONDS"] = "3"
        environment.merge(database.environment) { $1 }
        if !options.developmentMode { environment["VQ_JWT_SECRET"] = Self.jwtSecret }
        environment.merge(options.environment) { $1 }

        launcherPID = try Self.spawnInOwnGroup(
            Self.binDirectory + "/vision-queue",
            ["serve", "--root", Self.repositoryRoot, "--exit-with-parent"],
            environment: environment, output: outputPath)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            if output.contains("is running at") { return }
            var status: Int32 = 0
            if waitpid(launcherPID, &status, WNOHANG) == launcherPID {
                throw HTTPClient.Failure(description: "the stack exited at start: \(output)\n\(logs())")
            }
            usleep(50_000)
        }
        stop()
        throw HTTPClient.Failure(description: "the stack did not start in 60 s: \(logs())")
    }

    private let stopLock = NSLock()
    private var stopped = false

    /// SIGTERM to the launcher (which stops its children), SIGKILL to the group after 10 s.
    /// Safe to call more than once, and on a stack a test already stopped or killed.
    func stop() {
        stopLock.lock()
        defer { stopLock.unlock() }
        guard !stopped else { return }
        stopped = true
        kill(launcherPID, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        var status: Int32 = 0
        while Date() < deadline {
            let reaped = waitpid(launcherPID, &status, WNOHANG)
            if reaped == launcherPID || reaped < 0 { break }
            usleep(20_000)
        }
        kill(-launcherPID, SIGKILL)
        _ = waitpid(launcherPID, &status, WNOHANG)
    }

    /// kill -9 of the launcher and everything it started, all at the same instant.
    func killEverything() {
        stopLock.lock()
        stopped = true
        stopLock.unlock()
        kill(-launcherPID, SIGKILL)
        var status: Int32 = 0
        waitpid(launcherPID, &status, 0)
        usleep(200_000)  // let the kernel reap the children the launcher can no longer wait for
    }

    func token(for user: String) -> String {
        TokenMinter.token(subject: user, secret: Self.jwtSecret, issuer: issuer)
    }

    /// The pid of one of the supervised binaries' processes (1-based), from the pid file the launcher writes.
    func pid(of binary: String, process: Int = 1) -> pid_t? {
        guard let text = try? String(contentsOfFile: "\(dataDirectory)/run/\(binary)-\(process).pid", encoding: .utf8)
        else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A connection to the stack's database (SQLite or PostgreSQL), for statements behind its back.
    func db() throws -> any SQLDatabase { try database.connection() }

    /// Every log of this stack, for failure messages.
    func logs() -> String {
        let directory = dataDirectory + "/logs"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.sorted().map { name in
            let text = (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
            return "== \(name)\n" + text.split(separator: "\n").suffix(30).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    // MARK: Job helpers

    /// Creates a job and answers its id.
    func createJob(token: String?, answers: [String: String] = ["fun": "Painting on Sundays"]) throws -> String {
        let response = try client.postJSON("/api/vision-jobs/create", ["answers": answers], token: token)
        guard response.status == 201 || response.status == 200, let id = response.json?["jobId"] as? String else {
            throw HTTPClient.Failure(description: "create failed: \(response)")
        }
        return id
    }

    func status(_ jobID: String, token: String?) throws -> [String: Any] {
        let response = try client.get("/api/vision-jobs/status?jobId=\(jobID)", token: token)
        guard response.status == 200, let json = response.json else { throw HTTPClient.Failure(description: "status: \(response)") }
        return json
    }

    /// Polls status until `done` holds (or the timeout passes) and answers the last status.
    @discardableResult
    func waitForJob(_ jobID: String, token: String?, timeout: TimeInterval = 60,
                    until done: ([String: Any]) -> Bool = Stack.isFinal) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try status(jobID, token: token)
            if done(last) { return last }
            usleep(20_000)
        }
        throw HTTPClient.Failure(description: "job \(jobID) did not get there in \(timeout) s; last: \(last)\n\(logs())")
    }

    /// Waits for a job through the list endpoint, which (unlike status) never re-triggers a stalled
    /// job: for tests that must show recovery came from somewhere else.
    @discardableResult
    func waitViaList(_ jobID: String, token: String?, timeout: TimeInterval = 60,
                     until done: ([String: Any]) -> Bool = Stack.isFinal) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            let response = try client.get("/api/vision-jobs/list", token: token)
            let jobs = response.json?["jobs"] as? [[String: Any]] ?? []
            last = jobs.first { $0["jobId"] as? String == jobID } ?? [:]
            if done(last) { return last }
            usleep(50_000)
        }
        throw HTTPClient.Failure(description: "job \(jobID) did not get there in \(timeout) s; last: \(last)\n\(logs())")
    }

    /// Rows of the categories table for one job, read straight from the database file.
    func categoryRows(_ jobID: String) throws -> [CategoryRow] {
        let db = try self.db()
        return try db.rows(
            """
            SELECT category, status, attempts, lease_owner, started_at, lease_expires_at
            FROM vision_job_categories WHERE job_id = ? ORDER BY position
            """, [.text(jobID)]
        ) { row in
            CategoryRow(
                key: row.text(0), status: row.text(1), attempts: Int(row.int(2)), leaseOwner: row.optionalText(3),
                startedAt: row.optionalInt(4), leaseExpiresAt: row.optionalInt(5))
        }
    }

    /// Installs an audit trigger in the database: from now on every stored category output is
    /// logged, so a test can check that each was written exactly once. Test-only, plain SQLite.
    func auditOutputWrites() throws {
        let db = try self.db()
        switch database.backend {
        case .sqlite:
            try db.execute(
                """
                CREATE TABLE IF NOT EXISTS test_output_writes (job_id TEXT, position INTEGER);
                CREATE TRIGGER IF NOT EXISTS test_audit_output AFTER UPDATE OF status ON vision_job_categories
                WHEN NEW.status = 'done' AND OLD.status != 'done'
                BEGIN INSERT INTO test_output_writes VALUES (NEW.job_id, NEW.position); END;
                """)
        case .postgres:
            try db.execute(
                """
                CREATE TABLE IF NOT EXISTS test_output_writes (job_id text, position integer);
                CREATE OR REPLACE FUNCTION test_audit_output() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO test_output_writes VALUES (NEW.job_id::text, NEW.position); RETURN NEW; END $$;
                DROP TRIGGER IF EXISTS test_audit_output ON vision_job_categories;
                CREATE TRIGGER test_audit_output AFTER UPDATE OF status ON vision_job_categories
                FOR EACH ROW WHEN (NEW.status = 'done' AND OLD.status <> 'done') EXECUTE FUNCTION test_audit_output();
                """)
        }
    }

    /// How many times each category's output was stored, per job, from the audit trigger.
    func outputWrites() throws -> [String: [Int: Int]] {
        let db = try self.db()
        var writes: [String: [Int: Int]] = [:]
        for (job, position, count) in try db.rows(
            "SELECT job_id, position, COUNT(*) FROM test_output_writes GROUP BY job_id, position", [],
            { ($0.text(0), Int($0.int(1)), Int($0.int(2))) })
        {
            writes[job, default: [:]][position] = count
        }
        return writes
    }

    struct CategoryRow {
        var key: String
        var status: String
        var attempts: Int
        var leaseOwner: String?
        var startedAt: Int64?
        var leaseExpiresAt: Int64?
    }

    /// What `serve` itself printed and logged.
    var serveOutput: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func logText(_ binary: String) -> String {
        (try? String(contentsOfFile: "\(dataDirectory)/logs/\(binary).log", encoding: .utf8)) ?? ""
    }

    static func isFinal(_ status: [String: Any]) -> Bool {
        ["completed", "failed", "cancelled"].contains(status["status"] as? String ?? "")
    }

    // MARK: Process plumbing

    static let repositoryRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
    }()

    /// Where `swift build` put the binaries: next to the test bundle, unless VQ_BIN_DIR says otherwise.
    static let binDirectory: String = {
        if let configured = ProcessInfo.processInfo.environment["VQ_BIN_DIR"], !configured.isEmpty { return configured }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("vision-queue").path) {
                return directory.path
            }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: executable).deletingLastPathComponent().path
    }()

    static func freePort() throws -> Int { try LoopbackPort.free() }

    static func spawnInOwnGroup(_ executable: String, _ arguments: [String], environment: [String: String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard code == 0 else { throw HTTPClient.Failure(description: "cannot start \(executable): \(code)") }
        return pid
    }

    private static let registry = Registry()

    /// Stops every stack when the test process exits.
    private final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var stacks: [Stack] = []

        func add(_ stack: Stack) {
            lock.lock()
            if stacks.isEmpty { atexit { Stack.registry.stopAll() } }
            stacks.append(stack)
            lock.unlock()
        }

        func stopAll() {
            lock.lock()
            let all = stacks
            stacks.removeAll()
            lock.unlock()
            for stack in all { stack.stop() }
        }
    }
}
