import Foundation
import VisionQueue

/// What `serve` does when a worker of `vision-process` dies (kill -9, a crash, the OOM killer):
/// it knows at once, so the dead process's claims end then and their jobs are triggered again
/// within a second, and a crash costs seconds rather than a lease (60 s by default). A SIGTERM'd
/// worker gives its claims back itself; this is for the ones that could not.
final class DeadWorkerClaims: @unchecked Sendable {
    private let configuration: VisionQueueConfiguration
    private let log: Logger
    private var store: JobStore?
    private var trigger: SelfTrigger?

    init(configuration: VisionQueueConfiguration, log: Logger) {
        self.configuration = configuration
        self.log = log
    }

    /// One at a time, and never on the supervision loop: a database that is slow or away must not
    /// keep `serve` from restarting its children or from hearing a stop.
    private let queue = DispatchQueue(label: "dead-worker-claims")

    /// Ends the claims of the process `pid`, which just died, and triggers their jobs. Returns at once.
    func endClaims(of binary: String, pid: pid_t) {
        queue.async { self.endClaimsNow(of: binary, pid: pid) }
    }

    private func endClaimsNow(of binary: String, pid: pid_t) {
        do {
            let store = try self.store ?? JobStoreFactory(configuration: configuration).open()
            self.store = store
            let jobs = try store.expireClaims(heldBy: ClaimOwner.of(pid: pid), now: Clock.now())
            guard !jobs.isEmpty else { return }
            QueueMetrics.claimsExpired(jobs.count)
            log.warning("\(binary) (pid \(pid)) died holding \(jobs.count) claim(s); they are taken up again now")
            guard let secret = configuration.triggerSecret else { return }
            let trigger = self.trigger ?? SelfTrigger(.init(url: configuration.triggerURL, secret: secret), log: log)
            self.trigger = trigger
            // Spread over a second rather than all at once: when one job's input is what kills
            // workers, the jobs it took down with it would otherwise restart in step with it, and
            // land next to it again at its next crash, each time a step closer to failing.
            let now = Clock.now()
            for job in jobs { trigger.trigger(job, notBefore: now + Int64.random(in: 0...1_000)) }
        } catch {
            // The sweep and the lapsing leases still recover them.
            log.warning("could not end the claims of \(binary) (pid \(pid)): \(error); they lapse with their leases")
            store = nil
        }
    }
}
