import FoundationEssentials
import Glibc
import Synchronization

/// Builds each binary's endpoint from the configuration: the composition root, so every
/// `main.swift` stays a line long.
///
/// Each binary's `…Endpoints()` function is called once per process: it starts what the process
/// shares (the trigger dispatcher, the heartbeat thread) and answers how each worker thread builds
/// its own endpoint (with its own store connection). The threads a process runs start there and
/// in `FastCGIServer.run`, nowhere else.
public final class VisionQueueServices: Sendable {
    public let configuration: VisionQueueConfiguration
    public let log: Logger
    public let authenticator: Authenticator

    /// Which binary this is: the chain's own triggers (create, process) honour the test-only
    /// `VQ_FAULT_DROP_TRIGGERS`; recovery triggers (status's self-healing, the sweep) never drop.
    public let binary: String

    /// Builds one worker thread's endpoint.
    public typealias EndpointFactory = @Sendable () throws -> Endpoint

    /// What this process started, for its stop: triggers to flush, claims to give back.
    private struct Started {
        var trigger: SelfTrigger?
        var leases: LeaseKeeper?
    }

    private let started = Mutex(Started())

    public init(binary: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.binary = binary
        configuration = try VisionQueueConfiguration(environment: environment)
        log = configuration.logger(binary)
        SharedFileMetrics.bootstrap(directory: configuration.metricsDirectory, log: log)
        authenticator = Authenticator(configuration: configuration, log: log)
        if configuration.developmentMode {
            log.warning("VQ_JWT_SECRET is not set: single-user development mode, every request is '\(Authenticator.developmentUserID)'")
        }
        stores = JobStoreFactory(configuration: configuration)
        // Migrate once up front so a schema problem stops the binary at start, not on a request.
        try stores.migrate()
    }

    /// Where each thread's store comes from.
    public let stores: JobStoreFactory

    public func makeStore() throws -> JobStore {
        try stores.open()
    }

    private func requireTriggerSecret() throws -> String {
        guard let secret = configuration.triggerSecret else {
            throw ConfigurationError("VQ_TRIGGER_SECRET (or VQ_TRIGGER_SECRET_FILE) must be set: the process endpoint refuses calls without it")
        }
        return secret
    }

    /// The process's trigger dispatcher; its thread starts with the first trigger sent.
    /// `releasing`: the process makes reservations (vision-process), given back when their
    /// triggers are lost.
    private func makeTrigger(releasing book: ReservationBook? = nil) -> SelfTrigger {
        var settings = SelfTrigger.Settings(url: configuration.triggerURL, secret: configuration.triggerSecret ?? "")
        if binary == "vision-create" || binary == "vision-process" { settings.dropRate = configuration.faultDropTriggers }
        var onAbandoned: (@Sendable (JobID, String) -> Void)?
        if let book {
            let stores = self.stores
            let releaser = ReservationReleaser(book: book, log: log) { try stores.open() }
            onAbandoned = { jobID, token in releaser.release(jobID, token) }
        }
        let trigger = SelfTrigger(settings, log: log, onAbandoned: onAbandoned)
        started.withLock { $0.trigger = trigger }
        return trigger
    }

    /// Starts the process's heartbeat thread, which renews the leases of categories being written.
    private func startLeaseKeeper() -> LeaseKeeper {
        let leases = LeaseKeeper(policy: configuration.retryPolicy, log: log) { [self] in try makeStore() }
        leases.start()
        started.withLock { $0.leases = leases }
        return leases
    }

    /// The configured generator, and the model that frames the vision when `VQ_ASSEMBLY=model`.
    /// Prompts are read here, once per process: a missing or broken prompt file stops the start.
    private func makeGenerator() throws -> (VisionGenerator, VisionFramer?) {
        let generator: VisionGenerator
        var framer: VisionFramer?
        switch configuration.generator {
        case .builtIn:
            generator = BuiltInGenerator(delayMillis: configuration.generatorDelayMillis)
        case .openai:
            let model = OpenAIGenerator(
                settings: configuration.model, prompts: try Prompts(directory: configuration.promptsDirectory),
                slotDirectory: configuration.dataDirectory + "/model-call-slots", log: log)
            log.info("generating with \(configuration.model)")
            generator = model
            if configuration.assembly == .model { framer = model }
        }
        let wrapped = FaultInjectingGenerator(wrapping: generator, spec: configuration.faultFail, crashMarker: configuration.faultCrash)
        return (wrapped ?? generator, framer)
    }

