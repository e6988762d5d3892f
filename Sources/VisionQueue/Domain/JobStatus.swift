/// Where a whole job stands. `completed`, `failed` and `cancelled` are final.
public enum JobStatus: String, Sendable, CaseIterable {
    case pending, processing, completed, failed, cancelled

    public var isFinal: Bool {
        switch self {
        case .pending, .processing: false
        case .completed, .failed, .cancelled: true
        }
    }
}

/// Where one category of a job stands. Transitions are decided by `JobLifecycle` and nowhere else.
public enum CategoryState: String, Sendable, CaseIterable {
    case pending, running, done, retrying, failed

    /// Done or failed: nothing more will run for it unless the user asks for a retry.
    public var isSettled: Bool { self == .done || self == .failed }
}
