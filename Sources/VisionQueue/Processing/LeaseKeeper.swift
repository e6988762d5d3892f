import Glibc
import Synchronization

/// Renews the leases of the categories this process is writing, from one thread per process.
///
/// The generator runs on the worker thread and may take minutes; a heartbeat from a separate
/// thread keeps a healthy claim alive (renewed once a third of the lease has passed) while a dead process's
/// claims lapse on their own.
public final class LeaseKeeper: @unchecked Sendable {
    /// A claim this process holds, by lease token.
    private struct HeldClaim {
        var claim: CategoryClaim
        /// When the lease lapses unless renewed: renewed once two thirds of a lease or less are
        /// left (a third of a lease after a claim; at once for a reservation, which is shorter).
        var expiresAt: EpochMillis
        /// A renewal found the lease taken over (or the job cancelled): stop renewing it.
        var lost: Bool
    }

    private let held = Mutex<[String: HeldClaim]>([:])
    private let makeStore: @Sendable () throws -> JobStore
    private let policy: RetryPolicy
    private let log: Logger

    /// Creates the keeper; its heartbeat thread runs from `start()` on.
    public init(policy: RetryPolicy, log: Logger, makeStore: @escaping @Sendable () throws -> JobStore) {
        self.policy = policy
        self.log = log
        self.makeStore = makeStore
    }

    /// Starts the heartbeat thread; call once.
    public func start() {
        WorkerThread.start { [self] in run() }
    }

    /// Starts renewing the claim; false when this process already holds it (a reservation's
    /// trigger delivered twice: the second step must not write the category too).
    public func hold(_ claim: CategoryClaim) -> Bool {
        held.withLock { held in
            guard held[claim.leaseToken] == nil else { return false }
            held[claim.leaseToken] = HeldClaim(claim: claim, expiresAt: claim.leaseExpiresAt, lost: false)
            return true
        }
    }

    /// Whether a renewal found the claim's lease lost (taken over, or the job cancelled).
    public func isLost(_ claim: CategoryClaim) -> Bool {
        held.withLock { $0[claim.leaseToken]?.lost ?? false }
    }

    /// Stops renewing; answers whether the lease was lost on the way.
    @discardableResult
    public func release(_ claim: CategoryClaim) -> Bool {
        held.withLock { $0.removeValue(forKey: claim.leaseToken)?.lost ?? false }
    }

    /// Gives back every claim still held, without counting the attempts: for a stop whose grace
    /// period ran out, so the categories are taken over at once instead of when their leases lapse.
    /// Answers the jobs concerned, to be triggered again.
    public func releaseAll() -> [JobID] {
        let claims = held.withLock { held in
            defer { held.removeAll() }
            return held.values.filter { !$0.lost }.map(\.claim)
        }
        guard !claims.isEmpty else { return [] }
        do {
            let store = try makeStore()
            return try claims.filter { claim in try store.releaseClaim(claim, now: Clock.now()) }.map(\.jobID)
        } catch {
            log.error("could not release \(claims.count) claims: \(error); they will be taken over when their leases lapse")
            return []
        }
    }

    private func run() {
        var store: JobStore?
        // Often enough that a reservation taken with a twelfth of a lease left is renewed in time.
        let interval = min(max(200, policy.leaseMillis / 24), 2_500)
        while true {
            usleep(useconds_t(interval * 1000))
            let now = Clock.now()
            let due = held.withLock { held in
                held.values.filter { !$0.lost && $0.expiresAt - now <= policy.leaseMillis * 2 / 3 }.map(\.claim)
            }
            guard !due.isEmpty else { continue }
            do {
                if store == nil { store = try makeStore() }
                for claim in due {
                    let kept = try store!.renewLease(claim, until: now + policy.leaseMillis, now: now)
                    held.withLock { held in
                        held[claim.leaseToken]?.expiresAt = now + policy.leaseMillis
                        held[claim.leaseToken]?.lost = !kept
                    }
                    if !kept { log.about(job: claim.jobID, category: claim.category).warning("lost the lease on \(claim.category.key) of job \(claim.jobID)") }
                }
            } catch {
                log.error("heartbeat failed: \(error)")
            }
        }
    }
}
