import CFastCGI
import FoundationEssentials
import Glibc
import VisionQueue

/// The whole of a binary's `main`: read the configuration and flags, serve, exit.
///
/// Flags: `--socket PATH` (default `$VQ_SOCKET_DIR/<binary>.sock`), `--threads N` (default
/// `VQ_THREADS`, or `VQ_PROCESS_THREADS` for `vision-process`). A listening socket handed over by a supervisor is used instead of opening one:
/// `VQ_LISTEN_FD=N`, or systemd socket activation (`LISTEN_PID`/`LISTEN_FDS`, fd 3).
/// Exits 0 after a clean stop, 1 when it cannot start.
public enum FastCGIMain {
    /// - Parameter endpoints: called once per process; starts what the process shares and answers
    ///   how each worker thread builds its endpoint.
    public static func run(
        binary: String, endpoints: (VisionQueueServices) throws -> VisionQueueServices.EndpointFactory
    ) -> Never {
        vq_fcgi_hold_stop_signals()
        let log = Logger(label: binary)
        // 2 MB per arena: well above what one request frees at once, small next to the worker's size.
        vq_process_keep_freed_memory(2 << 20)
        do {
            var socketPath: String?
            var arguments = CommandLine.arguments.dropFirst().makeIterator()
            while let argument = arguments.next() {
                switch argument {
                case "--socket":
                    guard let path = arguments.next() else { throw ServerError("--socket needs a path") }
                    socketPath = path
                case "--threads":
                    guard let text = arguments.next(), let count = Int(text), (1...1024).contains(count) else {
                        throw ServerError("--threads needs a number from 1 to 1024")
                    }
                    // As the setting: the configuration decides from the threads the process really runs
                    // (whether they hold the limit of categories writing at once).
                    setenv(binary == "vision-process" ? "VQ_PROCESS_THREADS" : "VQ_THREADS", text, 1)
                case "--help", "-h":
                    print("usage: \(binary) [--socket PATH] [--threads N]   (settings: VQ_* environment variables, see README.md)")
                    exit(0)
                default:
                    throw ServerError("unknown argument \(argument)")
                }
            }
            let services = try VisionQueueServices(binary: binary)
            var settings = FastCGIServer.Settings(
                socketPath: socketPath ?? services.configuration.socketPath(for: binary),
                threads: services.configuration.threads(for: binary),
                maxBodyBytes: services.configuration.maxBodyBytes,
                graceSeconds: services.configuration.shutdownGraceSeconds)
            settings.inheritedSocket = socketPath == nil ? inheritedSocket() : nil
            if ProcessInfo.processInfo.environment["VQ_LISTEN_FD"] != nil, let parent = Int32(ProcessInfo.processInfo.environment["VQ_SUPERVISOR_PID"] ?? "") {
                // Started by `vision-queue serve`: stop cleanly if it is killed outright.
                _ = vq_fcgi_stop_with_parent(parent)
            }
            unsetenv("VQ_LISTEN_FD")  // not for children this process might start
            try FastCGIServer(settings, log: services.log).run(
                makeEndpoint: try endpoints(services), onGraceExpired: services.releaseHeldClaims)
            services.flushTriggers()
            services.endReservations()
            exit(0)
        } catch {
            log.error("cannot start: \(error)")
            exit(1)
        }
    }

    private static func inheritedSocket() -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        if let text = environment["VQ_LISTEN_FD"], let fd = Int32(text), fd >= 0 { return fd }
        if environment["LISTEN_PID"] == String(getpid()), let count = Int(environment["LISTEN_FDS"] ?? ""), count >= 1 {
            return 3
        }
        return nil
    }
}
