/// A worker's hold on a job's model assembly, so two workers that find the job ready do not both
/// pay for the call. Held for a window at a time and renewed before each call and through each
/// `Retry-After` wait (it is the framing call's progress receiver); a worker that dies lets it lapse.
final class AssemblyClaim: GenerationProgress {
    private let store: JobStore
    private let jobID: JobID
    private let token = CategoryClaim.newLeaseToken()
    private let window: Int64
    private var lost = false

    init(store: JobStore, jobID: JobID, window: Int64) {
        self.store = store
        self.jobID = jobID
        self.window = window
    }

    /// Takes or extends the hold until `time` plus the window; false when another worker holds it.
    func renew(through time: EpochMillis) throws(StoreError) -> Bool {
        let held = try store.claimAssembly(jobID, token: token, until: time + window, now: Clock.now())
        if !held { lost = true }
        return held
    }

    func textSoFar(_ text: String) {}

    func waiting(until: EpochMillis, reason: String) {
        _ = try? renew(through: until)
    }

    var shouldStop: Bool { lost }
}
