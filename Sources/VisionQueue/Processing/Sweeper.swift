/// Finds jobs whose trigger chain broke (a lost trigger, a killed worker, a restart) and triggers
/// them again. Run by `vision-queue serve` on an interval and by `vision-queue sweep` from cron or a
/// systemd timer; the status endpoint does the same for the one job it is asked about.
public struct Sweeper {
    let store: JobStore
    let trigger: TriggerSink
    let lifecycle: JobLifecycle
    let log: Logger
    /// Triggers are spread this far apart (plus jitter), so thousands of jobs resumed after a
    /// restart arrive as a stream rather than a wave.
    var spacingMillis: Int64 = 20

    public init(store: JobStore, trigger: TriggerSink, lifecycle: JobLifecycle, log: Logger, spacingMillis: Int64 = 20) {
        self.store = store
        self.trigger = trigger
        self.lifecycle = lifecycle
        self.log = log
        self.spacingMillis = spacingMillis
    }

    /// Triggers not yet sent (when the sink reports it): a one-shot sweep waits for zero before exiting.
    public var outstandingTriggers: Int { (trigger as? SelfTrigger)?.outstanding ?? 0 }

    /// Triggers every job with due work and no live lease, however recent its progress or its last
    /// kick: after a restart. A kick recorded before the restart proves nothing, since the trigger
    /// it queued may have died with the old process (a job kicked by the previous start's pass and
    /// then interrupted by a stop would otherwise wait out the whole kick window).
    @discardableResult
    public func resumeAll(limit: Int = 10_000) throws(StoreError) -> Int {
        try sweep(stallMillis: 0, kickWindowMillis: 0, limit: limit)
    }

    /// Triggers every stalled job (at most `limit`) and answers how many. A job kicked less than
    /// `kickWindowMillis` ago is left alone, so several nodes' sweeps kick each job once.
    @discardableResult
    public func sweep(stallMillis: Int64, kickWindowMillis: Int64, limit: Int = 10_000) throws(StoreError) -> Int {
        let now = Clock.now()
        let stalled = try store.stalledJobs(now: now, stallMillis: stallMillis, lifecycle: lifecycle, limit: limit)
        var kicked = 0
        for id in stalled where try store.claimKick(id, now: now, windowMillis: kickWindowMillis) {
            let spread = Int64(kicked) * spacingMillis
            trigger.trigger(id, notBefore: now + spread + Int64.random(in: 0...spacingMillis))
            kicked += 1
        }
        QueueMetrics.swept(kicked: kicked)
        if kicked > 0 { log.info("sweep: triggered \(kicked) stalled job\(kicked == 1 ? "" : "s")") }
        return kicked
    }
}
