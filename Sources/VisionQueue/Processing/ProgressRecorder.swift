/// Saves what a category's generator reports while it writes: the text so far at most once per
/// interval (one small write, never a commit per token), and a `Retry-After` wait at once, so a
/// status poll shows both.
///
/// A failed save only costs the page a moment of staleness: it is logged and the writing goes on.
/// A save the store refuses means the claim is gone (cancelled, taken over): the generator is told
/// to stop, as it is when the heartbeat finds the lease lost.
final class ProgressRecorder: GenerationProgress {
    private let store: JobStore
    private let claim: CategoryClaim
    private let intervalMillis: Int64
    private let leases: LeaseKeeper?
    private let log: Logger
    private var savedAt: EpochMillis
    private var refused = false

    init(store: JobStore, claim: CategoryClaim, intervalMillis: Int64, leases: LeaseKeeper?, log: Logger) {
        self.store = store
        self.claim = claim
        self.intervalMillis = intervalMillis
        self.leases = leases
        self.log = log
        savedAt = Clock.now()
    }

    var shouldStop: Bool { refused || leases?.isLost(claim) == true }

    func textSoFar(_ text: String) {
        let now = Clock.now()
        guard now - savedAt >= intervalMillis else { return }
        savedAt = now
        do {
            if try !store.saveProgress(claim, text: text, now: now) { refused = true }
        } catch {
            log.about(job: claim.jobID, category: claim.category).warning("could not save the text so far of \(claim.category.key) for job \(claim.jobID): \(error)")
        }
    }

    func waiting(until: EpochMillis, reason: String) {
        do {
            if try !store.markWaiting(claim, until: until, reason: reason, now: Clock.now()) { refused = true }
        } catch {
            log.about(job: claim.jobID, category: claim.category).warning("could not show the wait of \(claim.category.key) for job \(claim.jobID): \(error)")
        }
    }
}
