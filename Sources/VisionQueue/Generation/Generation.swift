/// A written section and what it cost.
public struct Generation: Sendable, Equatable {
    public var text: String
    /// Tokens the provider reported (`usage`); zero for the built-in generator.
    public var usage: TokenUsage
    /// The model call's wall time, waits for `Retry-After` and a free call slot excluded.
    public var latencyMillis: Int64
    /// The model stopped at the token limit; the text was trimmed back to its last complete sentence.
    public var truncated: Bool

    public init(text: String, usage: TokenUsage = .zero, latencyMillis: Int64 = 0, truncated: Bool = false) {
        self.text = text
        self.usage = usage
        self.latencyMillis = latencyMillis
        self.truncated = truncated
    }
}

/// Prompt and completion tokens, as the chat-completions API's `usage` reports them.
public struct TokenUsage: Sendable, Equatable {
    public var promptTokens: Int64
    public var completionTokens: Int64

    public static let zero = TokenUsage(promptTokens: 0, completionTokens: 0)

    public init(promptTokens: Int64, completionTokens: Int64) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    public var totalTokens: Int64 { promptTokens + completionTokens }

    public static func + (lhs: TokenUsage, rhs: TokenUsage) -> TokenUsage {
        TokenUsage(promptTokens: lhs.promptTokens + rhs.promptTokens, completionTokens: lhs.completionTokens + rhs.completionTokens)
    }
}