    /// `vision-create` serves the user's writes: create, retry and cancel.
    public func createEndpoints() throws -> EndpointFactory {
        _ = try requireTriggerSecret()
        let trigger = makeTrigger()
        let admin = AdminAccess(token: configuration.adminToken, users: authenticator)
        return { [self] in
            let store = try makeStore()
            return Router.create(
                CreateEndpoint(store: store, authenticator: authenticator, trigger: trigger, configuration: configuration),
                controls: JobControlEndpoint(
                    store: store, authenticator: authenticator, trigger: trigger, limits: configuration.createLimits,
                    maxNoteCharacters: configuration.maxNoteCharacters),
                admin: admin.map { JobControlEndpoint(store: store, admin: $0, trigger: trigger) })
        }
    }

    /// `vision-process` runs the steps; it also starts the heartbeat thread.
    public func processEndpoints() throws -> EndpointFactory {
        let secret = try requireTriggerSecret()
        let (generator, framer) = try makeGenerator()
        let book = ReservationBook()
        let trigger = makeTrigger(releasing: book)
        let leases = startLeaseKeeper()
        if let webhook = configuration.webhook {
            WebhookDispatcher(webhook, log: log) { [self] in try makeStore() }.start()
        }
        return { [self] in
            let processor = JobProcessor(
                store: try makeStore(), generator: generator, trigger: trigger,
                lifecycle: configuration.lifecycle, leases: leases, framer: framer, reservations: book, log: log)
            return Router.process(ProcessEndpoint(processor: processor, triggerSecret: secret, log: log))
        }
    }

    /// `vision-status` serves the reads, and re-triggers stalled jobs it is asked about.
    public func statusEndpoints() throws -> EndpointFactory {
        let healer = configuration.triggerSecret == nil ? nil : makeTrigger()
        let admin = AdminAccess(token: configuration.adminToken, users: authenticator)
        let prices = configuration.generator == .openai ? configuration.model : nil
        return { [self] in
            let store = try makeStore()
            return Router.status(
                StatusEndpoint(
                    store: store, authenticator: authenticator, lifecycle: configuration.lifecycle,
                    healer: healer, stallMillis: configuration.stallMillis, prices: prices),
                metrics: MetricsEndpoint(store: store, directory: configuration.metricsDirectory, token: configuration.metricsToken),
                admin: admin.map {
                    AdminEndpoint(
                        store: store, access: $0, lifecycle: configuration.lifecycle, stallMillis: configuration.stallMillis,
                        prices: prices)
                })
        }
    }

    /// Called when a stop's grace period ran out with categories still being written: gives their
    /// claims back and triggers their jobs, so the next worker resumes them at once.
    public func releaseHeldClaims() {
        let (leases, trigger) = started.withLock { ($0.leases, $0.trigger) }
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
        guard let trigger = started.withLock({ $0.trigger }), trigger.outstanding > 0 else { return }
        let deadline = Clock.now() + millis
        while trigger.outstanding > 0 && Clock.now() < deadline { usleep(10_000) }
        if trigger.outstanding > 0 {
            log.info("\(trigger.outstanding) trigger(s) not sent before stopping; the sweep will find those jobs")
        }
    }

    /// Before the process exits, after its steps ended: gives back, uncounted, the reservations
    /// it made for steps it will not run (their triggers unsent, or left for the next process), so
    /// they are claimed at once, by the sweep at the next start or by the trigger itself.
    public func endReservations() {
        guard started.withLock({ $0.leases }) != nil else { return }
        do {
            let released = try makeStore().releaseReservations(now: Clock.now())
            if released > 0 { log.info("gave back \(released) reservation(s) for steps this process will not run") }
        } catch {
            log.warning("could not give back this process's reservations: \(error); they lapse by themselves")
        }
    }
}
