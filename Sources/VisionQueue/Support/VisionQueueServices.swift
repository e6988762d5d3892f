import FoundationEssentials
import Glibc

/// Builds each binary's endpoint from the configuration: the composition root, so every
/// `main.swift` stays a few lines long. Per-thread objects (the store's SQLite connection) come
/// from the `make…` functions, called once by each worker thread; per-process ones (the trigger
/// dispatcher, the lease keeper) are created once here.
public final class VisionQueueServices: @unchecked Sendable {
    public let configuration: VisionQueueConfiguration
    public let log: Logger
    public let authenticator: Authenticator

    /// Which binary this is: the chain's own triggers (create, process) honour the test-only
    /// `VQ_FAULT_DROP_TRIGGERS`; recovery triggers (status's self-healing, the sweep) never drop.
    public let binary: String

    public init(binary: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.binary = binary
        configuration = try VisionQueueConfiguration(environment: environment)
        log = configuration.logger(binary)
        authenticator = Authenticator(configuration: configuration, log: log)
        if configuration.developmentMode {
            log.warning("VQ_JWT_SECRET is not set: single-user development mode, every request is '\(Authenticator.developmentUserID)'")
        }
        try FileManager.default.createParentDirectory(of: configuration.databasePath)
        // Migrate once up front so a schema problem stops the binary at start, not on a request.
        _ = try makeStore()
    }

    public func makeStore() throws -> JobStore {
        try SQLiteJobStore(
            path: configuration.databasePath, synchronous: configuration.synchronous,
            busyTimeoutMillis: Int32(configuration.busyTimeoutMillis))
    }

    private func requireTriggerSecret() throws -> String {
        guard let secret = configuration.triggerSecret else {
            throw ConfigurationError("VQ_TRIGGER_SECRET (or VQ_TRIGGER_SECRET_FILE) must be set: the process endpoint refuses calls without it")
        }
        return secret
    }

    private let lock = Lock()
    private var sharedTrigger: SelfTrigger?
    private var sharedLeases: LeaseKeeper?

    /// The process's one trigger dispatcher, started on first use.
    public var trigger: SelfTrigger {
        lock.lock()
        defer { lock.unlock() }
        if let sharedTrigger { return sharedTrigger }
        var settings = SelfTrigger.Settings(url: configuration.triggerURL, secret: configuration.triggerSecret ?? "")
        if binary == "vision-create" || binary == "vision-process" { settings.dropRate = configuration.faultDropTriggers }
        let trigger = SelfTrigger(settings, log: log)
        sharedTrigger = trigger
        return trigger
    }

    /// The process's one heartbeat thread, started on first use.
    public var leases: LeaseKeeper {
        lock.lock()
        defer { lock.unlock() }
        if let sharedLeases { return sharedLeases }
        let configuration = configuration
        let leases = LeaseKeeper(policy: configuration.retryPolicy, log: log) {
            try SQLiteJobStore(
            path: configuration.databasePath, synchronous: configuration.synchronous,
            busyTimeoutMillis: Int32(configuration.busyTimeoutMillis))
        }
        sharedLeases = leases
        return leases
    }

    public var generator: VisionGenerator {
        let builtIn = BuiltInGenerator(delayMillis: configuration.generatorDelayMillis)
        return FaultInjectingGenerator(wrapping: builtIn, spec: configuration.faultFail, crashMarker: configuration.faultCrash)
            ?? builtIn
    }

    /// The create binary serves the user's writes: create, retry and cancel.
    public func makeCreateEndpoint() throws -> Endpoint {
        _ = try requireTriggerSecret()
        let store = try makeStore()
        let controls = JobControlEndpoint(store: store, authenticator: authenticator, trigger: trigger)
        return Router([
            CreateEndpoint.path: CreateEndpoint(
                store: store, authenticator: authenticator, trigger: trigger, configuration: configuration),
            JobControlEndpoint.retryPath: controls,
            JobControlEndpoint.cancelPath: controls,
        ])
    }

    public func makeProcessEndpoint() throws -> Endpoint {
        let secret = try requireTriggerSecret()
        let processor = JobProcessor(
            store: try makeStore(), generator: generator, trigger: trigger,
            lifecycle: configuration.lifecycle, leases: leases, log: log)
        return ProcessEndpoint(processor: processor, triggerSecret: secret, log: log)
    }

    public func makeStatusEndpoint() throws -> Endpoint {
        StatusEndpoint(
            store: try makeStore(), authenticator: authenticator, lifecycle: configuration.lifecycle,
            healer: configuration.triggerSecret == nil ? nil : trigger, stallMillis: configuration.stallMillis)
    }

    /// Called when a stop's grace period ran out with categories still being written: gives their
    /// claims back and triggers their jobs, so the next worker resumes them at once.
    public func releaseHeldClaims() {
        lock.lock()
        let leases = sharedLeases
        let trigger = sharedTrigger
        lock.unlock()
        guard let leases else { return }
        let released = leases.releaseAll()
        guard !released.isEmpty else { return }
        log.warning("released \(released.count) unfinished claim(s) for other workers to resume")
        guard let trigger else { return }
        for job in released { trigger.trigger(job) }
    }

    /// Before the process exits: gives triggers still queued up to `millis` to go out. Those
    /// scheduled for later (retry backoff) are left to the sweep, and counted in the log.
    public func flushTriggers(within millis: Int64 = 2_000) {
        lock.lock()
        let trigger = sharedTrigger
        lock.unlock()
        guard let trigger, trigger.outstanding > 0 else { return }
        let deadline = Clock.now() + millis
        while trigger.outstanding > 0 && Clock.now() < deadline { usleep(10_000) }
        if trigger.outstanding > 0 {
            log.info("\(trigger.outstanding) trigger(s) not sent before stopping; the sweep will find those jobs")
        }
    }
}
