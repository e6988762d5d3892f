/// Why a section could not be written, and so what the processor does next.
public struct GenerationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// This attempt failed (a 5xx, a timeout, a stalled or cut stream, an answer that cannot be
        /// read, an empty answer or a refusal): retried with backoff, up to the attempt limit.
        case attemptFailed
        /// The provider refused the request as configured (bad key, unknown model, a request it
        /// cannot accept): every category would fail the same way, so the job fails at once.
        case configuration
    }

    /// Why, in one word: the `reason` label of the failure metrics (the message varies too much).
    public enum Reason: String, Sendable, Equatable {
        case timeout, stalled, connection, unavailable, unreadable, incomplete, refused, empty, stopped, configuration
        case injected, deadline, framing
        case providerError = "provider_error"
        case tooLarge = "too_large"
        case noSlot = "no_slot"
    }

    public var kind: Kind
    public var reason: Reason
    /// For the user and the log; never holds the API key.
    public var message: String
    /// What the failed call used anyway (a cut-off answer with nothing usable, say).
    public var usage: TokenUsage
    public var latencyMillis: Int64

    public init(_ message: String, reason: Reason, kind: Kind = .attemptFailed, usage: TokenUsage = .zero, latencyMillis: Int64 = 0) {
        self.kind = kind
        self.reason = reason
        self.message = message
        self.usage = usage
        self.latencyMillis = latencyMillis
    }

    public static func configuration(_ message: String) -> GenerationError { GenerationError(message, reason: .configuration, kind: .configuration) }

    public var description: String { message }
}
