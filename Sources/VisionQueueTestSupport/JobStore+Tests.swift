import VisionQueue

/// A fixed "now" for store and lifecycle tests: 2023-11-14T22:13:20Z.
public let t0: EpochMillis = 1_700_000_000_000

/// The store's recording methods as the tests that do not care about model cost call them.
extension JobStore {
    public func recordSuccess(_ claim: CategoryClaim, output: String, now: EpochMillis) throws(StoreError) -> Bool {
        try recordSuccess(claim, Generation(text: output), now: now)
    }

    public func recordFailure(
        _ claim: CategoryClaim, error: String, now: EpochMillis, lifecycle: JobLifecycle, unitRandom: Double
    ) throws(StoreError) -> JobLifecycle.FailureOutcome? {
        try recordFailure(claim, error: error, call: ModelCall(), now: now, lifecycle: lifecycle, unitRandom: unitRandom)
    }

    public func finishJob(
        _ id: JobID, now: EpochMillis, lifecycle: JobLifecycle, assemble: (_ sections: [VisionCategory: String]) -> String
    ) throws(StoreError) -> JobLifecycle.Ending? {
        try finishJob(id, now: now, lifecycle: lifecycle, assembly: AssemblyReport(), assemble: assemble)
    }
}
