import ArgumentParser
import Foundation
import VisionQueue

nonisolated(unsafe) private var stopSignal: Int32 = 0

/// `vision-queue serve`: the whole stack on one machine. Starts the three FastCGI binaries and
/// nginx, prints the URL, replaces any process that dies, sweeps for stalled jobs, and on Ctrl-C
/// or SIGTERM stops everything it started.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run nginx and the three FastCGI binaries; settings come from VQ_* variables (see README.md).")

    @Option(help: "The repository folder holding www/ and nginx/.")
    var root: String = FileManager.default.currentDirectoryPath

    @Flag(help: "Stop when the process that started this one exits (for test harnesses).")
    var exitWithParent = false

    @Flag(help: "Write nginx's access log to the logs folder.")
    var accessLog = false

    /// Where `serve` keeps its files, made absolute so the children and nginx agree on them.
    struct Folders {
        var data: String
        var logs: String
        var sockets: String
    }

    func run() throws {
        var environment = ProcessInfo.processInfo.environment
        let configuration = try VisionQueueConfiguration(environment: environment)
        let log = configuration.logger("vision-queue")
        let root = try repositoryRoot()
        let folders = try Self.makeFolders(configuration)
        try Self.lockDataFolder(folders.data)
        environment["VQ_DATA_DIR"] = folders.data
        environment["VQ_SOCKET_DIR"] = folders.sockets
        environment["VQ_DB_PATH"] = URL(fileURLWithPath: configuration.databasePath).standardizedFileURL.path
        environment["VQ_PROMPTS_DIR"] = environment["VQ_PROMPTS_DIR"].map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            ?? root + "/prompts"
        if configuration.triggerSecret == nil {
            environment["VQ_TRIGGER_SECRET_FILE"] = try Self.generatedSecret(at: folders.data + "/trigger-secret")
        }
        // Migrate once before anything starts, so a schema problem is reported here, plainly.
        try JobStoreFactory(configuration: try VisionQueueConfiguration(environment: environment)).migrate()

        Self.handleStopSignals()
        // The sweep's and the dead workers' counts; the binaries count for themselves.
        SharedFileMetrics.bootstrap(directory: folders.data + "/metrics", log: log)
        let parent = getppid()
        let supervisor = Supervisor(environment: environment, log: log)
        // The configuration as the children see it (the folders and the trigger secret set above).
        let deadWorkers = DeadWorkerClaims(configuration: try VisionQueueConfiguration(environment: environment), log: log)
        supervisor.onUnexpectedExit = { program, pid in
            if program.name.hasPrefix("vision-process") { deadWorkers.endClaims(of: program.name, pid: pid) }
        }
        let stopAll = { supervisor.stopAll(graceSeconds: configuration.shutdownGraceSeconds + 5) }
        try Self.startBinaries(supervisor, configuration, folders)
        do {
            try startNginx(supervisor, environment, configuration, root: root, folders)
        } catch {
            stopAll()
            throw error
        }
        Self.announce(configuration, folders)

        // The sweep runs on a thread of its own; the supervision loop below stays on this one.
        if configuration.sweepIntervalSeconds > 0 {
            try SweepLoop.start(environment: environment, interval: configuration.sweepIntervalSeconds, log: log)
        }
        while stopSignal == 0 {
            if exitWithParent && getppid() != parent { break }
            usleep(100_000)
            if stopSignal != 0 { break }
            supervisor.reapAndRestart(stopping: false)
        }
        log.info("stopping every process")
        stopAll()
        Self.say("Vision Queue stopped.")
    }

    /// The repository folder, checked to hold the pages and the nginx template.
    private func repositoryRoot() throws -> String {
        let root = URL(fileURLWithPath: self.root).standardizedFileURL.path
        let fm = FileManager.default
        guard fm.fileExists(atPath: root + "/www/index.html"), fm.fileExists(atPath: root + "/nginx/local.conf.template") else {
            throw ValidationError("\(root) does not look like the Vision Queue repository (no www/ or nginx/); pass --root")
        }
        return root
    }

    private static func makeFolders(_ configuration: VisionQueueConfiguration) throws -> Folders {
        let data = URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path
        let folders = Folders(
            data: data, logs: data + "/logs",
            sockets: URL(fileURLWithPath: configuration.socketDirectory).standardizedFileURL.path)
        for directory in [folders.data, folders.logs, folders.sockets] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        return folders
    }

    /// One `serve` per data folder: a second one would take over the first one's sockets. The
    /// lock is held until the process exits (the descriptor is never closed).
    private static func lockDataFolder(_ data: String) throws {
        let lock = open(data + "/serve.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            throw ValidationError("another `vision-queue serve` is already running with \(data); stop it or set VQ_DATA_DIR")
        }
    }

    /// Ctrl-C, SIGTERM and SIGHUP set `stopSignal`, which the supervision loop reads.
    private static func handleStopSignals() {
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&handled, signal) }
        pthread_sigmask(SIG_UNBLOCK, &handled, nil)  // a harness may have started us with them blocked
        signal(SIGINT) { stopSignal = $0 }
        signal(SIGTERM) { stopSignal = $0 }
        signal(SIGHUP) { stopSignal = $0 }
        signal(SIGPIPE, SIG_IGN)
    }

    /// `VQ_PROCESSES` copies of vision-create and vision-status and `VQ_PROCESS_PROCESSES` of
    /// vision-process, each binary's on one listening socket that `serve` owns, so a restarted
    /// process loses no connection.
    private static func startBinaries(
        _ supervisor: Supervisor, _ configuration: VisionQueueConfiguration, _ folders: Folders
    ) throws {
        let binDirectory = executableDirectory()
        for binary in ["vision-create", "vision-process", "vision-status"] {
            let socket = try UnixListener.listen(at: folders.sockets + "/\(binary).sock")
            let copies = binary == "vision-process" ? configuration.processProcesses : configuration.processes
            for index in 1...copies {
                try supervisor.start(
                    .init(
                        name: "\(binary) #\(index)", executable: binDirectory + "/" + binary, arguments: [],
                        logFile: "\(folders.logs)/\(binary).log", pidFile: "\(folders.sockets)/\(binary)-\(index).pid",
                        listenSocket: socket))
            }
        }
    }

    /// Renders nginx's configuration, starts it, and waits until its port accepts connections.
    private func startNginx(
        _ supervisor: Supervisor, _ environment: [String: String], _ configuration: VisionQueueConfiguration,
        root: String, _ folders: Folders
    ) throws {
        let nginx = NginxSetup(
            repositoryRoot: root, prefix: folders.data + "/nginx", logDirectory: folders.logs,
            socketDirectory: folders.sockets, host: configuration.host, port: configuration.port, accessLog: accessLog,
            snippets: NginxSnippets(configuration))
        try nginx.write()
        try supervisor.start(
            .init(
                name: "nginx", executable: Self.setpriv ?? Self.nginxPath(environment),
                arguments: (Self.setpriv == nil ? [] : ["--pdeathsig", "TERM", Self.nginxPath(environment)])
                    + ["-p", nginx.prefix, "-c", nginx.configPath, "-e", folders.logs + "/nginx-error.log"],
                logFile: folders.logs + "/nginx.log", pidFile: nil))
        guard Self.waitFor(seconds: 15, { Self.portAccepts(host: configuration.host, port: configuration.port) }) else {
            throw ValidationError(
                "nginx did not start listening on \(configuration.host):\(configuration.port) (port taken?); see \(folders.logs)/nginx-error.log")
        }
    }

    private static func announce(_ configuration: VisionQueueConfiguration, _ folders: Folders) {
        say("Vision Queue is running at http://\(configuration.host):\(configuration.port)/")
        say(configuration.developmentMode
            ? "Development mode (no VQ_JWT_SECRET): every request is the single local user."
            : "Bearer tokens are required (VQ_JWT_SECRET is set).")
        say("Data and logs: \(folders.data). Press Ctrl-C to stop.")
    }

    /// Unbuffered, so a harness reading the pipe sees each line at once.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func generatedSecret(at path: String) throws -> String {
        if !FileManager.default.fileExists(atPath: path) {
            var bytes = [UInt8](repeating: 0, count: 32)
            for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
            let hex = bytes.map { String(format: "%02x", $0) }.joined()
            guard FileManager.default.createFile(atPath: path, contents: Data(hex.utf8), attributes: [.posixPermissions: 0o600])
            else { throw ValidationError("cannot write \(path)") }
        }
        return path
    }

    static func executableDirectory() -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (path as NSString).deletingLastPathComponent
    }

    /// util-linux's `setpriv`, which starts nginx with a parent-death signal: killed outright
    /// (SIGKILL, the OOM killer), `serve` cannot stop nginx itself, and nginx would keep the port.
    /// nginx's master never changes its own credentials, so the setting holds; its SIGTERM is a
    /// fast shutdown that takes the workers with it. The supervisor spawns from the main thread,
    /// which lives as long as `serve`.
    static let setpriv: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func nginxPath(_ environment: [String: String]) -> String {
        if let configured = environment["VQ_NGINX"], !configured.isEmpty { return configured }
        let candidates = (environment["PATH"] ?? "").split(separator: ":").map { "\($0)/nginx" } + ["/usr/sbin/nginx"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/nginx"
    }

    static func waitFor(seconds: Int, _ condition: () -> Bool) -> Bool {
        let deadline = Clock.now() + Int64(seconds) * 1000
        while Clock.now() < deadline {
            if stopSignal != 0 { return false }
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    static func portAccepts(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
