/// What one model call cost: tokens (as the provider reported them) and wall time.
public struct ModelCall: Sendable, Equatable {
    public var usage: TokenUsage
    public var latencyMillis: Int64

    public init(usage: TokenUsage = .zero, latencyMillis: Int64 = 0) {
        self.usage = usage
        self.latencyMillis = latencyMillis
    }
}

/// The model calls of a vision's assembly (`VQ_ASSEMBLY=model`), stored with the job's ending.
public struct AssemblyReport: Sendable, Equatable {
    /// One per call made, with the reason it failed (nil for the one that succeeded).
    public var calls: [(call: ModelCall, error: String?)]
    /// Shown with the vision when the model's opening and closing could not be written.
    public var note: String?

    public init(calls: [(call: ModelCall, error: String?)] = [], note: String? = nil) {
        self.calls = calls
        self.note = note
    }

    public static func == (lhs: AssemblyReport, rhs: AssemblyReport) -> Bool {
        lhs.note == rhs.note && lhs.calls.map(\.call) == rhs.calls.map(\.call) && lhs.calls.map(\.error) == rhs.calls.map(\.error)
    }
}
