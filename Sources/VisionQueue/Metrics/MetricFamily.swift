/// One metric as Prometheus lists it: a name, a type, a line of help, and for histograms the
/// bucket bounds. Every metric Vision Queue exports is one of `MetricFamily.all`, so a scrape can
/// write the `# HELP` and `# TYPE` lines of series no process has touched yet, and a series
/// recorded under a name that is not here is a programming error caught by the tests.
public struct MetricFamily: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public let name: String
    public let kind: Kind
    public let help: String
    /// Upper bounds in seconds, ascending; `+Inf` is implied.
    public let buckets: [Double]

    init(_ name: String, _ kind: Kind, _ help: String, buckets: [Double] = []) {
        self.name = name
        self.kind = kind
        self.help = help
        self.buckets = buckets
    }

    /// From a 1 ms step of the built-in generator to a 5-minute model call.
    static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    // Read from the database at each scrape.
    public static let jobs = MetricFamily("vision_queue_jobs", .gauge, "Jobs by status, now.")
    public static let categories = MetricFamily("vision_queue_categories", .gauge, "Categories of unfinished jobs by state, now.")
    public static let webhookBacklog = MetricFamily("vision_queue_webhook_backlog", .gauge, "Webhook events not yet delivered and not given up.")
    public static let webhookOldestSeconds = MetricFamily(
        "vision_queue_webhook_oldest_undelivered_seconds", .gauge, "Age of the oldest undelivered webhook event (0 when none).")
    public static let webhookGivenUp = MetricFamily("vision_queue_webhook_given_up", .gauge, "Webhook events given up after every attempt, still kept.")

    // Counted by the processes as things happen.
    public static let steps = MetricFamily("vision_queue_steps_total", .counter, "Steps run by vision-process, by what they did.")
    public static let attemptFailures = MetricFamily(
        "vision_queue_attempt_failures_total", .counter, "Failed attempts at a category, by reason and by what followed (retry or fail).")
    public static let jobsEnded = MetricFamily("vision_queue_jobs_ended_total", .counter, "Jobs that ended, by status.")
    public static let stepDuration = MetricFamily(
        "vision_queue_step_duration_seconds", .histogram, "Time to write one category or assemble one vision.", buckets: durationBuckets)
    public static let modelCallDuration = MetricFamily(
        "vision_queue_model_call_duration_seconds", .histogram, "Time of one model call, waits for Retry-After included.", buckets: durationBuckets)
    public static let modelTokens = MetricFamily("vision_queue_model_tokens_total", .counter, "Tokens the model read (prompt) and wrote (completion).")
    public static let triggersQueued = MetricFamily("vision_queue_triggers_queued", .gauge, "Self-triggers waiting to be sent, over the live processes.")
    public static let triggersInFlight = MetricFamily("vision_queue_triggers_in_flight", .gauge, "Self-triggers being sent, over the live processes.")
    public static let triggersSent = MetricFamily("vision_queue_triggers_sent_total", .counter, "Self-triggers sent, by result.")
    public static let sweeps = MetricFamily("vision_queue_sweeps_total", .counter, "Sweeps for stalled jobs run.")
    public static let kicks = MetricFamily("vision_queue_kicks_total", .counter, "Stalled jobs triggered again, by who found them (sweep or status).")
    public static let claimsExpired = MetricFamily(
        "vision_queue_claims_expired_total", .counter, "Claims given back at once because the worker holding them died.")
    public static let storeBusyRetries = MetricFamily(
        "vision_queue_store_busy_retries_total", .counter, "Transactions begun again because the database was busy.")
    public static let webhookDeliveries = MetricFamily(
        "vision_queue_webhook_deliveries_total", .counter, "Webhook delivery attempts, by result (delivered, failed, given_up).")
    public static let responses = MetricFamily(
        "vision_queue_http_responses_total", .counter, "Answers by endpoint and status class.")
    public static let processes = MetricFamily("vision_queue_processes", .gauge, "Processes counting into the metrics folder, now.")

    public static let all: [MetricFamily] = [
        jobs, categories, webhookBacklog, webhookOldestSeconds, webhookGivenUp, steps, attemptFailures, jobsEnded, stepDuration,
        modelCallDuration, modelTokens, triggersQueued, triggersInFlight, triggersSent, sweeps, kicks, claimsExpired,
        storeBusyRetries, webhookDeliveries, responses, processes,
    ]
}
