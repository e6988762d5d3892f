import CCurl
import Synchronization

/// Sends `POST /api/vision-jobs/process` back through nginx, without ever making the caller wait.
///
/// A worker that waited for its trigger to be accepted would need another worker of the same pool
/// to accept it; with every worker triggering at once, that deadlocks (every worker waits in
/// `curl_easy_perform` for a worker to accept its trigger, until nginx's upstream timeout). So
/// callers only enqueue; one dispatcher thread per process runs every transfer
/// concurrently on a curl multi handle and goes back to sleep until a socket, a timer or a new
/// trigger needs it. A refused trigger (502/503/504, connection refused) is retried with backoff a
/// few times, then left to the sweep. This is the only file that touches libcurl's multi interface.
///
/// The dispatcher waits through epoll (`vq_curl_loop`), so a wake-up costs in proportion to the
/// sockets that are ready: `curl_multi_poll` + `curl_multi_perform` walk every transfer in flight
/// on every wake-up, and under load (hundreds in flight, a wake-up per step) that walk is paid for
/// every step.
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

    private typealias Pending = TriggerSchedule.Entry

    private let settings: Settings
    /// What workers share with the dispatcher thread.
    private struct Handover {
        /// Triggers handed over by workers, taken by the dispatcher on each wake-up.
        var incoming: [Pending] = []
        /// Started by the first trigger: a process that never triggers (an idle status binary)
        /// never initialises libcurl and its TLS libraries, and stays smaller.
        var dispatcher: Dispatcher?
    }

    private let handover = Mutex(Handover())
    /// Triggers not yet sent for good (queued, waiting, in flight): for `outstanding`.
    private let unsettled = Atomic<Int>(0)
    // Owned by the dispatcher thread alone.
    private var schedule = TriggerSchedule()
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private var inFlight: [UnsafeMutableRawPointer: Pending] = [:]
    private var headers: UnsafeMutablePointer<curl_slist>?
    /// The levels last added to the process's trigger gauges, so each change adds its difference.
    private var reported = (queued: 0, inFlight: 0)
    private let log: Logger
    /// Told of a trigger that carried a reservation and will never be sent (given up, or dropped
    /// by fault injection), so the reservation is given back at once instead of lapsing.
    private let onAbandoned: (@Sendable (JobID, _ reservation: String) -> Void)?

    public init(_ settings: Settings, log: Logger, onAbandoned: (@Sendable (JobID, _ reservation: String) -> Void)? = nil) {
        self.settings = settings
        self.log = log
        self.onAbandoned = onAbandoned
    }

    /// The multi handle and, when epoll is available, the loop that drives it. Only the dispatcher
    /// thread uses them, except for `wake`.
    private struct Dispatcher: @unchecked Sendable {
        let multi: UnsafeMutableRawPointer
        let loop: OpaquePointer?

        func wake() {
            if let loop { vq_curl_loop_wake(loop) } else { curl_multi_wakeup(multi) }
        }

        /// Waits up to `millis` for sockets, curl's timers or a wake-up, and lets curl act.
        func wait(_ millis: Int32) {
            if let loop {
                vq_curl_loop_run(loop, millis)
            } else {
                var running: Int32 = 0
                curl_multi_poll(multi, nil, 0, millis, nil)
                curl_multi_perform(multi, &running)
            }
        }
    }

    /// Starts libcurl and the dispatcher thread; called once, by the first trigger, with the
    /// handover locked (the new thread's first look at it waits for that).
    private func startDispatcher() -> Dispatcher {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        let multi = curl_multi_init()!
        headers = curl_slist_append(nil, "Content-Type: application/json")
        headers = curl_slist_append(headers, "X-Trigger-Secret: \(settings.secret)")
        headers = curl_slist_append(headers, "Expect:")
        let loop = vq_curl_loop_create(multi)
        if loop == nil { log.warning("epoll unavailable; triggers fall back to curl_multi_poll") }
        let dispatcher = Dispatcher(multi: multi, loop: loop)
        WorkerThread.start { [self] in run(dispatcher) }
        return dispatcher
    }

    public func trigger(_ jobID: JobID, notBefore: EpochMillis?, reservation: String?) {
        if settings.dropRate > 0, Double.random(in: 0..<1) < settings.dropRate {
            log.about(job: jobID).info("fault injection: dropped the trigger for job \(jobID)")
            if let reservation { onAbandoned?(jobID, reservation) }
            return
        }
        if let failure = vq_curl_load_error() {
            log.about(job: jobID).error("trigger for job \(jobID) not sent (\(String(cString: failure))); the sweep will find it")
            QueueMetrics.triggerSent("given_up")
            if let reservation { onAbandoned?(jobID, reservation) }
            return
        }
        unsettled.add(1, ordering: .relaxed)
        let dispatcher = handover.withLock { handover in
            handover.incoming.append(Pending(jobID: jobID, notBefore: notBefore ?? 0, tries: 0, reservation: reservation))
            if let running = handover.dispatcher { return running }
            let started = startDispatcher()
            handover.dispatcher = started
            return started
        }
        dispatcher.wake()
    }

    /// Triggers queued, waiting or in flight; for tests and graceful stops.
    public var outstanding: Int { unsettled.load(ordering: .relaxed) }

    private func run(_ dispatcher: Dispatcher) {
        let multi = dispatcher.multi
        var handedOver: [Pending] = []
        while true {
            handover.withLock { swap(&handedOver, &$0.incoming) }
            var now = Clock.now()
            for entry in handedOver { schedule.add(entry, now: now) }
            handedOver.removeAll(keepingCapacity: true)

            while inFlight.count < settings.maxInFlight, let entry = schedule.next(now: now) { start(entry, on: multi) }

            // Sleep until a transfer needs attention, a worker hands over a trigger (wakeup), or the
            // next delayed trigger falls due. With every slot busy, only transfers can free one.
            now = Clock.now()
            var timeout: Int64 = 1000
            if inFlight.count < settings.maxInFlight {
                if schedule.hasDue(now: now) {
                    timeout = 0
                } else if let due = schedule.nextDueTime {
                    timeout = min(timeout, max(0, due - now))
                }
            }
            report()
            dispatcher.wait(Int32(timeout))
            collectFinished(multi)
        }
    }

    /// Moves the process's gauges by what changed since the last report (a process may run more
    /// than one dispatcher, and their levels add up).
    private func report() {
        let now = (queued: schedule.count, inFlight: inFlight.count)
        guard now != reported else { return }
        QueueMetrics.triggersChanged(queued: now.queued - reported.queued, inFlight: now.inFlight - reported.inFlight)
        reported = now
    }

    private func start(_ entry: Pending, on multi: UnsafeMutableRawPointer) {
        let easy = idleHandles.popLast() ?? curl_easy_init()!
        curl_easy_reset(easy)
        vq_curl_setopt_string(easy, CURLOPT_URL, settings.url)
        vq_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        vq_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, 5_000)
        vq_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, 120_000)
        vq_curl_setopt_pointer(easy, CURLOPT_HTTPHEADER, headers)
        let reservation = entry.reservation.map { ",\"reservation\":\"\($0)\"" } ?? ""
        vq_curl_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, "{\"jobId\":\"\(entry.jobID.rawValue)\"\(reservation)}")
        vq_curl_discard_body(easy)
        inFlight[easy] = entry
        curl_multi_add_handle(multi, easy)
    }

    private func collectFinished(_ multi: UnsafeMutableRawPointer) {
        var easy: UnsafeMutableRawPointer?
        var result = CURLE_OK
        while vq_curl_multi_next_done(multi, &easy, &result) == 1, let handle = easy {
            var status = 0
            vq_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            curl_multi_remove_handle(multi, handle)
            idleHandles.append(handle)
            guard var entry = inFlight.removeValue(forKey: handle) else { continue }
            if result == CURLE_OK && (200..<300).contains(status) {
                unsettled.subtract(1, ordering: .relaxed)
                QueueMetrics.triggerSent("accepted")
                continue
            }
            let reason = result == CURLE_OK ? "HTTP \(status)" : String(cString: curl_easy_strerror(result))
            entry.tries += 1
            guard entry.tries < settings.maxTries, result != CURLE_OK || status >= 500 || status == 429 else {
                log.about(job: entry.jobID).warning("trigger for job \(entry.jobID) gave up after \(entry.tries) tries (\(reason)); the sweep will find it")
                unsettled.subtract(1, ordering: .relaxed)
                QueueMetrics.triggerSent("given_up")
                if let reservation = entry.reservation { onAbandoned?(entry.jobID, reservation) }
                continue
            }
            let delay = Int64(250 << min(entry.tries, 6))
            entry.notBefore = Clock.now() + delay + Int64.random(in: 0...delay)
            log.about(job: entry.jobID).info("trigger for job \(entry.jobID) refused (\(reason)); retrying in about \(delay) ms")
            QueueMetrics.triggerSent("refused")
            schedule.add(entry, now: Clock.now())
        }
    }
}
