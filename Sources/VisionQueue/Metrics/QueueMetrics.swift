import CoreMetrics

/// What Vision Queue counts, one function per event, so every label value is written here and
/// nowhere else. Each records through swift-metrics: into this process's metrics file once
/// `SharedFileMetrics.bootstrap` ran, nowhere otherwise (unit tests).
public enum QueueMetrics {
    /// One step of vision-process, by what it did; its duration when it wrote or assembled.
    static func step(_ outcome: JobProcessor.StepOutcome, nanoseconds: Int64) {
        let hot = Hot.shared
        let (counter, time): (Counter, Timer?) =
            switch outcome {
            case .wrote: (hot.wrote, hot.categoryTime)
            case .failedAttempt: (hot.failedAttempt, hot.categoryTime)
            case .configurationFailed: (hot.configurationFailed, hot.categoryTime)
            case .finished: (hot.finished, hot.assemblyTime)
            case .lostLease: (hot.lostLease, nil)
            case .waiting: (hot.waiting, nil)
            case .nothingToDo: (hot.nothingToDo, nil)
            }
        counter.increment()
        time?.recordNanoseconds(nanoseconds)
    }

    /// The handlers of what happens at every step, made once: making one renders its series' keys (a histogram
    /// has twenty) and takes the factory's lock, which a step should not pay for each time. Made
    /// on first use, after the process bootstrapped its metrics.
    private struct Hot: Sendable {
        static let shared = Hot()
        let wrote = Self.counter("wrote"), failedAttempt = Self.counter("failed_attempt"), lostLease = Self.counter("lost_lease")
        let finished = Self.counter("finished"), configurationFailed = Self.counter("configuration_failed")
        let waiting = Self.counter("waiting"), nothingToDo = Self.counter("nothing_to_do"), storeError = Self.counter("store_error")
        let categoryTime = Timer(label: MetricFamily.stepDuration.name, dimensions: [("kind", "category")])
        let assemblyTime = Timer(label: MetricFamily.stepDuration.name, dimensions: [("kind", "assembly")])
        let acceptedTriggers = Counter(label: MetricFamily.triggersSent.name, dimensions: [("result", "accepted")])
        let queuedTriggers = Meter(label: MetricFamily.triggersQueued.name)
        let inFlightTriggers = Meter(label: MetricFamily.triggersInFlight.name)

        static func counter(_ outcome: String) -> Counter {
            Counter(label: MetricFamily.steps.name, dimensions: [("outcome", outcome)])
        }
    }

    /// A step that failed on the database before it could say what it did.
    static func stepFailedOnStore() {
        Hot.shared.storeError.increment()
    }

    /// A failed attempt at a category, and whether it will be tried again.
    static func attemptFailed(_ reason: GenerationError.Reason, retried: Bool) {
        Counter(label: MetricFamily.attemptFailures.name, dimensions: [("reason", reason.rawValue), ("then", retried ? "retry" : "fail")])
            .increment()
    }

    public static func jobEnded(_ status: JobStatus) {
        Counter(label: MetricFamily.jobsEnded.name, dimensions: [("status", status.rawValue)]).increment()
    }

    /// A call to the model (none for the built-in generator): its time and what it spent.
    static func modelCall(_ call: ModelCall, answered: Bool) {
        guard call != ModelCall() else { return }
        Timer(label: MetricFamily.modelCallDuration.name, dimensions: [("outcome", answered ? "answered" : "failed")])
            .recordNanoseconds(call.latencyMillis * 1_000_000)
        Counter(label: MetricFamily.modelTokens.name, dimensions: [("kind", "prompt")]).increment(by: Int64(call.usage.promptTokens))
        Counter(label: MetricFamily.modelTokens.name, dimensions: [("kind", "completion")]).increment(by: Int64(call.usage.completionTokens))
    }

    /// How a self-trigger ended: accepted, refused and tried again, or given up (the sweep's now).
    static func triggerSent(_ result: String) {
        if result == "accepted" { return Hot.shared.acceptedTriggers.increment() }
        Counter(label: MetricFamily.triggersSent.name, dimensions: [("result", result)]).increment()
    }

    /// A change of the triggers a dispatcher holds (several dispatchers of a process add up).
    static func triggersChanged(queued: Int, inFlight: Int) {
        if queued != 0 { Hot.shared.queuedTriggers.increment(by: Double(queued)) }
        if inFlight != 0 { Hot.shared.inFlightTriggers.increment(by: Double(inFlight)) }
    }

    static func swept(kicked: Int) {
        Counter(label: MetricFamily.sweeps.name).increment()
        if kicked > 0 { Counter(label: MetricFamily.kicks.name, dimensions: [("by", "sweep")]).increment(by: Int64(kicked)) }
    }

    /// A stalled job the status endpoint triggered when its owner looked at it.
    static func kickedByStatus() {
        Counter(label: MetricFamily.kicks.name, dimensions: [("by", "status")]).increment()
    }

    public static func claimsExpired(_ count: Int) {
        Counter(label: MetricFamily.claimsExpired.name).increment(by: Int64(count))
    }

    static func storeBusyRetry(_ store: String) {
        Counter(label: MetricFamily.storeBusyRetries.name, dimensions: [("store", store)]).increment()
    }

    /// `delivered`, `failed` (to be tried again) or `given_up`.
    static func webhookDelivery(_ result: String) {
        Counter(label: MetricFamily.webhookDeliveries.name, dimensions: [("result", result)]).increment()
    }

    /// An answer of a FastCGI binary; `endpoint` is a route's path or `other`.
    public static func responseCounter(endpoint: String, status: Int) -> Counter {
        Counter(label: MetricFamily.responses.name, dimensions: [("endpoint", endpoint), ("class", "\(status / 100)xx")])
    }
}
