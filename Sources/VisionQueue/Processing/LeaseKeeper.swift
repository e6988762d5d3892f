import Glibc

/// Renews the leases of the categories this process is writing, from one thread per process.
///
/// The generator runs on the worker thread and may take minutes; a heartbeat from a separate
/// thread keeps a healthy claim alive (renewed every third of the lease) while a dead process's
/// claims lapse on their own.
public final class LeaseKeeper: @unchecked Sendable {
    private let lock = Lock()
    private var claims: [String: (claim: CategoryClaim, renewedAt: EpochMillis, lost: Bool)] = [:]
    private let makeStore: @Sendable () throws -> JobStore
    private let policy: RetryPolicy
    private let log: Logger

    public init(policy: RetryPolicy, log: Logger, makeStore: @escaping @Sendable () throws -> JobStore) {
        self.policy = policy
        self.log = log
        self.makeStore = makeStore
        WorkerThread.start { [self] in run() }
    }

    public func hold(_ claim: CategoryClaim) {
        lock.lock()
        claims[claim.leaseToken] = (claim, Clock.now(), false)
        lock.unlock()
    }

    /// Stops renewing; answers whether the lease was lost on the way.
    @discardableResult
    public func release(_ claim: CategoryClaim) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return claims.removeValue(forKey: claim.leaseToken)?.lost ?? false
    }

    /// Gives back every claim still held, without counting the attempts: for a stop whose grace
    /// period ran out, so the categories are taken over at once instead of when their leases lapse.
    /// Answers the jobs concerned, to be triggered again.
    public func releaseAll() -> [JobID] {
        lock.lock()
        let held = claims.values.filter { !$0.lost }.map(\.claim)
        claims.removeAll()
        lock.unlock()
        guard !held.isEmpty else { return [] }
        do {
            let store = try makeStore()
            return try held.filter { claim in try store.releaseClaim(claim, now: Clock.now()) }.map(\.jobID)
        } catch {
            log.error("could not release \(held.count) claims: \(error); they will be taken over when their leases lapse")
            return []
        }
    }

    private func run() {
        var store: JobStore?
        let interval = min(max(200, policy.leaseMillis / 6), 10_000)
        while true {
            usleep(useconds_t(interval * 1000))
            let now = Clock.now()
            lock.lock()
            let due = claims.values.filter { !$0.lost && now - $0.renewedAt >= policy.leaseMillis / 3 }.map(\.claim)
            lock.unlock()
            guard !due.isEmpty else { continue }
            do {
                if store == nil { store = try makeStore() }
                for claim in due {
                    let kept = try store!.renewLease(claim, until: now + policy.leaseMillis, now: now)
                    lock.lock()
                    if claims[claim.leaseToken] != nil {
                        claims[claim.leaseToken]!.renewedAt = now
                        claims[claim.leaseToken]!.lost = !kept
                    }
                    lock.unlock()
                    if !kept { log.warning("lost the lease on \(claim.category.key) of job \(claim.jobID)") }
                }
            } catch {
                log.error("heartbeat failed: \(error)")
            }
        }
    }
}
