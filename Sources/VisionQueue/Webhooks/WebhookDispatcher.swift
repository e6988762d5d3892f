import Glibc

/// Delivers the outbox's events from one thread of each `vision-process` process, so no worker
/// ever waits for a receiver. Every dispatcher of every node polls the same outbox; a claim (a
/// conditional update counting the attempt) decides who delivers, and an attempt whose process
/// died is due again when its claim runs out: delivery is at least once, always under the
/// event's own `webhook-id`.
public final class WebhookDispatcher: @unchecked Sendable {
    private let settings: WebhookSettings
    private let makeStore: @Sendable () throws -> JobStore
    private let log: Logger
    /// How often the outbox is read when the last read found nothing due.
    private let pollMillis: Int64
    /// When the outbox is next pruned (the dispatcher thread's own).
    private var nextPrune: EpochMillis = 0

    public init(
        _ settings: WebhookSettings, pollMillis: Int64 = 1_000, log: Logger,
        makeStore: @escaping @Sendable () throws -> JobStore
    ) {
        self.settings = settings
        self.pollMillis = pollMillis
        self.log = log
        self.makeStore = makeStore
    }

    /// Starts the delivery thread; call once.
    public func start() {
        WorkerThread.start { [self] in run() }
    }

    private func run() {
        var store: JobStore?
        while true {
            do {
                let current = try store ?? makeStore()
                store = current
                if try deliverDue(current) == 0 { usleep(useconds_t(pollMillis * 1000)) }
            } catch {
                // The database is away (a restart, a failover): the events wait in the outbox.
                log.warning("webhook outbox unreadable: \(error); trying again shortly")
                store = nil
                usleep(useconds_t(max(pollMillis, 1_000) * 1000))
            }
        }
    }

    /// One pass: every due event this dispatcher wins is tried once, and once an hour the outbox
    /// forgets what it no longer needs. Answers how many were due.
    func deliverDue(_ store: JobStore) throws -> Int {
        if Clock.now() >= nextPrune {
            let now = Clock.now()
            // Delivered a day ago: a duplicate of it can no longer arrive. Given up a month ago:
            // kept that long for an operator to look at.
            let removed = try store.pruneWebhookEvents(deliveredBefore: now - 86_400_000, givenUpBefore: now - 30 * 86_400_000)
            if removed > 0 { log.debug("webhook outbox: \(removed) old event(s) removed") }
            // What an operator should hear of, until metrics say it: events waiting, and since when.
            let backlog = try store.webhookBacklog(now: now)
            if backlog.undelivered > 0 || backlog.givenUp > 0 {
                log.warning("webhook outbox: \(backlog.undelivered) undelivered (oldest \((backlog.oldestMillis ?? 0) / 1000) s), \(backlog.givenUp) given up")
            }
            nextPrune = now + 3_600_000
        }
        let due = try store.dueWebhookEvents(now: Clock.now(), limit: 16)
        for event in due {
            let now = Clock.now()
            if event.attempts >= settings.schedule.maxAttempts {
                // Its last attempt was claimed and never settled (its process died during it).
                log(about: event).error("webhook \(event.id) (\(event.kind.rawValue)) given up after \(event.attempts) attempts, the last one unfinished")
                try store.settleWebhookEvent(event, delivered: false, retryAt: nil, error: "the last attempt never finished", now: now)
                QueueMetrics.webhookDelivery("given_up")
                continue
            }
            // Held for one attempt and a margin; if this process dies meanwhile, it is due again then.
            let until = now + Int64(settings.timeoutSeconds) * 1000 + 5_000
            guard try store.claimWebhookEvent(event, until: until, now: now) else { continue }
            var claimed = event
            claimed.attempts += 1
            let failure = deliver(claimed)
            let settledAt = Clock.now()
            let log = log(about: claimed)
            if let failure {
                let retryAt = settings.schedule.nextAttempt(afterFailedAttempts: claimed.attempts, now: settledAt)
                try store.settleWebhookEvent(claimed, delivered: false, retryAt: retryAt, error: failure, now: settledAt)
                QueueMetrics.webhookDelivery(retryAt == nil ? "given_up" : "failed")
                if let retryAt {
                    log.warning("webhook \(claimed.id) (\(claimed.kind.rawValue)) not delivered: \(failure); trying again in \((retryAt - settledAt + 999) / 1000) s")
                } else {
                    log.error("webhook \(claimed.id) (\(claimed.kind.rawValue)) given up after \(claimed.attempts) attempts: \(failure)")
                }
            } else {
                try store.settleWebhookEvent(claimed, delivered: true, retryAt: nil, error: nil, now: settledAt)
                QueueMetrics.webhookDelivery("delivered")
                log.debug("webhook \(claimed.id) (\(claimed.kind.rawValue)) delivered on attempt \(claimed.attempts)")
            }
        }
        return due.count
    }

    /// The logger, its lines about the event's job.
    private func log(about event: WebhookEvent) -> Logger {
        var log = self.log
        log.jobID = event.jobID
        return log
    }

    /// One signed POST; nil when the receiver answered 2xx, else why not.
    private func deliver(_ event: WebhookEvent) -> String? {
        let body = event.body
        let headers = ["Content-Type: application/json", "User-Agent: vision-queue"]
            + settings.signer.headers(id: event.id, timestamp: Clock.now() / 1000, body: body)
        let outcome = StreamingPost { _, _ in true }.perform(
            .init(
                url: settings.url, headers: headers, body: body, timeoutMillis: settings.timeoutSeconds * 1000,
                stallSeconds: settings.timeoutSeconds))
        switch (outcome.failure, outcome.status) {
        case (nil, 200..<300): return nil
        case (nil, let status): return "HTTP \(status)"
        case (.timedOut?, _), (.stalled?, _): return "no answer within \(settings.timeoutSeconds) s"
        case (.connection(let reason)?, _): return reason
        case (.aborted?, _): return "aborted"
        }
    }
}
