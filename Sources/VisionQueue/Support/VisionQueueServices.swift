import Foundation

/// Builds each binary's endpoint from the configuration: the composition root, so every
/// `main.swift` stays a few lines long. Per-thread objects (the store's SQLite connection) come
/// from the `make…` functions, called once by each worker thread; per-process ones (the trigger
/// dispatcher, the lease keeper) are created once here.
public final class VisionQueueServices: @unchecked Sendable {
    public let configuration: VisionQueueConfiguration
    public let log: Logger
    public let authenticator: Authenticator

    public init(binary: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        configuration = try VisionQueueConfiguration(environment: environment)
        log = configuration.logger(binary)
        authenticator = Authenticator(configuration: configuration, log: log)
        if configuration.developmentMode {
            log.warning("VQ_JWT_SECRET is not set: single-user development mode, every request is '\(Authenticator.developmentUserID)'")
        }
        // Migrate once up front so a schema problem stops the binary at start, not on a request.
        _ = try makeStore()
    }

    public func makeStore() throws -> JobStore {
        try SQLiteJobStore(path: configuration.databasePath, synchronous: configuration.synchronous)
    }

    private func requireTriggerSecret() throws -> String {
        guard let secret = configuration.triggerSecret else {
            throw ConfigurationError("VQ_TRIGGER_SECRET (or VQ_TRIGGER_SECRET_FILE) must be set: the process endpoint refuses calls without it")
        }
        return secret
    }

    private let lock = NSLock()
    private var sharedTrigger: SelfTrigger?
    private var sharedLeases: LeaseKeeper?

    /// The process's one trigger dispatcher, started on first use.
    public var trigger: SelfTrigger {
        lock.lock()
        defer { lock.unlock() }
        if let sharedTrigger { return sharedTrigger }
        var settings = SelfTrigger.Settings(url: configuration.triggerURL, secret: configuration.triggerSecret ?? "")
        settings.dropRate = configuration.faultDropTriggers
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
            try SQLiteJobStore(path: configuration.databasePath, synchronous: configuration.synchronous)
        }
        sharedLeases = leases
        return leases
    }

    public var generator: VisionGenerator {
        let builtIn = BuiltInGenerator(delayMillis: configuration.generatorDelayMillis)
        return FaultInjectingGenerator(wrapping: builtIn, spec: configuration.faultFail) ?? builtIn
    }

    public func makeCreateEndpoint() throws -> Endpoint {
        _ = try requireTriggerSecret()
        return CreateEndpoint(store: try makeStore(), authenticator: authenticator, trigger: trigger, configuration: configuration)
    }

    public func makeProcessEndpoint() throws -> Endpoint {
        let secret = try requireTriggerSecret()
        let processor = JobProcessor(
            store: try makeStore(), generator: generator, trigger: trigger,
            lifecycle: JobLifecycle(policy: configuration.retryPolicy), leases: leases, log: log)
        return ProcessEndpoint(processor: processor, triggerSecret: secret, log: log)
    }

    public func makeStatusEndpoint() throws -> Endpoint {
        StatusEndpoint(store: try makeStore(), authenticator: authenticator, policy: configuration.retryPolicy)
    }
}
