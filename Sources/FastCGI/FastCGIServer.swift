import CFastCGI
import Foundation
import VisionQueue

/// Serves an `Endpoint` over libfcgi on a unix socket: several threads, each looping on
/// `FCGX_Accept_r` with its own endpoint instance (and so its own database connection).
///
/// SIGTERM, SIGINT and SIGHUP stop it cleanly: the listening socket is shut down so no new request
/// is accepted, requests in flight (and their after-response work) get `graceSeconds` to finish,
/// and `run` returns. libfcgi alone would swallow the signal and keep blocking in accept().
public final class FastCGIServer {
    public struct Settings: Sendable {
        public var socketPath: String
        public var threads: Int
        /// Bodies declared longer than this are not read; the endpoint sees `bodyTooLarge`.
        public var maxBodyBytes: Int
        public var graceSeconds: Int
        /// nginx's workers must be able to connect (they may run as another user).
        public var socketMode: mode_t = 0o660
        public var backlog: Int32 = 1024

        public init(socketPath: String, threads: Int, maxBodyBytes: Int, graceSeconds: Int) {
            self.socketPath = socketPath
            self.threads = threads
            self.maxBodyBytes = maxBodyBytes
            self.graceSeconds = graceSeconds
        }
    }

    private let settings: Settings
    private let log: Logger

    public init(_ settings: Settings, log: Logger) {
        self.settings = settings
        self.log = log
    }

    /// Blocks until a stop signal arrives and the workers have finished (or the grace period ran out).
    /// `makeEndpoint` is called once per worker thread.
    public func run(makeEndpoint: @escaping @Sendable () throws -> Endpoint) throws {
        guard FCGX_Init() == 0 else { throw ServerError("FCGX_Init failed") }
        let directory = (settings.socketPath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let listenSocket = FCGX_OpenSocket(settings.socketPath, settings.backlog)
        guard listenSocket >= 0 else { throw ServerError("cannot listen on \(settings.socketPath)") }
        chmod(settings.socketPath, settings.socketMode)

        var wake: [Int32] = [0, 0]
        guard pipe(&wake) == 0 else { throw ServerError("pipe failed") }
        guard vq_fcgi_install_shutdown_handler(listenSocket, wake[1]) == 0 else {
            throw ServerError("cannot install signal handlers")
        }

        let endpoints = try (0..<settings.threads).map { _ in try makeEndpoint() }
        let finished = DispatchGroup()
        for (index, endpoint) in endpoints.enumerated() {
            finished.enter()
            let worker = Worker(
                endpoint: endpoint, listenSocket: listenSocket, maxBodyBytes: settings.maxBodyBytes, log: log)
            let thread = Thread {
                worker.loop()
                finished.leave()
            }
            thread.name = "fcgi-\(index)"
            thread.start()
        }
        log.info("listening on \(settings.socketPath) with \(settings.threads) threads")

        var byte: UInt8 = 0
        while read(wake[0], &byte, 1) < 0 && errno == EINTR {}
        log.info("signal \(vq_fcgi_shutdown_signal()) received: no new requests; waiting up to \(settings.graceSeconds) s for those in flight")
        if finished.wait(timeout: .now() + .seconds(settings.graceSeconds)) == .timedOut {
            log.warning("grace period over with work still running; stopping anyway")
        }
        unlink(settings.socketPath)
        log.info("stopped")
    }
}

public struct ServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One accepting thread. Holds its own `FCGX_Request` and endpoint; shares nothing else.
private final class Worker: @unchecked Sendable {
    let endpoint: Endpoint
    let listenSocket: Int32
    let maxBodyBytes: Int
    let log: Logger

    init(endpoint: Endpoint, listenSocket: Int32, maxBodyBytes: Int, log: Logger) {
        self.endpoint = endpoint
        self.listenSocket = listenSocket
        self.maxBodyBytes = maxBodyBytes
        self.log = log
    }

    func loop() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        guard FCGX_InitRequest(request, listenSocket, 0) == 0 else {
            log.error("FCGX_InitRequest failed")
            return
        }
        while vq_fcgi_shutdown_signal() == 0 {
            guard FCGX_Accept_r(request) >= 0 else { break }
            let incoming = FastCGIRequestReader.read(request.pointee, maxBodyBytes: maxBodyBytes)
            let reply = endpoint.respond(to: incoming, log: log)
            FastCGIResponseWriter.write(reply.response, head: incoming.method == "HEAD", to: request.pointee.out)
            FCGX_Finish_r(request)
            reply.afterwards?()
        }
        FCGX_Free(request, 1)
    }
}
