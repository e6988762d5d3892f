/// Saves what a category's generator reports while it writes: the text so far at most once per
/// interval (one small write, never a commit per token), and a `Retry-After` wait at once, so a
/// status poll shows both.
///
/// A failed save only costs the page a moment of staleness: it is logged and the writing goes on.
final class ProgressRecorder: GenerationProgress {
    private let store: JobStore
    private let claim: CategoryClaim
    private let intervalMillis: Int64
    private let log: Logger
    private var savedAt: EpochMillis

    init(store: JobStore, claim: CategoryClaim, intervalMillis: Int64, log: Logger) {
        self.store = store
        self.claim = claim
        self.intervalMillis = intervalMillis
        self.log = log
        savedAt = Clock.now()
    }

    func textSoFar(_ text: String) {
        let now = Clock.now()
        guard now - savedAt >= intervalMillis else { return }
        savedAt = now
        do {
            _ = try store.saveProgress(claim, text: text, now: now)
        } catch {
            log.warning("could not save the text so far of \(claim.category.key) for job \(claim.jobID): \(error)")
        }
    }

    func waiting(until: EpochMillis, reason: String) {
        do {
            _ = try store.markWaiting(claim, until: until, reason: reason, now: Clock.now())
        } catch {
            log.warning("could not show the wait of \(claim.category.key) for job \(claim.jobID): \(error)")
        }
    }
}
