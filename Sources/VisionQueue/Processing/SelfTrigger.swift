import CCurl
import Foundation

/// Sends `POST /api/vision-jobs/process` back through nginx, without ever making the caller wait.
///
/// A worker that waited for its trigger to be accepted would need another worker of the same pool
/// to accept it; with every worker triggering at once, that deadlocks (measured: see the shared
/// notes). So callers only enqueue; one dispatcher thread per process runs every transfer
/// concurrently on a curl multi handle and goes back to sleep in `curl_multi_poll`. A refused
/// trigger (502/503/504, connection refused) is retried with backoff a few times, then left to
/// the sweep. This is the only file that touches libcurl's multi interface.
public final class SelfTrigger: TriggerSink, @unchecked Sendable {
    public struct Settings: Sendable {
        /// The process endpoint as nginx serves it, e.g. `http://127.0.0.1:8080/api/vision-jobs/process`.
        public var url: String
        /// Sent as `X-Trigger-Secret`; the process endpoint refuses requests without it.
        public var secret: String
        /// Transfers in flight at once; further triggers queue in memory.
        public var maxInFlight: Int = 256
        /// Tries per trigger before it is left to the sweep.
        public var maxTries: Int = 6
        /// Test switch: drop (never send) this share of triggers, 0...1.
        public var dropRate: Double = 0

        public init(url: String, secret: String) {
            self.url = url
            self.secret = secret
        }
    }

    private struct Pending {
        var jobID: JobID
        var notBefore: EpochMillis
        var tries: Int
    }

    private let settings: Settings
    private let lock = NSLock()
    private var queue: [Pending] = []
    private let multi: UnsafeMutableRawPointer
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private var inFlight: [UnsafeMutableRawPointer: Pending] = [:]
    private var headers: UnsafeMutablePointer<curl_slist>?
    private let log: Logger

    public init(_ settings: Settings, log: Logger) {
        self.settings = settings
        self.log = log
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        multi = curl_multi_init()
        headers = curl_slist_append(nil, "Content-Type: application/json")
        headers = curl_slist_append(headers, "X-Trigger-Secret: \(settings.secret)")
        headers = curl_slist_append(headers, "Expect:")
        let thread = Thread { [self] in run() }
        thread.name = "self-trigger"
        thread.start()
    }

    public func trigger(_ jobID: JobID, notBefore: EpochMillis?) {
        if settings.dropRate > 0, Double.random(in: 0..<1) < settings.dropRate {
            log.info("fault injection: dropped the trigger for job \(jobID)")
            return
        }
        lock.lock()
        queue.append(Pending(jobID: jobID, notBefore: notBefore ?? 0, tries: 0))
        lock.unlock()
        curl_multi_wakeup(multi)
    }

    /// Triggers queued or in flight; for tests and graceful stops.
    public var outstanding: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.count + inFlight.count
    }

    private func run() {
        while true {
            startDueTransfers()
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            collectFinished()
            curl_multi_poll(multi, nil, 0, pollTimeoutMillis(), nil)
        }
    }

    private func startDueTransfers() {
        let now = Clock.now()
        lock.lock()
        var due: [Pending] = []
        if !queue.isEmpty {
            var keep: [Pending] = []
            for entry in queue {
                if entry.notBefore <= now && inFlight.count + due.count < settings.maxInFlight {
                    due.append(entry)
                } else {
                    keep.append(entry)
                }
            }
            queue = keep
        }
        lock.unlock()
        for entry in due { start(entry) }
    }

    private func pollTimeoutMillis() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        let now = Clock.now()
        guard let next = queue.map(\.notBefore).min() else { return 1000 }
        return Int32(max(0, min(1000, next - now)))
    }

    private func start(_ entry: Pending) {
        let easy = idleHandles.popLast() ?? curl_easy_init()!
        curl_easy_reset(easy)
        vq_curl_setopt_string(easy, CURLOPT_URL, settings.url)
        vq_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        vq_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, 5_000)
        vq_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, 120_000)
        vq_curl_setopt_pointer(easy, CURLOPT_HTTPHEADER, headers)
        vq_curl_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, "{\"jobId\":\"\(entry.jobID.rawValue)\"}")
        vq_curl_discard_body(easy)
        lock.lock()
        inFlight[easy] = entry
        lock.unlock()
        curl_multi_add_handle(multi, easy)
    }

    private func collectFinished() {
        var easy: UnsafeMutableRawPointer?
        var result = CURLE_OK
        while vq_curl_multi_next_done(multi, &easy, &result) == 1, let handle = easy {
            var status = 0
            vq_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            curl_multi_remove_handle(multi, handle)
            idleHandles.append(handle)
            lock.lock()
            let entry = inFlight.removeValue(forKey: handle)
            lock.unlock()
            guard var entry else { continue }
            if result == CURLE_OK && (200..<300).contains(status) { continue }
            let reason = result == CURLE_OK ? "HTTP \(status)" : String(cString: curl_easy_strerror(result))
            entry.tries += 1
            guard entry.tries < settings.maxTries, result != CURLE_OK || status >= 500 || status == 429 else {
                log.warning("trigger for job \(entry.jobID) gave up after \(entry.tries) tries (\(reason)); the sweep will find it")
                continue
            }
            let delay = Int64(250 << min(entry.tries, 6))
            entry.notBefore = Clock.now() + delay + Int64.random(in: 0...delay)
            log.info("trigger for job \(entry.jobID) refused (\(reason)); retrying in about \(delay) ms")
            lock.lock()
            queue.append(entry)
            lock.unlock()
        }
    }
}
