import Synchronization

/// The claims this process reserved for its jobs' next steps, by token: a trigger that comes back
/// to the process that made its reservation (always, with one vision-process process) starts its
/// step from here without reading the database. A worker thread's own connection would have to
/// read the claim's pages again, since SQLite drops its cache whenever another connection wrote.
///
/// Only a shortcut: the store still holds every reservation, and a token not found here (another
/// process made it, or it was given back) is looked up there.
public final class ReservationBook: Sendable {
    private let claims = Mutex<[String: CategoryClaim]>([:])

    public init() {}

    public func add(_ claim: CategoryClaim, now: EpochMillis) {
        claims.withLock { claims in
            // Reservations whose triggers never came (given back, or lapsed): dropped now and then.
            if claims.count >= 4_096 { claims = claims.filter { $0.value.leaseExpiresAt > now } }
            claims[claim.leaseToken] = claim
        }
    }

    /// The claim reserved under `token` for `jobID`, taken out of the book (a second delivery of
    /// the same trigger does not find it here).
    public func take(_ token: String, of jobID: JobID) -> CategoryClaim? {
        claims.withLock { claims in
            guard let claim = claims[token], claim.jobID == jobID else { return nil }
            claims[token] = nil
            return claim
        }
    }

    public func remove(_ token: String) {
        _ = claims.withLock { $0.removeValue(forKey: token) }
    }
}
