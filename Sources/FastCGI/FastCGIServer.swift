import CFastCGI
import CoreMetrics
import FoundationEssentials
import Glibc
import Synchronization
import VisionQueue

/// Serves an `Endpoint` over libfcgi: several threads, each looping on `FCGX_Accept_r` with its
/// own endpoint instance (and so its own database connection).
///
/// The listening socket is either handed over by a supervisor (`VQ_LISTEN_FD`, or systemd socket
/// activation), so a restarted binary takes over a socket that never stopped queueing connections,
/// or opened here at `socketPath`.
///
/// SIGTERM, SIGINT and SIGHUP stop it cleanly: idle workers are woken out of accept() and leave,
/// requests in flight (and their after-response work) get `graceSeconds` to finish, then `run`
/// returns. libfcgi alone would swallow the signal and keep blocking in accept().
public final class FastCGIServer {
    public struct Settings: Sendable {
        public var socketPath: String
        /// An already listening socket to serve instead of opening `socketPath`.
        public var inheritedSocket: Int32?
        public var threads: Int
        /// Bodies declared longer than this are not read; the endpoint sees `bodyTooLarge`.
        public var maxBodyBytes: Int
        public var graceSeconds: Int
        /// nginx's workers must be able to connect (they may run as another user in the same group).
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

    /// Blocks until a stop signal arrives and the workers have finished (or the grace period ran
    /// out). `makeEndpoint` is called once per worker thread, before any request is accepted.
    /// `onGraceExpired` runs when the grace period ends with work still in flight, just before `run`
    /// returns (the process then exits and that work dies with it).
    public func run(makeEndpoint: @escaping @Sendable () throws -> Endpoint, onGraceExpired: () -> Void = {}) throws {
        guard FCGX_Init() == 0 else { throw ServerError("FCGX_Init failed") }
        var wake: [Int32] = [0, 0]
        guard pipe(&wake) == 0 else { throw ServerError("pipe failed") }
        guard vq_fcgi_install_shutdown_handler(wake[1]) == 0 else { throw ServerError("cannot install signal handlers") }

        let listenSocket: Int32
        let ownsSocket: Bool
        if let inherited = settings.inheritedSocket {
            listenSocket = inherited
            ownsSocket = false
        } else {
            try FileManager.default.createParentDirectory(of: settings.socketPath)
            listenSocket = FCGX_OpenSocket(settings.socketPath, settings.backlog)
            guard listenSocket >= 0 else { throw ServerError("cannot listen on \(settings.socketPath)") }
            chmod(settings.socketPath, settings.socketMode)
            ownsSocket = true
        }

        let endpoints = try (0..<settings.threads).map { _ in try makeEndpoint() }
        let closesAtOnce = vq_fcgi_is_unix_socket(listenSocket) == 1
        let workers = endpoints.map {
            Worker(endpoint: $0, listenSocket: listenSocket, maxBodyBytes: settings.maxBodyBytes, closesAtOnce: closesAtOnce, log: log)
        }
        let running = Atomic<Int>(workers.count)
        for worker in workers {
            WorkerThread.start {
                worker.loop()
                running.subtract(1, ordering: .releasing)
            }
        }
        log.info("serving \(ownsSocket ? settings.socketPath : "inherited socket \(listenSocket)") with \(settings.threads) threads")

        var byte: UInt8 = 0
        while read(wake[0], &byte, 1) < 0 && errno == EINTR {}
        log.info("signal \(vq_fcgi_shutdown_signal()) received: accepting no more requests; up to \(settings.graceSeconds) s for those in flight")
        let deadline = Clock.now() + Int64(settings.graceSeconds) * 1000
        // Wake idle workers out of accept(), again and again: one may be just about to enter it.
        while running.load(ordering: .acquiring) > 0 {
            usleep(20_000)
            guard running.load(ordering: .acquiring) > 0 else { break }
            guard Clock.now() < deadline else {
                log.warning("grace period over with work still running; stopping anyway")
                onGraceExpired()
                break
            }
            for worker in workers { worker.interruptIfIdle() }
        }
        if ownsSocket {
            close(listenSocket)
            unlink(settings.socketPath)
        }
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
    /// Close each finished connection at once rather than with libfcgi's lingering close (see
    /// `vq_fcgi_is_unix_socket`): that waited for nginx to close first, a round trip between
    /// the two processes per request during which the thread serves nobody.
    let closesAtOnce: Bool
    let log: Logger
    /// True while the thread is in (or entering) accept(), where interrupting it is harmless.
    private let idle = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private var thread = pthread_t()
    /// This thread's answer counters by endpoint and status class, made once each.
    private var responses: [ResponseKey: Counter] = [:]

    private struct ResponseKey: Hashable {
        var endpoint: String
        var statusClass: Int
    }

    init(endpoint: Endpoint, listenSocket: Int32, maxBodyBytes: Int, closesAtOnce: Bool, log: Logger) {
        self.endpoint = endpoint
        self.listenSocket = listenSocket
        self.maxBodyBytes = maxBodyBytes
        self.closesAtOnce = closesAtOnce
        self.log = log
    }

    func interruptIfIdle() {
        guard started.load(ordering: .acquiring), idle.load(ordering: .acquiring) else { return }
        pthread_kill(thread, vq_fcgi_interrupt_signal())
    }

    func loop() {
        thread = pthread_self()
        started.store(true, ordering: .releasing)
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        guard FCGX_InitRequest(request, listenSocket, FCGI_FAIL_ACCEPT_ON_INTR) == 0 else {
            log.error("FCGX_InitRequest failed")
            return
        }
        var failures = 0
        while true {
            idle.store(true, ordering: .releasing)
            if vq_fcgi_shutdown_signal() != 0 {
                idle.store(false, ordering: .releasing)
                break
            }
            let accepted = FCGX_Accept_r(request)
            idle.store(false, ordering: .releasing)
            guard accepted >= 0 else {
                if vq_fcgi_shutdown_signal() != 0 { break }
                failures += 1
                if failures % 100 == 1 { log.error("FCGX_Accept_r failed (\(accepted)); retrying") }
                usleep(useconds_t(min(failures, 100) * 1000))
                continue
            }
            failures = 0
            let incoming = FastCGIRequestReader.read(request.pointee, maxBodyBytes: maxBodyBytes)
            let reply = endpoint.respond(to: incoming, log: log)
            count(reply.response.status, path: incoming.path)
            FastCGIResponseWriter.write(reply.response, head: incoming.method == "HEAD", to: request.pointee.out)
            // Only once the whole request was read (nginx may still be writing a body we refused),
            // and only for a connection that closes now (libfcgi clears the mark only on close).
            if closesAtOnce && request.pointee.keepConnection == 0 && FCGX_HasSeenEOF(request.pointee.in) != 0 {
                FCGX_Detach(request)
            }
            FCGX_Finish_r(request)
            reply.afterwards?()
        }
        FCGX_Free(request, 0)
    }

    private func count(_ status: Int, path: String) {
        let key = ResponseKey(endpoint: endpoint.metricsLabel(forPath: path), statusClass: status / 100)
        if let counter = responses[key] { return counter.increment() }
        let counter = QueueMetrics.responseCounter(endpoint: key.endpoint, status: status)
        responses[key] = counter
        counter.increment()
    }
}
