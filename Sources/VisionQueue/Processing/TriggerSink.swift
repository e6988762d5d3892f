/// Where a processor hands "run this job's next step" requests. Triggers are hints: the job's
/// state in the store is the truth, and a lost trigger is found again by the sweep or a poll.
public protocol TriggerSink: Sendable {
    /// Asks for the job to be processed, at once or not before `notBefore`. Never blocks.
    /// `reservation` is the token of the category reserved for that step (`recordSuccess`), sent
    /// along so the step can read its claim instead of writing one.
    func trigger(_ jobID: JobID, notBefore: EpochMillis?, reservation: String?)
}

extension TriggerSink {
    public func trigger(_ jobID: JobID) { trigger(jobID, notBefore: nil, reservation: nil) }
    public func trigger(_ jobID: JobID, notBefore: EpochMillis?) { trigger(jobID, notBefore: notBefore, reservation: nil) }
}
